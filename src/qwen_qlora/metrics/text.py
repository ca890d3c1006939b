"""Normalisation and tokenisation of Russian verse, shared by the text metrics.

Every metric that compares texts (quoting, repetition, diversity, form) sees them
through these helpers, so "the same line" means the same thing everywhere:

- `normalize`: Unicode NFC, stress marks (combining acute/grave) and soft hyphens
  removed, lowercase, ``ё`` -> ``е``;
- `words`: word tokens of the normalised text; punctuation is dropped, a hyphenated
  word (``кто-то``) stays one token, digits count as word characters;
- `verse_words`: the words of the verse lines, the word sequence of a poem;
- `lines`: verse lines, i.e. stripped lines that contain at least one letter (blank
  lines, ``* * *`` separators and dates such as ``1913`` are not verse lines);
- `stanzas`: verse lines grouped by blank or letterless lines.
"""

from __future__ import annotations

import re
import unicodedata

# Combining acute and grave: the stress marks of Russian text; soft hyphen and
# zero-width characters: invisible noise from web pages.
_DROP = re.compile("[\u0301\u0300\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_WORD = re.compile(r"[^\W_]+(?:[-\u2010\u2011][^\W_]+)*")
_LETTER = re.compile(r"[^\W\d_]")


def normalize(text: str) -> str:
    """NFC, stress marks removed, lowercase, ``ё`` -> ``е``; punctuation is kept."""
    decomposed = _DROP.sub("", unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFC", decomposed).lower().replace("ё", "е")


def words(text: str) -> list[str]:
    """Word tokens of the normalised text, punctuation stripped."""
    return _WORD.findall(normalize(text))


def normalize_line(line: str) -> str:
    """A line as compared for verbatim copies: its word tokens joined by one space."""
    return " ".join(words(line))


def is_verse_line(line: str) -> bool:
    """True when the line contains at least one letter."""
    return _LETTER.search(line) is not None


def lines(text: str) -> list[str]:
    """Verse lines of a text, stripped, in order."""
    return [ln.strip() for ln in text.splitlines() if is_verse_line(ln)]


def verse_words(text: str) -> list[str]:
    """Word tokens of the verse lines only: a poem's words without dates or numbering."""
    return [w for line in lines(text) for w in words(line)]


def stanzas(text: str) -> list[list[str]]:
    """Verse lines grouped into stanzas; blank or letterless lines separate stanzas."""
    groups: list[list[str]] = []
    current: list[str] = []
    for raw in text.splitlines():
        if is_verse_line(raw):
            current.append(raw.strip())
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """Contiguous n-grams of a token list (empty when it is shorter than n)."""
    if n < 1:
        raise ValueError(f"ngrams: n must be >= 1, got {n}")
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
