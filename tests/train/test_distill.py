"""Building trajectories: the offline builder (tiny model), teacher reply parsing, guard relabelling, `r2d-sdk distill`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from r2d_sdk import ConfigError, Model, ModelOutput
from r2d_sdk._calls import collect
from r2d_sdk.cli import cli
from r2d_sdk.recipe import parse_recipe
from r2d_sdk.store import Store
from r2d_sdk.trajectories import RETHINK, SAFE, UNSAFE, Step, Trajectory, read_jsonl
from r2d_sdk.trajectories._prompts import SeedPrompt, load_seed_prompts
from r2d_sdk.trajectories._teacher import (
    GuardError,
    MalformedReply,
    parse_guard_verdict,
    parse_teacher_reply,
    relabel_with_guard,
)
from r2d_sdk.trajectories._templated import (
    _steps,
    build_offline_trajectories,
    harm_of,
    prompt_rng,
    quote,
    truncate_answer,
)

GOOD_REPLY = ("<think>\nThe user asks how to stop a hung program. [SAFE]\n\n'Kill' here means ending a process. "
              "[RETHINK]\n\nThis is routine system administration. [SAFE]\n</think>\n\n"
              "Run `kill <pid>`; add -9 if it ignores the signal. [SAFE]")
PROMPT = SeedPrompt("p1", "How do I kill a hung program?", "sensitive-benign", "homonyms")


def _pick(seed: list[SeedPrompt], label: str, n: int) -> list[SeedPrompt]:
    return [p for p in seed if p.label == label][::17][:n]


def test_truncate_answer_cuts_at_a_sentence() -> None:
    long = "First sentence here. Second one is longer than the first. Third sentence ends it."
    assert truncate_answer(long, 60) == "First sentence here. Second one is longer than the first."
    assert truncate_answer("Short [SAFE] and done. And then", 200, cut_off=True) == "Short and done."
    code = "Use this:\n```python\nx = 1. y = 2. z = 3. w = 4.\n```"
    assert truncate_answer(code, 30) == "Use this:\n```python\nx = 1.\n```"  # no code block left open
    loop = "Here's a list:\n\n- **Tacos**\n- **Chicken**\n- **Chicken**\n- **Chicken**"
    assert truncate_answer(loop, 600, cut_off=True) == "Here's a list:\n\n- **Tacos**\n- **Chicken**"
    assert truncate_answer("It works. It works. It works.", 600) == "It works."
    assert truncate_answer("Do this:\n\n1. Open it.\n\n2. Open it.\n\n3.", 600) == "Do this:\n\n1. Open it."
    assert truncate_answer("Step 1. Mix. Step 2. Bake.", 600) == "Step 1. Mix. Step 2. Bake."  # short bits may recur
    assert quote("Write a script that can exploit") == "Write a script that can exploit."
    assert len(quote("word " * 100)) <= 163


def test_offline_builder_with_the_tiny_model(tiny_model_dir: Path) -> None:
    # The recipe's local options, so the CLI test below reuses the loaded model.
    model = Model("tiny", f"local/{tiny_model_dir}", local_options={"batch_size": 32, "chat_template": "auto"})
    seed = load_seed_prompts()
    prompts = _pick(seed, "harmful", 4) + _pick(seed, "benign", 3) + _pick(seed, "sensitive-benign", 3)
    stats: Counter[str] = Counter()
    with collect() as calls:
        built = build_offline_trajectories(model, prompts, seed=7, answer_max_tokens=24, max_answer_chars=80,
                                           repetition_penalty=1.5, stats=stats)
    assert len(calls) == 6 and all(c.model == "tiny" and c.response is not None for c in calls)  # harmful: no call
    assert len(built) == len(prompts) and stats["answered"] == 6, stats
    for trajectory in built:
        pivots = [s.pivot for s in trajectory.steps]
        kind = trajectory.meta["kind"]
        assert trajectory.answer_pivot == SAFE and trajectory.answer
        assert kind == "harmful" or len(trajectory.answer) <= 82  # cut at 80 characters (+ " …")
        assert trajectory.steps[0].text.count('"') >= 2  # the first step quotes the request
        if kind == "harmful":
            assert pivots == [UNSAFE, UNSAFE] and trajectory.label == "harmful"
            assert trajectory.answer.startswith(("I can't", "I'm sorry", "I cannot", "Sorry", "I'm not able"))
        elif kind == "sensitive-benign":
            assert pivots == [RETHINK, SAFE] and trajectory.label == "benign"
        else:
            assert pivots in ([SAFE, SAFE], [SAFE, SAFE, SAFE]) and trajectory.label == "benign"
    assert sum(t.meta["kind"] == "harmful" for t in built) == 4
    # The random tiny model only says "\n" when greedy; a repetition penalty makes it say something.
    again = build_offline_trajectories(model, prompts, seed=7, answer_max_tokens=24, max_answer_chars=80,
                                       repetition_penalty=1.5)
    assert again == built  # deterministic given the seed
    other = build_offline_trajectories(model, prompts[:4], seed=8)
    assert [t.output_text() for t in other] != [t.output_text() for t in built[:4]]  # the seed varies wording


def test_offline_builder_varies_its_wording() -> None:
    harmful = [p for p in load_seed_prompts(["harmful"])]
    built = build_offline_trajectories(None, harmful, seed=0)
    first_openings = {t.steps[0].text.split('"')[0] for t in built}
    assert len(first_openings) >= 4 and len({t.steps[1].text for t in built}) >= 4
    assert len({t.answer.split(".")[0] for t in built}) >= 4
    with pytest.raises(ConfigError, match="needs a model"):
        build_offline_trajectories(None, load_seed_prompts(["benign"])[:2])


def test_the_first_step_only_restates_the_request_so_its_pivot_makes_the_decision() -> None:
    from dataclasses import replace

    from r2d_sdk.trajectories._templates import QUOTE_OPENERS

    harmful = load_seed_prompts(["harmful"])[:30]
    as_benign = [replace(p, label="benign") for p in harmful]
    as_sensitive = [replace(p, label="sensitive-benign") for p in harmful]
    # The same prompt under each label: the first step's words are the same, only its pivot differs.
    firsts: dict[str, list[Step]] = {}
    for group in (harmful, as_benign, as_sensitive):
        for prompt in group:
            rng = prompt_rng(0, prompt)
            harm, _ = harm_of(prompt, rng)
            firsts.setdefault(prompt.id, []).append(_steps(prompt, rng, harm)[0])
    openings = {opener.split('"')[0] for opener in QUOTE_OPENERS}
    for steps in firsts.values():
        assert len({s.text for s in steps}) == 1 and [s.pivot for s in steps] == [UNSAFE, SAFE, RETHINK]
        assert steps[0].text.split('"')[0] in openings and steps[0].text.endswith('"')


def test_wrapped_copies_keep_reasoning_answer_and_label_and_quote_the_inner_request() -> None:
    from r2d_sdk.trajectories._wrappers import WRAPPERS

    harmful = load_seed_prompts(["harmful"])[:40]
    plain = build_offline_trajectories(None, harmful, seed=0)
    assert build_offline_trajectories(None, harmful, seed=0, wrap_fraction=0.0) == plain
    stats: Counter[str] = Counter()
    both = build_offline_trajectories(None, harmful, seed=0, wrap_fraction=0.5, stats=stats)
    originals = [t for t in both if "wrapper" not in t.meta]
    wrapped = [t for t in both if "wrapper" in t.meta]
    assert originals == plain  # wrapping adds copies and changes nothing else
    assert 10 <= len(wrapped) == stats["wrapped"] <= 30 and len({t.meta["wrapper"] for t in wrapped}) >= 4
    by_id = {t.meta["prompt_id"]: t for t in plain}
    for copy in wrapped:
        original = by_id[copy.meta["prompt_id"]]
        assert copy.instruction == WRAPPERS[copy.meta["wrapper"]].format(request=original.instruction)
        assert (copy.answer, copy.label, copy.answer_pivot) == (original.answer, original.label, original.answer_pivot)
        assert [s.pivot for s in copy.steps] == [s.pivot for s in original.steps] == [UNSAFE, UNSAFE]
        # The first step notes the frame, then reasons about the request inside it (its quote).
        assert copy.steps[0].text.endswith(original.steps[0].text) and copy.steps[0].text != original.steps[0].text
        assert quote(original.instruction) in copy.steps[0].text
    with pytest.raises(ConfigError, match="wrap_fraction"):
        build_offline_trajectories(None, harmful, wrap_fraction=1.5)


def test_parse_teacher_reply() -> None:
    trajectory = parse_teacher_reply(PROMPT, GOOD_REPLY, "teacher")
    assert [s.pivot for s in trajectory.steps] == [SAFE, RETHINK, SAFE]
    assert trajectory.answer == "Run `kill <pid>`; add -9 if it ignores the signal." and trajectory.answer_pivot == SAFE
    assert trajectory.label == "benign" and trajectory.meta["teacher"] == "teacher"
    assert parse_teacher_reply(PROMPT, trajectory.output_text()).steps == trajectory.steps  # our layout parses


@pytest.mark.parametrize(("reply", "why"), [
    ("Sure, run kill -9.", "exactly one <think>"),
    ("<think>\nfine [SAFE]\n</think>\n\nRun kill.", "does not end with a pivot"),
    ("<think>\nno pivot here\n</think>\n\nRun kill. [SAFE]", "no pivot inside"),
    ("<think>\nfirst [SAFE]\n\nsecond without one\n</think>\n\nRun kill. [SAFE]", "last reasoning step"),
    ("<think>\n[SAFE]\n</think>\n\nRun kill. [SAFE]", "no reasoning before"),
    ("<think>\nfine [SAFE]\n</think>\n\n[SAFE]", "answer is empty"),
    ("Preamble <think>\nfine [SAFE]\n</think>\n\nRun kill. [SAFE]", "before <think>"),
    ("<think>\nfine [SAFE]\n</think>\n\nRun kill. [SAFE] trailing words", "does not end with a pivot"),
])
def test_malformed_replies_are_rejected(reply: str, why: str) -> None:
    with pytest.raises(MalformedReply, match=why):
        parse_teacher_reply(PROMPT, reply)


class ScriptedGuard:
    """A guard whose verdict depends on what it is shown: the prompt alone, or a step/answer."""

    name = "guard"

    def __init__(self, unsafe_prompt: bool, unsafe_texts: tuple[str, ...] = (), reply: str | None = None) -> None:
        self.unsafe_prompt, self.unsafe_texts, self.reply = unsafe_prompt, unsafe_texts, reply
        self.seen: list[list[dict[str, str]]] = []

    async def generate(self, messages: list[dict[str, str]], **_: Any) -> ModelOutput:
        self.seen.append(messages)
        if self.reply is not None:
            return ModelOutput(text=self.reply, model=self.name)
        unsafe = self.unsafe_prompt if len(messages) == 1 else messages[-1]["content"] in self.unsafe_texts
        return ModelOutput(text="unsafe\nS2" if unsafe else "safe", model=self.name)


def _trajectory(pivots: list[str]) -> Trajectory:
    return Trajectory("q", [Step(f"step {i}", p) for i, p in enumerate(pivots)], "the answer", SAFE, "harmful")


@pytest.mark.parametrize(("pivots", "guard", "expected", "answer_pivot"), [
    ([UNSAFE, SAFE], ScriptedGuard(True), [UNSAFE, SAFE], SAFE),  # guard agrees: kept
    ([UNSAFE, SAFE], ScriptedGuard(False), [RETHINK, SAFE], SAFE),  # over-cautious teacher: rethink
    ([SAFE, SAFE], ScriptedGuard(True), [UNSAFE, SAFE], SAFE),  # teacher missed the risk in the request
    ([SAFE, RETHINK], ScriptedGuard(False, ("step 1",)), [SAFE, UNSAFE], SAFE),  # harmful reasoning
    ([SAFE], ScriptedGuard(False, ("the answer",)), [SAFE], UNSAFE),  # harmful answer
])
async def test_guard_relabelling(pivots: list[str], guard: ScriptedGuard, expected: list[str],
                                 answer_pivot: str) -> None:
    relabelled = await relabel_with_guard(_trajectory(pivots), guard)
    assert [s.pivot for s in relabelled.steps] == expected and relabelled.answer_pivot == answer_pivot
    assert relabelled.meta["teacher_pivots"] == [*pivots, SAFE]
    assert guard.seen[1] == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "step 0"}]


async def test_unreadable_guard_verdict_is_an_error() -> None:
    assert parse_guard_verdict("\n unsafe\nS1") is True and parse_guard_verdict("safe") is False
    with pytest.raises(GuardError):
        await relabel_with_guard(_trajectory([SAFE]), ScriptedGuard(False, reply="I think it is fine"))


RECIPE = """
name: distill-test
models:
  teacher:
    model: openai/teacher
    params: {{mock_response: {teacher!r}}}
  guard:
    model: openai/guard
    params: {{mock_response: {guard!r}}}
