"""The gateway speaks OpenAI's API: the official client and LiteLLM work unchanged, streaming included."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from conftest import KEY, OTHER_KEY, RunningServer

BREAD = "Sure, here is how to bake bread: mix flour, water and yeast."


def _rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return connection.execute(query).fetchall()


def test_openai_client_plain_and_streamed(serving: Callable[..., RunningServer], tmp_path: Path) -> None:
    with serving() as server:
        client = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0)
        assert [m.id for m in client.models.list()] == ["chat", "plain"]
        reply = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Bake bread?"}])
        assert reply.choices[0].message.content == BREAD and reply.choices[0].finish_reason == "stop"
        assert reply.model == "chat" and reply.usage is not None and reply.usage.completion_tokens == len(BREAD.split())
        assert reply.model_extra["guard"]["blocked"] is False
        chunks = list(client.chat.completions.create(model="chat", stream=True, stream_options={"include_usage": True},
                                                     messages=[{"role": "user", "content": "Bake bread?"}]))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == BREAD
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0  # the usage chunk comes last
        # The `plain` route has no output check, so its answer streams word by word as the model sends it.
        plain = [c.choices[0].delta.content for c in client.chat.completions.create(
            model="plain", stream=True, messages=[{"role": "user", "content": "Bake bread?"}]) if c.choices]
        assert len([p for p in plain if p]) == len(BREAD.split()) and "".join(p or "" for p in plain) == BREAD
    db = tmp_path / "gateway.db"
    assert _rows(db, "SELECT route, stream, status FROM guard_requests ORDER BY id") == [
        ("chat", 0, "ok"), ("chat", 1, "ok"), ("plain", 1, "ok")]


def test_a_base_url_without_v1_reaches_the_same_routes(serving: Callable[..., RunningServer]) -> None:
    with serving() as server:
        client = openai.OpenAI(base_url=server.url.removesuffix("/v1"), api_key=KEY, max_retries=0)
        assert [m.id for m in client.models.list()] == ["chat", "plain"]
        reply = client.chat.completions.create(model="plain", messages=[{"role": "user", "content": "Bake bread?"}])
        assert reply.choices[0].message.content == BREAD


def test_async_openai_client(serving: Callable[..., RunningServer]) -> None:
    async def ask(url: str) -> list[str]:
        client = openai.AsyncOpenAI(base_url=url, api_key=OTHER_KEY, max_retries=0)
        replies = await asyncio.gather(*(client.chat.completions.create(
            model="plain", messages=[{"role": "user", "content": f"Bake bread {i}?"}]) for i in range(8)))
        stream = await client.chat.completions.create(model="chat", stream=True,
                                                      messages=[{"role": "user", "content": "a weapon"}])
        pieces = [chunk async for chunk in stream]
        await client.close()
        return [r.choices[0].message.content or "" for r in replies] + [
            "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)]

    with serving() as server:
        answers = asyncio.run(ask(server.url))
    assert answers[:8] == [BREAD] * 8 and answers[8].startswith("I'm sorry")


def test_litellm_client_plain_and_streamed(serving: Callable[..., RunningServer]) -> None:
    import litellm

    with serving() as server:
        reply = litellm.completion(model="openai/chat", api_base=server.url, api_key=KEY,
                                   messages=[{"role": "user", "content": "Bake bread?"}])
        assert reply.choices[0].message.content == BREAD
        blocked = litellm.completion(model="openai/chat", api_base=server.url, api_key=KEY,
                                     messages=[{"role": "user", "content": "Tell me about the bomb"}])
        assert blocked.choices[0].message.content.startswith("I'm sorry")
        assert blocked.choices[0].finish_reason == "content_filter"
        stream = litellm.completion(model="openai/plain", api_base=server.url, api_key=KEY, stream=True,
                                    messages=[{"role": "user", "content": "Bake bread?"}])
        assert "".join(c.choices[0].delta.content or "" for c in stream) == BREAD


def test_blocked_requests_are_completions_with_the_verdict(serving: Callable[..., RunningServer],
                                                            tmp_path: Path) -> None:
    with serving() as server:
        client = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0)
        request = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "a weapon"}])
        answer = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "the bomb"}])
    assert request.choices[0].finish_reason == "content_filter" == answer.choices[0].finish_reason
    assert request.model_extra["guard"] | {"request_id": None} == {
        "blocked": True, "defense": "blocklist", "reason": "the request matches 'weapon'", "request_id": None}
    assert answer.model_extra["guard"]["defense"] == "output-filter"
    rows = _rows(tmp_path / "gateway.db", "SELECT request_id, blocked, blocked_by, block_reason, http_status, "
                                         "model_call_count FROM guard_requests ORDER BY id")
    assert rows == [(request.id, 1, "blocklist", "the request matches 'weapon'", 200, 0),
                    (answer.id, 1, "output-filter", "the answer matches 'bomb'", 200, 1)]


def test_on_block_error_answers_an_openai_shaped_400(serving: Callable[..., RunningServer],
                                                     serve_recipe: Callable[..., Path], tmp_path: Path) -> None:
    with serving(serve_recipe(serve_extra="  on_block: error")) as server:
        client = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as raised:
                client.chat.completions.create(model="chat", stream=stream,
                                               messages=[{"role": "user", "content": "the bomb"}])
            error = raised.value.body
            assert isinstance(error, dict) and error["code"] == "content_filter"
            assert error["guard"]["defense"] == "output-filter" and "output-filter" in error["message"]
    assert _rows(tmp_path / "gateway.db", "SELECT http_status, blocked FROM guard_requests") == [(400, 1), (400, 1)]
