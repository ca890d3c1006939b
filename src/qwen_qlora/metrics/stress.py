"""Word stress and syllables for Russian verse lines.

Stress comes from `silero-stress` (a small model shipped inside the PyPI package, so it
works offline). A syllable is a vowel letter. Each line becomes a list of `Word`s and a
stress pattern over its syllables:

    '+'  the stressed syllable of a word of two or more syllables
    '-'  an unstressed syllable
    '?'  a monosyllable: metrically ambiguous (Russian verse stresses or skips it freely)

Where the model is not confident about a polysyllabic word (its own threshold: the
stress probability must exceed 0.5), we fall back to a heuristic and mark the word's
`source` as "heuristic", so the share of guessed words can be reported next to any
number built on it. Stress marks already in the text (U+0301 after a vowel, as in
dictionaries) are kept as given. A homograph (a word the model's own dictionary lists
with more than one stress: "му́ки" / "муки́") keeps its other stresses in
`alternatives`, so a scansion pass (`meter.fit_stress_to_meter`) can pick the one the
line's meter asks for.

    stresser = load_stresser()          # once per process: about 8 s on a CPU
    lines = stresser.stress_text(poem)  # one StressedLine per input line
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

VOWELS = "аеёиоуыэюя"
ACUTE = "\u0301"
WORD_RE = re.compile(r"[а-яё]+", re.IGNORECASE)
MODEL_UNSAFE = re.compile(r"[^\w\s.,!?;:\-]")

# Unstressed clitics that can end a line ("что же", "мог бы"): the stress before them
# is the line's last one.
ENCLITICS = frozenset({"же", "ж", "ли", "ль", "бы", "б", "то", "ка"})


@dataclass(frozen=True)
class Word:
    """One word of a line. `stress` is the 0-based index of the stressed syllable
    (None for a word without vowels); `source` says where the stress came from:
    "model", "text" (marked in the input), "heuristic" (fallback), "mono" (one syllable),
    "none" (no vowels) or "meter" (chosen by the scansion pass). `alternatives` are the
    other stresses a homograph may carry."""

    text: str
    n_syllables: int
    stress: int | None
    source: str
    alternatives: tuple[int, ...] = ()


@dataclass(frozen=True)
class StressedLine:
    text: str
    words: tuple[Word, ...]

    @property
    def n_syllables(self) -> int:
        return sum(w.n_syllables for w in self.words)

    @property
    def pattern(self) -> str:
        """'+', '-' and '?' per syllable (see the module docstring)."""
        out = []
        for w in self.words:
            for i in range(w.n_syllables):
                if w.n_syllables == 1:
                    out.append("?")
                else:
                    out.append("+" if i == w.stress else "-")
        return "".join(out)

    @property
    def last_stress(self) -> int | None:
        """Syllable index of the line's final stress (the rhyme's stressed vowel):
        the last word with vowels, skipping a trailing enclitic; a final
        monosyllable counts as stressed."""
        idx = last_stressed_word(self.words)
        if idx is None:
            return None
        offset = sum(w.n_syllables for w in self.words[:idx])
        return offset + (self.words[idx].stress or 0)

    @property
    def stressed_text(self) -> str:
        """The line with U+0301 after the stressed vowel of every polysyllabic word."""
        parts, pos = [], 0
        for w in self.words:
            start = self.text.find(w.text, pos)
            parts.append(self.text[pos:start])
            parts.append(mark_stress(w.text, w.stress) if w.n_syllables > 1 else w.text)
            pos = start + len(w.text)
        parts.append(self.text[pos:])
        return "".join(parts)


def last_stressed_word(words: Sequence[Word]) -> int | None:
    """Index of the word carrying the line's final stress, or None if no vowels."""
    voiced = [i for i, w in enumerate(words) if w.n_syllables > 0]
    if not voiced:
        return None
    last = voiced[-1]
    if len(voiced) > 1 and words[last].n_syllables == 1 and words[last].text.lower() in ENCLITICS:
        return voiced[-2]
    return last


def count_syllables(word: str) -> int:
    return sum(ch in VOWELS for ch in word.lower())


