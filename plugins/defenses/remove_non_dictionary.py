"""Remove non-dictionary words: keep only words found in an English word list, and punctuation.

One of JailbreakBench's baseline defenses: optimised suffixes are full of strings that are not
words, so dropping them strips much of the attack while leaving a plain request readable. The
word list is `wordfreq`'s English list (Speer 2022; words seen often enough in its sources),
optionally cut at a minimum Zipf frequency.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field
from r2d_plugins.defenses._common import last_user_text, with_last_user

from r2d_sdk import Context, Defense, DefenseResult, Message, R2DError, register

TOKEN = re.compile(r"\s+|\w+(?:['’]\w+)*|[^\w\s]")


class RemoveNonDictionaryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_zipf: float = Field(0.0, ge=0.0, description="keep words whose Zipf frequency is above this (0: any "
                                                     "word in wordfreq's English list; 3: about one per million)")


def keep_dictionary_words(text: str, known: Callable[[str], bool]) -> tuple[str, list[str]]:
    """The text with unknown words dropped (punctuation kept, spaces tidied); and the dropped words."""
    kept: list[str] = []
    dropped: list[str] = []
    for token in TOKEN.findall(text):
        if token.isspace() or not re.match(r"\w", token) or known(token):
            kept.append(token)
        else:
            dropped.append(token)
    return re.sub(r"[ \t]{2,}", " ", "".join(kept)).strip(), dropped


def wordfreq_lookup(min_zipf: float) -> Callable[[str], bool]:
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        raise R2DError("remove-non-dictionary needs the package 'wordfreq' (its English word list)",
                       fix="pip install 'r2d-sdk[defenses]' (or pip install wordfreq)") from None
    return lambda word: zipf_frequency(word, "en") > min_zipf


@register("remove-non-dictionary")
class RemoveNonDictionary(Defense):
    """Drop every word not in wordfreq's English word list (punctuation stays) before answering."""

    Config = RemoveNonDictionaryConfig
    config: RemoveNonDictionaryConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        self.known = wordfreq_lookup(self.config.min_zipf)

    async def respond(self, messages: list[Message]) -> DefenseResult:
        text = last_user_text(messages)
        new_text, dropped = keep_dictionary_words(text, self.known)
        output = await self.model.generate(with_last_user(messages, new_text))
        return DefenseResult(output.text, info={"prompt": new_text, "dropped": dropped})
