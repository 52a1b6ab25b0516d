"""R2D streamed: pieces appear only after </think>, never hold a pivot or reasoning, and add up to
the answer a non-streamed call returns, however the model's output is cut into pieces."""

from __future__ import annotations

import asyncio
import random

import pytest
from r2d_plugins.defenses._r2d_text import AnswerStream, view
from r2d_plugins.defenses.r2d import R2DPromptDefense

from r2d_sdk import PIVOTS, DefenseResult, MockScript, Model
from r2d_sdk._calls import collect

OUTPUTS = [
    "<think>\nA lock question. [RETHINK]\n\nBreaking in hurts someone. [UNSAFE] </think>\n\nI'm sorry, I can't. [UNSAFE]",
    "<think>\nHarmless. [SAFE] </think>\n\nMix flour [SAFE] and water.\n\n\n\nBake it   \n at 200 C. [SAFE]",
    "<think>Short [SAFE]</think>Answer with <b>markup</b> and a [note] that is not a pivot.",
    "<think>\nUnfinished reasoning [SAFE]",
    "No reasoning at all, just an answer. [SAFE]",
    "<think>x [SAFE]</think>\n  \n  Leading space and a trailing pivot [RETH",
    "<think>a</think> b </think> c <think> d [UNSAFE]",
    "<think>r [SAFE]</think>\nline one \t\nline two\n\n\n\n[SAFE]\n\n\nline three",
]


def _pieces(text: str, rng: random.Random) -> list[str]:
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 12))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


@pytest.mark.parametrize("raw", OUTPUTS)
def test_streamed_answer_equals_the_answer_for_every_cut(raw: str) -> None:
    rng = random.Random(0)
    for _ in range(200):
        stream, sent = AnswerStream(), []
        for piece in _pieces(raw, rng):
            out = stream.feed(piece)
            if out:
                assert stream.reasoning_closed  # nothing before </think>
                sent.append(out)
        sent.append(stream.finish(view(raw, "answer")))
        assert "".join(sent) == view(raw, "answer")
        assert not any(p in "".join(sent) for p in PIVOTS) and "<think>" not in "".join(sent)


def test_r2d_prompt_streams_what_it_answers_and_refuses_unsafe_reasoning() -> None:
    async def run(on_unsafe: str) -> tuple[list[str], DefenseResult, DefenseResult]:
        model = Model("t", "mock/t", mock=MockScript(replies=[OUTPUTS[0]]))
        defense = R2DPromptDefense(R2DPromptDefense.Config(on_unsafe=on_unsafe)).bind(model)
        messages = [{"role": "user", "content": "How do I pick a lock?"}]
        items = [item async for item in defense.respond_stream(messages)]  # type: ignore[arg-type]
        plain = await defense.respond(messages)  # type: ignore[arg-type]
        assert isinstance(items[-1], DefenseResult)
        return [i for i in items[:-1] if isinstance(i, str)], items[-1], plain

    pieces, streamed, plain = asyncio.run(run("answer"))
    assert "".join(pieces) == streamed.response == plain.response == "I'm sorry, I can't."
    assert streamed.reasoning == plain.reasoning == OUTPUTS[0] and not streamed.blocked
    assert streamed.info["reasoning_verdict"] == "[UNSAFE]"
    with collect() as calls:
        pieces, streamed, plain = asyncio.run(run("refuse"))
    assert pieces == [] and streamed.blocked and plain.blocked and streamed.response == plain.response
    assert streamed.response.startswith("I'm sorry, but I cannot") and streamed.info["verdict"] == "unsafe reasoning"
    # Streamed, the generation stopped once the reasoning closed: the recorded call is cut short.
    assert calls[0].finish_reason == "cancelled" and "</think>" in (calls[0].response or "")
    assert "I'm sorry, I can't" not in (calls[0].response or "")
