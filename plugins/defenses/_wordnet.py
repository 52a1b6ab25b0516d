"""Read Princeton WordNet's database files (the WNDB format) for first synonyms.

Only what synonym substitution needs: the index files map a lemma to its synsets, the data
files list each synset's words, and the exception files plus WordNet's detachment rules map an
inflected form to its base (the `morphy` algorithm). The data is WordNet 3.0 itself, from
wherever it is installed: Debian/Ubuntu's `wordnet-base` (/usr/share/wordnet), NLTK's data
folder (`corpora/wordnet`, unzipped), or `$WNSEARCHDIR` / `$WNHOME/dict`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from r2d_sdk import ConfigError

# synsets() order in NLTK: noun, verb, adjective, adverb (satellites live in the adjective files).
POS = ("noun", "verb", "adj", "adv")
# WordNet's morphy detachment rules (morphy(7WN)): (suffix, replacement) per part of speech.
RULES = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
             ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}


def candidate_folders() -> list[Path]:
    """Where a WordNet 3.0 `dict` folder is looked for, in order."""
    folders = []
    if os.environ.get("WNSEARCHDIR"):
        folders.append(Path(os.environ["WNSEARCHDIR"]))
    if os.environ.get("WNHOME"):
        folders.append(Path(os.environ["WNHOME"]) / "dict")
    for base in filter(None, os.environ.get("NLTK_DATA", "").split(os.pathsep)):
        folders.append(Path(base) / "corpora" / "wordnet")
    folders += [Path.home() / "nltk_data/corpora/wordnet", Path("/usr/share/nltk_data/corpora/wordnet"),
                Path("/usr/local/share/nltk_data/corpora/wordnet"), Path("/usr/share/wordnet")]
    return folders


def find_wordnet(folder: str | None = None) -> Path:
    """The first folder holding WordNet's index and data files, or an error naming how to get one."""
    folders = [Path(folder).expanduser()] if folder else candidate_folders()
    for candidate in folders:
        if (candidate / "index.noun").is_file() and (candidate / "data.noun").is_file():
            return candidate
    where = ", ".join(str(f) for f in folders)
    raise ConfigError(f"no WordNet database found (looked in {where})",
                      fix="apt-get install wordnet-base (Debian/Ubuntu), or `python -m nltk.downloader wordnet` "
                          "and unzip it, then set the defense's `wordnet_dir` (or WNSEARCHDIR) to the folder "
                          "holding index.noun and data.noun")


class WordNet:
    """Lemma → first synonym lookups over one WNDB folder; files are read once, lazily."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index: dict[str, dict[str, list[int]]] = {}
        self._exceptions: dict[str, dict[str, list[str]]] = {}

    def _load(self, pos: str) -> None:
        if pos in self._index:
            return
        index: dict[str, list[int]] = {}
        index_file = self.folder / f"index.{pos}"
        with open(index_file, encoding="utf-8") if index_file.is_file() else open(os.devnull) as lines:
            for line in lines:
                if line.startswith(" "):  # the licence header
                    continue
                # lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
                fields = line.split()
                synset_count, pointer_count = int(fields[2]), int(fields[3])
                index[fields[0]] = [int(o) for o in fields[6 + pointer_count:6 + pointer_count + synset_count]]
        exceptions: dict[str, list[str]] = {}
        exc_file = self.folder / f"{pos}.exc"
        if exc_file.is_file():
            with open(exc_file, encoding="utf-8") as lines:
                for line in lines:
                    inflected, *bases = line.split()
                    exceptions[inflected] = bases
        self._index[pos], self._exceptions[pos] = index, exceptions

    def base_forms(self, word: str, pos: str) -> list[str]:
        """The forms of `word` that WordNet lists for this part of speech (morphy)."""
        self._load(pos)
        index = self._index[pos]
        forms = [word, *self._exceptions[pos].get(word, [])]
        forms += [word[: -len(old)] + new for old, new in RULES[pos] if word.endswith(old)]
        return [f for f in dict.fromkeys(forms) if f in index]

    def _synset_words(self, pos: str, offset: int) -> list[str]:
        with open(self.folder / f"data.{pos}", "rb") as data:
            data.seek(offset)
            fields = data.readline().decode("utf-8").split()
        # synset_offset lex_filenum ss_type w_cnt(hex) word lex_id(hex) [word lex_id ...] ...
        count = int(fields[3], 16)
        return [re.sub(r"\([a-z]+\)$", "", fields[4 + 2 * i]) for i in range(count)]

    def synonyms(self, word: str) -> Iterator[str]:
        """Words sharing a synset with `word`, in WordNet's order (synsets by part of speech, then sense)."""
        lemma = word.lower()
        for pos in POS:
            for form in self.base_forms(lemma, pos):
                for offset in self._index[pos][form]:
                    for other in self._synset_words(pos, offset):
                        if other.lower() not in (lemma, form):
                            yield other.replace("_", " ")

    def first_synonym(self, word: str) -> str | None:
        """The first word WordNet lists beside `word` that is not the word itself, if any."""
        return next(self.synonyms(word), None)


@cache
def open_wordnet(folder: str | None = None) -> WordNet:
    """A shared reader for the folder (or the first one found)."""
    return WordNet(find_wordnet(folder))
