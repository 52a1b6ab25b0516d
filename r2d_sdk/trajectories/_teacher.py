"""Safety-aware reasoning distillation: a teacher's replies, parsed into trajectories, guard-relabelled.

The teacher gets this project's safety-reasoning system prompt and must answer in the layout
`<think>\\nstep [PIVOT]\\n\\nstep [PIVOT]\\n</think>\\n\\nanswer [PIVOT]`. A reply that does not
follow it is counted as malformed and skipped; nothing is guessed.

The optional guard (any chat model answering "safe" / "unsafe ...", like Llama Guard) relabels
the pivots. With P the guard's verdict on the user prompt alone, S on [prompt, step] and A on
[prompt, answer]:
  - a step whose S is unsafe gets [UNSAFE] (the reasoning itself drifted into harm);
  - a step the teacher marked [UNSAFE] on a prompt whose P is safe gets [RETHINK] (it looked
    risky, the guard finds the request acceptable: reconsider rather than refuse);
  - the first step, marked [SAFE] by the teacher on a prompt whose P is unsafe, gets [UNSAFE]
    (the teacher missed the risk in the request);
  - any other step keeps the teacher's pivot; the answer gets [UNSAFE] if A is unsafe, else [SAFE].
A guard reply that starts with neither word is an error: the trajectory is skipped and counted.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from r2d_sdk._errors import R2DError
from r2d_sdk.trajectories._format import RETHINK, SAFE, THINK_CLOSE, THINK_OPEN, UNSAFE, Step, Trajectory
from r2d_sdk.trajectories._prompts import HARMFUL, SeedPrompt

TEACHER_SYSTEM_PROMPT = """\
You are a careful assistant who reasons about safety before answering.

First think inside <think> and </think>. Split your thinking into a few short steps separated by \
blank lines, and end every step with exactly one of these tags:
[SAFE] - this step is harmless and the conversation can go on as planned;
[UNSAFE] - this step shows that helping would cause harm: change course and decline;
[RETHINK] - this looks risky at first sight: look for the safe reading, or a safe way to help.
Your first step says what the user is asking for and whether it is risky.

After </think>, write the answer the user will see and end it with one tag for the answer as a \
whole ([SAFE] when the answer itself is harmless). When the request is harmful, the answer is a \
short refusal with a brief reason. When the request only sounds alarming but is harmless, help fully.

Follow this layout exactly:
<think>
first step ... [TAG]

next step ... [TAG]
</think>

the answer ... [TAG]"""

_PIVOT = re.compile(r"\[(SAFE|UNSAFE|RETHINK)\]")


class MalformedReply(R2DError):
    """A teacher reply that does not follow the pivot layout."""


class GuardError(R2DError):
    """A guard reply that is neither a safe nor an unsafe verdict."""


def parse_teacher_reply(prompt: SeedPrompt, text: str, teacher: str = "") -> Trajectory:
    """A teacher's reply as a trajectory, or MalformedReply saying what is wrong with it."""
    text = text.strip()
    if text.count(THINK_OPEN) != 1 or text.count(THINK_CLOSE) != 1:
        raise MalformedReply("the reply needs exactly one <think> and one </think>")
    before, rest = text.split(THINK_OPEN)
    thinking, answer = rest.split(THINK_CLOSE)
    if before.strip():
        raise MalformedReply("text before <think>")
    parts = _PIVOT.split(thinking)  # [text, pivot name, text, pivot name, ..., trailing text]
    if len(parts) < 3:
        raise MalformedReply("no pivot inside <think>…</think>")
    if parts[-1].strip():
        raise MalformedReply("the last reasoning step has no pivot")
    steps = [Step(parts[i].strip(), f"[{parts[i + 1]}]") for i in range(0, len(parts) - 1, 2)]
    if any(not step.text for step in steps):
        raise MalformedReply("a pivot with no reasoning before it")
    answer = answer.strip()
    pivots = list(_PIVOT.finditer(answer))
    if not pivots or pivots[-1].end() != len(answer):
        raise MalformedReply("the answer does not end with a pivot")
    final = pivots[-1]
    body = answer[:final.start()].rstrip()
    if not _PIVOT.sub("", body).strip():
        raise MalformedReply("the answer is empty")
    label = HARMFUL if prompt.label == HARMFUL else "benign"
    meta = {"prompt_id": prompt.id, "kind": prompt.label, "category": prompt.category, "builder": "teacher",
            "teacher": teacher}
    return Trajectory(prompt.prompt, steps, body, final.group(0), label, prompt.source, prompt.input, meta)


def parse_guard_verdict(text: str) -> bool:
    """True for unsafe, False for safe; GuardError for anything else (never read as safe)."""
    first = next((line.strip().lower() for line in text.splitlines() if line.strip()), "")
    if first.startswith("unsafe"):
        return True
    if first.startswith("safe"):
        return False
    raise GuardError(f"guard reply is not a safe/unsafe verdict: {text[:80]!r}")


async def _verdict(guard: Any, messages: list[dict[str, str]]) -> bool:
    output = await guard.generate(messages, temperature=0.0, max_tokens=20)
    return parse_guard_verdict(output.text)


async def relabel_with_guard(trajectory: Trajectory, guard: Any) -> Trajectory:
    """The trajectory with its pivots relabelled by the guard (mapping in the module docstring)."""
    user = {"role": "user", "content": trajectory.prompt}
    prompt_unsafe = await _verdict(guard, [user])
    steps = []
    for index, step in enumerate(trajectory.steps):
        step_unsafe = await _verdict(guard, [user, {"role": "assistant", "content": step.text}])
        pivot = step.pivot
        if step_unsafe:
            pivot = UNSAFE
        elif step.pivot == UNSAFE and not prompt_unsafe:
            pivot = RETHINK
        elif index == 0 and step.pivot == SAFE and prompt_unsafe:
            pivot = UNSAFE
        steps.append(Step(step.text, pivot))
    answer_unsafe = await _verdict(guard, [user, {"role": "assistant", "content": trajectory.answer}])
    meta = {**trajectory.meta, "guard": guard.name, "guard_prompt_unsafe": prompt_unsafe,
            "teacher_pivots": [s.pivot for s in trajectory.steps] + [trajectory.answer_pivot]}
    return replace(trajectory, steps=steps, answer_pivot=UNSAFE if answer_unsafe else SAFE, meta=meta)
