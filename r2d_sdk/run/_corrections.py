"""Rates corrected for the judge's measured error, beside the raw ones in the metrics table.

For each `asr` and `refusal-rate` row, the judge's identity (`recipe.judge_identity`) finds the
newest stored calibration of that instrument, and `_correction.corrected_rate` corrects the
row's hits / n with its confusion counts. Where none exists the row says so, with the command
that makes one. The same function runs at the end of every run and in `r2d-sdk judges correct`.

Refusal rate. A calibration measures the judge's `jailbroken` verdict against human
`jailbroken` labels. When a judge's `refused` is exactly `not jailbroken` on every scored
verdict of a group (refusal-string without `min_words`), its refusal rate is the share of
answers it calls not jailbroken, and the calibration speaks to it with the roles swapped:
the sensitivity of "refused" is the specificity of "jailbroken" and vice versa, so the
corrected refusal rate is one minus the corrected ASR. What it estimates is the share the
humans would call *not jailbroken*, which includes vague and off-topic answers, not only
refusals in words. Where `refused` is not that complement (xstest-string answers only
`refused`; `min_words` makes a short answer neither), no calibration measures it: no number.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from r2d_sdk._correction import Confusion, CorrectionStatus, corrected_rate, judge_draws
from r2d_sdk._errors import ConfigError
from r2d_sdk._registry import lookup
from r2d_sdk.recipe import JudgeIdentity, LoadedRecipe, judge_identity
from r2d_sdk.run._metrics import GROUP_KEYS
from r2d_sdk.store import CORRECTION_FIELDS, Calibration, Calibrations, Store

# The built-in metrics a jailbroken calibration corrects, by plugin name.
CORRECTED_METRICS = ("asr", "refusal-rate")
NO_CALIBRATION = "none"  # correction_status of a row that has no calibration to use


def correct_metrics(rows: list[dict[str, Any]], judgment_rows: list[dict[str, Any]], loaded: LoadedRecipe,
                    store: Store, recipe_ref: str | None = None,
                    instruments: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The correction fields (`store.CORRECTION_FIELDS`, all of them, None where unset) of each
    metric row, in order.

    Args:
        rows: metric rows (the group keys, `metric`, `n`, `extra_json` with `hits`).
        judgment_rows: the run's judgments with their group keys (`Store.judgment_groups`),
            to tell whether a judge's `refused` is the complement of its `jailbroken`.
        loaded: the run's recipe (to name each metric's plugin and each judge's identity).
        store: where the calibrations are.
        recipe_ref: how the "calibrate it" hint names the recipe (default: its path).
        instruments: per judge label, what the built judge adds to its identity
            (`Judge.instrument()`, e.g. its checkpoint's hash).
    """
    recipe = loaded.recipe
    metric_names = {spec.key: _plugin_name("metric", spec.name) for spec in recipe.metrics}
    complements = _refusal_is_complement(judgment_rows)
    calibrations = Calibrations(store)
    found: dict[str, tuple[JudgeIdentity | None, Calibration | None, str]] = {}
    draws: dict[int, list[tuple[float, float]]] = {}  # (Se, Sp) draws per calibration, shared by its rows
    ref = recipe_ref or (str(loaded.path) if loaded.path else "RECIPE")
    out: list[dict[str, Any]] = []
    for row in rows:
        metric = metric_names.get(row["metric"], row["metric"])
        if metric not in CORRECTED_METRICS:
            out.append({})
            continue
        label = row["judge"]
        if label not in found:
            found[label] = _calibration_of(recipe, label, calibrations, ref, (instruments or {}).get(label))
        identity, calibration, missing = found[label]
        if calibration is None:
            out.append({"correction_status": NO_CALIBRATION, "correction_note": missing})
        elif metric == "refusal-rate" and not complements.get(tuple(row[k] for k in GROUP_KEYS), False):
            out.append({"correction_status": NO_CALIBRATION, "calibration_id": calibration.id,
                        "correction_note": f"not corrected: judge {label}'s refusals here are not the complement of "
                                           f"its jailbroken verdicts, and calibration {calibration.id} measures "
                                           "jailbroken only"})
        else:
            if calibration.id not in draws:
                draws[calibration.id] = judge_draws(_confusion(calibration), recipe.seed)
            out.append(_corrected(row, metric, calibration, recipe.seed, draws[calibration.id]))
    # Every row carries every field: one INSERT of many rows takes its columns from the first.
    return [{key: fix.get(key) for key in CORRECTION_FIELDS} for fix in out]


