"""The report's queries give the hand-counted figures of report_records.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from report_records import RS, XS, fill

from r2d_sdk._stats import newcombe_interval
from r2d_sdk.report import collect, compare_runs
from r2d_sdk.report._figures import XSTEST_SAFE, Rate
from r2d_sdk.report._run_data import pivot_stats
from r2d_sdk.report._verdicts import run_judges, run_verdicts
from r2d_sdk.store import Store


def test_judges_come_in_the_recipes_order(store: Store) -> None:
    run_a, _ = fill(store)
    assert run_judges(store, run_a, [XS, RS]) == [XS, RS]
    assert run_judges(store, run_a) == [RS, XS]  # no order given: by name
    assert run_judges(store, "no-such-run") == []


def test_verdict_counts_per_cell(store: Store) -> None:
    run_a, _ = fill(store)
    verdicts = run_verdicts(store, run_a, [RS, XS])
    assert verdicts.sample_status() == {"error": 1, "ok": 18}
    none = verdicts.counts(("dataset", "defense"))[("jbb", "none")]
    assert (none[RS].jailbroken, none[RS].jailbreak_decided, none[RS].unscorable, none[RS].errors) == (2, 3, 1, 1)
    assert (none[XS].refused, none[XS].refusal_decided, none[XS].jailbreak_decided, none[XS].errors) == (2, 3, 0, 2)
    assert none[XS].xstest_labelled == 3 and none[XS].full_refusal == 2
    guard_a = verdicts.counts(("defense", "category"), {"item_label": ["harmful"]})[("guard", "A")][RS]
    assert (guard_a.jailbroken, guard_a.jailbreak_decided) == (0, 2)


def test_report_figures(store: Store) -> None:
    run_a, _ = fill(store)
    report = collect(store, run_a)
    assert report.judges == [RS, XS]
    # The ASR grid: refusal-string only (xstest-string decides no jailbreaks), harmful items only.
    asr = {(c.judge, c.defense): c for c in report.asr_cells}
    assert set(asr) == {(RS, "none"), (RS, "guard"), (RS, "bad")}
    assert asr[(RS, "none")].rate == Rate(2, 3) and asr[(RS, "none")].not_scored == 2
    refusal = {(c.judge, c.dataset, c.defense): c.rate for c in report.refusal_cells}
    assert refusal[(RS, "jbb", "none")] == Rate(1, 3) and refusal[(XS, "jbb", "none")] == Rate(2, 3)
    assert refusal[(XS, "xstest", "guard")] == Rate(2, 2)
    # The trade-off: ASR by refusal-string, over-refusal = XSTest safe full refusal by xstest-string.
    points = {p.defense: p for p in report.tradeoff}
    assert {d: (p.asr, p.over_refusal, p.on_front) for d, p in points.items()} == {
        "none": (Rate(2, 3), Rate(1, 2), True), "guard": (Rate(1, 4), Rate(2, 2), True),
        "bad": (Rate(4, 4), Rate(2, 2), False)}
    assert {(p.asr_judge, p.refusal_judge, p.refusal_measure) for p in points.values()} == {(RS, XS, XSTEST_SAFE)}
    categories = {(c.defense, c.category): c.rate for c in report.categories}
    assert categories == {("none", "A"): Rate(2, 2), ("none", "B"): Rate(0, 1), ("guard", "A"): Rate(0, 2),
                          ("guard", "B"): Rate(1, 2), ("bad", "A"): Rate(2, 2), ("bad", "B"): Rate(2, 2)}
    # Agreement on refusals: 17 samples both judges scored; they differ on h2 under none only.
    (agreement,) = report.agreement
    assert (agreement.question, agreement.first, agreement.second, agreement.table) == ("refused", RS, XS,
                                                                                        (9, 0, 1, 7))
    assert agreement.share == pytest.approx(16 / 17) and agreement.kappa == pytest.approx(126 / 143)
    assert report.calibrated is False and report.corrected == {}
    assert {r["defense"] for r in report.costs} == {"none", "guard", "bad"}


def test_sample_browser_keeps_whole_items_and_cuts_texts(store: Store) -> None:
    run_a, _ = fill(store)
    # Two datasets, a cap of 8: about 4 samples each, whole items (every defense of an item) first.
    browser = collect(store, run_a, max_samples=8, chars=5).browser
    items = [(s["dataset"], s["item_id"]) for s in browser.samples]
    assert sorted(set(items)) == [("jbb", "h1"), ("jbb", "h2"), ("xstest", "s1"), ("xstest", "s2")]
    assert len(browser.samples) == 12 and browser.total == 19
    first = browser.samples[0]
    assert first["prompt"] == "promp" and first["prompt_length"] == len("prompt h1")
    assert {j["judge"] for j in first["judgments"]} == {RS, XS}


def test_compare_two_runs(store: Store) -> None:
    run_a, run_b = fill(store)
    comparison = compare_runs(store, run_a, run_b, flip_limit=10)
    cells = {(c.dataset, c.defense, c.judge): c for c in comparison.cells}
    none = cells[("jbb", "none", RS)]
    assert (none.question, none.a, none.b, none.flips, none.paired) == ("jailbroken", Rate(2, 3), Rate(1, 3), 1, 3)
    assert none.difference == pytest.approx(-1 / 3)
    assert none.interval == pytest.approx(newcombe_interval(1, 3, 2, 3)) and not none.flagged
    guard = cells[("jbb", "guard", RS)]
    assert (guard.a, guard.b, guard.flips, guard.paired) == (Rate(1, 4), Rate(2, 5), 0, 4)
    # xstest-string decides refusals: compared on refusal, harmful items included.
    assert (cells[("jbb", "none", XS)].question, cells[("jbb", "none", XS)].a, cells[("jbb", "none", XS)].b) == \
           ("refused", Rate(2, 3), Rate(3, 3))
    assert cells[("xstest", "none", RS)].question == "refused"
    assert ("jbb", "bad", RS) in cells and cells[("jbb", "bad", RS)].b == Rate(0, 0)
    assert (comparison.only_a, comparison.only_b) == (6, 1)
    flipped = {(f["item_id"], f["judge"]) for f in comparison.flipped}
    assert flipped == {("h1", RS), ("h1", XS)}


def test_compare_flags_a_difference_whose_interval_excludes_zero(store: Store) -> None:
    from report_records import rs, sample

    first = store.create_run("a", "name: a\n", "a", seed=0)
    second = store.create_run("b", "name: b\n", "b", seed=0)
    store.write_samples(first, [sample(f"h{i}", "none", [(RS, rs(True))]) for i in range(30)])
    store.write_samples(second, [sample(f"h{i}", "none", [(RS, rs(i < 3))]) for i in range(30)])
    (cell,) = compare_runs(store, first, second).cells
    assert (cell.a, cell.b, cell.flips) == (Rate(30, 30), Rate(3, 30), 27)
    assert cell.flagged and cell.interval is not None and cell.interval[1] < 0


def test_pivot_statistics_read_the_defense_info(store: Store) -> None:
    from report_records import rs, sample

    run = store.create_run("pivots", "name: p\n", "p", seed=0)
    infos = [{"pivots": ["[SAFE]", "[UNSAFE]"], "reasoning_closed": True},
             {"pivots": ["[UNSAFE]"], "reasoning_closed": False},
             {"pivots": [], "reasoning_closed": False}]
    store.write_samples(run, [sample(f"h{i}", "r2d", [(RS, rs(False))], defense_info=info)
                              for i, info in enumerate(infos)]
                        + [sample("h9", "none", [(RS, rs(True))], defense_info={"note": "no pivots here"})])
    rows = pivot_stats(store, run, ["r2d", "none"])
    assert {r["defense"] for r in rows} == {"r2d"}  # `none` records no pivots: its samples are not read
    by_first = {r["first_pivot"]: (r["defense"], r["n"], r["emitted"], r["reasoning_closed"]) for r in rows}
    assert by_first == {"[SAFE]": ("r2d", 1, 1, 1), "[UNSAFE]": ("r2d", 1, 1, 0), None: ("r2d", 1, 0, 0)}


def test_a_run_without_judgments_still_reports(store: Store) -> None:
    from report_records import sample

    run = store.create_run("bare", "name: bare\n", "x", seed=0)
    store.write_samples(run, [sample("h1", "none", [])])
    report = collect(store, run)
    assert report.judges == [] and report.verdicts.sample_status() == {"ok": 1}
    assert report.asr_cells == [] and report.tradeoff == [] and report.agreement == []


def test_r2d_section_reads_the_training_run_and_its_curve(store: Store) -> None:
    from report_records import rs, sample

    from r2d_sdk.report._html import Charts, r2d_block
    from r2d_sdk.store import TrainingRuns

    trainings = TrainingRuns(store)
    training = trainings.create("r2d", "local/smollm2", {"lambda_cpo": 1.0}, "c" * 64, "d" * 64, "data.jsonl",
                                n_train=40, n_heldout=4, total_steps=3)
    trainings.log_steps(training, "train", [{"step": s, "loss": 3.0 - s, "ce": 2.0 - s / 2, "cpo": 1.0 - s / 2}
                                            for s in (1, 2, 3)])
    trainings.log_steps(training, "heldout", [{"step": 3, "loss": 1.5, "pivot_acc": 0.9}])
    trainings.finish(training, "completed", "ckpt", "e" * 64, metrics={"pivot_acc": 0.9, "first_pivot_acc": 0.75})
    run = store.create_run("r2d", "name: r\n", "r", seed=0)
    info = {"training_run_id": training, "pivots": ["[UNSAFE]"], "reasoning_closed": True}
    store.write_samples(run, [sample(f"h{i}", "r2d", [(RS, rs(False))], defense_info=info) for i in range(2)]
                        + [sample("h0", "none", [(RS, rs(True))])])
    report = collect(store, run)
    (row,) = report.training
    assert (row["defense"], row["training_run_id"], row["name"], row["n_samples"]) == ("r2d", training, "r2d", 2)
    assert [(c["split"], c["step"]) for c in report.curves] == [("heldout", 3), ("train", 1), ("train", 2),
                                                               ("train", 3)]
    block = r2d_block(report, Charts())
    assert block is not None
    (shown,) = block["trainings"]
    assert (shown["steps"], shown["pivot_acc"], shown["first_pivot_acc"], shown["data_hash"]) == \
           ("3 of 3", "90.0%", "75.0%", "d" * 16)
    assert shown["chart"] is not None
    (pivots,) = block["pivots"]
    assert (pivots["defense"], pivots["n"], pivots["emitted"], pivots["first"]) == ("r2d", 2, "100.0%", "[UNSAFE] 100%")
