"""Two runs cell by cell: both rates, their difference with a 95% interval, and the flipped items.

One query matches every sample of run A with run B's sample of the same cell and item and
counts the pairs by the joint verdicts of both (`compare_verdicts`); rates, differences and
flip counts are sums of those counts. The difference's interval is Newcombe's hybrid score
interval for two independent proportions: when both runs asked the same items it is
conservative (a paired interval would be narrower), and the flip counts show the pairing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from r2d_sdk._stats import newcombe_interval
from r2d_sdk.report._figures import Rate, is_harmful
from r2d_sdk.report._queries import named_query
from r2d_sdk.report._run_data import recipe_judges
from r2d_sdk.report._verdicts import JudgeCounts, Verdict, run_judges, unpack

KEY = ("model", "dataset", "item_label", "attack", "defense")


@dataclass(frozen=True)
class ComparedCell:
    """One (model, dataset, item label, attack, defense, judge) of both runs."""

    model: str
    dataset: str
    item_label: str | None
    attack: str
    defense: str
    judge: str
    question: str  # 'jailbroken' (ASR) or 'refused' (refusal rate)
    a: Rate
    b: Rate
    flips: int   # items decided in both runs whose answer changed
    paired: int  # items decided in both runs

    @property
    def measure(self) -> str:
        return "ASR" if self.question == "jailbroken" else "refusal"

    @property
    def difference(self) -> float | None:
        if self.a.value is None or self.b.value is None:
            return None
        return self.b.value - self.a.value

    @property
    def interval(self) -> tuple[float, float] | None:
        if not self.a.n or not self.b.n:
            return None
        return newcombe_interval(self.b.hits, self.b.n, self.a.hits, self.a.n)

    @property
    def flagged(self) -> bool:
        """The interval of B − A excludes 0."""
        interval = self.interval
        return interval is not None and (interval[0] > 0 or interval[1] < 0)


@dataclass
class Comparison:
    run_a: Any
    run_b: Any
    judges: list[str]
    cells: list[ComparedCell]
    flipped: list[dict[str, Any]]
    flip_limit: int
    only_a: int = 0  # samples of A with no counterpart in B
    only_b: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Pair:
    a: JudgeCounts = field(default_factory=JudgeCounts)
    b: JudgeCounts = field(default_factory=JudgeCounts)
    flips: dict[str, int] = field(default_factory=lambda: {"jailbroken": 0, "refused": 0})
    paired: dict[str, int] = field(default_factory=lambda: {"jailbroken": 0, "refused": 0})


def _answer(verdict: Verdict | None, question: str) -> bool | None:
    if verdict is None or verdict.status != "scored":
        return None
    value: bool | None = getattr(verdict, question)
    return value


def compare_runs(store: Any, run_a: str, run_b: str, flip_limit: int = 20) -> Comparison:
    """Compare run B with run A (ids or 'latest'), cell by cell."""
    first, second = store.get_run(run_a), store.get_run(run_b)
    order = recipe_judges(first.recipe_yaml) + recipe_judges(second.recipe_yaml)
    judges = list(dict.fromkeys(run_judges(store, first.id, order) + run_judges(store, second.id, order)))
    pairs: dict[tuple[Any, ...], _Pair] = {}
    matched = only_a = 0

    def tally(key: tuple[Any, ...], verdicts_a: Any, verdicts_b: Any, n: int) -> None:
        # A missing sample and a sample without judgments both unpack to no verdicts.
        for judge, va, vb in zip(judges, unpack(verdicts_a, len(judges)), unpack(verdicts_b, len(judges)),
                                 strict=True):
            pair = pairs.setdefault((*key, judge), _Pair())
            if va is not None:
                pair.a.add(va, n)
            if vb is not None:
                pair.b.add(vb, n)
            for question in ("jailbroken", "refused"):
                answer_a, answer_b = _answer(va, question), _answer(vb, question)
                if answer_a is not None and answer_b is not None:
                    pair.paired[question] += n
                    pair.flips[question] += n * (answer_a != answer_b)

    for row in named_query(store, "compare_verdicts", judges=judges, run_a=first.id, run_b=second.id):
        n = int(row["n"])
        key = tuple(row[name] for name in KEY)
        if row["matched"]:
            matched += n
            tally(key, row["verdicts_a"], row["verdicts_b"], n)
        else:
            only_a += n
            tally(key, row["verdicts_a"], None, n)
    total_b = int(named_query(store, "sample_count", run_id=second.id)[0]["n"])
    only_b = total_b - matched
    if only_b:  # B has samples A lacks: count them too (one more pass, only then)
        for row in named_query(store, "compare_unmatched_b", judges=judges, run_a=first.id, run_b=second.id):
            tally(tuple(row[name] for name in KEY), None, row["verdicts_b"], int(row["n"]))
    cells = []
    for (model, dataset, label, attack, defense, judge), pair in pairs.items():
        if is_harmful(label) and (pair.a.jailbreak_decided or pair.b.jailbreak_decided):
            question = "jailbroken"
            a, b = Rate(pair.a.jailbroken, pair.a.jailbreak_decided), Rate(pair.b.jailbroken, pair.b.jailbreak_decided)
        elif pair.a.refusal_decided or pair.b.refusal_decided:
            question = "refused"
            a, b = Rate(pair.a.refused, pair.a.refusal_decided), Rate(pair.b.refused, pair.b.refusal_decided)
        else:
            continue
        cells.append(ComparedCell(model, dataset, label, attack, defense, judge, question, a, b,
                                  pair.flips[question], pair.paired[question]))
    flipped = named_query(store, "flipped_items", run_a=first.id, run_b=second.id, limit=flip_limit) \
        if any(c.flips for c in cells) else []
    return Comparison(first, second, judges, cells, flipped, flip_limit, only_a, only_b)


def flips_sql(comparison: Comparison) -> str:
    """The query that lists every flipped item (the report shows the first few)."""
    return ("SELECT a.item_id, a.attack, a.defense, a.judge, a.jailbroken AS jailbroken_a, "
            "b.jailbroken AS jailbroken_b, a.refused AS refused_a, b.refused AS refused_b "
            "FROM sample_verdicts a JOIN sample_verdicts b ON b.dataset = a.dataset AND b.item_id = a.item_id "
            "AND b.model = a.model AND b.attack = a.attack AND b.defense = a.defense AND b.judge = a.judge "
            f"WHERE a.run_id = '{comparison.run_a.id}' AND b.run_id = '{comparison.run_b.id}' "
            "AND a.judgment_status = 'scored' AND b.judgment_status = 'scored' "
            "AND (a.jailbroken <> b.jailbroken OR a.refused <> b.refused)")
