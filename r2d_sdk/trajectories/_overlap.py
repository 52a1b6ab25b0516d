"""Exact and near duplicates between training prompts and evaluation prompts.

A (prompt, reference) pair is a near duplicate when, after normalisation (NFKC, lower case,
every run of punctuation or spaces one space), either
  - the token sets have Jaccard similarity >= 0.6, or
  - difflib's SequenceMatcher ratio of the normalised strings is >= 0.8.
Prompts built on a shared frame ("What is the best way to ...") but about different things
reach about 0.7 on the ratio; a reworded copy ("make a bomb" for "build a bomb") reaches 0.88.
The shipped seed set's closest pairs with JBB/XSTest: ratio 0.73 ("What is ransomware?" ~
"What is treason?"), Jaccard 0.56; tests/train/test_seed_data.py keeps it free of overlaps.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

JACCARD_THRESHOLD = 0.6
RATIO_THRESHOLD = 0.8


def normalise(text: str) -> str:
    """Lower case, NFKC, every run of non-alphanumerics a single space."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def jaccard(a: str, b: str) -> float:
    """Token-set Jaccard similarity of two normalised strings."""
    left, right = set(a.split()), set(b.split())
    return len(left & right) / len(left | right) if left or right else 1.0


@dataclass(frozen=True)
class Overlap:
    """A prompt too close to an evaluation prompt."""

    prompt: str
    reference: str
    jaccard: float
    ratio: float
    exact: bool


def _char_bound(prompts: list[str], refs: list[str]) -> Any:
    """An upper bound of difflib's ratio for every pair, from character counts (numpy, fast).

    quick_ratio() = 2·Σ min(count_a, count_b) / (len_a + len_b) bounds ratio() from above;
    counting characters in 64 buckets only loosens the bound, so it stays a bound.
    """
    import numpy as np

    def counts(texts: list[str]) -> Any:
        table = np.zeros((len(texts), 64), dtype=np.int32)
        for row, text in enumerate(texts):
            np.add.at(table[row], [ord(c) % 64 for c in text], 1)
        return table

    left, right = counts(prompts), counts(refs)
    lengths = np.array([len(t) for t in prompts])[:, None] + np.array([len(t) for t in refs])[None, :]
    shared = np.stack([np.minimum(row[None, :], right).sum(axis=1) for row in left]) if prompts else left
    return 2.0 * shared / np.maximum(lengths, 1)


def find_overlaps(prompts: Iterable[str], references: Iterable[str], jaccard_threshold: float = JACCARD_THRESHOLD,
                  ratio_threshold: float = RATIO_THRESHOLD) -> list[Overlap]:
    """Every (prompt, reference) pair that is an exact or near duplicate after normalisation."""
    prompt_list, ref_list = list(dict.fromkeys(prompts)), list(dict.fromkeys(references))
    norms, ref_norms = [normalise(p) for p in prompt_list], [normalise(r) for r in ref_list]
    ref_tokens = [set(n.split()) for n in ref_norms]
    bound = _char_bound(norms, ref_norms)
    matcher = difflib.SequenceMatcher(autojunk=False)
    found = []
    for i, (prompt, norm) in enumerate(zip(prompt_list, norms, strict=True)):
        tokens = set(norm.split())
        matcher.set_seq2(norm)  # seq2 is the cached side: one prompt against every reference
        for j, ref in enumerate(ref_list):
            union = len(tokens | ref_tokens[j])
            jac = len(tokens & ref_tokens[j]) / union if union else 1.0
            ratio = 0.0
            if bound[i, j] >= ratio_threshold:  # most pairs are far apart: skip difflib for them
                matcher.set_seq1(ref_norms[j])
                ratio = matcher.ratio()
            if norm == ref_norms[j] or jac >= jaccard_threshold or ratio >= ratio_threshold:
                found.append(Overlap(prompt, ref, jac, ratio, norm == ref_norms[j]))
    return found


def closest_reference(prompt: str, references: Sequence[str]) -> tuple[str, float, float]:
    """The reference most similar to a prompt (by max of Jaccard and ratio): for reports and tests."""
    norm = normalise(prompt)
    scored = []
    for ref in references:
        ref_norm = normalise(ref)
        scored.append((max(jaccard(norm, ref_norm), difflib.SequenceMatcher(None, norm, ref_norm).ratio()),
                       ref, jaccard(norm, ref_norm), difflib.SequenceMatcher(None, norm, ref_norm).ratio()))
    best = max(scored)
    return best[1], best[2], best[3]


