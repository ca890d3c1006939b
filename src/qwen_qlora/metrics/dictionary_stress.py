"""A second stress source for cross-checking: Wiktionary's stress marks, looked up word by word.

The form decoder and the poetics stage stress verse with silero-stress (`metrics.stress`),
so a decoder that fits silero's stresses would pass a check made with silero. This
stresser is a second, independent instrument: a dictionary, not a model, so nothing
about a word is inferred from silero or from context. It has the interface of
`stress.Stresser` (`stress_text`, `stress_texts` giving `StressedLine`s of `Word`s), so
the scansion, meter and rhyme code take it unchanged.

The dictionary is the Russian Wiktionary's stressed word forms (about 840,000 forms, with
their homograph readings) as shipped inside the PyPI package `tsnorm` (MIT). Only its
data file is read; the package itself is never imported, because its import downloads a
spaCy model (no network here). It is a dictionary: every stress is a recorded one, and an
unknown word is known to be unknown. The other Russian stress packages on PyPI, tried
on Python 3.11 without network (or, for the heaviest, read): russtress (and
ru-accent-poet, built on it) installs TensorFlow and then cannot load its Keras 2 model
under Keras 3; rustress and rhymex ship Keras models of the same age (rhymex's dictionary
is a .rar archive); russ, ruaccent and rupo fetch their models or dictionaries from the
network at run time; udar needs stanza, hfst and NLTK's downloaded tokenizer;
ruaccent-predictor works offline but is a character seq2seq model that took 4 s per line.

Each word of a line gets:

    source "dictionary"  a polysyllable the dictionary lists; `stress` is the reading most
                         of its entries give, `alternatives` the other recorded ones
                         ("му́ки" / "муки́"), which the scansion pass may choose, as it does
                         for silero's homographs. A word written with 'ё' is stressed
                         on the 'ё'.
    source "heuristic"   a polysyllable the dictionary lacks (an invented word, a rare
                         form, a name): stressed by `stress.heuristic_stress`, the same
                         fallback silero's side uses, and so free for the scansion pass to
                         move. Never counted as known: `unknown_words` counts them, so a
                         figure built on this source carries its unknown-word share.
    "mono", "none", "text"  as in `metrics.stress` (a monosyllable, no vowel, a stress
                         marked in the input with U+0301).

    stresser = load_dictionary_stresser()     # once per process: 10-18 s, 1.15 GB while loading
    lines = stresser.stress_text(poem)
"""

from __future__ import annotations

import importlib.util
import pickle
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from qwen_qlora.metrics.stress import (
    ACUTE,
    VOWELS,
    WORD_RE,
    StressedLine,
    Word,
    _given_stress,
    count_syllables,
    heuristic_stress,
)

PACKAGE = "tsnorm"
DATA_FILE = ("dictionary", "wordforms.dat")
_SINGLE_WORD = re.compile(r"[а-яё]+", re.IGNORECASE)


class DictionaryStresser:
    """Stresses texts from a table {word: stressed syllables, commonest reading first};
    keys are as `fold` gives them (lowercase, 'ё' written 'е'), proper names capitalised."""

    def __init__(self, table: Mapping[str, tuple[int, ...]]):
        self.table = table

    def stress_text(self, text: str) -> list[StressedLine]:
        """One StressedLine per line of `text` (blank lines give lines without words)."""
        cleaned = text.replace("\r\n", "\n").replace("\r", "\n")
        plain = cleaned.replace(ACUTE, "")
        given = _given_stress(cleaned)
        return [StressedLine(line, tuple(self.word(m.group(), given.get((ln, n)))
                                         for n, m in enumerate(WORD_RE.finditer(line))))
                for ln, line in enumerate(plain.split("\n"))]

    def stress_texts(self, texts: Sequence[str]) -> list[list[StressedLine]]:
        return [self.stress_text(t) for t in texts]

    def readings(self, word: str) -> tuple[int, ...]:
        """The word's recorded stresses (syllable indices), () if the dictionary lacks it."""
        key = fold(word)
        return self.table.get(key) or self.table.get(key.capitalize(), ())

    def word(self, text: str, marked: int | None = None) -> Word:
        n = count_syllables(text)
        if n == 0:
            return Word(text, 0, None, "none")
        if n == 1:
            return Word(text, 1, 0, "mono")
        if marked is not None:
            return Word(text, n, marked, "text")
        readings = self.readings(text)
        if not readings:
            return Word(text, n, heuristic_stress(text), "heuristic")
        if "ё" in text.lower():  # the letter shows the stress; the dictionary confirms the word
            return Word(text, n, heuristic_stress(text), "dictionary")
        return Word(text, n, readings[0], "dictionary", readings[1:])


def fold(word: str) -> str:
    return word.lower().replace("ё", "е")


def unknown_words(lines: Iterable[StressedLine]) -> tuple[int, int]:
    """(polysyllables the dictionary lacks, polysyllables) of stressed lines: words of one
    syllable need no stress and are not counted."""
    poly = [w for ln in lines for w in ln.words if w.n_syllables > 1]
    return sum(w.source == "heuristic" for w in poly), len(poly)


def stress_table(entries: Mapping[str, Sequence[Mapping]]) -> dict[str, tuple[int, ...]]:
    """The table `DictionaryStresser` reads, from tsnorm's word forms ({"муки": [{"word_form":
    "муки", "stress_pos": [1], ...}, ...]}, `stress_pos` a character index of the stressed
    vowel): each single word's stressed syllables, the reading most of its entries give
    first (then the earlier syllable). Phrases and hyphenated compounds are left out (a
    line's words are split at hyphens), and so are positions that are not on a vowel."""
    table = {}
    for key, forms in entries.items():
        if not _SINGLE_WORD.fullmatch(key):
            continue
        votes: Counter[int] = Counter()
        for form in forms:
            spelled = form["word_form"]
            for pos in form["stress_pos"]:
                if 0 <= pos < len(spelled) and spelled[pos].lower() in VOWELS:
                    votes[count_syllables(spelled[:pos])] += 1
        if votes:
            table[key if key[0].isupper() else fold(key)] = tuple(
                s for s, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])))
    return table


class _DataOnly(pickle.Unpickler):
    """tsnorm's file holds dicts, lists, strings and ints: refuse anything that would
    import code."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"dictionary_stress: {PACKAGE}'s word forms refer to "
                                     f"{module}.{name}; expected plain data")


def data_path() -> Path:
    """tsnorm's word-form file, found without importing tsnorm (its import downloads a
    spaCy model)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"dictionary_stress: the package '{PACKAGE}' is missing (the second "
                          f"stress source's dictionary); install it with `pip install {PACKAGE}==1.1.2`")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*DATA_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"dictionary_stress: {path} not found; pin {PACKAGE}==1.1.2")
    return path


def load_dictionary_stresser(path: Path | None = None) -> DictionaryStresser:
    """The Wiktionary stresser from tsnorm's data file (no network)."""
    with (path or data_path()).open("rb") as fh:
        entries = _DataOnly(fh).load()
    return DictionaryStresser(stress_table(entries))
