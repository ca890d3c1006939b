"""The one text normaliser of the project: what a word, a line and a stanza are.

Dedup, split, theme assignment, quoting, diversity, form and style all see texts through
these helpers, so "the same word" and "the same line" mean the same thing in every
check (a leak check and a quoting check can never disagree on what a word is):

- `strip_marks`: Unicode NFC, stress marks, soft hyphens and zero-width characters
  removed (what the clean stage does to every text);
- `normalize`: Unicode NFC, stress marks (combining acute/grave), soft hyphens and
  zero-width characters removed, lowercase, ``ё`` -> ``е``; punctuation is kept;
- `words`: word tokens of the normalised text; punctuation is dropped, a hyphenated
  word (``кто-то``) stays one token, digits count as word characters;
- `content_words`: `words` without Russian function words (prepositions, pronouns,
  particles, forms of быть), for "does this prompt share a word with the poem" checks;
- `lines`: verse lines, i.e. stripped lines that contain at least one letter (blank
  lines, ``* * *`` separators and dates such as ``1913`` are not verse lines);
- `stanzas`: verse lines grouped by blank or letterless lines.

Stress itself (where ``ё`` is information) is the business of `metrics.stress`.
"""

from __future__ import annotations

import re
import unicodedata

# Combining acute and grave: the stress marks of Russian text; soft hyphen and
# zero-width characters: invisible noise from web pages.
_DROP = re.compile("[\u0301\u0300\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_WORD = re.compile(r"[^\W_]+(?:[-\u2010\u2011][^\W_]+)*")
_LETTER = re.compile(r"[^\W\d_]")

# Function words: prepositions, conjunctions, particles, pronouns and forms of быть.
# A prompt may share these with a poem without leaking anything of it.
STOP_WORDS = frozenset("""
а без бы был была были было быть в во вот все всё всего вся да для до его ее её ей ему
если есть же за и из или им их к как ко когда кто ли либо мне меня мной мы на над не
нет ни но ну о об обо он она они оно от по под при про с со так там то тот ту ты у уж
уже чем что чтоб чтобы эта эти это этот я мой моя мое моё мои твой твоя твое твоё твои
свой своя свое своё свои наш наша наше наши ваш ваша ваше ваши тебя тебе тобой себя
себе собой нас нам нами вас вам вами него нее неё ним ней них нему чей где куда тут
здесь даже лишь только еще ещё опять вновь нибудь
""".split())


def strip_marks(text: str) -> str:
    """NFC with stress marks, soft hyphens and zero-width characters removed; case, ``ё``
    and ``й`` kept (decomposed first, so a precomposed stressed vowel loses its mark)."""
    return unicodedata.normalize("NFC", _DROP.sub("", unicodedata.normalize("NFD", text)))


def normalize(text: str) -> str:
    """`strip_marks`, lowercase, ``ё`` -> ``е``; punctuation is kept."""
    return strip_marks(text).lower().replace("ё", "е")


def words(text: str) -> list[str]:
    """Word tokens of the normalised text, punctuation stripped."""
    return _WORD.findall(normalize(text))


def content_words(text: str) -> list[str]:
    """`words` without function words (`STOP_WORDS`) and bare numbers."""
    return [w for w in words(text) if w not in STOP_WORDS and not w.isdigit()]


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


def first_lines(text: str, n: int) -> str:
    """The text cut after its first `n` verse lines (stanza breaks between them kept)."""
    kept, seen = [], 0
    for raw in text.splitlines():
        if seen >= n:
            break
        kept.append(raw.rstrip())
        seen += is_verse_line(raw)
    return "\n".join(kept).strip()


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """Contiguous n-grams of a token list (empty when it is shorter than n)."""
    if n < 1:
        raise ValueError(f"ngrams: n must be >= 1, got {n}")
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
