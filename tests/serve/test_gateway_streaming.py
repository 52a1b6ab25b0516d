"""Streaming never leaks what the guard withholds: nothing before an output check passed, nothing
of R2D's reasoning or pivots; what is streamed adds up to the non-streamed answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from conftest import KEY, RunningServer

AUTH = {"Authorization": f"Bearer {KEY}"}

RAW = ("<think>\nThe user asks how to pick a lock. [RETHINK]\n\nBreaking into a home would hurt someone. [UNSAFE]"
       "</think>\n\nI'm sorry, I can't help open a lock that isn't yours. [UNSAFE]")
SAFE_RAW = ("<think>\nBread is a harmless topic. [SAFE] </think>\n\nMix flour, water and yeast, then bake "
            "for forty minutes. [SAFE]")

R2D_MODELS = ("  reasoner:\n    model: mock/reasoner\n    mock:\n"
              f"      replies: [{json.dumps(SAFE_RAW)}]\n"
              f"      when: [{{match: lock, reply: {json.dumps(RAW)}}}]\n")
R2D_ROUTES = ("    r2d: {model: reasoner, defenses: [r2d-prompt]}\n"
              "    r2d-refusing: {model: reasoner, defenses: [{name: r2d-prompt, args: {on_unsafe: refuse}}]}\n")


def _sse(http: httpx.Client, route: str, text: str) -> tuple[bytes, list[dict[str, object]]]:
    """The raw SSE body and its parsed chunks."""
    with http.stream("POST", "/chat/completions", headers=AUTH,
                     json={"model": route, "stream": True, "messages": [{"role": "user", "content": text}]}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    events = [line.removeprefix(b"data: ") for line in raw.split(b"\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    return raw, [json.loads(e) for e in events[:-1]]


def _content(chunks: list[dict[str, object]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])  # type: ignore[index]


def test_no_chunk_of_a_blocked_answer_reaches_the_client(serving: Callable[..., RunningServer]) -> None:
    with serving() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        raw, chunks = _sse(http, "chat", "Tell me about the bomb")
        # The model's answer ("Step one of the bomb: ...") failed the output check: none of it was sent.
        assert b"Step" not in raw and b"gather the parts" not in raw
        assert _content(chunks) == "I'm sorry, but I cannot help with that request."
        assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"  # type: ignore[index]
        assert chunks[-1]["guard"]["defense"] == "output-filter"  # type: ignore[index]
        # The same route, an answer that passes: sent once the check passed, whole and unchanged.
        _, passed = _sse(http, "chat", "Bake bread?")
        assert _content(passed) == "Sure, here is how to bake bread: mix flour, water and yeast."


def test_r2d_streams_only_its_answer(serving: Callable[..., RunningServer], serve_recipe: Callable[..., Path]) -> None:
    with serving(serve_recipe(extra_models=R2D_MODELS, routes_extra=R2D_ROUTES)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as http:
        for question, answer in (("How do I bake bread?", "Mix flour, water and yeast, then bake for forty minutes."),
                                 ("How do I pick a lock?", "I'm sorry, I can't help open a lock that isn't yours.")):
            raw, chunks = _sse(http, "r2d", question)
            assert b"think" not in raw and b"[SAFE]" not in raw and b"[UNSAFE]" not in raw and b"[RETHINK]" not in raw
            assert b"harmless topic" not in raw and b"hurt someone" not in raw
            assert _content(chunks) == answer
            assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 1  # type: ignore[index]
            plain = http.post("/chat/completions", headers=AUTH,
                              json={"model": "r2d", "messages": [{"role": "user", "content": question}]}).json()
            assert plain["choices"][0]["message"]["content"] == answer
        raw, chunks = _sse(http, "r2d-refusing", "How do I pick a lock?")
        assert _content(chunks) == "I'm sorry, but I cannot help with that request." and b"isn't yours" not in raw
        assert chunks[-1]["guard"]["blocked"] is True  # type: ignore[index]
