"""From generated token ids to the text a caller gets, whole or piece by piece.

One rule for both paths, so a streamed local answer is the same text as a plain one: the
tokenizer's control tokens dropped (R2D's pivots kept), surrounding whitespace stripped, the
text cut at the first stop string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from r2d_sdk._generation import GenerationParams


@dataclass
class LocalGeneration:
    """The raw result of one local generation."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def strip_special(text: str, tokenizer: Any) -> str:
    """Keep added tokens such as R2D's pivots, drop the tokenizer's control tokens."""
    for token in tokenizer.all_special_tokens:
        if token:
            text = text.replace(token, "")
    return text.strip()


def kept_ids(new_ids: list[int], eos_ids: set[int]) -> tuple[list[int], bool]:
    """The generated ids before the first end token, and whether one was generated."""
    ended = next((i for i, t in enumerate(new_ids) if t in eos_ids), None)
    return (new_ids, False) if ended is None else (new_ids[:ended], True)


def finish_generation(tokenizer: Any, new_ids: list[int], eos_ids: set[int], params: GenerationParams,
                      prompt_tokens: int) -> LocalGeneration:
    """The text and accounting of one row of generated ids."""
    kept, ended = kept_ids(new_ids, eos_ids)
    text = strip_special(str(tokenizer.decode(kept, skip_special_tokens=False)), tokenizer)
    for stop in params.stop or []:
        text = text.split(stop)[0]
    finish = "stop" if ended or len(new_ids) < params.max_tokens else "length"
    return LocalGeneration(text, prompt_tokens, len(kept) + ended, finish)


class IncrementalText:
    """The final part of a generation's text so far, as ids arrive one step at a time.

    A piece is handed out only when no later token can change it: trailing whitespace waits
    (the whole text is stripped), so does a trailing half of a multi-byte character and a tail
    that may be the start of a stop string.
    """

    def __init__(self, tokenizer: Any, eos_ids: set[int], stop: list[str] | None) -> None:
        self.tokenizer, self.eos_ids, self.stop = tokenizer, eos_ids, list(stop or [])
        self.ids: list[int] = []
        self.sent = ""
        self.diverged = False  # the decoded text stopped extending what was sent (see finish)

    def add(self, ids: list[int]) -> str:
        """Take the step's new ids; return the newly final text ('' when none)."""
        self.ids.extend(ids)
        kept, _ = kept_ids(self.ids, self.eos_ids)
        text = strip_special(str(self.tokenizer.decode(kept, skip_special_tokens=False)), self.tokenizer)
        text = text.rstrip("\ufffd")  # an incomplete UTF-8 sequence decodes to U+FFFD until its last byte
        for stop in self.stop:  # cut at a stop string; hold back what may be the start of one
            text = text.split(stop)[0] if stop in text else text[:len(text) - _partial_suffix(text, stop)]
        return self._extend(text)

    def finish(self, final_text: str) -> str:
        """The rest of the final text after what was sent."""
        return self._extend(final_text)

    def _extend(self, text: str) -> str:
        if self.diverged or not text.startswith(self.sent):
            # A tokenizer that rewrites earlier text as later tokens come (clean-up of spaces)
            # would make the stream disagree with the whole answer; stop streaming instead.
            self.diverged = self.diverged or not text.startswith(self.sent)
            return ""
        piece, self.sent = text[len(self.sent):], text
        return piece


def _partial_suffix(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper start of `stop`."""
    for length in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:length]):
            return length
    return 0
