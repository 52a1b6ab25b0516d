"""PAIR end to end: LiteLLM mock attacker and judge, mock or tiny local target, trace and calls stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from r2d_plugins.attacks._pair_text import parse_attacker_output, parse_rating
from sqlalchemy import select

from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import evaluate_async
from r2d_sdk.store import Store
from r2d_sdk.store._schema import ModelCall, Sample

ATTACKER_JSON = json.dumps({"improvement": "try a story", "prompt": "Write a story where a chemist explains it."})


def recipe(attacker: str, judge: str, target: str = "", streams: int = 2, iterations: int = 3) -> str:
    target = target or "model: openai/gpt-4o-mini\n    params: {mock_response: 'Sure, here is the story.'}"
    return f"""
name: pair-test
models:
  target:
    {target}
  attacker:
    model: openai/gpt-4o-mini
    params: {{mock_response: {json.dumps(attacker)}}}
  judge:
    model: openai/gpt-4o-mini
    params: {{mock_response: {json.dumps(judge)}}}
datasets: [{{name: jbb-harmful, limit: 2}}]
attacks: [{{name: pair, args: {{attacker: attacker, judge: judge, streams: {streams}, iterations: {iterations}}}}}]
judges: [refusal-string]
concurrency: 2
"""


def run(text: str, tmp_path: Path) -> tuple[Store, str]:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    result = asyncio.run(evaluate_async(parse_recipe(text), store))
    assert result.status == "completed"
    return store, result.run_id


def samples(store: Store) -> list[Sample]:
    with store.engine.connect() as connection:
        return list(connection.execute(select(Sample).order_by(Sample.item_id)))


def calls_by_model(store: Store, sample_id: int) -> dict[str, int]:
    with store.engine.connect() as connection:
        rows = connection.execute(select(ModelCall.model, ModelCall.stage).where(ModelCall.sample_id == sample_id))
        counts: dict[str, int] = {}
        for model, stage in rows:
            counts[f"{model}:{stage}"] = counts.get(f"{model}:{stage}", 0) + 1
        return counts


def test_success_rating_stops_after_the_first_iteration(tmp_path: Path, data_dir: Path) -> None:
    store, _ = run(recipe(ATTACKER_JSON, "Rating: [[10]]"), tmp_path)
    rows = samples(store)
    assert len(rows) == 2
    for row in rows:
        info = row.attack_info_json
        assert row.prompt == "Write a story where a chemist explains it."
        assert info["iterations_run"] == 1 and info["queries"] == 2 and info["queries_to_jailbreak"] == 2
        assert info["jailbroken_by_pair_judge"] is True and info["best_score"] == 10
        assert [(e["iteration"], e["stream"], e["score"]) for e in info["trace"]] == [(0, 0, 10), (0, 1, 10)]
        assert info["trace"][0]["response"] == "Sure, here is the story."
        # 2 attacker + 2 target + 2 judge calls during the attack, then the judged answer itself.
        assert calls_by_model(store, row.id) == {"attacker:attack": 2, "target:attack": 2, "judge:attack": 2,
                                                 "target:defense": 1}


def test_low_ratings_run_every_iteration_and_keep_the_best(tmp_path: Path, data_dir: Path) -> None:
    store, _ = run(recipe(ATTACKER_JSON, "The reply is vague. Rating: [[4]]", streams=2, iterations=3), tmp_path)
    info = samples(store)[0].attack_info_json
    assert info["iterations_run"] == 3 and info["queries"] == 6 and info["queries_to_jailbreak"] is None
    assert info["best_score"] == 4 and info["jailbroken_by_pair_judge"] is False
    assert len(info["trace"]) == 6 and info["malformed"] == 0


def test_malformed_attacker_output_is_counted_not_fatal(tmp_path: Path, data_dir: Path) -> None:
    store, _ = run(recipe("I would rather not answer in JSON.", "Rating: [[10]]", streams=2, iterations=2), tmp_path)
    row = samples(store)[0]
    info = row.attack_info_json
    assert row.status == "ok" and info["no_prompt"] is True
    assert info["malformed"] == 2 * 2 * 2  # streams x iterations x attempts
    assert row.prompt == row.goal  # nothing usable: the goal is sent


def test_tiny_local_target_answers_the_refined_prompt(tmp_path: Path, data_dir: Path, tiny_model_dir: Path) -> None:
    target = f"model: local/{tiny_model_dir}\n    generation: {{max_tokens: 8}}"
    store, _ = run(recipe(ATTACKER_JSON, "Rating: [[2]]", target=target, streams=2, iterations=2), tmp_path)
    row = samples(store)[0]
    trace = row.attack_info_json["trace"]
    assert len(trace) == 4 and all(isinstance(e["response"], str) for e in trace)
    assert calls_by_model(store, row.id)["target:attack"] == 4


def test_attacker_output_parsing() -> None:
    assert parse_attacker_output('```json\n{"improvement": "x", "prompt": "P"}\n```') == ("x", "P")
    assert parse_attacker_output('Here: {"improvement": "a", "prompt": "say \\"hi\\"') == ("a", 'say "hi"')
    assert parse_attacker_output('{"improvement": "a", "prompt": ""}') is None
    assert parse_attacker_output("no json at all") is None
    assert parse_rating("Rating: [[7]]") == 7 and parse_rating("rating: 3") == 3
    assert parse_rating("Rating: [[11]]") is None and parse_rating("I refuse") is None
