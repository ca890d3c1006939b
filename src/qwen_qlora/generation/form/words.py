"""The stressed word table: every word form of a corpus with what the form decoder needs.

Each entry holds the word's syllable count, its stresses (the stress model's choice
first, then a homograph's other stresses, as `metrics.stress` exposes them; with
`reading_votes`, only the readings the corpus' verse gives it, commonest first), its rhyme
keys (the exact ending `metrics.rhyme.line_ending` hears, one per stress, and a coarse
class that buckets possible rhymes), its lemmas (pymorphy3: every normal form it may
have) and its token ids under the model's tokenizer in four spellings: after a space
or at a line start, lowercase or capitalised. The stress comes from the same model the
evaluation uses, so the decoder and the scanner agree on what a word is.

Words outside the table are never written by the decoder: it samples table words only
(a stated restriction, like `generate`'s token subset). `WordTable.get` returns None
for them, so a caller must decide what to do; nothing falls back silently.

    table = build_word_table(texts, load_stresser(), tokenizer, readings=Readings(lines=30))
    save_table(table, "data/interim/word_table.json")   # a DVC stage caches it
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qwen_qlora.io import atomic_open
from qwen_qlora.metrics.meter import CLASSICAL, fit_line
from qwen_qlora.metrics.rhyme import line_ending
from qwen_qlora.metrics.stress import StressedLine, Stresser, Word, count_syllables

# a Russian word form; hyphenated words are left out (the scanner splits them in two)
TABLE_WORD = re.compile(r"(?<![\w-])[а-яё]+(?![\w-])", re.IGNORECASE)
# the four spellings whose token ids an entry keeps, in `WordEntry.tokens` order
SPELLINGS = ("space", "bare", "space_cap", "bare_cap")
CLAUSULAS = {"masculine": 0, "feminine": 1, "dactylic": 2}
# the only vowel-less word forms kept: the prepositions; other vowel-less forms in a corpus
# are initials and abbreviations ("А. А.", "т") or clipped clitics ("ж", "б") that a decoder
# would use as fillers to pad a line, which are not words of a verse line
NONSYLLABIC = frozenset({"в", "к", "с"})
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Readings:
    """How a homograph's readings are settled (params `words.reading_lines`, ...): up to
    `lines` corpus lines holding it vote (`reading_votes`); a reading with under
    `min_share` of at least `min_votes` votes is dropped. `lines=0`: every reading kept."""

    lines: int = 0
    min_votes: int = 5
    min_share: float = 0.25


@dataclass(frozen=True)
class WordEntry:
    """One word form. `stresses[0]` is the stress model's choice, or a homograph's most
    voted reading (`reading_votes`) (0-based syllable index;
    0 for a monosyllable, None for a word without vowels); `rhyme_keys[k]` and
    `rhyme_classes[k]` belong to `stresses[k]`; `tokens[k]` are the ids of the spelling
    `SPELLINGS[k]`."""

    text: str
    count: int
    n_syllables: int
    stresses: tuple[int | None, ...]
    rhyme_keys: tuple[str, ...]
    rhyme_classes: tuple[str, ...]
    lemmas: tuple[str, ...]
    tokens: tuple[tuple[int, ...], ...]

    def clausula(self, k: int = 0) -> int | None:
        """Unstressed syllables after stress `k` (0 masculine, 1 feminine, 2 dactylic)."""
        s = self.stresses[k]
        return None if s is None else self.n_syllables - 1 - s

    def shares_lemma(self, other: WordEntry) -> bool:
        return bool(set(self.lemmas) & set(other.lemmas))


@dataclass(frozen=True)
class WordTable:
    entries: tuple[WordEntry, ...]
    tokenizer_name: str

    def __post_init__(self):
        object.__setattr__(self, "_index", {e.text: i for i, e in enumerate(self.entries)})

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, word: str) -> WordEntry | None:
        """The entry of a word (any case), or None when the word is not in the table."""
        i = self._index.get(word.lower())
        return None if i is None else self.entries[i]

    def index(self, word: str) -> int:
        return self._index[word.lower()]


def corpus_words(texts: Iterable[str]) -> Counter:
    """Lowercased word forms of the texts (`TABLE_WORD`) with their counts."""
    return Counter(m.group().lower() for t in texts for m in TABLE_WORD.finditer(t))


def rhyme_class(key_phones: Sequence[str]) -> str:
    """A coarse bucket of endings that may rhyme (`metrics.rhyme.endings_rhyme` decides):
    the stressed vowel (и and ы as one) and the number of vowels in the ending."""
    stressed = next((p for p in key_phones if p.isupper()), "?")
    vowels = sum(p.lower() in "аоуыэи" for p in key_phones)
    return f"{'И' if stressed == 'Ы' else stressed}{vowels}"


def word_ending(text: str, n_syllables: int, stress: int):
    """The rhyme detector's ending of `text` as a line's last word, stressed at `stress`."""
    source = "mono" if n_syllables == 1 else "model"
    return line_ending(StressedLine(text, (Word(text, n_syllables, stress, source),)))


def pymorphy_lemmas() -> Callable[[str], tuple[str, ...]]:
    """Every normal form pymorphy3 gives a word ("стали" -> стать, сталь)."""
    import pymorphy3

    morph = pymorphy3.MorphAnalyzer()
    return lambda word: tuple(sorted({p.normal_form for p in morph.parse(word)}))


def reading_votes(texts: Iterable[str], stresser: Stresser, homographs: Mapping[str, Sequence[int]], *,
                  lines_per_word: int, batch_lines: int = 500) -> dict[str, Counter]:
    """How the texts' verse reads each homograph (word -> its syllable-index readings).

    The first `lines_per_word` lines holding a word (text order; a line counts for every
    homograph in it) are stressed in context by `stresser`; then each reading of the word
    is put in its place in turn, and the line votes for a reading when that reading alone
    lets the line fit a classical meter (`metrics.meter.CLASSICAL`). A line that fits under
    both readings, or neither (a dolnik, another word misread), casts no vote. Counter:
    reading -> votes."""
    seen: Counter = Counter()
    chosen = []
    for text in texts:
        for line in text.split("\n"):
            words = {m.group().lower() for m in TABLE_WORD.finditer(line)} & homographs.keys()
            if words and any(seen[w] < lines_per_word for w in words):
                chosen.append(line)
                seen.update(words)
    votes: dict[str, Counter] = {w: Counter() for w in homographs}
    for start in range(0, len(chosen), batch_lines):
        for line in stresser.stress_texts(["\n".join(chosen[start:start + batch_lines])])[0]:
            for k, word in enumerate(line.words):
                readings = homographs.get(word.text.lower())
                if not readings:
                    continue
                fitting = [r for r in readings if _fits_classical(line, k, r)]
                if len(fitting) == 1:
                    votes[word.text.lower()][fitting[0]] += 1
    return votes


def settle_readings(readings: Sequence[int], votes: Counter, rule: Readings) -> tuple[int, ...]:
    """The readings kept (`Readings`), the most voted first; all of them, in their order,
    when the votes are fewer than `rule.min_votes`."""
    total = sum(votes.values())
    if total < rule.min_votes:
        return tuple(readings)
    kept = [r for r in readings if votes[r] / total >= rule.min_share] or [max(readings, key=votes.__getitem__)]
    return tuple(sorted(kept, key=lambda r: (-votes[r], readings.index(r))))


def _fits_classical(line: StressedLine, k: int, reading: int) -> bool:
    words = list(line.words)
    words[k] = replace(words[k], stress=reading, alternatives=())
    placed = StressedLine(line.text, tuple(words))
    return any(fit_line(placed, meter).fits for meter in CLASSICAL)


def build_word_table(texts: Sequence[str], stresser: Stresser, tokenizer: Any, *, min_count: int = 1,
                     lemmas: Callable[[str], tuple[str, ...]] | None = None,
                     readings: Readings = Readings(), batch_words: int = 2000) -> WordTable:
    """The table of every word form seen at least `min_count` times in `texts` (vowel-less
    forms only if `NONSYLLABIC`), stressed by
    `stresser` one word a line (a word's stress in isolation; a homograph keeps its
    listed stresses, so the decoder may use either, as the scanner's meter pass does,
    except those `readings` settles away: `reading_votes`, `settle_readings`)."""
    counts = corpus_words(texts)
    words = sorted(w for w, n in counts.items()
                   if n >= min_count and (count_syllables(w) > 0 or w in NONSYLLABIC))
    if not words:
        raise ValueError("word table: no Russian word forms in the texts; check the corpus input")
    lemmas = lemmas or pymorphy_lemmas()
    stressed: list[Word] = []
    for start in range(0, len(words), batch_words):
        chunk = words[start:start + batch_words]
        lines = stresser.stress_texts(["\n".join(chunk)])[0]
        for word, line in zip(chunk, lines, strict=True):
            if len(line.words) != 1 or line.words[0].text.lower() != word:
                raise RuntimeError(f"word table: the stress model split {word!r} into "
                                   f"{[w.text for w in line.words]}; pin silero-stress==1.5")
            stressed.append(line.words[0])
    if readings.lines:
        homographs = {w.text.lower(): (w.stress or 0, *w.alternatives) for w in stressed if w.alternatives}
        votes = reading_votes(texts, stresser, homographs, lines_per_word=readings.lines)
        for i, w in enumerate(stressed):
            if w.alternatives:
                kept = settle_readings(homographs[w.text.lower()], votes[w.text.lower()], readings)
                stressed[i] = replace(w, stress=kept[0], alternatives=kept[1:])
    token_ids = _spelling_tokens(words, tokenizer)
    entries = [_entry(word, counts[word], w, lemmas(word), toks)
               for word, w, toks in zip(words, stressed, token_ids, strict=True)]
    return WordTable(tuple(entries), getattr(tokenizer, "name_or_path", type(tokenizer).__name__))


def _entry(word: str, count: int, stressed: Word, lemmas: tuple[str, ...],
           tokens: tuple[tuple[int, ...], ...]) -> WordEntry:
    n = count_syllables(word)
    stresses: tuple[int | None, ...] = (None,) if n == 0 else (stressed.stress or 0, *stressed.alternatives)
    keys, classes = [], []
    for s in stresses:
        if s is None:
            keys.append("")
            classes.append("")
            continue
        ending = word_ending(word, n, s)
        keys.append(ending.key)
        classes.append(rhyme_class(ending.phones))
    return WordEntry(word, count, n, stresses, tuple(keys), tuple(classes), lemmas or (word,), tokens)


def _spelling_tokens(words: Sequence[str], tokenizer: Any) -> list[tuple[tuple[int, ...], ...]]:
    spelled = {"space": [" " + w for w in words], "bare": list(words),
               "space_cap": [" " + w[:1].upper() + w[1:] for w in words],
               "bare_cap": [w[:1].upper() + w[1:] for w in words]}
    ids = {k: tokenizer(v, add_special_tokens=False)["input_ids"] for k, v in spelled.items()}
    return [tuple(tuple(ids[k][i]) for k in SPELLINGS) for i in range(len(words))]


def table_to_dict(table: WordTable) -> dict:
    return {"format": FORMAT_VERSION, "tokenizer": table.tokenizer_name, "spellings": list(SPELLINGS),
            "entries": [[e.text, e.count, e.n_syllables, list(e.stresses), list(e.rhyme_keys),
                         list(e.rhyme_classes), list(e.lemmas), [list(t) for t in e.tokens]]
                        for e in table.entries]}


def table_from_dict(data: dict) -> WordTable:
    if data.get("format") != FORMAT_VERSION or data.get("spellings") != list(SPELLINGS):
        raise ValueError(f"word table: format {data.get('format')!r} with spellings {data.get('spellings')!r}; "
                         f"this code reads format {FORMAT_VERSION} with {list(SPELLINGS)}: rebuild the table")
    entries = tuple(WordEntry(t, c, n, tuple(s), tuple(k), tuple(cl), tuple(lm), tuple(tuple(x) for x in tok))
                    for t, c, n, s, k, cl, lm, tok in data["entries"])
    return WordTable(entries, data["tokenizer"])


def save_table(table: WordTable, path: str | Path) -> None:
    """Compact JSON, written atomically (a table of the whole corpus is a few MB)."""
    with atomic_open(path) as fh:
        json.dump(table_to_dict(table), fh, ensure_ascii=False, separators=(",", ":"))


def load_table(path: str | Path) -> WordTable:
    with open(path, encoding="utf-8") as fh:
        return table_from_dict(json.load(fh))


def corpus_coverage(table: WordTable, texts: Iterable[str]) -> float:
    """Share of the texts' word occurrences (`TABLE_WORD`, hyphenated words apart) whose
    form is in the table: how much of the corpus the decoder can write."""
    counts = corpus_words(texts)
    total = sum(counts.values())
    if total == 0:
        raise ValueError("word table: no Russian word forms in the texts; check the corpus input")
    return sum(n for w, n in counts.items() if table.get(w) is not None) / total
