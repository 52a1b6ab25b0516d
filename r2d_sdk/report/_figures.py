"""The report's figures from a run's counted verdicts: rates with intervals, the grid, the
trade-off points and their Pareto front, per-category rates, judge agreement.

Pure functions over `RunVerdicts` (counts the database already grouped): the same counts give
the same figures whichever backend they came from, and tests check them against hand counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from r2d_sdk._stats import cohen_kappa, wilson_interval
from r2d_sdk.report._verdicts import JudgeCounts, RunVerdicts

HARMFUL_LABELS = ("harmful", "unsafe")   # JailbreakBench's harmful behaviors, XSTest's unsafe prompts
BENIGN_LABELS = ("benign", "safe")       # JailbreakBench's benign behaviors, XSTest's safe prompts
XSTEST_SAFE = "XSTest safe: full refusal"
BENIGN_REFUSAL = "refusal rate on benign prompts"


@dataclass(frozen=True)
class Rate:
    """hits out of n, with its Wilson 95% interval (None when nothing was scored)."""

    hits: int
    n: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.hits, self.n) if self.n else None

    def text(self, digits: int = 1) -> str:
        """`45.0% (32.1–58.3)`, or `-` when nothing was scored."""
        if not self.n:
            return "-"
        low, high = self.interval  # type: ignore[misc]
        return f"{100 * self.hits / self.n:.{digits}f}% ({100 * low:.{digits}f}–{100 * high:.{digits}f})"


def asr(counts: JudgeCounts) -> Rate:
    return Rate(counts.jailbroken, counts.jailbreak_decided)


def refusal_rate(counts: JudgeCounts) -> Rate:
    return Rate(counts.refused, counts.refusal_decided)


def full_refusal_rate(counts: JudgeCounts) -> Rate:
    return Rate(counts.full_refusal, counts.xstest_labelled)


@dataclass(frozen=True)
class GridCell:
    """One rate of the attack × defense grid of a target model and judge."""

    model: str
    judge: str
    dataset: str
    item_label: str | None
    attack: str
    defense: str
    rate: Rate
    not_scored: int


def is_harmful(label: str | None) -> bool:
    """Items an attack success rate is about: harmful or unsafe ones, or unlabelled ones."""
    return label is None or label in HARMFUL_LABELS


def grid(verdicts: RunVerdicts, question: str) -> list[GridCell]:
    """Per model, judge, dataset (and item label), attack and defense: ASR ('jailbroken', harmful
    items only) or refusal rate ('refused', every item), for judges that decide the question."""
    by = ("model", "dataset", "item_label", "attack", "defense")
    cells = []
    for (model, dataset, label, attack, defense), judges in verdicts.counts(by).items():
        if question == "jailbroken" and not is_harmful(label):
            continue
        for judge in verdicts.judges:
            counts = judges.get(judge)
            if counts is None:
                continue
            rate = asr(counts) if question == "jailbroken" else refusal_rate(counts)
            if rate.n or counts.not_scored:
                cells.append(GridCell(model, judge, dataset, label, attack, defense, rate, counts.not_scored))
    # A judge that decides nothing of this question has no grid, even if it left some unscored.
    deciding = {(c.model, c.judge) for c in cells if c.rate.n}
    return [c for c in cells if (c.model, c.judge) in deciding]


@dataclass(frozen=True)
class TradeoffPoint:
    """One defense of one run and model: ASR on harmful prompts against over-refusal."""

    run_id: str
    model: str
    defense: str
    asr: Rate
    over_refusal: Rate
    asr_judge: str
    refusal_judge: str
    refusal_measure: str
    on_front: bool = False


def harmful_label(verdicts: RunVerdicts) -> str | None:
    """The label of the prompts ASR is measured on: JBB's harmful ones if the run has them, else XSTest's unsafe."""
    labels = set(verdicts.values("item_label"))
    return next((label for label in HARMFUL_LABELS if label in labels), None)


def _model_totals(groups: dict[tuple[Any, ...], dict[str, JudgeCounts]], model: str) -> dict[str, JudgeCounts]:
    """Each judge's counts over the groups of one model (groups keyed with the model first)."""
    out: dict[str, JudgeCounts] = {}
    for key, judges in groups.items():
        if key[0] == model:
            for judge, counts in judges.items():
                out.setdefault(judge, JudgeCounts()).merge(counts)
    return out


