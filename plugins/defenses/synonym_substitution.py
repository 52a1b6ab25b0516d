"""Synonym substitution: replace a few words of the prompt with WordNet synonyms before answering.

One of JailbreakBench's baseline defenses (after Robey et al.'s SmoothLLM family of input
perturbations): each word that has a WordNet synonym is replaced by its first synonym with
probability q = 5%. The reference drops words that have no synonym (a bug that mangles the
prompt); here they are kept. Spacing and punctuation are kept as they were, where the
reference re-joins tokens with spaces. WordNet 3.0 is read from its installed database files
(see `_wordnet.py` for where it is looked for).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field
from r2d_plugins.defenses._common import last_user_text, with_last_user
from r2d_plugins.defenses._wordnet import WordNet, open_wordnet

from r2d_sdk import Context, Defense, DefenseResult, Message, register

WORD = re.compile(r"[A-Za-z]+(?:[-'][A-Za-z]+)*")


class SynonymSubstitutionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: float = Field(0.05, ge=0.0, le=1.0, description="probability that a word with a synonym is replaced")
    wordnet_dir: str | None = Field(None, description="folder with WordNet's index.* and data.* files; default: "
                                                      "WNSEARCHDIR, NLTK's data folder, /usr/share/wordnet")


def substitute(text: str, synonym: Callable[[str], str | None], q: float, draw: Callable[[], float]) -> tuple[str, list[tuple[str, str]]]:
    """Replace each word that has a synonym with it when `draw() < q`; other text stays as it was.

    Returns the new text and the (word, synonym) pairs replaced.
    """
    replaced: list[tuple[str, str]] = []

    def one(match: re.Match[str]) -> str:
        word = match.group(0)
        found = synonym(word)
        if found is not None and draw() < q:
            replaced.append((word, found))
            return found
        return word

    return WORD.sub(one, text), replaced


@register("synonym-substitution")
class SynonymSubstitution(Defense):
    """Replace each word having a WordNet synonym by its first synonym with probability q (5%)."""

    Config = SynonymSubstitutionConfig
    config: SynonymSubstitutionConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        self.wordnet: WordNet = open_wordnet(self.config.wordnet_dir)  # a missing WordNet fails at build time

    async def respond(self, messages: list[Message]) -> DefenseResult:
        text = last_user_text(messages)
        rng = self.context.rng(self.name, text)
        new_text, replaced = substitute(text, self.wordnet.first_synonym, self.config.q, rng.random)
        output = await self.model.generate(with_last_user(messages, new_text))
        return DefenseResult(output.text, info={"prompt": new_text, "substitutions": replaced,
                                                "words": len(WORD.findall(text))})
