"""Pure text perturbations and erasure enumerations (SmoothLLM, Erase-and-Check).

Everything here is a pure function of its inputs and a `random.Random`, so the counts and rates
can be tested by hand.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from itertools import combinations

# SmoothLLM draws replacement characters from Python's printable set (Robey et al. 2023, reference code).
ALPHABET = string.printable


def _other_char(rng: random.Random, current: str | None = None) -> str:
    # Redraw until the character differs, so a swap at rate q changes exactly round(q * len) characters
    # (the reference may draw the same character back; the rate it reports then overstates the change).
    while True:
        char = rng.choice(ALPHABET)
        if char != current:
            return char


def changed_count(length: int, q: float) -> int:
    """How many characters a perturbation at rate q touches in a text of `length` characters."""
    return round(q * length)


def random_swap(text: str, q: float, rng: random.Random) -> str:
    """Replace round(q * len) characters at random positions with other printable characters."""
    chars = list(text)
    for index in rng.sample(range(len(chars)), changed_count(len(chars), q)):
        chars[index] = _other_char(rng, chars[index])
    return "".join(chars)


def random_patch(text: str, q: float, rng: random.Random) -> str:
    """Replace one contiguous window of round(q * len) characters with other printable characters."""
    width = changed_count(len(text), q)
    if width == 0:
        return text
    start = rng.randint(0, len(text) - width)
    patch = "".join(_other_char(rng, c) for c in text[start:start + width])
    return text[:start] + patch + text[start + width:]


def random_insert(text: str, q: float, rng: random.Random) -> str:
    """Insert round(q * len) random printable characters at random positions of the original."""
    chars = list(text)
    # Descending positions: each insertion leaves the positions still to come where they were.
    for index in sorted(rng.sample(range(len(chars)), changed_count(len(chars), q)), reverse=True):
        chars.insert(index, rng.choice(ALPHABET))
    return "".join(chars)


PERTURBATIONS = {"swap": random_swap, "patch": random_patch, "insert": random_insert}


# ---- Erase-and-Check (Kumar et al. 2024): which token positions each erased version drops ----------

def suffix_erasures(length: int, max_erase: int) -> Iterator[tuple[int, ...]]:
    """Drop the last i tokens, for i = 1 .. min(max_erase, length)."""
    for i in range(1, min(max_erase, length) + 1):
        yield tuple(range(length - i, length))


def insertion_erasures(length: int, max_erase: int, blocks: int) -> Iterator[tuple[int, ...]]:
    """Every distinct non-empty union of up to `blocks` contiguous blocks of 1..max_erase tokens.

    The reference walks (gap, width) pairs per block and keeps a set of the erased prompts;
    this yields each distinct set of erased positions once, in a fixed order.
    """
    seen: set[tuple[int, ...]] = set()

    def walk(start: int, left: int, taken: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        if taken and taken not in seen:
            seen.add(taken)
            yield taken
        if left == 0:
            return
        for begin in range(start, length):
            for width in range(1, max_erase + 1):
                if begin + width > length:
                    break
                yield from walk(begin + width, left - 1, taken + tuple(range(begin, begin + width)))

    yield from walk(0, blocks, ())


def infusion_erasures(length: int, max_erase: int) -> Iterator[tuple[int, ...]]:
    """Every subset of 1 .. min(max_erase, length) token positions."""
    for size in range(1, min(max_erase, length) + 1):
        yield from combinations(range(length), size)


def erase(tokens: list[str] | list[int], positions: tuple[int, ...]) -> list:
    """The tokens with the given positions dropped."""
    dropped = set(positions)
    return [t for i, t in enumerate(tokens) if i not in dropped]
