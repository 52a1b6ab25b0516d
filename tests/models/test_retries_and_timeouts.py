"""One retry layer and a bounded attempt, over real HTTP: a fake OpenAI-compatible server counts
the requests each call sends (LiteLLM's `openai/...` provider pointed at it with api_base)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace

import pytest
from fake_openai import Reply, fake_openai

from r2d_sdk import ConfigError, MockScript, Model, ModelCallError, user
from r2d_sdk._calls import collect
from r2d_sdk.models import build_models
from r2d_sdk.models._retry import MAX_RETRY_AFTER_S, AttemptTimeout, retry_after_seconds, wait_before_retry
from r2d_sdk.recipe import parse_recipe


def _model(url: str, max_retries: int, timeout: float | None = None) -> Model:
    return Model("target", "openai/fake-model", api_base=url, api_key="sk-fake-for-tests-0001",
                 max_retries=max_retries, timeout=timeout)


async def test_a_server_error_then_success_is_two_requests_and_one_retry() -> None:
    with fake_openai(Reply(status=500), Reply(text="fine")) as server, collect() as calls:
        output = await _model(server.url, max_retries=3).generate([user("q")])
    assert output.text == "fine"
    assert len(server.requests) == 2  # the OpenAI client inside LiteLLM did not retry on its own
    assert output.retries == 1 and calls[-1].retries == 1 and calls[-1].error is None


async def test_a_failing_endpoint_gets_exactly_max_retries_plus_one_requests() -> None:
    with fake_openai(Reply(status=500)) as server, collect() as calls, pytest.raises(ModelCallError) as raised:
        await _model(server.url, max_retries=2).generate([user("q")])
    assert len(server.requests) == 3
    assert "after 3 attempts: InternalServerError" in raised.value.message
    assert len(calls) == 1 and calls[0].retries == 2 and "InternalServerError" in (calls[0].error or "")


async def test_retry_after_is_waited_for_and_no_extra_request_is_sent() -> None:
    # 2 s: longer than the first backoff without the header (at most 1 s), so only honouring it passes.
    with fake_openai(Reply(status=429, headers={"Retry-After": "2"}), Reply(text="fine")) as server:
        output = await _model(server.url, max_retries=3).generate([user("q")])
    assert output.text == "fine" and output.retries == 1
    first, second = server.requests
    assert second.at - first.at >= 2.0


async def test_a_hanging_endpoint_times_out_every_attempt_and_is_recorded() -> None:
    with fake_openai(Reply(text="warm"), Reply(hang=True)) as server:
        model = _model(server.url, max_retries=2, timeout=0.5)
        await model.generate([user("warm-up")])  # LiteLLM's first call imports providers: not timed
        started = time.monotonic()
        with collect() as calls, pytest.raises(ModelCallError, match=r"after 3 attempts: Timeout: timed out after 0\.5 s"):
            await model.generate([user("q")])
        elapsed = time.monotonic() - started
        sent = len(server.requests) - 1
    assert sent == 3
    assert 1.5 <= elapsed < 4.5  # three bounded attempts, retried at once (each already waited)
    assert calls[-1].error is not None and calls[-1].error.startswith("Timeout: timed out after 0.5 s")
    assert calls[-1].retries == 2 and calls[-1].response is None


async def test_a_timed_out_attempt_is_retried_and_may_succeed() -> None:
    with fake_openai(Reply(text="warm"), Reply(hang=True), Reply(text="fine")) as server:
        model = _model(server.url, max_retries=2, timeout=0.5)
        await model.generate([user("warm-up")])
        output = await model.generate([user("q")])
    assert output.text == "fine" and output.retries == 1 and len(server.requests) == 3


async def test_the_timeout_holds_for_a_provider_that_ignores_it() -> None:
    # The scripted provider never looks at LiteLLM's timeout=: only the bound around the attempt stops it.
    await Model("warm", "mock/warm").generate([user("warm-up")])  # LiteLLM's first call imports: not timed
    script = MockScript(latency_ms=30_000)
    model = Model("slow", "mock/slow", mock=script, max_retries=1, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ModelCallError, match="timed out after 0.3 s"):
        await model.generate([user("q")])
    assert time.monotonic() - started < 10 and len(script.history) == 2


def test_default_timeouts_by_kind_and_from_the_recipe() -> None:
    assert Model("a", "openai/gpt-4o-mini").timeout == 120.0
    assert Model("m", "mock/m").timeout == 120.0
    assert Model("l", "local/smollm2").timeout is None  # a CPU batch may rightly take minutes
    assert Model("l", "local/smollm2", timeout=900).timeout == 900
    recipe = parse_recipe("models:\n  target: {model: openai/x, timeout: 7.5}\n  judge: {model: local/smollm2}\n"
                          "datasets: [jbb-harmful]\njudges: [refusal-string]\n")
    models = build_models(recipe.recipe)
    assert models["target"].timeout == 7.5 and models["judge"].timeout is None


def test_a_non_positive_timeout_in_a_recipe_names_the_field() -> None:
    with pytest.raises(ConfigError, match="models.target.timeout: Input should be greater than 0"):
        parse_recipe("models: {target: {model: openai/x, timeout: 0}}\ndatasets: [jbb-harmful]\n"
                     "judges: [refusal-string]\n")


@pytest.mark.parametrize("key", ["timeout", "request_timeout", "num_retries", "max_retries"])
def test_params_may_not_bring_back_a_second_retry_layer_or_timeout(key: str) -> None:
    with pytest.raises(ConfigError, match=f"params \\['{key}'\\] are set by r2d-sdk"):
        Model("t", "openai/x", extra={key: 5})


def _error(headers: dict[str, str]) -> Exception:
    error = Exception("rate limited")
    error.response = SimpleNamespace(headers=headers)  # type: ignore[attr-defined]
    return error


def test_retry_after_in_seconds_milliseconds_or_an_http_date() -> None:
    assert retry_after_seconds(_error({"Retry-After": "3"})) == 3.0
    assert retry_after_seconds(_error({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    in_ten = format_datetime(now + timedelta(seconds=10), usegmt=True)
    assert retry_after_seconds(_error({"Retry-After": in_ten}), now=now.timestamp()) == pytest.approx(10.0)
    assert retry_after_seconds(_error({"Retry-After": "soon"})) is None
    assert retry_after_seconds(_error({})) is None and retry_after_seconds(Exception("no response")) is None


def test_the_wait_before_a_retry() -> None:
    def state(error: BaseException, attempt: int = 1) -> SimpleNamespace:
        return SimpleNamespace(outcome=SimpleNamespace(exception=lambda: error), attempt_number=attempt)

    assert MAX_RETRY_AFTER_S <= wait_before_retry(state(_error({"Retry-After": "3600"}))) < MAX_RETRY_AFTER_S + 1
    assert 3.0 <= wait_before_retry(state(_error({"Retry-After": "3"}))) < 3.5
    assert wait_before_retry(state(AttemptTimeout(0.5))) == 0.0
    assert 0.5 <= wait_before_retry(state(Exception("500"), attempt=1)) <= 1.0
    assert 2.0 <= wait_before_retry(state(Exception("500"), attempt=3)) <= 2.5
    assert wait_before_retry(state(Exception("500"), attempt=20)) <= 8.0
