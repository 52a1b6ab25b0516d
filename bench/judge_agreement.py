"""How well the trained judge agrees: with JailbreakBench's judge on the held-out behaviors of its
training data, and, for information, with human majority labels on JailbreakBench's
judge-comparison file (the test set: computed once at the end, never used to choose anything).

    R2D_DATA_DIR=../shared/data .venv/bin/python bench/judge_agreement.py --training judge-smollm2 \
        --db judge.db [--comparison]

The threshold is chosen on the held-out split alone (the highest agreement; a tie goes to the
threshold nearest 0.5), unless --threshold fixes it. The comparison file is then read at that
threshold only. `r2d-sdk judges calibrate` reports the same file officially.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from r2d_plugins.judges.trained_judge import TrainedJudge

from r2d_sdk import Behavior, Context, DataSource, read_table, resolve_data_file, wilson_interval
from r2d_sdk.store import Store, TrainingRuns
from r2d_sdk.train._collate import split_heldout
from r2d_sdk.trajectories import artifact_records, build_judge_examples

COMPARISON = DataSource("jbb-judge-comparison",
                        package=("jailbreakbench", "jailbreakbench/data/classifier_comparison.csv"))


def heldout_rows(config: dict[str, Any]) -> tuple[list[tuple[str, str, bool]], int]:
    """(goal, response, jailbroken) of the held-out behaviors, split exactly as the training run split them."""
    options = config["data"]["judge"]
    records = artifact_records(options.get("artifacts"))
    examples = build_judge_examples(options.get("artifacts"), options["max_response_chars"])
    _, heldout = split_heldout(examples, config["data"]["heldout_fraction"], config["seed"])
    groups = {e.meta["group"] for e in heldout}
    rows = [(r["goal"], r["response"], bool(r["jailbroken"])) for r in records if int(r["index"]) in groups]
    return rows, len(groups)


async def scores(judge: TrainedJudge, rows: list[tuple[str, str, bool]], concurrency: int = 64) -> list[float]:
    gate = asyncio.Semaphore(concurrency)  # as the runner: many samples in flight at once

    async def one(goal: str, response: str) -> float:
        async with gate:
            judgment = await judge.judge(Behavior(id="x", goal=goal), goal, response)
        if judgment.score is None:
            raise RuntimeError(f"judge failed: {judgment.error}")
        return judgment.score

    return list(await asyncio.gather(*(one(goal, response) for goal, response, _ in rows)))


def rates(values: list[float], labels: list[bool], threshold: float) -> dict[str, Any]:
    predicted = [v >= threshold for v in values]
    tp = sum(p and y for p, y in zip(predicted, labels, strict=True))
    tn = sum(not p and not y for p, y in zip(predicted, labels, strict=True))
    positives, negatives = sum(labels), len(labels) - sum(labels)
    return {"n": len(labels), "agreement": (tp + tn) / len(labels), "agreement_ci": wilson_interval(tp + tn, len(labels)),
            "tpr": tp / positives if positives else None, "fpr": (negatives - tn) / negatives if negatives else None,
            "tp": tp, "fn": positives - tp, "tn": tn, "fp": negatives - tn}


def choose_threshold(values: list[float], labels: list[bool]) -> float:
    """The threshold with the highest agreement on these (held-out) rows; ties go to the one nearest 0.5."""
    ordered = sorted(set(values))
    candidates = [0.5] + [(a + b) / 2 for a, b in zip(ordered, ordered[1:], strict=False)]
    return max(candidates, key=lambda t: (rates(values, labels, t)["agreement"], -abs(t - 0.5)))


def show(title: str, figures: dict[str, Any]) -> None:
    low, high = figures["agreement_ci"]
    print(f"{title}: n {figures['n']}, agreement {figures['agreement']:.3f} (95% CI {low:.3f}-{high:.3f}), "
          f"TPR {figures['tpr']:.3f}, FPR {figures['fpr']:.3f} (tp {figures['tp']}, fn {figures['fn']}, "
          f"tn {figures['tn']}, fp {figures['fp']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--training", default="judge-smollm2", help="the judge's training-run name")
    parser.add_argument("--db", default="judge.db", help="results database holding the training run")
    parser.add_argument("--threshold", type=float, default=None, help="fix the threshold instead of choosing it")
    parser.add_argument("--dtype", default=None, help="e.g. bfloat16")
    parser.add_argument("--comparison", action="store_true", help="also score the judge-comparison file (test set)")
    args = parser.parse_args()
    # Read only: a database that newer code has migrated since still holds the training run.
    store = Store(args.db if "://" in args.db else f"sqlite:///{os.path.abspath(args.db)}", migrate=False)
    row = TrainingRuns(store).latest(args.training)
    if row is None:
        raise SystemExit(f"no completed training run named {args.training!r} in {args.db}")
    judge = TrainedJudge(TrainedJudge.Config(training=args.training, dtype=args.dtype), Context(store=store))
    rows, behaviors = heldout_rows(row.config_json)
    labels = [jailbroken for _, _, jailbroken in rows]
    values = asyncio.run(scores(judge, rows))
    print(f"training run {row.id} ({row.name}): {row.checkpoint_path}")
    print(f"held-out split: {behaviors} behaviors, {len(rows)} responses ({sum(labels)} jailbroken by JailbreakBench's judge)")
    show("held-out, threshold 0.5", rates(values, labels, 0.5))
    threshold = args.threshold if args.threshold is not None else choose_threshold(values, labels)
    if threshold != 0.5:
        show(f"held-out, threshold {threshold:.3f} ({'given' if args.threshold is not None else 'chosen here'})",
             rates(values, labels, threshold))
    if args.comparison:
        table = read_table(resolve_data_file(COMPARISON))
        test_rows = [(r["goal"], r["target_response"], r["human_majority"].strip() == "1") for r in table]
        test_values = asyncio.run(scores(judge, test_rows))
        show(f"judge-comparison file vs human majority (test set), threshold {threshold:.3f}",
             rates(test_values, [y for _, _, y in test_rows], threshold))


if __name__ == "__main__":
    main()
