"""A model over several deployments (LiteLLM Router) against fake OpenAI-compatible servers on
127.0.0.1: every request served while one deployment fails, the failing one cooled down, the
split recorded per call; one failing request never fans out beyond the documented bound."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, Reply, fake_openai
from sqlalchemy import select

from r2d_sdk import ModelCallError, user
from r2d_sdk._calls import collect
from r2d_sdk.models import Model, build_models
from r2d_sdk.models._retry import MAX_RETRY_AFTER_S, retry_after_seconds
from r2d_sdk.models._router import Deployment, Routing
from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import ModelCall, Store, read_only_query

KEY = "sk-fake-router-key-0001"


def _routed(servers: dict[str, FakeOpenAI], max_retries: int = 3, fallback: tuple[str, ...] = (),
            allowed_fails: int = 100, cooldown_time: float = 60.0) -> Model:
    return Model("target", "openai/fake-model", api_key=KEY, max_retries=max_retries,
                 deployments=[Deployment(name, "openai/fake-model", server.url, fallback=name in fallback)
                              for name, server in servers.items()],
                 routing=Routing("simple-shuffle", allowed_fails, cooldown_time))


@contextmanager
def _servers(**responders: Callable | list[Reply]) -> Iterator[dict[str, FakeOpenAI]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(FakeOpenAI(responder)) for name, responder in responders.items()}


def _deployments_yaml(servers: dict[str, FakeOpenAI]) -> str:
    return "".join(f"      - {{name: {name}, api_base: '{server.url}'}}\n" for name, server in servers.items())


async def test_three_endpoints_one_failing_every_request_served_and_the_split_recorded(
        write_recipe: Callable[..., Path], database_url: str) -> None:
    items, concurrency, allowed_fails = 60, 4, 1
    with _servers(a=lambda r: Reply("I can't help with that."), b=lambda r: Reply("I can't help with that."),
                  c=lambda r: Reply(status=500)) as servers:
        models = (f"  target:\n    model: openai/fake-model\n    api_key: {KEY}\n    max_retries: 3\n"
                  f"    deployments:\n{_deployments_yaml(servers)}"
                  f"    routing: {{allowed_fails: {allowed_fails}, cooldown_time: 60}}\n")
        loaded = parse_recipe(write_recipe(items=items, models=models, defenses="[none]",
                                           concurrency=concurrency).read_text(), "routed.yaml")
        store = Store(database_url)
        try:
            result = await evaluate_async(loaded, store)
            with store.engine.connect() as connection:
                calls = list(connection.execute(select(ModelCall).where(ModelCall.run_id == result.run_id)))
            _, split = read_only_query(store.engine, "SELECT deployment, COUNT(*) FROM model_calls "
                                                     f"WHERE run_id = '{result.run_id}' GROUP BY deployment")
        finally:
            store.close()
        requests = {name: len(server.requests) for name, server in servers.items()}
    assert result.samples == {"ok": items}
    assert len(calls) == items and all(c.error is None for c in calls)
    served = Counter(c.deployment for c in calls)
    assert set(served) == {"a", "b"} and dict(split) == dict(served)  # the failing one served nothing
    # Cooled down after allowed_fails + 1 failures; at most concurrency - 1 more were in flight.
    # Without the cooldown it would get about a third of the ~90 attempts.
    assert 1 <= requests["c"] <= allowed_fails + 1 + concurrency - 1
    # One attempt is one request: every request sent is a call or one of its recorded retries.
    assert sum(requests.values()) == len(calls) + sum(c.retries for c in calls)
    assert sum(c.retries for c in calls) == requests["c"]


@pytest.mark.parametrize("with_fallback", [False, True], ids=["no-fallback", "fallback"])
async def test_one_failing_call_sends_at_most_the_documented_number_of_requests(with_fallback: bool) -> None:
    # Documented bound (docs/scale.md): (max_retries + 1) attempts, each one request, or two when
    # the model has fallback deployments and the first failed. No cooldown here (allowed_fails high).
    responders: dict[str, list[Reply]] = {"a": [Reply(status=500)], "b": [Reply(status=503)]}
    if with_fallback:
        responders["f"] = [Reply(status=500)]
    max_retries = 1
    with _servers(**responders) as servers, collect() as calls:
        model = _routed(servers, max_retries=max_retries, fallback=("f",) if with_fallback else ())
        with pytest.raises(ModelCallError, match="after 2 attempts"):
            await model.generate([user("q")])
        sent = {name: len(server.requests) for name, server in servers.items()}
    attempts = max_retries + 1
    assert sum(sent.values()) == attempts * (2 if with_fallback else 1)
    if with_fallback:
        assert sent["f"] == attempts
    assert len(calls) == 1 and calls[0].retries == max_retries
    assert calls[0].deployment in servers  # the deployment that failed last is on the row
    assert KEY not in (calls[0].error or "")


async def test_a_fallback_deployment_answers_the_attempt_the_primary_failed() -> None:
    with _servers(a=[Reply(status=500)], f=[Reply("from the fallback")]) as servers, collect() as calls:
        output = await _routed(servers, fallback=("f",)).generate([user("q")])
        sent = {name: len(server.requests) for name, server in servers.items()}
    assert output.text == "from the fallback" and output.retries == 0
    assert sent == {"a": 1, "f": 1}
    assert calls[0].deployment == "f" and calls[0].error is None


async def test_with_every_deployment_cooled_down_the_call_waits_instead_of_sending() -> None:
    # Both fail once and are cooled down for 3 s (allowed_fails 0). The third attempt finds none
    # available: the Router sends nothing and the retry loop waits its cooldown, then succeeds.
    cooldown = 3.0
    with _servers(a=[Reply(status=500), Reply("back")], b=[Reply(status=500), Reply("back")]) as servers:
        model = _routed(servers, max_retries=3, allowed_fails=0, cooldown_time=cooldown)
        started = time.monotonic()
        output = await model.generate([user("q")])
        elapsed = time.monotonic() - started
        sent = sum(len(server.requests) for server in servers.values())
    assert output.text == "back" and output.retries == 3  # four attempts ...
    assert sent == 3  # ... of which one sent no request
    assert elapsed >= cooldown


def test_all_deployments_cooled_down_is_waited_for_as_long_as_the_router_says() -> None:
    from litellm.types.router import RouterRateLimitError

    error = RouterRateLimitError(model="target", cooldown_time=12.0, enable_pre_call_checks=False,
                                 cooldown_list=["a", "b"], model_ids=["a", "b"])
    assert retry_after_seconds(error) == 12.0
    assert retry_after_seconds(RouterRateLimitError("target", 600.0, False, ["a"])) == 600.0  # capped by the loop
    assert MAX_RETRY_AFTER_S < 600.0


async def test_the_cache_is_keyed_on_the_logical_model_not_its_deployments(write_recipe: Callable[..., Path],
                                                                            tmp_path: Path) -> None:
    with _servers(a=lambda r: Reply("Sure."), b=lambda r: Reply("Sure.")) as servers:
        def recipe(names: tuple[str, ...]) -> str:
            chosen = {n: servers[n] for n in names}
            return (f"  target:\n    model: openai/fake-model\n    api_key: {KEY}\n"
                    f"    deployments:\n{_deployments_yaml(chosen)}")

        store = Store(f"sqlite:///{tmp_path / 'r.db'}")
        first = await evaluate_async(parse_recipe(write_recipe(items=5, models=recipe(("a", "b")),
                                                               defenses="[none]").read_text()), store)
        second = await evaluate_async(parse_recipe(write_recipe(items=5, models=recipe(("b",)),
                                                                defenses="[none]").read_text()), store)
        with store.engine.connect() as connection:
            rows = list(connection.execute(select(ModelCall.run_id, ModelCall.cache_hit, ModelCall.deployment)))
        store.close()
        sent = sum(len(server.requests) for server in servers.values())
    assert sent == 5  # the second run, with other deployments, sent nothing
    assert all(not hit and deployment in {"a", "b"} for run, hit, deployment in rows if run == first.run_id)
    assert all(hit and deployment is None for run, hit, deployment in rows if run == second.run_id)


def test_the_recipe_builds_one_router_group_per_logical_model() -> None:
    recipe = parse_recipe("""
