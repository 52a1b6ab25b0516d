"""Reading R2D output: reasoning and answer apart, the output modes, and the answer as a stream.

R2D answers after reasoning inside `<think>…</think>`, each step ending in a pivot token. What a
user sees (`answer` mode) is the text after `</think>` without pivots. Streamed, that text is
handed out only once no later token can change it, so the pieces always add up to the answer a
non-streamed call returns, and nothing of the reasoning (nor a pivot) is ever sent.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from r2d_sdk import PIVOT_PATTERN, PIVOTS, THINK_CLOSE, THINK_OPEN, UNSAFE

OutputMode = Literal["identity", "harmbench", "answer"]

# Markup an answer's cleaning removes; a tail that may be the start of one is held back.
_MARKUP = (*PIVOTS, THINK_OPEN, THINK_CLOSE)


def split_output(text: str) -> tuple[str, str]:
    """(reasoning, answer): the part up to `</think>` and the part after it.

    Without `</think>`, an opened `<think>` means the reasoning never ended (no answer); no
    think tags at all means the whole text is the answer.
    """
    if THINK_CLOSE in text:
        reasoning, answer = text.split(THINK_CLOSE, 1)
        return reasoning + THINK_CLOSE, answer
    if THINK_OPEN in text:
        return text, ""
    return "", text


def clean(text: str) -> str:
    """Pivots and think tags dropped, runs of blank lines and trailing spaces tidied, stripped."""
    text = PIVOT_PATTERN.sub("", text).replace(THINK_OPEN, "").replace(THINK_CLOSE, "")
    return re.sub(r"[ \t]+\n", "\n", re.sub(r"\n{3,}", "\n\n", text)).strip()


def view(text: str, mode: OutputMode) -> str:
    """What the judge and the user see of a raw R2D output under an output mode."""
    if mode == "identity":
        return text
    if mode == "answer":
        return clean(split_output(text)[1])
    parts = PIVOT_PATTERN.split(text)  # [segment, pivot, segment, pivot, ..., trailing text]
    kept = [parts[i] for i in range(0, len(parts) - 1, 2) if parts[i + 1] != UNSAFE]
    return clean("\n".join(kept))


def reasoning_verdict(text: str) -> str | None:
    """The last pivot inside the reasoning (before `</think>`): what the reasoning decided."""
    reasoning, _ = split_output(text)
    pivots = PIVOT_PATTERN.findall(reasoning)
    return pivots[-1] if pivots else None


def describe(text: str, mode: OutputMode) -> tuple[str, dict[str, Any]]:
    """The response under `mode` and the info a sample records about the raw output."""
    pivots = PIVOT_PATTERN.findall(text)
    _, answer = split_output(text)
    info = {"pivots": pivots, "final_pivot": pivots[-1] if pivots else None, "output_mode": mode,
            "reasoning_closed": THINK_CLOSE in text, "answer": clean(answer)}
    return view(text, mode), info


def _settled(answer: str) -> str:
    """The start of a growing answer that later text cannot change under `clean`.

    It ends before a tail that may still become a pivot or a think tag, and before trailing
    whitespace (which `clean` may strip, or fold into a run of blank lines).
    """
    cut = len(answer)
    for opener in ("[", "<"):
        at = answer.rfind(opener)
        if at >= 0 and any(token.startswith(answer[at:]) and token != answer[at:] for token in _MARKUP):
            cut = min(cut, at)
    return answer[:cut].rstrip()


class AnswerStream:
    """Feed raw R2D output as it is generated; get back the answer's new final text.

    Nothing is handed out before `</think>`: until then the text is reasoning (or, if the
    reasoning never opens, an answer that a later `</think>` would turn into reasoning).
    """

    def __init__(self) -> None:
        self.raw = ""
        self.sent = ""

    @property
    def reasoning_closed(self) -> bool:
        return THINK_CLOSE in self.raw

    def feed(self, piece: str) -> str:
        """Add generated text; return what of the answer became final ('' when nothing did)."""
        self.raw += piece
        if not self.reasoning_closed:
            return ""
        return self._extend(clean(_settled(split_output(self.raw)[1])))

    def finish(self, answer: str) -> str:
        """The rest of the final answer (the whole output's `view`) after what was sent."""
        return self._extend(answer)

    def _extend(self, text: str) -> str:
        if not text.startswith(self.sent):
            return ""
        piece, self.sent = text[len(self.sent):], text
        return piece
