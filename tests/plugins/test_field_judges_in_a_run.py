"""harmbench-cls, llama-guard and strongreject in recipes: they validate, bad arguments get one clear
error, and a whole run against fake judge servers stores their verdicts (Llama Guard's categories,
StrongREJECT's scores) and the mean-score metric in SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fake_openai import Reply, fake_openai

from r2d_sdk import ConfigError
from r2d_sdk.recipe import parse_recipe
from r2d_sdk.run import check_components, evaluate_async, validate
from r2d_sdk.store import Store, read_only_query

DOC = Path(__file__).resolve().parents[2] / "docs" / "judges.md"

RECIPE = """
name: field-judges
models:
  target: {{model: openai/fake-target, params: {{mock_response: "Sure, here is how to do it, step by step."}}}}
  harmbench: {{model: openai/harmbench, api_base: '{harmbench}', api_key: sk-fake, max_retries: 0}}
  guard: {{model: openai/guard, api_base: '{guard}', api_key: sk-fake, max_retries: 0}}
  grader: {{model: openai/grader, api_base: '{grader}', api_key: sk-fake, max_retries: 0}}
target: target
datasets:
  - {{name: file, limit: 3, args: {{path: {items}, id_column: id, label: harmful}}}}
defenses: [none]
judges:
  - {{name: harmbench-cls, args: {{model: harmbench}}}}
  - {{name: llama-guard, args: {{model: guard, format: chat}}}}
  - {{name: strongreject, args: {{model: grader, threshold: 0.5}}}}
  # Another max_tokens: the same request as the first strongreject's would be answered from the response cache.
  - {{name: strongreject, label: strongreject-scores, args: {{model: grader, request: prompt, max_tokens: 400}}}}
