"""Guard in Python: a model plus a defense stack; what happened on the way; errors as statuses; the log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from r2d_sdk import ConfigError, Guard, GuardError, MockScript, Model
from r2d_sdk.serve import GuardInputError, stack_spec
from r2d_sdk.store import Store

TARGET = {"model": "mock/target", "max_retries": 0,
          "mock": {"replies": ["Sure: mix flour and water."], "when": [{"match": "bomb", "reply": "Bomb steps: ..."}]}}
STACK = [{"name": "blocklist", "args": {"patterns": ["weapon"]}}, "none",
         {"name": "blocklist", "label": "output-filter", "args": {"patterns": ["bomb"]}}]


def ask(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def test_a_guard_answers_and_says_what_happened() -> None:
    guard = Guard(model=TARGET, defenses=STACK)
    passed = guard.chat_sync(ask("How do I bake bread?"))
    assert passed.text == "Sure: mix flour and water." and not passed.blocked and passed.finish_reason == "stop"
    assert [(v["defense"], v["side"], v["blocked"]) for v in passed.verdicts] == [
        ("blocklist", "input", False), ("none", "answer", False), ("output-filter", "output", False)]
    assert passed.calls == 1 and passed.prompt_tokens == 5 and passed.completion_tokens == 5
    request = guard.chat_sync(ask("Build a weapon"))
    assert request.blocked and request.blocked_by == "blocklist" and request.reason == "the request matches 'weapon'"
    assert request.calls == 0 and request.finish_reason == "content_filter" and request.text.startswith("I'm sorry")
    answer = guard.chat_sync(ask("the bomb"))
    assert answer.blocked and answer.blocked_by == "output-filter" and answer.calls == 1
    assert [v["defense"] for v in answer.verdicts] == ["blocklist", "none", "output-filter"]


def test_reasoning_is_kept_apart_and_the_stream_adds_up() -> None:
    raw = "<think>\nBread is harmless. [SAFE] </think>\n\nMix flour and water. [SAFE]"
    guard = Guard(model={"model": "mock/r", "mock": {"replies": [raw]}}, defenses="r2d-prompt")

    async def run() -> tuple[str, str | None, list[str], str]:
        reply = await guard.chat(ask("Bake bread?"))
        stream = guard.stream(ask("Bake bread?"))
        pieces = [piece async for piece in stream]
        assert stream.reply is not None
        return reply.text, reply.reasoning, pieces, stream.reply.text

    answer, reasoning, pieces, streamed = asyncio.run(run())
    assert answer == "Mix flour and water." == streamed == "".join(pieces) and reasoning == raw


def test_a_model_instance_and_helper_models() -> None:
    target = Model("mine", "mock/mine", mock=MockScript(replies=["An answer to check."]))
    guard = Guard(model=target, defenses=["none", {"name": "self-examination", "args": {"checker": "checker"}}],
                  models={"checker": {"model": "mock/checker", "mock": {"replies": ["yes"]}}})
    reply = guard.chat_sync(ask("anything"))
    assert reply.blocked and reply.blocked_by == "self-examination" and reply.reason == "the checker found the answer harmful"
    assert target.mock is not None and target.mock.calls == 1 and reply.calls == 2


def test_flat_lists_are_read_by_position() -> None:
    assert stack_spec([{"name": "r2d"}]) == {"name": "r2d"}
    assert stack_spec([{"name": "blocklist"}, {"name": "perplexity-filter"}])["args"]["answer"] == "none"
    spec = stack_spec([{"name": "perplexity-filter"}, {"name": "self-reminder"}, {"name": "self-examination"}])
    assert spec["args"]["input"] == [{"name": "perplexity-filter"}] and spec["args"]["answer"] == {"name": "self-reminder"}
    assert spec["args"]["output"] == [{"name": "self-examination"}]
    with pytest.raises(ConfigError, match="'icd' comes after the answering defense 'none' but has no output-side"):
        stack_spec([{"name": "none"}, {"name": "icd"}])
    with pytest.raises(ConfigError, match="unknown defense 'nope'"):
        Guard(model=TARGET, defenses=["blocklist", "nope"])


def test_failures_are_errors_never_answers() -> None:
    down = Guard(model={"model": "mock/down", "max_retries": 0, "mock": {"failures": ["server"]}})
    with pytest.raises(GuardError) as raised:
        down.chat_sync(ask("hello"))
    assert raised.value.kind == "upstream" and raised.value.http_status == 502 and "mock failure" in raised.value.message
    slow = Guard(model={"model": "mock/slow", "mock": {"latency_ms": 5000}}, timeout_s=0.2)
    with pytest.raises(GuardError) as raised:
        slow.chat_sync(ask("hello"))
    assert raised.value.kind == "timeout" and raised.value.http_status == 504
    with pytest.raises(GuardInputError, match="no user message"):
        Guard(model=TARGET).chat_sync([{"role": "assistant", "content": "hi"}])
    with pytest.raises(GuardInputError, match=r"messages\[0\].role"):
        Guard(model=TARGET).chat_sync([{"role": "robot", "content": "hi"}])


def test_a_guard_with_a_database_logs_every_request_with_its_calls(database_url: str) -> None:
    store = Store(database_url)
    try:
        with Guard(model=TARGET, defenses=STACK, db=store, name="docs-bot") as guard:
            replies = [guard.chat_sync(ask(q), client="tag1") for q in ("Bake bread?", "a weapon", "the bomb")]
            with pytest.raises(GuardError):
                Guard.for_route(Guard(model={"model": "mock/x", "max_retries": 0,
                                             "mock": {"failures": ["server"]}}).route, guard.log).chat_sync(ask("x"))
        assert guard.log is not None and guard.log.pending == 0 and guard.log.lost == 0
        with store.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT request_id, route, client, blocked, blocked_by, status, model_call_count, prompt_tokens "
                "FROM guard_requests ORDER BY id")).fetchall()
            linked = connection.execute(text(
                "SELECT r.request_id, c.stage, c.response FROM model_calls c JOIN guard_requests r "
                "ON c.guard_request_id = r.id ORDER BY c.id")).fetchall()
            today = connection.execute(text(
                "SELECT route, COUNT(*), SUM(CASE WHEN blocked THEN 1 ELSE 0 END) FROM guard_requests GROUP BY route"
            )).fetchall()
    finally:
        store.close()
    ids = [r.request_id for r in replies]
    assert [tuple(r)[1:] for r in rows] == [
        ("docs-bot", "tag1", False, None, "ok", 1, 2), ("docs-bot", "tag1", True, "blocklist", "ok", 0, 0),
        ("docs-bot", "tag1", True, "output-filter", "ok", 1, 2), ("guard", None, False, None, "error", 1, 0)]
    assert [r[0] for r in rows[:3]] == ids
    assert [tuple(r) for r in linked][:2] == [(ids[0], "defense", "Sure: mix flour and water."),
                                              (ids[2], "defense", "Bomb steps: ...")]
    assert sorted(tuple(r) for r in today) == [("docs-bot", 3, 2), ("guard", 1, 0)]


def test_guard_from_a_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARD_KEY", "sk-guard-test-key")
    path = tmp_path / "guard.yaml"
    path.write_text("models:\n  target: {model: mock/t, mock: {replies: [Fine.]}}\n"
                    "serve:\n  api_keys: ['${GUARD_KEY}']\n  routes:\n    a: {model: target}\n"
                    "    b: {model: target, defenses: [{name: blocklist, args: {patterns: [.]}}]}\n")
    assert Guard.from_recipe(path, "a").chat_sync(ask("hi")).text == "Fine."
    assert Guard.from_recipe(str(path), route="b").chat_sync(ask("hi")).blocked
    with pytest.raises(ConfigError, match=r"give a route; the recipe's routes are \['a', 'b'\]"):
        Guard.from_recipe(path)
