"""Everything a report shows about one run, read from the store: the HTML and Markdown pages
render this and compute nothing of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from r2d_sdk.report._calibration import CorrectedRate, corrected_asr, has_calibrations
from r2d_sdk.report._cost import defense_costs
from r2d_sdk.report._figures import (
    Agreement,
    CategoryRate,
    GridCell,
    TradeoffPoint,
    agreement,
    by_category,
    grid,
    tradeoff,
)
from r2d_sdk.report._queries import named_query
from r2d_sdk.report._verdicts import RunVerdicts, run_judges, run_verdicts

# Versions worth a line in the report; the run row keeps every installed package.
KEY_PACKAGES = ("torch", "transformers", "peft", "litellm", "sqlalchemy", "r2d-sdk")


@dataclass
class Browser:
    """The sample browser's rows: a capped share of the run's samples, texts cut at `chars`."""

    samples: list[dict[str, Any]]
    total: int
    cap: int
    chars: int


@dataclass
class RunReport:
    run: Any  # r2d_sdk.store.Run
    judges: list[str]
    verdicts: RunVerdicts
    asr_cells: list[GridCell]
    refusal_cells: list[GridCell]
    tradeoff: list[TradeoffPoint]
    categories: list[CategoryRate]
    agreement: list[Agreement]
    calibrated: bool
    corrected: dict[tuple[str, str, str | None, str, str, str], CorrectedRate]
    costs: list[dict[str, Any]]
    training: list[dict[str, Any]]
    curves: list[dict[str, Any]]
    pivots: list[dict[str, Any]]
    browser: Browser
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        if self.run.finished_at is None:
            return None
        return (self.run.finished_at - self.run.started_at).total_seconds()


def recipe_judges(recipe_yaml: str) -> list[str]:
    """The judge labels of a stored recipe, in its order (empty when it cannot be read)."""
    import yaml

    try:
        entries = (yaml.safe_load(recipe_yaml) or {}).get("judges") or []
    except (yaml.YAMLError, AttributeError):
        return []
    labels = []
    for entry in entries:
        if isinstance(entry, str):
            labels.append(entry)
        elif isinstance(entry, dict) and (entry.get("label") or entry.get("name")):
            labels.append(str(entry.get("label") or entry.get("name")))
    return labels


def browser(store: Any, run_id: str, total: int, cap: int, chars: int) -> Browser:
    """Up to about `cap` samples, the first items of each dataset with every cell they were asked in."""
    datasets = named_query(store, "dataset_items", run_id=run_id)
    per_dataset = max(1, cap // max(1, len(datasets)))
    samples = named_query(store, "browser_samples", run_id=run_id, chars=chars, per_dataset=per_dataset)
    verdicts: dict[int, list[dict[str, Any]]] = {}
    ids = [s["id"] for s in samples]
    for start in range(0, len(ids), 5000):  # a bound list per statement stays well under SQLite's limit
        for row in named_query(store, "browser_judgments", sample_ids=ids[start:start + 5000]):
            verdicts.setdefault(row["sample_id"], []).append(row)
    for sample in samples:
        sample["judgments"] = verdicts.get(sample["id"], [])
    return Browser(samples, total, cap, chars)


def json_value(value: Any) -> Any:
    """A JSON column's value: SQLite hands plain SQL queries the text, PostgreSQL the parsed value."""
    if isinstance(value, str):
        import json

        return json.loads(value)
    return value


def pivot_stats(store: Any, run_id: str, defenses: list[str]) -> list[dict[str, Any]]:
    """Pivot statistics of the defenses that record pivots (judged by one answered sample each, so the
    JSON of the other defenses' samples is never parsed)."""
    recording = []
    for defense in defenses:
        first = named_query(store, "defense_first_info", run_id=run_id, defense=defense)
        info = json_value(first[0]["defense_info_json"]) if first else None
        if isinstance(info, dict) and "pivots" in info:
            recording.append(defense)
    return named_query(store, "pivot_stats", run_id=run_id, defenses=recording) if recording else []


def collect(store: Any, run_id: str, max_samples: int = 1000, chars: int = 600) -> RunReport:
    """Read one run's report from the store (a run id or 'latest')."""
    run = store.get_run(run_id)
    judges = run_judges(store, run.id, recipe_judges(run.recipe_yaml))
    verdicts = run_verdicts(store, run.id, judges)
    training = [{**row, "metrics_json": json_value(row["metrics_json"]) or {}}
                for row in named_query(store, "defense_training", run_id=run.id)]
    ids = sorted({row["training_run_id"] for row in training})
    curves = named_query(store, "training_curve", training_run_ids=ids) if ids else []
    packages = run.packages_json or {}
    versions = {"r2d-sdk": run.sdk_version, "python": run.python_version,
                **{name: packages[name] for name in KEY_PACKAGES if name in packages and name != "r2d-sdk"}}
    return RunReport(
        run=run, judges=judges, verdicts=verdicts, asr_cells=grid(verdicts, "jailbroken"),
        refusal_cells=grid(verdicts, "refused"), tradeoff=tradeoff(verdicts), categories=by_category(verdicts),
        agreement=agreement(verdicts), calibrated=has_calibrations(store), corrected=corrected_asr(store, run.id),
        costs=defense_costs(store, run.id), training=training, curves=curves,
        pivots=pivot_stats(store, run.id, verdicts.values("defense")),
        browser=browser(store, run.id, sum(verdicts.sample_status().values()), max_samples, chars),
        versions=versions)
