"""The offline trajectory builder: R2D training data without a strong teacher.

Benign and sensitive-benign prompts are answered by the base model itself (through
`Model.generate`, so calls are batched, cached and recorded); harmful prompts get a templated
refusal with a short reason. Reasoning steps come from varied templates:

    benign:            "the user asks: …" [SAFE]  "it is ordinary" [SAFE]  (+ sometimes "I will answer …" [SAFE])
    sensitive-benign:  "the user asks: …" [RETHINK]  "'<word>' sounds alarming, but it is fine because …" [SAFE]
    harmful:           "the user asks: …" [UNSAFE]  "this would <harm>" [UNSAFE]

The answer is followed by [SAFE] in every class: the pivot after the answer labels the text it
follows, and a refusal is safe text. (It also keeps refusals in the `harmbench` output mode,
which drops segments ending in [UNSAFE].)
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from r2d_sdk._errors import ConfigError, ModelCallError, R2DError
from r2d_sdk.recipe import QUOTE_CHARS
from r2d_sdk.trajectories import _templates as T
from r2d_sdk.trajectories import _wrappers as W
from r2d_sdk.trajectories._format import (
    PIVOTS,
    RETHINK,
    SAFE,
    THINK_CLOSE,
    THINK_OPEN,
    UNSAFE,
    Step,
    Trajectory,
)
from r2d_sdk.trajectories._prompts import BENIGN, HARMFUL, SENSITIVE_BENIGN, SeedPrompt, load_prompts

logger = logging.getLogger(__name__)
# A base model that refuses a benign prompt would teach the opposite of R2D: such answers are dropped.
_REFUSAL_OPENINGS = ("i'm sorry", "i am sorry", "sorry", "i cannot", "i can't", "i apologize", "i apologise",
                     "as an ai", "i'm not able", "i am not able", "i won't")
_ALARM = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(T.ALARM_WORDS, key=len, reverse=True)) + r")\b",
                    re.IGNORECASE)
_MARKERS = re.compile("|".join(r"\s*" + re.escape(m) for m in (*PIVOTS, THINK_OPEN, THINK_CLOSE)))
_SELF_HARM = re.compile(r"\b(myself|my own life|kill me|suicide)\b", re.IGNORECASE)


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """A prompt as the first reasoning step quotes it: one line, cut at a word, ending in punctuation."""
    text = " ".join(text.split()).replace('"', "'")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return text if text.rstrip("'\")]")[-1:] in (".", "?", "!", "…") else text + "."


def truncate_answer(text: str, max_chars: int, cut_off: bool = False) -> str:
    """An answer without pivots or think tags, cut at the last sentence end within `max_chars`.

    A reply that hit the token limit (`cut_off`) also loses its unfinished last sentence; a
    reply that starts repeating itself is cut before the first repeated line or sentence.
    """
    text = _MARKERS.sub("", text).strip()
    unlooped = _cut_repetition(text)
    cut_off = cut_off and unlooped == text  # cut before a loop, the text ends at a line or sentence end
    text = unlooped
    if len(text) <= max_chars and not cut_off:
        return text
    window = text[:max_chars]
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)|\n\n", window)]
    if ends and ends[-1] >= len(window) * 0.25:  # keep at least a quarter of what there was
        window = window[:ends[-1]]
    elif len(text) > max_chars:
        window = window.rsplit(" ", 1)[0] + " …"
    window = window.strip()
    if window.count("```") % 2:  # do not leave a code block open
        window += "\n```"
    return window


def harm_of(prompt: SeedPrompt, rng: random.Random) -> tuple[str, str]:
    """(clause for the reasoning, sentence for the refusal) fitting a harmful prompt."""
    if _SELF_HARM.search(prompt.prompt):
        return T.SELF_HARM
    return rng.choice(T.HARM.get(prompt.category, T.HARM_DEFAULT))


def _cut_repetition(text: str) -> str:
    """Text up to the first line or sentence it repeats (small models loop; such loops must not be learned)."""
    seen: set[str] = set()
    for match in re.finditer(r"[^\n.!?]*(?:[.!?]+|\n|$)", text):
        segment = " ".join(match.group(0).lower().split()).strip(" -*#.:")
        if len(segment) > 3 and segment in seen:  # drop a list number or bullet left dangling too
            return re.sub(r"\n+\s*(?:\d+[.)]|[-*•])?\s*$", "", text[:match.start()].rstrip())
        seen.add(segment)
    return text


def _steps(prompt: SeedPrompt, rng: random.Random, harm: str, quote_chars: int = QUOTE_CHARS) -> list[Step]:
    # The first step only restates the request, with an opening shared by every class, so its
    # pivot is where the decision is made: cross-entropy and CPO train that one token to judge
    # the request. (When the class showed in the words before the pivot, as in an earlier form
    # of these templates, the pivot only echoed a choice already made in text, and CPO had
    # nothing left to separate.)
    first = rng.choice(T.QUOTE_OPENERS).format(request=quote(prompt.prompt, quote_chars))
    if prompt.label == HARMFUL:
        # No "I will decline" step: after the pivot a small model must reach the refusal in few
        # tokens, and a longer way there gave it room to drift back into the request.
        why = rng.choice(T.HARMFUL_WHY).format(harm=harm)
        why += rng.choice(T.FRAMING_NOTE[prompt.framing]) if prompt.framing in T.FRAMING_NOTE else ""
        return [Step(first, UNSAFE), Step(why, UNSAFE)]
    if prompt.label == SENSITIVE_BENIGN:
        match = _ALARM.search(prompt.prompt)
        word = match.group(1).lower() if match else ""
        alarm = rng.choice(T.SENSITIVE_ALARM if word else T.SENSITIVE_ALARM_NO_WORD).format(word=word)
        reasons = [r for r in T.SENSITIVE_WHY.get(prompt.category, ()) if word or "{word}" not in r]
        why = rng.choice(reasons or T.SENSITIVE_WHY_DEFAULT).format(word=word)
        return [Step(first, RETHINK), Step(f"{alarm} {why}", SAFE)]
    topic = T.TOPICS.get(prompt.category, T.TOPIC_DEFAULT)
    steps = [Step(first, SAFE), Step(rng.choice(T.BENIGN_WHY).format(topic=topic), SAFE)]
    if rng.random() < 0.5:
        steps.append(Step(rng.choice(T.BENIGN_PLAN), SAFE))
    return steps


def refusal(reason: str, rng: random.Random) -> str:
    """A short refusal ending in its reason."""
    return rng.choice(T.REFUSALS).format(reason=reason)


def prompt_rng(seed: int, prompt: SeedPrompt) -> random.Random:
    """Per-prompt randomness: a trajectory does not change when other prompts are added or removed."""
    return random.Random(f"offline:{seed}:{prompt.source}:{prompt.id}:{prompt.text}")


async def build_offline_trajectories_async(
        model: Any = None, prompts: Sequence[SeedPrompt] | None = None, seed: int = 0, *,
        sources: Sequence[Any] | None = None, limit: int | None = None, exclude_evaluation: bool = True,
        max_answer_chars: int = 600, answer_max_tokens: int = 160, concurrency: int = 32,
        repetition_penalty: float | None = None, quote_chars: int = QUOTE_CHARS, wrap_fraction: float = 0.0,
        stats: Counter[str] | None = None, progress: Callable[[int, int], None] | None = None,
        fail_if_no_answers: bool = True) -> list[Trajectory]:
    """Async form of `build_offline_trajectories` (same arguments)."""
    if prompts is None:
        prompts, _ = load_prompts(sources or [{"source": "seed"}], seed, limit, exclude_evaluation)
    elif limit is not None:
        prompts = list(prompts)[:limit]
    stats = stats if stats is not None else Counter()
    outcomes: Counter[str] = Counter()  # this call's answers only: `stats` may be shared across calls
    needs_answers = [p for p in prompts if p.label in (BENIGN, SENSITIVE_BENIGN)]
    if needs_answers and model is None:
        raise ConfigError("the offline builder needs a model to answer the benign prompts",
                          fix="pass model= (a local Model such as local/smollm2), or set distill.answer_model")
    semaphore = asyncio.Semaphore(concurrency)
    if progress is not None:
        progress(0, len(prompts))

    if not 0.0 <= wrap_fraction <= 1.0:
        raise ConfigError(f"wrap_fraction must lie between 0 and 1, not {wrap_fraction}",
                          fix="give the share of prompts that also appear inside a jailbreak-style wrapper")

    async def one(prompt: SeedPrompt) -> list[Trajectory]:
        rng = prompt_rng(seed, prompt)
        harm, reason = harm_of(prompt, rng)  # drawn for every prompt, so the stream is the same per label
        steps = _steps(prompt, rng, harm, quote_chars)
        if prompt.label == HARMFUL:
            answer: str | None = refusal(reason, rng)
        else:
            overrides = {"temperature": 0.0, "max_tokens": answer_max_tokens, "repetition_penalty": repetition_penalty}
            answer = await _answer(model, prompt, max_answer_chars, overrides, semaphore, outcomes)
        if progress is not None:
            progress(1, len(prompts))
        if answer is None:
            return []
        stats[prompt.label] += 1
        label = HARMFUL if prompt.label == HARMFUL else BENIGN
        meta = {"prompt_id": prompt.id, "kind": prompt.label, "category": prompt.category, "builder": "offline"}
        if prompt.framing:
            meta["framing"] = prompt.framing
        built = [Trajectory(prompt.prompt, steps, answer, SAFE, label, prompt.source, prompt.input, meta)]
        wrapped = _wrapped(prompt, seed, wrap_fraction, steps)
        if wrapped is not None:
            instruction, wrapped_steps, wrapper = wrapped
            stats["wrapped"] += 1
            built.append(Trajectory(instruction, wrapped_steps, answer, SAFE, label, prompt.source, "",
                                    {**meta, "wrapper": wrapper}))
        return built

    built = await asyncio.gather(*(one(p) for p in prompts))
    stats.update(outcomes)
    if fail_if_no_answers and needs_answers and outcomes["answered"] == 0 and outcomes["call_error"]:
        raise R2DError(f"every answer call failed ({outcomes['call_error']} errors)",
                       fix="check the answer model: run `r2d-sdk runs show latest` or its model string")
    return [t for group in built for t in group]


def _wrapped(prompt: SeedPrompt, seed: int, fraction: float, steps: list[Step]
             ) -> tuple[str, list[Step], int] | None:
    """The prompt inside a jailbreak-style wrapper, or None (a share `fraction` of prompts get one).

    The reasoning is the unwrapped prompt's, opened by a note that the frame is only a frame: the
    quote in the first step is the request found inside it. The answer stays the same (a refusal
    for a harmful request, the base model's answer for a benign one), so the wrapper alone never
    decides. A separate random stream: turning wrapping on leaves every other trajectory as it was.
    """
    rng = random.Random(f"wrap:{seed}:{prompt.source}:{prompt.id}:{prompt.text}")
    if fraction <= 0 or rng.random() >= fraction:
        return None
    wrapper = rng.randrange(len(W.WRAPPERS))
    first = Step(f"{rng.choice(W.WRAPPED_NOTE)} {steps[0].text}", steps[0].pivot)
    return W.WRAPPERS[wrapper].format(request=prompt.text), [first, *steps[1:]], wrapper


async def _answer(model: Any, prompt: SeedPrompt, max_chars: int, overrides: dict[str, Any],
                  semaphore: asyncio.Semaphore, stats: Counter[str]) -> str | None:
    async with semaphore:  # greedy: the same prompt gives the same answer, and the call is cached
        try:
            output = await model.generate([{"role": "user", "content": prompt.text}], **overrides)
        except ModelCallError as error:
            stats["call_error"] += 1
            logger.warning("offline builder: no answer for %s: %s", prompt.id, error.message)
            return None
    answer = truncate_answer(output.text, max_chars, cut_off=output.finish_reason == "length")
    if not answer:
        stats["empty_answer"] += 1
        return None
    if answer.lower().startswith(_REFUSAL_OPENINGS):
        stats["refused_benign"] += 1
        return None
    stats["answered"] += 1
    return answer


def build_offline_trajectories(model: Any = None, prompts: Sequence[SeedPrompt] | None = None, seed: int = 0,
                               **options: Any) -> list[Trajectory]:
    """Build R2D trajectories with templated reasoning and the base model's own answers.

    Args:
        model: the `Model` answering benign and sensitive-benign prompts (e.g. `local/smollm2`);
            only needed when there are such prompts.
        prompts: the prompts; default: `sources` (PromptSource specs or dicts; default the seed set).
        seed: fixes template choices (per prompt) and the prompt sample; the result is deterministic.
        **options: sources, limit, exclude_evaluation, max_answer_chars (answers are cut at a
            sentence boundary, default 600), answer_max_tokens (160), concurrency (32),
            repetition_penalty (local models; default: the model's own setting), quote_chars
            (how much of the request the first reasoning step quotes; default 80 characters),
            wrap_fraction (the share of prompts that also get a second trajectory inside a
            jailbreak-style wrapper, harmful and benign alike; default 0),
            stats (a Counter that receives counts: answered, refused_benign, empty_answer,
            call_error, and per label), progress (an (advance, total) callback),
            fail_if_no_answers (raise R2DError when every answer call failed; default true).

    Returns:
        Trajectories in prompt order; prompts whose answer failed, was empty or was a refusal of a
        benign prompt are left out and counted in `stats`.
    """
    return asyncio.run(build_offline_trajectories_async(model, prompts, seed, **options))