models:
  target:
    model: hosted_vllm/qwen
    api_key: sk-shared
    deployments:
      - {api_base: 'http://gpu-1:8000/v1', rpm: 600}
      - {api_base: 'http://gpu-2:8000/v1', weight: 2, name: second}
      - {model: openai/qwen-hosted, api_key: sk-other, fallback: true}
    routing: {strategy: least-busy, allowed_fails: 5, cooldown_time: 10}
datasets: [jbb-harmful]
judges: [refusal-string]
""").recipe
    model = build_models(recipe)["target"]
    assert [d.name for d in model.deployments] == ["http://gpu-1:8000/v1", "second", "openai/qwen-hosted"]
    assert model.routing == Routing("least-busy", 5, 10.0)
    assert model.deployments[0].model == "hosted_vllm/qwen" and model.deployments[2].fallback
    from r2d_sdk.models._router import build_router

    router = build_router(model.name, model.deployments, model.routing, "sk-shared", 5.0)
    groups = Counter(d["model_name"] for d in router.model_list)
    assert groups == {"target": 2, "target:fallback": 1}
    keys = {d["model_info"]["id"]: d["litellm_params"].get("api_key") for d in router.model_list}
    assert keys == {"http://gpu-1:8000/v1": "sk-shared", "second": "sk-shared", "openai/qwen-hosted": "sk-other"}
    assert all(d["litellm_params"]["max_retries"] == 0 for d in router.model_list)


async def test_each_routing_strategy_serves_calls() -> None:
    with fake_openai(Reply("one")) as one, fake_openai(Reply("two")) as two:
        for strategy in ("simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing-v2"):
            model = Model("target", "openai/fake-model", api_key=KEY, routing=Routing(strategy),
                          deployments=[Deployment("one", "openai/fake-model", one.url, rpm=100),
                                       Deployment("two", "openai/fake-model", two.url, rpm=100)])
            with collect() as calls:
                outputs = [await model.generate([user(f"{strategy} {i}")]) for i in range(4)]
            assert {o.text for o in outputs} <= {"one", "two"}
            assert all(c.deployment == ("one" if c.response == "one" else "two") for c in calls), strategy
