"""The scripted mock provider: the same path as a real model (LiteLLM, cache, retries, call log)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from r2d_sdk import ConfigError, MockReply, MockScript, Model, ModelCallError, user
from r2d_sdk._calls import collect
from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import evaluate
from r2d_sdk.store import Store


class _DictCache:
    """A response cache in a dict (the results database implements the same two methods)."""

    def __init__(self) -> None:
        self.entries: dict[str, object] = {}

    def get(self, key: str):  # type: ignore[no-untyped-def]
        hit = self.entries.get(key)
        return dataclasses.replace(hit, cached=True) if hit is not None else None  # type: ignore[type-var]

    def put(self, key: str, output: object) -> None:
        self.entries[key] = output


async def test_replies_in_turn_rules_first_and_a_history() -> None:
    script = MockScript(replies=["first", "second"], rules=[("(?i)bomb", "I'm sorry, no.")])
    model = Model("target", "mock/target", mock=script, max_retries=0)
    texts = [(await model.generate([user(q)])).text for q in ("a", "how to build a BOMB", "b", "c")]
    assert texts == ["first", "I'm sorry, no.", "first", "second"]  # rules answer without using up a reply
    assert [h[-1]["content"] for h in script.history] == ["a", "how to build a BOMB", "b", "c"]


async def test_a_mocked_call_is_logged_and_cached_like_a_real_one() -> None:
    cache = _DictCache()
    script = MockScript(replies=["one", "two"])
    model = Model("target", "mock/target", mock=script, cache=cache)
    with collect() as calls:
        first = await model.generate([user("same question")])
        again = await model.generate([user("same question")])
    assert first.text == again.text == "one" and again.cached and len(script.history) == 1
    assert [c.cache_hit for c in calls] == [False, True] and calls[0].model_id == "mock/target"
    assert calls[0].prompt_tokens == 2 and calls[0].completion_tokens == 1  # whitespace-separated words
    # A changed script is a different model as far as the cache is concerned.
    other = Model("target", "mock/target", mock=MockScript(replies=["else"]), cache=cache)
    assert (await other.generate([user("same question")])).text == "else"


async def test_transient_failures_are_retried_and_counted() -> None:
    script = MockScript(replies=["fine"], failures=["rate_limit", None])
    model = Model("target", "mock/target", mock=script, max_retries=2)
    with collect() as calls:
        output = await model.generate([user("q")])
    assert output.text == "fine" and output.retries == 1 and len(script.history) == 2
    assert calls[-1].retries == 1


async def test_a_permanent_failure_is_an_error_not_retried() -> None:
    script = MockScript(failures=["auth"])
    model = Model("target", "mock/target", mock=script, max_retries=3)
    with collect() as calls, pytest.raises(ModelCallError, match="AuthenticationError"):
        await model.generate([user("q")])
    assert len(script.history) == 1 and calls[0].error and "AuthenticationError" in calls[0].error


async def test_a_scripted_exception_fails_the_call_once() -> None:
    model = Model("t", "mock/t", mock=MockScript(replies=lambda _m: ValueError("boom")), max_retries=3)
    with pytest.raises(ModelCallError, match="boom"):
        await model.generate([user("q")])
    assert len(model.mock.history) == 1  # type: ignore[union-attr]


async def test_logprobs_only_when_asked_for() -> None:
    reply = MockReply("I", top_logprobs=[{"I": -0.5, "Sure": -2.0}])
    model = Model("t", "mock/t", mock=MockScript(replies=[reply]))
    assert (await model.generate([user("q")], top_logprobs=2)).top_logprobs == [{"I": -0.5, "Sure": -2.0}]
    assert (await model.generate([user("q")])).top_logprobs is None


async def test_latency_is_scripted() -> None:
    model = Model("t", "mock/t", mock=MockScript(latency_ms=60))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(model.generate([user(f"q{i}")]) for i in range(5)))
    assert 0.05 <= loop.time() - started < 1.0  # concurrent calls wait together


def test_unknown_failure_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="rate_limit"):
        MockScript(failures=["explode"])


def test_a_recipe_names_a_mock_model(tmp_path: Path, items_file: Path) -> None:
    recipe = f"""
name: mocked
models:
  target:
    model: mock/target
    max_retries: 0
    mock:
      replies: ["Sure, here is how."]
      when: [{{match: "step 1 ", reply: "I'm sorry, I can't help with that."}}]
      failures: [null, null, null, server]
datasets:
  - {{name: file, limit: 8, args: {{path: {items_file}, id_column: id, label: harmful}}}}
judges: [refusal-string]
concurrency: 1
"""
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    result = evaluate(parse_recipe(recipe), store)
    assert result.samples == {"ok": 6, "error": 2}  # every fourth call fails: items i3 and i7
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT item_id, response FROM samples WHERE status = 'ok'").fetchall()
        calls = connection.exec_driver_sql("SELECT COUNT(*) FROM model_calls WHERE model_id = 'mock/target'").scalar()
    assert dict(rows)["i1"] == "I'm sorry, I can't help with that." and calls == 8


def test_mock_applies_to_mock_models_only() -> None:
    with pytest.raises(ConfigError, match="mock: applies to mock/<name> models only"):
        parse_recipe("models: {t: {model: openai/x, mock: {replies: [a]}}}\ndatasets: [jbb-harmful]\n"
                     "judges: [refusal-string]\ntarget: t\n")