def _first_judge(verdicts: RunVerdicts, totals: dict[str, JudgeCounts], wanted: str) -> str | None:
    return next((j for j in verdicts.judges if j in totals and getattr(totals[j], wanted) > 0), None)


def tradeoff(verdicts: RunVerdicts) -> list[TradeoffPoint]:
    """Per model and defense: ASR (harmful prompts, every attack pooled) and over-refusal (XSTest
    safe prompts' full refusals where a judge speaks XSTest's labels, else the refusal rate on
    benign prompts), each read by the first judge of the recipe that decides it; front marked."""
    label = harmful_label(verdicts)
    if label is None:
        return []
    harmful = verdicts.counts(("model", "defense"), {"item_label": [label]})
    safe = verdicts.counts(("model", "defense"), {"item_label": ["safe"]})
    benign = verdicts.counts(("model", "defense"), {"item_label": list(BENIGN_LABELS)})
    points = []
    for model in verdicts.values("model"):
        asr_judge = _first_judge(verdicts, _model_totals(harmful, model), "jailbreak_decided")
        refusal_judge = _first_judge(verdicts, _model_totals(safe, model), "xstest_labelled")
        measure, refusals = XSTEST_SAFE, safe
        if refusal_judge is None:
            refusal_judge = _first_judge(verdicts, _model_totals(benign, model), "refusal_decided")
            measure, refusals = BENIGN_REFUSAL, benign
        if asr_judge is None or refusal_judge is None:
            continue
        for defense in verdicts.values("defense"):
            attacked = harmful.get((model, defense), {}).get(asr_judge)
            asked = refusals.get((model, defense), {}).get(refusal_judge)
            if attacked is None or asked is None:
                continue
            over = full_refusal_rate(asked) if measure == XSTEST_SAFE else refusal_rate(asked)
            points.append(TradeoffPoint(verdicts.run_id, model, defense, asr(attacked), over, asr_judge,
                                        refusal_judge, measure))
    return mark_front(points)


def mark_front(points: list[TradeoffPoint]) -> list[TradeoffPoint]:
    """Mark the Pareto front per run and model: points no other beats on both rates (lower is better)."""
    def dominated(point: TradeoffPoint) -> bool:
        a, o = point.asr.value, point.over_refusal.value
        if a is None or o is None:
            return True
        for other in points:
            if (other.run_id, other.model) != (point.run_id, point.model) or other is point:
                continue
            b, p = other.asr.value, other.over_refusal.value
            if b is not None and p is not None and b <= a and p <= o and (b < a or p < o):
                return True
        return False

    return [replace(p, on_front=not dominated(p)) for p in points]


@dataclass(frozen=True)
class CategoryRate:
    model: str
    judge: str
    category: str
    defense: str
    rate: Rate


def by_category(verdicts: RunVerdicts) -> list[CategoryRate]:
    """ASR per category and defense on the harmful prompts (attacks pooled), by the trade-off's ASR judge."""
    label = harmful_label(verdicts)
    if label is None:
        return []
    groups = verdicts.counts(("model", "category", "defense"), {"item_label": [label]})
    out = []
    for model in verdicts.values("model"):
        chosen = _first_judge(verdicts, _model_totals(groups, model), "jailbreak_decided")
        if chosen is None:
            continue
        for (group_model, category, defense), judges in groups.items():
            if group_model == model and chosen in judges and category is not None:
                out.append(CategoryRate(model, chosen, category, defense, asr(judges[chosen])))
    return out


@dataclass(frozen=True)
class Agreement:
    """How often two judges give the same answer to one question on the samples both decided."""

    question: str
    first: str
    second: str
    table: tuple[int, int, int, int]  # both yes, only first, only second, both no

    @property
    def n(self) -> int:
        return sum(self.table)

    @property
    def share(self) -> float | None:
        return (self.table[0] + self.table[3]) / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        return cohen_kappa(*self.table)


def agreement(verdicts: RunVerdicts) -> list[Agreement]:
    """Every pair of the run's judges, on jailbreaks and on refusals, where both decide them."""
    out = []
    for question in ("jailbroken", "refused"):
        for (first, second), table in verdicts.pair_tables(question).items():
            out.append(Agreement(question, first, second, table))
    return out