def mark_stress(word: str, stress: int | None) -> str:
    """Insert U+0301 after the `stress`-th vowel of `word` (not after 'ё', which
    shows its stress already)."""
    if stress is None:
        return word
    seen = -1
    for i, ch in enumerate(word):
        if ch.lower() in VOWELS:
            seen += 1
            if seen == stress:
                return word if ch in "ёЁ" else word[: i + 1] + ACUTE + word[i + 1:]
    return word


def heuristic_stress(word: str) -> int:
    """Fallback stress for a polysyllabic word the model is unsure of: the syllable with
    'ё' if there is one, else the penultimate syllable: the commonest position for
    Russian polysyllables (55% of the model-stressed polysyllabic tokens in the
    Akhmatova corpus, against 31% final and 14% earlier). The model is rarely unsure:
    in that corpus it stressed all 6,089 polysyllabic tokens itself."""
    lower = word.lower()
    vowels = [ch for ch in lower if ch in VOWELS]
    if "ё" in vowels:
        return vowels.index("ё")
    return max(len(vowels) - 2, 0)


def parse_marked(original: str, marked: str) -> list[list[tuple[str, int | None, str]]]:
    """Align the accentor's output ('+' before stressed vowels, some 'е' turned to 'ё')
    with the original text; return per line a list of (word, stress, source)."""
    stressed_chars: set[int] = set()
    i = 0
    for ch in marked:
        if ch == "+":
            stressed_chars.add(i)
            continue
        if i >= len(original) or _fold(ch) != _fold(original[i]):
            raise RuntimeError(
                f"stress: could not align the stress model's output with the input near "
                f"character {i} ({original[max(0, i - 20):i + 20]!r}); the silero-stress "
                f"version may have changed its output format; pin silero-stress==1.5")
        i += 1
    if i != len(original):
        raise RuntimeError("stress: the stress model's output is shorter than its input; "
                           "pin silero-stress==1.5")
    lines, offset = [], 0
    for line in original.split("\n"):
        words = []
        for m in WORD_RE.finditer(line):
            word = m.group()
            vowel_pos = [k for k, ch in enumerate(word) if ch.lower() in VOWELS]
            hits = [n for n, k in enumerate(vowel_pos) if offset + m.start() + k in stressed_chars]
            if not vowel_pos:
                words.append((word, None, "none"))
            elif len(vowel_pos) == 1:
                words.append((word, 0, "mono"))
            elif hits:
                words.append((word, hits[0], "model"))
            else:
                words.append((word, heuristic_stress(word), "heuristic"))
        lines.append(words)
        offset += len(line) + 1
    return lines


def _fold(ch: str) -> str:
    return ch.lower().replace("ё", "е")


class Stresser:
    """Stresses texts with a loaded silero-stress accentor. `homographs` maps a
    lowercase word to the stresses it may carry; by default the accentor's own
    homograph dictionary."""

    def __init__(self, accentor, batch_chars: int = 20_000,
                 homographs: Mapping[str, tuple[int, ...]] | None = None):
        self._accentor = accentor
        self.batch_chars = batch_chars
        self.homographs = homograph_stresses(accentor) if homographs is None else homographs

    def stress_text(self, text: str) -> list[StressedLine]:
        """One StressedLine per line of `text` (blank lines give lines without words)."""
        return self.stress_texts([text])[0]

    def stress_texts(self, texts: Sequence[str]) -> list[list[StressedLine]]:
        """`stress_text` for many texts. Texts are joined into batches of about
        `batch_chars` characters before they reach the model: one call per batch is
        several times faster than one per poem (the model scores words in batches)."""
        cleaned = [t.replace("\r\n", "\n").replace("\r", "\n").replace("+", " ") for t in texts]
        plains = [t.replace(ACUTE, "") for t in cleaned]
        words_per_text: list[list[list[tuple[str, int | None, str]]]] = []
        for batch in _batches(plains, self.batch_chars):
            # the model splits words only at spaces and basic punctuation, and misplaces
            # stress in words glued to anything else («Отчего); blank such characters out
            joined = MODEL_UNSAFE.sub(" ", "\n".join(batch))
            marked = self._accentor(joined) if joined.strip() else joined
            lines = parse_marked(joined, marked)
            for plain in batch:
                n = plain.count("\n") + 1
                words_per_text.append(lines[:n])
                lines = lines[n:]
        return [_build_lines(plain, words, _given_stress(text), self.homographs)
                for text, plain, words in zip(cleaned, plains, words_per_text)]


