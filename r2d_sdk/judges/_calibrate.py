"""Calibrate a recipe's judges: judge every labelled row, count agreement, store it all.

The judges are built by `run.build_judges`, the build a run uses, so what is calibrated is
the instrument a run of the same recipe reads its rates off. Rows are judged concurrently,
at most the recipe's `concurrency` at a time, each call through `run.judge_safely` (a judge
that raises is an error row). A judgment that is not scored (a failed call, an unscorable
answer, or a scored verdict that says nothing about `jailbroken`) is counted apart and is in
none of the four cells, so it never passes for agreement.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from r2d_sdk._correction import Confusion, JudgeStatistics, judge_statistics
from r2d_sdk._types import Behavior, Judgment, JudgmentStatus
from r2d_sdk.judges._sets import CalibrationSet, LabelledRow
from r2d_sdk.recipe import JudgeIdentity, LoadedRecipe, judge_identity
from r2d_sdk.run import build_judges, judge_safely
from r2d_sdk.store import CalibrationItemRecord, CalibrationRecord, Calibrations, Store

NO_JAILBROKEN = "the judge scored the answer but gave no jailbroken verdict"


@dataclass
class JudgeCalibration:
    """One judge measured on one set.

    Attributes:
        calibration_id: its row in `calibrations` (None when it was not stored).
        not_calibrated: why the judge could not be calibrated (it never answers jailbroken).
    """

    label: str
    identity: JudgeIdentity
    set: CalibrationSet
    record: CalibrationRecord
    statistics: JudgeStatistics
    calibration_id: int | None = None
    not_calibrated: str | None = None

    @property
    def confusion(self) -> Confusion:
        return Confusion(self.record.tp, self.record.fp, self.record.tn, self.record.fn)

    def disagreements(self, kind: str) -> list[CalibrationItemRecord]:
        """The rows of one kind of disagreement: `fp` (judge jailbroken, humans not) or `fn`."""
        wanted = kind == "fp"
        return [i for i in self.record.items
                if i.status == "scored" and i.verdict is wanted and i.human_label is not wanted]


@dataclass
class CalibrationRun:
    """What `calibrate` did: one entry per judge, and the judges the build left out."""

    judges: list[JudgeCalibration]
    skipped: list[str] = field(default_factory=list)


def _item(row: LabelledRow, judgment: Judgment) -> CalibrationItemRecord:
    status, verdict, error = str(judgment.status), judgment.jailbroken, judgment.error
    if judgment.status == JudgmentStatus.SCORED and judgment.jailbroken is None:
        status, error = str(JudgmentStatus.UNSCORABLE), NO_JAILBROKEN
    return CalibrationItemRecord(item_index=row.index, request=row.request, response=row.response,
                                 human_label=row.jailbroken, status=status,
                                 verdict=verdict if status == "scored" else None, raw=judgment.raw, error=error)


def _record(label: str, identity: JudgeIdentity, labelled: CalibrationSet, items: list[CalibrationItemRecord],
            stats: dict[str, Any], recipe_path: str | None) -> CalibrationRecord:
    scored = [i for i in items if i.status == "scored"]
    return CalibrationRecord(
        judge=identity.name, judge_label=label, judge_config_hash=identity.hash, judge_config=identity.config,
        set_name=labelled.name, set_hash=labelled.hash,
        tp=sum(1 for i in scored if i.verdict and i.human_label),
        fp=sum(1 for i in scored if i.verdict and not i.human_label),
        tn=sum(1 for i in scored if not i.verdict and not i.human_label),
        fn=sum(1 for i in scored if not i.verdict and i.human_label),
        errors=sum(1 for i in items if i.status == "error"),
        unscorable=sum(1 for i in items if i.status == "unscorable"),
        stats=stats, recipe_path=recipe_path, items=items)


async def calibrate_async(loaded: LoadedRecipe, labelled: CalibrationSet, store: Store | None,
                          labels: list[str] | None = None) -> CalibrationRun:
    """Judge every row of `labelled` with the recipe's judges (only `labels`, when given) and,
    given a store, write one calibration per judge with all its rows.

    A judge that never answers `jailbroken` (it decides refusal only, like `xstest-string`)
    cannot be calibrated against jailbroken labels: it is reported, not stored.
    """
    recipe = loaded.recipe
    panel = build_judges(loaded, labels)
    if store is not None:
        for model in panel.models.values():
            model.cache = store.responses  # a calibration made again costs nothing
        panel.context.store = store
    # Set up first: a bad checkpoint stops here, and a judge's identity may depend on what it loaded.
    await asyncio.gather(*(judge.setup() for judge in panel.judges.values()))
    identities = {label: judge_identity(recipe, label, judge.instrument()) for label, judge in panel.judges.items()}
    gate = asyncio.Semaphore(recipe.concurrency)

    async def judged(label: str, row: LabelledRow) -> Judgment:
        async with gate:
            item = Behavior(id=str(row.index), goal=row.request)
            return await judge_safely(panel.judges[label], item, row.prompt, row.response)

    pairs = [(label, row) for label in panel.judges for row in labelled.rows]
    try:
        found = await asyncio.gather(*(judged(label, row) for label, row in pairs))
    finally:
        if store is not None:
            store.responses.flush()
    results = []
    recipe_path = str(loaded.path) if loaded.path else None
    for label in panel.judges:
        judgments = [j for (of, _), j in zip(pairs, found, strict=True) if of == label]
        items = [_item(row, j) for row, j in zip(labelled.rows, judgments, strict=True)]
        record = _record(label, identities[label], labelled, items, {}, recipe_path)
        confusion = Confusion(record.tp, record.fp, record.tn, record.fn)
        statistics = judge_statistics(confusion, seed=recipe.seed)
        record.stats = statistics.as_json()
        result = JudgeCalibration(label, identities[label], labelled, record, statistics)
        answered_any = any(j.status == JudgmentStatus.SCORED for j in judgments)
        if answered_any and confusion.n == 0:
            result.not_calibrated = (f"judge {label} ({identities[label].name}) gives no jailbroken verdict (it "
                                     "decides refusal or a class only), so it cannot be calibrated on jailbroken "
                                     "labels")
        elif store is not None:
            result.calibration_id = Calibrations(store).write(record)
        results.append(result)
    return CalibrationRun(results, panel.skipped)


def calibrate(loaded: LoadedRecipe, labelled: CalibrationSet, store: Store | None,
              labels: list[str] | None = None) -> CalibrationRun:
    """`calibrate_async` from synchronous code."""
    return asyncio.run(calibrate_async(loaded, labelled, store, labels))