def _plugin_name(kind: str, name: str) -> str:
    try:
        return lookup(kind, name).name
    except ConfigError:  # a plugin no longer installed: its rows are simply not corrected
        return name


def _calibration_of(recipe: Any, label: str, calibrations: Calibrations, ref: str,
                    instrument: dict[str, Any] | None) -> tuple[JudgeIdentity | None, Calibration | None, str]:
    """(identity, newest calibration, the note when there is none) of one judge."""
    try:
        identity = judge_identity(recipe, label, instrument)
    except ConfigError as error:
        return None, None, f"judge {label} cannot be identified ({error.message}), so no calibration applies"
    calibration = calibrations.latest(identity.hash)
    note = (f"no calibration for judge {label} (config {identity.short_hash}): "
            f"`r2d-sdk judges calibrate {ref} --judge {label}`")
    return identity, calibration, note


def _refusal_is_complement(judgment_rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], bool]:
    """Per group: every scored verdict has `refused` == not `jailbroken` (both set)."""
    groups: dict[tuple[Any, ...], bool] = defaultdict(lambda: True)
    for row in judgment_rows:
        if row["status"] != "scored":
            continue
        key = tuple(row[k] for k in GROUP_KEYS)
        both = row["refused"] is not None and row["jailbroken"] is not None
        groups[key] = groups[key] and both and bool(row["refused"]) != bool(row["jailbroken"])
    return dict(groups)


def _confusion(calibration: Calibration) -> Confusion:
    return Confusion(calibration.tp, calibration.fp, calibration.tn, calibration.fn)


def _corrected(row: dict[str, Any], metric: str, calibration: Calibration, seed: int,
               pairs: list[tuple[float, float]]) -> dict[str, Any]:
    measured = confusion = _confusion(calibration)
    if metric == "refusal-rate":
        # "Refused" is the positive class: the judge's true positives are the calibration's
        # true negatives, and so on (see the module docstring); Se and Sp trade places.
        confusion = Confusion(tp=measured.tn, fp=measured.fn, tn=measured.tp, fn=measured.fp)
        pairs = [(sp, se) for se, sp in pairs]
    hits = (row.get("extra_json") or {}).get("hits")
    specificity = measured.specificity
    # The first "; " ends the part every row of this judge shares (the terminal groups by it).
    source = (f"calibration {calibration.id} ({calibration.set_name}, {measured.n} scored rows, "
              f"{calibration.created_at:%Y-%m-%d}): TPR {_figure(measured.sensitivity)}, "
              f"FPR {_figure(None if specificity is None else 1 - specificity)}")
    if hits is None:
        return {"correction_status": CorrectionStatus.UNDEFINED.value, "calibration_id": calibration.id,
                "correction_note": f"{source}; the metric row has no hit count to correct"}
    result = corrected_rate(int(hits), int(row["n"]), confusion, seed=seed, judge=pairs)
    note = source + (f"; {result.why}" if result.why else "")
    if result.degenerate_draws:
        note += (f"; {result.degenerate_draws} of {result.draws} draws had Se + Sp - 1 near 0 and widen the "
                 "interval")
    return {"corrected": result.value, "corrected_low": result.low, "corrected_high": result.high,
            "correction_status": result.status.value, "calibration_id": calibration.id, "correction_note": note}


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def recorrect_run(store: Store, run_id: str, loaded: LoadedRecipe, recipe_ref: str | None = None,
                  instruments: dict[str, dict[str, Any]] | None = None) -> int:
    """Recompute the corrected figures of a stored run's metrics from the newest calibrations
    (e.g. one made after the run); returns how many rows a calibration corrected.

    `instruments`: as for `correct_metrics`, what each built judge adds to its identity."""
    rows = [{**{k: getattr(m, k) for k in (*GROUP_KEYS, "metric", "n")}, "extra_json": m.extra_json or {},
             "id": m.id} for m in store.metrics(run_id)]
    fixes = correct_metrics(rows, store.judgment_groups(run_id), loaded, store, recipe_ref, instruments)
    Calibrations(store).write_corrections(run_id, {row["id"]: fix for row, fix in zip(rows, fixes, strict=True)})
    return sum(1 for fix in fixes if fix.get("corrected") is not None)