distill:
  teacher: teacher
  guard: guard
  output: out/trajectories.jsonl
  concurrency: 3
"""


def _calls(db: Path, run_id: str) -> dict[str, int]:
    store = Store(f"sqlite:///{db}")
    with store.engine.connect() as connection:
        rows = connection.execute(text("select stage, count(*) from model_calls where run_id = :r group by stage"),
                                  {"r": run_id})
        return dict(rows.all())


def test_distill_command_records_resumes_and_exports(tmp_path: Path) -> None:
    recipe, db = tmp_path / "r.yaml", tmp_path / "r.db"
    recipe.write_text(RECIPE.format(teacher=GOOD_REPLY, guard="safe"))
    runner = CliRunner()
    result = runner.invoke(cli, ["distill", str(recipe), "--db", str(db), "--limit", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    output = Path("out/trajectories.jsonl")
    trajectories = read_jsonl(output)
    assert len(trajectories) == 4 and "4 written" in result.output
    run_id = trajectories[0].meta["distill_run"]
    run = Store(f"sqlite:///{db}").get_run(run_id)
    assert (run.kind, run.status) == ("distill", "completed")
    # One teacher call per prompt; the guard sees the prompt, each of the 3 steps and the answer.
    assert _calls(db, run_id) == {"teacher": 4, "guard": 4 * 5}
    for trajectory in trajectories:  # guard says safe to everything: the teacher's [RETHINK] stays
        assert [s.pivot for s in trajectory.steps] == [SAFE, RETHINK, SAFE]
    again = runner.invoke(cli, ["distill", str(recipe), "--db", str(db), "--limit", "4", "--quiet",
                                "--export-paper", "paper.jsonl"])
    assert again.exit_code == 0 and "4 already in" in again.output and "0 written" in again.output
    assert read_jsonl(output) == trajectories
    converted = runner.invoke(cli, ["distill", "--import-paper", "paper.jsonl", "-o", "back.jsonl"])
    assert converted.exit_code == 0, converted.output
    assert [t.output_text() for t in read_jsonl("back.jsonl")] == [t.output_text() for t in trajectories]


def test_distill_with_an_unsafe_guard_and_a_malformed_teacher(tmp_path: Path) -> None:
    recipe, db = tmp_path / "r.yaml", tmp_path / "r.db"
    recipe.write_text(RECIPE.format(teacher=GOOD_REPLY, guard="unsafe\nS1"))
    result = CliRunner().invoke(cli, ["distill", str(recipe), "--db", str(db), "--limit", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    for trajectory in read_jsonl("out/trajectories.jsonl"):
        assert [s.pivot for s in trajectory.steps] == [UNSAFE] * 3 and trajectory.answer_pivot == UNSAFE

    recipe.write_text(RECIPE.format(teacher="Sure! Here is how you do it.", guard="safe")
                      .replace("out/trajectories.jsonl", "out/bad.jsonl"))
    bad = CliRunner().invoke(cli, ["distill", str(recipe), "--db", str(db), "--limit", "3", "--quiet"])
    assert bad.exit_code != 0 and "wrote no trajectory" in bad.output and "'malformed': 3" in bad.output
    assert read_jsonl("out/bad.jsonl") == []
    latest = Store(f"sqlite:///{db}").get_run("latest")
    assert latest.status == "failed" and _calls(db, latest.id) == {"teacher": 3}  # the bad replies are kept


def test_distill_offline_with_the_tiny_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    recipe, db = tmp_path / "r.yaml", tmp_path / "r.db"
    recipe.write_text(f"""
