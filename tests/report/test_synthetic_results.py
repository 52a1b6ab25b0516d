"""The report's single pass over a run agrees with the plain `asr_by_cell` view on the bench's synthetic
database (every judge, status and cell of it), on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import text

from r2d_sdk.report._verdicts import run_judges, run_verdicts
from r2d_sdk.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from synthetic_results import JUDGES, fill_synthetic_run  # noqa: E402


def test_verdict_pass_matches_the_view(store: Store) -> None:
    run = fill_synthetic_run(store, 4_000)
    judges = run_judges(store, run, list(JUDGES))
    assert judges == list(JUDGES)
    counts = run_verdicts(store, run, judges).counts(("dataset", "item_label", "model", "attack", "defense"))
    with store.engine.connect() as connection:
        view = connection.execute(text("SELECT dataset, item_label, model, attack, defense, judge, n_judged, n_scored, "
                                       "n_jailbroken, n_not_scored FROM asr_by_cell WHERE run_id = :run"),
                                  {"run": run}).all()
    assert len(view) == 2 * 20 * 4  # two datasets, 20 cells, 4 judges
    for dataset, label, model, attack, defense, judge, judged, scored, jailbroken, not_scored in view:
        mine = counts[(dataset, label, model, attack, defense)][judge]
        assert (mine.judged, mine.scored, mine.jailbroken, mine.not_scored) == (judged, scored, jailbroken, not_scored)
