"""Are the words Russian: the share of a text's words known to pymorphy3's dictionary.

A fine-tuned small model invents words (``уильнях``, ``охрустать``, ``нескользнуло``)
that no reader would accept; the share of words found in the OpenCorpora dictionary
that ships with pymorphy3 counts them. Her own poems score about 0.99, not 1.0: rare
words, archaisms and names missing from the dictionary set the floor, so a model row is
read against her val/test poems, never against 1.

What a word is comes from `qwen_qlora.text` (`lines`, `words`): the words of verse lines,
lowercase, stress marks dropped, ``ё`` -> ``е``. Then:

- ``ё``: `MorphAnalyzer.word_is_known` is called non-strict, so ``елка`` matches the
  dictionary's ``ёлка`` (the normaliser has already folded ``ё`` into ``е``);
- hyphenated words: known when the whole is in the dictionary (``кто-то``,
  ``по-русски``) or else when every part is (``пойду-ка``, ``серебряно-черный``); an
  invented part makes the word unknown;
- numbers: a token with a digit is not judged (years, numbering, ``2-й``);
- foreign words: a token without a Cyrillic letter is not judged (a Russian dictionary
  says nothing about ``the``), it is counted in ``n_foreign``;
- capitalised words inside a sentence (not first in the line, not after ``. ! ? … :``,
  an opening quote or a dash) are taken for proper names and not judged, known or not:
  ``Слепнево`` is Russian but not in the dictionary; they are counted in ``n_names``.
  A mixed-script token (Cyrillic with a Latin look-alike letter) is judged, and unknown.

Agreement, a cheap grammar check: each pair of adjacent words in a verse line (only
spaces between them) where every parse of the first is a full adjective and every parse
of the second a noun, both known Cyrillic words without digits, is judged; it disagrees
when no pair of their parses shares case and number (and gender in the singular;
common-gender and indeclinable nouns match any). A pair after ``два/три/четыре/оба/
полтора`` is skipped (``два красных стола`` is correct). Verse inverts and splits phrases
(``любовь моей ... души``), so her own poems disagree on 0-4% of such pairs and the other
poets on 3%: read a model's share against theirs.

`text_fluency` gives one text's counts, unknown words and disagreeing pairs;
`fluency_summary` pools them over a model's texts with 95% bootstrap intervals (texts
resampled, `stats.ratio_ci`); `top_unknown_words` lists the commonest unknown words (or
disagreeing pairs) for the report. Cost: about 0.2 s to load the analyzer, 25-70 ms per
1k words (benchmarks/fluency.py).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from qwen_qlora.stats import flat, ratio_ci
from qwen_qlora.text import lines, normalize, strip_marks, words

_CYRILLIC = re.compile("[а-яё]")
_DIGIT = re.compile(r"\d")
_HYPHENS = re.compile("[-\u2010\u2011]")
# After these a capital letter starts a sentence or a quotation, not a name.
_SENTENCE_START = set(".!?…:«\"„“—–-(")
# Second genitive and locative (чаю, в саду) agree as the main case.
_CASE = {"gen1": "gent", "gen2": "gent", "loc1": "loct", "loc2": "loct", "acc2": "accs"}
_PAUCAL = frozenset("два две три четыре оба обе полтора полторы".split())


@lru_cache(maxsize=1)
def load_morph() -> Any:
    """pymorphy3's Russian analyzer, loaded once per process (about 0.2-0.5 s)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def is_known(word: str, morph: Any) -> bool:
    """True when pymorphy3's dictionary has the (lowercase) word, or every hyphenated part."""
    if morph.word_is_known(word):
        return True
    parts = _HYPHENS.split(word)
    return len(parts) > 1 and all(p and morph.word_is_known(p) for p in parts)


def _line_tokens(line: str) -> list[tuple[str, bool, bool]]:
    """(word, looks like a proper name, only spaces since the previous word) for each
    word of a verse line, in order."""
    norm, cased = normalize(line), strip_marks(line)
    aligned = len(norm) == len(cased)  # lowercasing kept every offset (true for Cyrillic)
    out, pos = [], 0
    for i, word in enumerate(words(line)):
        start = norm.find(word, pos)
        adjacent = i > 0 and not norm[pos:start].strip()
        pos = start + len(word)
        name = False
        if aligned and i > 0 and cased[start].isupper():
            before = cased[:start].rstrip()
            name = not before or before[-1] not in _SENTENCE_START
        out.append((word, name, adjacent))
    return out


@lru_cache(maxsize=200_000)
def agrees(adjective: str, noun: str, morph: Any) -> bool:
    """True when some parse of the adjective and some parse of the noun share case,
    number and (in the singular) gender."""
    for a in morph.parse(adjective):
        for n in morph.parse(noun):
            if _CASE.get(a.tag.case, a.tag.case) != _CASE.get(n.tag.case, n.tag.case):
                continue
            if a.tag.number != n.tag.number and "Fixd" not in n.tag:
                continue
            if (a.tag.number == "sing" and a.tag.gender and n.tag.gender and a.tag.gender != n.tag.gender
                    and "ms-f" not in n.tag):
                continue
            return True
    return False