metrics: [asr, refusal-rate, mean-score]
concurrency: 1
"""


def recipe(items_file: Path, **urls: str) -> str:
    return RECIPE.format(items=items_file, **{"harmbench": "http://127.0.0.1:9/v1", "guard": "http://127.0.0.1:9/v1",
                                              "grader": "http://127.0.0.1:9/v1", **urls})


def test_a_recipe_naming_each_judge_validates(items_file: Path) -> None:
    loaded = parse_recipe(recipe(items_file), "field.yaml")
    check_components(loaded)  # plugin names and arguments; no call is made
    assert [j.name for j in loaded.recipe.judges] == ["harmbench-cls", "llama-guard", "strongreject", "strongreject"]


@pytest.mark.parametrize(("old", "new", "fragments"), [
    ("format: chat", "format: xml", ["judges[1].args", "format", "'chat' or 'template'"]),
    ("{model: harmbench}", "{model: harmbench, prompt_source: paper}", ["judges[0].args", "prompt_source"]),
    ("threshold: 0.5", "threshold: 1.5", ["judges[2].args", "threshold", "less than 1"]),
    ("{model: guard, format: chat}", "{model: guard, categories: [S1]}", ["judges[1].args", "categories"]),
    ("[asr, refusal-rate, mean-score]", "[{name: mean-score, args: {bounds: [1, 0]}}]",
     ["metrics[0].args", "must be [low, high] with low < high"]),
])
def test_bad_arguments_get_one_clear_error(items_file: Path, old: str, new: str, fragments: list[str]) -> None:
    text = recipe(items_file)
    assert old in text
    with pytest.raises(ConfigError) as raised:
        check_components(parse_recipe(text.replace(old, new), "field.yaml"))
    assert raised.value.fix and all(fragment in raised.value.message for fragment in fragments), raised.value.message


def test_a_judge_model_the_recipe_lacks_is_named(items_file: Path) -> None:
    text = recipe(items_file).replace("{model: guard, format: chat}", "{model: llama-guard-3}")
    with pytest.raises(ConfigError, match=r"judges\[1\]\.args: .*no model named 'llama-guard-3'"):
        validate(parse_recipe(text, "field.yaml"))  # the build `run` shares


async def test_a_run_stores_the_verdicts_and_the_mean_score(items_file: Path, database_url: str) -> None:
    grades = iter(["refused: 0\nconvincing: 4\nspecific: 3", "refused: 1\nconvincing: 1\nspecific: 1",
                   "refused: 0\nconvincing: 5\nspecific: 5", "I will not grade this.",
                   "refused: 0\nconvincing: 2\nspecific: 2", "refused: 0\nconvincing: 3\nspecific: 3"])
    with fake_openai(Reply("Yes"), Reply("No"), Reply("maybe")) as harmbench, \
            fake_openai(Reply("unsafe\nS1,S10"), Reply(status=500), Reply("safe")) as guard, \
            fake_openai() as grader:
        grader.responder = lambda _request: Reply(next(grades))
        store = Store(database_url)
        try:
            loaded = parse_recipe(recipe(items_file, harmbench=harmbench.url, guard=guard.url, grader=grader.url))
            result = await evaluate_async(loaded, store)
            rows = sorted(store.judgment_groups(result.run_id), key=lambda row: row["judge"])
            metrics = {(m.judge, m.metric): m for m in store.metrics(result.run_id)}
            _, categories = read_only_query(store.engine, _documented_query())
        finally:
            store.close()
    assert result.status == "completed" and result.samples == {"ok": 3}
    by_judge: dict[str, list[dict]] = {}
    for row in rows:
        by_judge.setdefault(row["judge"], []).append(row)
    # concurrency 1: the three items reach each judge in turn, so each server's replies go in order.
    assert sorted((r["status"], r["label"]) for r in by_judge["harmbench-cls"]) == [
        ("scored", "no"), ("scored", "yes"), ("unscorable", None)]
    assert sorted((r["status"], r["label"] or "") for r in by_judge["llama-guard"]) == [
        ("error", ""), ("scored", "safe"), ("scored", "unsafe:S1,S10")]  # the categories are stored
    assert all(r["jailbroken"] is None for r in by_judge["llama-guard"] if r["status"] == "error")
    assert sorted(tuple(row) for row in categories if row[0]) == [("safe", 1), ("unsafe:S1,S10", 1)]
    scores = sorted(r["score"] for r in by_judge["strongreject"] + by_judge["strongreject-scores"]
                    if r["score"] is not None)
    assert scores == [0.0, 0.25, 0.5, 0.625, 1.0]  # one grade was garbage
    assert metrics[("harmbench-cls", "asr")].value == 0.5 and metrics[("harmbench-cls", "asr")].n == 2
    assert metrics[("llama-guard", "asr")].value == 0.5 and metrics[("llama-guard", "asr")].n == 2
    assert ("llama-guard", "mean-score") not in metrics  # it gives no score
    means = [metrics[(judge, "mean-score")] for judge in ("strongreject", "strongreject-scores")]
    assert sorted(m.n for m in means) == [2, 3] and sum(m.extra_json["unscorable"] for m in means) == 1
    assert all(m.ci_low is not None and 0 <= m.ci_low <= m.value <= m.ci_high <= 1 for m in means)
    assert ("strongreject-scores", "asr") not in metrics  # no threshold: no verdict, no attack success rate
    assert metrics[("strongreject", "asr")].n == metrics[("strongreject", "mean-score")].n


def _section() -> str:
    return DOC.read_text().split("## The field's judges, through any model", 1)[1].split("\n## ", 1)[0]


def _documented_query() -> str:
    return re.search(r'`r2d-sdk sql "(.+?)"`', _section(), flags=re.S).group(1)  # type: ignore[union-attr]


def test_the_documented_recipes_validate(items_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key")
    blocks = re.findall(r"```yaml\n(.*?)```", _section(), flags=re.S)
    assert len(blocks) == 3
    for block in blocks:
        text = f"name: doc\ndatasets:\n  - {{name: file, args: {{path: {items_file}, id_column: id}}}}\n" + \
            block.replace("models:\n", "models:\n  target: {model: openai/fake-target}\n", 1)
        check_components(parse_recipe(text, "docs/judges.md"))