def homograph_stresses(accentor) -> dict[str, tuple[int, ...]]:
    """Stresses of each homograph in silero-stress's dictionary ({"муки": (0, 1)}),
    read from its entries ("м+уки", "мук+и": '+' before the stressed vowel)."""
    try:
        entries = accentor.homosolver.homodict
    except AttributeError as err:
        raise RuntimeError("stress: the accentor has no homograph dictionary "
                           "(accentor.homosolver.homodict); pin silero-stress==1.5") from err
    out = {}
    for word, variants in entries.items():
        stresses = {count_syllables(v[: v.index("+")]) for v in variants if "+" in v}
        if len(stresses) > 1:
            out[word] = tuple(sorted(stresses))
    return out


def _batches(texts: Sequence[str], batch_chars: int) -> list[list[str]]:
    out: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if out[-1] and size + len(text) > batch_chars:
            out.append([])
            size = 0
        out[-1].append(text)
        size += len(text) + 1
    return out if out[0] else []


def _build_lines(plain: str, words_per_line, given: dict[tuple[int, int], int],
                 homographs: Mapping[str, tuple[int, ...]]) -> list[StressedLine]:
    out = []
    for ln, (line, words) in enumerate(zip(plain.split("\n"), words_per_line)):
        built = []
        for n, (word, stress, source) in enumerate(words):
            alternatives: tuple[int, ...] = ()
            if (ln, n) in given and count_syllables(word) > 1:
                stress, source = given[(ln, n)], "text"
            elif source == "model":
                alternatives = tuple(a for a in homographs.get(word.lower(), ()) if a != stress)
            built.append(Word(word, count_syllables(word), stress, source, alternatives))
        out.append(StressedLine(line, tuple(built)))
    return out


def _given_stress(text: str) -> dict[tuple[int, int], int]:
    """Stresses marked with U+0301 in the input, keyed by (line, word) index."""
    given = {}
    for ln, line in enumerate(text.split("\n")):
        if ACUTE not in line:
            continue
        words = re.finditer(r"[а-яё\u0301]+", line, re.IGNORECASE)
        for n, m in enumerate(w for w in words if WORD_RE.search(w.group())):
            word = m.group()
            if ACUTE in word:
                before = word[: word.index(ACUTE)]
                given[(ln, n)] = count_syllables(before) - 1
    return given


def parse_stressed(text: str) -> list[StressedLine]:
    """Lines of a text whose polysyllabic words all carry U+0301 after the stressed vowel
    (or a 'ё'), without the model: for hand-checked examples and tests."""
    plain = text.replace(ACUTE, "")
    given = _given_stress(text)
    words_per_line = []
    for ln, line in enumerate(plain.split("\n")):
        words = []
        for n, m in enumerate(WORD_RE.finditer(line)):
            word, k = m.group(), count_syllables(m.group())
            if k == 0:
                words.append((word, None, "none"))
            elif k == 1:
                words.append((word, 0, "mono"))
            elif (ln, n) in given or "ё" in word.lower():
                words.append((word, given.get((ln, n), heuristic_stress(word)), "text"))
            else:
                raise ValueError(f"stress: line {ln + 1}: {word!r} has no stress mark; "
                                 f"put U+0301 after its stressed vowel")
        words_per_line.append(words)
    return _build_lines(plain, words_per_line, given, {})


def load_stresser() -> Stresser:
    """Load the silero-stress model from the installed package (no network).

    Importing and loading silero-stress changes process-wide torch state: it sets one
    thread and switches autograd off. Both are restored, so training and generation in
    the same process keep their parallelism and their gradients."""
    import torch

    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    try:
        from silero_stress import load_accentor
    except ImportError as err:
        raise ImportError("stress: the package 'silero-stress' is missing; "
                          "install it with `pip install silero-stress`") from err
    try:
        accentor = load_accentor()
    finally:
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
    return Stresser(accentor)
