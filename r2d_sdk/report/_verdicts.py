"""Every verdict of a run in one pass: sample counts per grid cell and joint verdict of its judges.

A report needs, per grid cell, each judge's counts (scored, jailbroken, refused, full refusal,
not scored) and, across judges, how often two judges agree on the same sample. Asking the
database once per figure would read a million-sample run's judgments five times; this module
asks once. Per sample, the verdicts of all its judges are packed into one number (its
*signature*: one base-64 digit per judge, the judgment's code), and the database groups the
samples by cell and signature. A run's verdicts then come back as a few thousand counted rows
however many samples it has, and every figure of the report adds up those counts: no loop ever
runs over samples in Python.

The code of a judgment is `_queries.VERDICT_CODE`; `decode` reads it back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from r2d_sdk.report._queries import BASE, named_query

CELL_FIELDS = ("model", "dataset", "item_label", "category", "attack", "defense")


@dataclass(frozen=True)
class Verdict:
    """One judge's verdict on one sample, decoded from its code."""

    status: str  # scored, unscorable, error
    jailbroken: bool | None = None
    refused: bool | None = None
    xstest_label: str | None = None  # 'full_refusal', 'other' (compliance or partial refusal), or None


_ANSWERS = (False, True, None)


def decode(code: int) -> Verdict | None:
    """The verdict a judgment code stands for (`_queries.VERDICT_CODE`); None for 0 (no judgment)."""
    if code == 0:
        return None
    if code < 3:
        return Verdict("unscorable" if code == 1 else "error")
    code -= 3
    return Verdict("scored", _ANSWERS[code % 3], _ANSWERS[(code // 3) % 3], (None, "full_refusal", "other")[code // 9])


def unpack(signature: int | None, n_judges: int) -> tuple[Verdict | None, ...]:
    """The verdicts of a signature, one per judge in order."""
    signature = int(signature or 0)
    return tuple(decode((signature // BASE ** i) % BASE) for i in range(n_judges))


@dataclass
class JudgeCounts:
    """A judge's verdicts over some samples; rates use scored verdicts that decide the question."""

    judged: int = 0
    scored: int = 0
    unscorable: int = 0
    errors: int = 0
    jailbreak_decided: int = 0
    jailbroken: int = 0
    refusal_decided: int = 0
    refused: int = 0
    xstest_labelled: int = 0
    full_refusal: int = 0

    def add(self, verdict: Verdict, n: int) -> None:
        self.judged += n
        if verdict.status != "scored":
            if verdict.status == "unscorable":
                self.unscorable += n
            else:
                self.errors += n
            return
        self.scored += n
        if verdict.jailbroken is not None:
            self.jailbreak_decided += n
            self.jailbroken += n * verdict.jailbroken
        if verdict.refused is not None:
            self.refusal_decided += n
            self.refused += n * verdict.refused
        if verdict.xstest_label is not None:
            self.xstest_labelled += n
            self.full_refusal += n * (verdict.xstest_label == "full_refusal")

    def merge(self, other: JudgeCounts) -> None:
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def not_scored(self) -> int:
        return self.unscorable + self.errors


@dataclass
class RunVerdicts:
    """A run's samples counted by grid cell, sample status and the joint verdict of its judges."""

    run_id: str
    judges: list[str]
    # (cell values in CELL_FIELDS order, sample status, verdicts per judge, number of samples)
    rows: list[tuple[tuple[Any, ...], str, tuple[Verdict | None, ...], int]] = field(default_factory=list)

    def sample_status(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, status, _, n in self.rows:
            counts[status] += n
        return dict(sorted(counts.items()))

    def values(self, name: str) -> list[Any]:
        """The distinct values of one cell field, in first-seen order."""
        index = CELL_FIELDS.index(name)
        return list(dict.fromkeys(cell[index] for cell, _, _, _ in self.rows))

    def counts(self, by: Iterable[str], where: dict[str, Iterable[Any]] | None = None,
               ) -> dict[tuple[Any, ...], dict[str, JudgeCounts]]:
        """Per group of `by` fields: each judge's counts (only samples matching `where`)."""
        keys = [CELL_FIELDS.index(name) for name in by]
        filters = [(CELL_FIELDS.index(name), set(allowed)) for name, allowed in (where or {}).items()]
        out: dict[tuple[Any, ...], dict[str, JudgeCounts]] = {}
        for cell, _, verdicts, n in self.rows:
            if any(cell[index] not in allowed for index, allowed in filters):
                continue
            group = out.setdefault(tuple(cell[i] for i in keys), {})
            for judge, verdict in zip(self.judges, verdicts, strict=True):
                if verdict is not None:
                    group.setdefault(judge, JudgeCounts()).add(verdict, n)
        return out

    def pair_tables(self, question: str) -> dict[tuple[str, str], tuple[int, int, int, int]]:
        """Per pair of judges: the 2x2 table (both yes, only first, only second, both no) of their
        answers to `question` ('jailbroken' or 'refused') on samples both scored and decided."""
        tables: dict[tuple[str, str], list[int]] = {}
        for _, _, verdicts, n in self.rows:
            answers = [getattr(v, question) if v is not None and v.status == "scored" else None
                       for v in verdicts]
            for i, first in enumerate(answers):
                for k in range(i + 1, len(answers)):
                    second = answers[k]
                    if first is None or second is None:
                        continue
                    table = tables.setdefault((self.judges[i], self.judges[k]), [0, 0, 0, 0])
                    table[0 if first and second else 1 if first else 2 if second else 3] += n
        return {pair: (a, b, c, d) for pair, (a, b, c, d) in tables.items()}


def run_judges(store: Any, run_id: str, order: list[str] | None = None) -> list[str]:
    """The judges with judgments in a run: those named in `order` (the recipe's) first, in its order."""
    found = [row["judge"] for row in named_query(store, "run_judges", run_id=run_id)]
    position = {name: i for i, name in enumerate(order or [])}
    return sorted(found, key=lambda judge: (position.get(judge, len(position)), judge))


def run_verdicts(store: Any, run_id: str, judges: list[str]) -> RunVerdicts:
    """Count a run's samples by cell, status and joint verdict (one query)."""
    result = RunVerdicts(run_id, judges)
    for row in named_query(store, "run_verdicts", judges=judges, run_id=run_id):
        cell = tuple(row[name] for name in CELL_FIELDS)
        result.rows.append((cell, row["status"], unpack(row["verdicts"], len(judges)), int(row["n"])))
    return result