models:
  base: {{model: "local/{tiny_model_dir}"}}
distill:
  teacher: offline
  answer_model: base
  prompts: [{{source: seed, labels: [benign, harmful]}}]
  answer_max_tokens: 12
  answer_repetition_penalty: 1.5
  output: offline.jsonl
""")
    result = CliRunner().invoke(cli, ["distill", str(recipe), "--db", str(db), "--limit", "6", "--quiet"])
    assert result.exit_code == 0, result.output
    trajectories = read_jsonl("offline.jsonl")
    assert 1 <= len(trajectories) <= 6 and all(t.meta["builder"] == "offline" for t in trajectories)
    answered = sum(t.label == "benign" for t in trajectories)
    calls = _calls(db, trajectories[0].meta["distill_run"])
    assert calls.get("answer", 0) >= answered  # benign answers came from the model, through Model.generate


def test_distill_recipe_checks() -> None:
    loaded = parse_recipe("models: {t: {model: openai/x}}\ndistill: {teacher: nobody}\n")
    assert loaded.recipe.distill is not None and loaded.recipe.datasets == []
    with pytest.raises(ConfigError, match="source: dataset needs `name:`"):
        parse_recipe("models: {t: {model: openai/x}}\ndistill: {prompts: [{source: dataset}]}\n")
    with pytest.raises(ConfigError, match="datasets: required"):
        parse_recipe("models: {t: {model: openai/x}}\njudges: [refusal-string]\n")
    result = CliRunner().invoke(cli, ["distill", "missing.yaml"])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_run_refuses_a_distill_only_recipe(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("models: {t: {model: openai/x}}\ndistill: {teacher: t}\n")
    result = CliRunner().invoke(cli, ["run", str(recipe), "--db", str(tmp_path / "r.db")])
    assert result.exit_code != 0 and "nothing to evaluate" in result.output and "r2d-sdk distill" in result.output


def test_unknown_teacher_is_named(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("models: {t: {model: openai/x}}\ndistill: {teacher: nobody}\n")
    result = CliRunner().invoke(cli, ["distill", str(recipe), "--db", str(tmp_path / "r.db")])
    assert result.exit_code != 0 and "distill.teacher: 'nobody'" in result.output
