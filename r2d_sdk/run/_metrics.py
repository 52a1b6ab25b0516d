"""Metrics from stored judgments: group by grid cell and judge, then apply each metric."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from r2d_sdk._components import Metric
from r2d_sdk._types import Judgment, JudgmentStatus

GROUP_KEYS = ("dataset", "item_label", "model", "attack", "defense", "judge")


def compute_metrics(metrics: dict[str, Metric], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (group, metric) the metric applies to (it returns None where it does not)."""
    groups: dict[tuple[Any, ...], list[Judgment]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in GROUP_KEYS)].append(Judgment(
            status=JudgmentStatus(row["status"]), label=row["label"], jailbroken=row["jailbroken"],
            refused=row["refused"], score=row["score"]))
    out = []
    for key in sorted(groups, key=lambda k: tuple(str(part) for part in k)):
        for label, metric in metrics.items():
            if metric.judges is not None and key[-1] not in metric.judges:
                continue
            value = metric.compute(groups[key])
            if value is None:
                continue
            out.append({**dict(zip(GROUP_KEYS, key, strict=True)), "metric": label, "value": value.value,
                        "ci_low": value.ci_low, "ci_high": value.ci_high, "n": value.n, "extra_json": value.extra})
    return out