@lru_cache(maxsize=200_000)
def _is_only(word: str, pos: str, morph: Any) -> bool:
    """True when the word is a known Cyrillic word and every parse of it is a `pos`."""
    return (_CYRILLIC.search(word) is not None and not _DIGIT.search(word) and morph.word_is_known(word)
            and all(p.tag.POS == pos for p in morph.parse(word)))


def _agreement_pairs(tokens: list[tuple[str, bool, bool]], morph: Any) -> list[tuple[str, str]]:
    """The judged adjective-noun pairs of one line's tokens (see module doc)."""
    pairs = []
    for i in range(1, len(tokens)):
        (first, _, _), (second, _, adjacent) = tokens[i - 1], tokens[i]
        if not adjacent or (i > 1 and tokens[i - 2][0] in _PAUCAL):
            continue
        if _is_only(first, "ADJF", morph) and _is_only(second, "NOUN", morph):
            pairs.append((first, second))
    return pairs


def text_fluency(text: str, morph: Any | None = None) -> dict[str, Any]:
    """One text's judged words (``n_words``), known ones (``n_known``), its share
    (None with no judged word), the unknown words in order, and the words not judged
    as names (``n_names``), foreign (``n_foreign``) or numbers (``n_numbers``); the
    judged adjective-noun pairs (``n_adj_noun_pairs``) and the disagreeing ones."""
    morph = morph or load_morph()
    counts = {"n_words": 0, "n_known": 0, "n_names": 0, "n_foreign": 0, "n_numbers": 0}
    unknown: list[str] = []
    pairs: list[tuple[str, str]] = []
    for line in lines(text):
        tokens = _line_tokens(line)
        pairs.extend(_agreement_pairs(tokens, morph))
        for word, name, _ in tokens:
            if _DIGIT.search(word):
                counts["n_numbers"] += 1
            elif not _CYRILLIC.search(word):
                counts["n_foreign"] += 1
            elif name:
                counts["n_names"] += 1
            else:
                counts["n_words"] += 1
                if is_known(word, morph):
                    counts["n_known"] += 1
                else:
                    unknown.append(word)
    share = counts["n_known"] / counts["n_words"] if counts["n_words"] else None
    disagreeing = [f"{a} {n}" for a, n in pairs if not agrees(a, n, morph)]
    return {**counts, "known_word_share": share, "unknown_words": unknown,
            "n_adj_noun_pairs": len(pairs), "disagreeing_pairs": disagreeing}


def known_word_share(texts: Sequence[str], morph: Any | None = None) -> dict[str, Any]:
    """Per-text shares of known words (None for a text with no judged word) and the
    pooled share (known words over judged words of all texts; None when there are none)."""
    records = [text_fluency(t, morph) for t in texts]
    n_words = sum(r["n_words"] for r in records)
    return {"per_text": [r["known_word_share"] for r in records],
            "pooled": sum(r["n_known"] for r in records) / n_words if n_words else None}


def fluency_summary(records: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """A model's pooled known-word share and disagreeing adjective-noun pair share over
    its texts' `text_fluency` records, each with a 95% bootstrap interval over texts,
    and the counts behind them; flat and JSON-ready."""
    if not records:
        raise ValueError("fluency: no texts to score; check the generate stage output")
    n_words = [r["n_words"] for r in records]
    out: dict[str, Any] = {"n_texts": len(records), "n_words": sum(n_words),
                           "n_unknown_words": sum(len(r["unknown_words"]) for r in records),
                           "n_names": sum(r["n_names"] for r in records),
                           "n_foreign": sum(r["n_foreign"] for r in records)}
    if sum(n_words):
        out.update(flat("known_word_share", ratio_ci([r["n_known"] for r in records], n_words, seed)))
    else:
        out.update({"known_word_share": None, "known_word_share_ci_low": None,
                    "known_word_share_ci_high": None})
    n_pairs = [r["n_adj_noun_pairs"] for r in records]
    out["n_adj_noun_pairs"] = sum(n_pairs)
    if sum(n_pairs):
        bad = [len(r["disagreeing_pairs"]) for r in records]
        out.update(flat("disagreeing_pair_share", ratio_ci(bad, n_pairs, seed)))
    else:
        out.update({"disagreeing_pair_share": None, "disagreeing_pair_share_ci_low": None,
                    "disagreeing_pair_share_ci_high": None})
    return out


def top_unknown_words(records: Sequence[dict[str, Any]], n: int = 20,
                      field: str = "unknown_words") -> list[tuple[str, int]]:
    """The `n` commonest unknown words (or, with ``field="disagreeing_pairs"``, pairs)
    over the records, (word, count), commonest first (ties in order of first appearance)."""
    return Counter(w for r in records for w in r[field]).most_common(n)
