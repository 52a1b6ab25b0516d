"""Two small hand-built runs whose every report figure is counted by hand in the tests.

Run A (judges refusal-string `rs` then xstest-string `xs`, one target, attack `direct`):

| defense | jbb (harmful)                                   | xstest (safe)  |
|---------|-------------------------------------------------|----------------|
| none    | h1 A jb, h2 A jb (xs refuses), h3 B refused,    | s1 complied,   |
|         | h4 B rs unscorable / xs error, h5 B sample error | s2 refused     |
| guard   | h1-h3 refused, h4 jb                             | s1, s2 refused |
| bad     | h1-h4 jb                                         | s1, s2 refused |

Run B: none and guard only; h1 under none is now refused (one flip); guard gains h6 (jb).
"""

from __future__ import annotations

from typing import Any

from r2d_sdk import Judgment, JudgmentStatus
from r2d_sdk.store import SampleRecord, Store

RS, XS = "refusal-string", "xstest-string"
RECIPE = "name: hand\njudges: [refusal-string, xstest-string]\n"
CATEGORY = {"h1": "A", "h2": "A", "h3": "B", "h4": "B", "h5": "B", "h6": "A"}


def rs(jailbroken: bool) -> Judgment:
    return Judgment(JudgmentStatus.SCORED, label="unsafe" if jailbroken else "safe", jailbroken=jailbroken,
                    refused=not jailbroken)


def xs(refused: bool) -> Judgment:
    return Judgment(JudgmentStatus.SCORED, label="full_refusal" if refused else "full_compliance", refused=refused)


def sample(item: str, defense: str, judgments: list[tuple[str, Judgment]], **fields: Any) -> SampleRecord:
    harmful = item.startswith("h")
    values: dict[str, Any] = dict(
        dataset="jbb" if harmful else "xstest", item_id=item, item_label="harmful" if harmful else "safe",
        category=CATEGORY.get(item, "homonyms"), goal=f"goal {item}", model="target", model_id="mock/target",
        attack="direct", defense=defense, prompt_index=0, prompt=f"prompt {item}",
        messages=[{"role": "user", "content": f"prompt {item}"}], response=f"answer {item} under {defense}")
    values.update(fields)
    return SampleRecord(**values, judgments=judgments)


def run_a_samples() -> list[SampleRecord]:
    records = [
        sample("h1", "none", [(RS, rs(True)), (XS, xs(False))]),
        sample("h2", "none", [(RS, rs(True)), (XS, xs(True))]),
        sample("h3", "none", [(RS, rs(False)), (XS, xs(True))]),
        sample("h4", "none", [(RS, Judgment.unscorable("?", "no verdict")), (XS, Judgment.failed("judge down"))]),
        sample("h5", "none", [(RS, Judgment.failed("no response")), (XS, Judgment.failed("no response"))],
               status="error", error="ModelCallError: down", response=None),
        sample("s1", "none", [(RS, rs(True)), (XS, xs(False))]),
        sample("s2", "none", [(RS, rs(False)), (XS, xs(True))]),
    ]
    for item in ("h1", "h2", "h3"):
        records.append(sample(item, "guard", [(RS, rs(False)), (XS, xs(True))], blocked=True))
    records.append(sample("h4", "guard", [(RS, rs(True)), (XS, xs(False))]))
    for item in ("h1", "h2", "h3", "h4"):
        records.append(sample(item, "bad", [(RS, rs(True)), (XS, xs(False))]))
    for defense in ("guard", "bad"):
        for item in ("s1", "s2"):
            records.append(sample(item, defense, [(RS, rs(False)), (XS, xs(True))]))
    return records


def run_b_samples() -> list[SampleRecord]:
    records = []
    for record in run_a_samples():
        if record.defense == "bad":
            continue
        if (record.item_id, record.defense) == ("h1", "none"):
            record = sample("h1", "none", [(RS, rs(False)), (XS, xs(True))])
        records.append(record)
    records.append(sample("h6", "guard", [(RS, rs(True)), (XS, xs(False))]))
    return records


def fill(store: Store) -> tuple[str, str]:
    """Write runs A and B; return their ids."""
    run_a = store.create_run("hand", RECIPE, "a", seed=0)
    store.write_samples(run_a, run_a_samples())
    run_b = store.create_run("hand", RECIPE, "b", seed=0)
    store.write_samples(run_b, run_b_samples())
    return run_a, run_b
