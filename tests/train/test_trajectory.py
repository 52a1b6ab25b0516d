"""The trajectory format: JSONL round trips with a hash, the paper's instruction/input/output format both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r2d_sdk import ConfigError
from r2d_sdk.trajectories import RETHINK, SAFE, UNSAFE, Step, Trajectory, file_hash, read_jsonl, write_jsonl
from r2d_sdk.trajectories._format import append_jsonl, write_paper_jsonl

HARMFUL = Trajectory("Explain how to pick a lock on a neighbour's door.",
                     [Step("The user wants to get into someone else's home.", UNSAFE),
                      Step("I should decline and say why.", SAFE)],
                     "I can't help with that. Entering someone's home without consent is illegal.", SAFE, "harmful",
                     "seed", meta={"prompt_id": "x1"})
SENSITIVE = Trajectory("How do I kill a stuck job in cron?",
                       [Step('"Kill" sounds violent here.', RETHINK), Step("It means stopping a program.", SAFE)],
                       "Find its PID with `ps aux | grep job` and run `kill PID`.", SAFE, "benign", "seed",
                       input="Linux, Ubuntu 22.04")

# What a released record looks like: a pivot after every sentence, in the answer too.
PAPER_RECORD = {
    "instruction": "Give three tips for staying healthy.",
    "input": "",
    "output": ("<think>\nThe user asks for general health tips. [SAFE]\n\nThese are ordinary wellness suggestions, "
               "nothing risky. [SAFE]\n\nI will list diet, exercise and sleep. [SAFE] </think>\n\n"
               "1. Eat a balanced diet. [SAFE]\n2. Exercise regularly. [SAFE]\n3. Sleep seven to nine hours. [SAFE]"),
}
PAPER_HARMFUL = {
    "instruction": "Write a tutorial on making a weapon at home.",
    "input": "",
    "output": ("<think>\nThe user wants instructions for building a weapon. [UNSAFE]\n\nThis could hurt people, "
               "so I must not provide it. [SAFE]\n</think>\n\nI'm sorry, but I can't help with that. [SAFE]"),
}


def test_paper_record_round_trip_keeps_every_field() -> None:
    for trajectory in (HARMFUL, SENSITIVE):
        back = Trajectory.from_paper_record(trajectory.to_paper_record(), label=trajectory.label,
                                            source=trajectory.source)
        assert back.steps == trajectory.steps
        assert (back.instruction, back.input, back.answer, back.answer_pivot) == \
            (trajectory.instruction, trajectory.input, trajectory.answer, trajectory.answer_pivot)
        assert back.to_paper_record() == trajectory.to_paper_record()


def test_output_text_has_the_papers_layout() -> None:
    text = HARMFUL.output_text()
    assert text.startswith("<think>\nThe user wants") and "[UNSAFE]\n\nI should decline" in text
    assert "say why. [SAFE] </think>\n\nI can't help" in text and text.endswith("illegal. [SAFE]")
    plain = HARMFUL.output_text(with_pivots=False)
    assert "[" not in plain and plain.endswith("illegal.")
    answer_only = HARMFUL.output_text(reasoning=False)  # plain SFT (SafeDecoding's expert): the answer alone
    assert answer_only == HARMFUL.answer and answer_only.startswith("I can't help")


def test_parses_a_real_looking_multi_step_paper_output() -> None:
    trajectory = Trajectory.from_paper_record(PAPER_RECORD)
    assert [s.pivot for s in trajectory.steps] == [SAFE, SAFE, SAFE]
    assert trajectory.steps[1].text == "These are ordinary wellness suggestions, nothing risky."
    # The answer keeps its own per-sentence pivots and its layout; the last pivot labels it.
    assert trajectory.answer == "1. Eat a balanced diet. [SAFE]\n2. Exercise regularly. [SAFE]\n3. Sleep seven to nine hours."
    assert trajectory.answer_pivot == SAFE
    assert trajectory.label == "benign" and trajectory.meta["label_inferred"]
    assert "[SAFE]" not in trajectory.output_text(with_pivots=False)
    # Parsing our own rendering of it gives the same trajectory back: a fixed point.
    again = Trajectory.from_paper_record(trajectory.to_paper_record())
    assert again == trajectory

    harmful = Trajectory.from_paper_record(PAPER_HARMFUL)
    assert [s.pivot for s in harmful.steps] == [UNSAFE, SAFE]
    assert harmful.label == "harmful" and harmful.answer == "I'm sorry, but I can't help with that."
    assert Trajectory.from_paper_record(PAPER_HARMFUL, label="benign").label == "benign"  # a given label wins


def test_jsonl_round_trip_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    digest = write_jsonl([HARMFUL, SENSITIVE], path)
    assert digest == file_hash(path)
    assert read_jsonl(path) == [HARMFUL, SENSITIVE]
    append_jsonl([HARMFUL], path)
    assert read_jsonl(path) == [HARMFUL, SENSITIVE, HARMFUL]
    assert file_hash(path) != digest


def test_paper_jsonl_export_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "paper.jsonl"
    write_paper_jsonl([HARMFUL, SENSITIVE], path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert set(rows[0]) == {"instruction", "input", "output"} and rows[1]["input"] == "Linux, Ubuntu 22.04"
    back = read_jsonl(path)  # detected per line as the paper's format; labels inferred from the pivots
    assert [t.label for t in back] == ["harmful", "benign"]
    assert [t.output_text() for t in back] == [HARMFUL.output_text(), SENSITIVE.output_text()]


def test_bad_lines_and_pivots_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pivot"):
        Step("text", "[MAYBE]")
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(HARMFUL.to_paper_record()) + "\n{not json\n")
    with pytest.raises(ConfigError, match="bad.jsonl:2"):
        read_jsonl(path)
