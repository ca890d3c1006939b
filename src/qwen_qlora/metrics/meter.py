"""Meter of a poem from its lines' stress patterns.

A line fits a syllabo-tonic meter (iamb, trochee, dactyl, amphibrach, anapest) when
every polysyllabic stress ('+') and the line's final stress fall on strong positions
(ictuses; the anapest also tolerates a stress on its first syllable); monosyllables
('?') may sit anywhere, and strong positions may go unstressed
(freely in binary meters, at most once per line in ternary ones, as in Russian practice).
A line fits the dolnik when the intervals between its stresses are one or two
syllables (one omitted ictus allowed), the taktovik when they are one to three.

The poem's meter is the most specific form that fits nearly as many lines as the best
fitting one (syllabo-tonic before dolnik before taktovik, see `CLASSICAL_SHARE`): a
dolnik accepts most amphibrach and many iambic lines too, so the raw maximum would
call almost everything dolnik. Regularity is the share of lines that fit the chosen
meter. Fewer than half the lines fitting anything gives "other".

`fit_stress_to_meter` is scansion's second pass: in a syllabo-tonic poem, words whose
stress is uncertain (homographs, guessed stresses, the rhyme word) take the stress the
meter asks for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import product

from qwen_qlora.metrics.stress import StressedLine, last_stressed_word

# meter -> (period, offset of the first ictus)
CLASSICAL = {
    "iamb": (2, 1),
    "trochee": (2, 0),
    "dactyl": (3, 0),
    "amphibrach": (3, 1),
    "anapest": (3, 2),
}
METERS = (*CLASSICAL, "dolnik", "taktovik", "other")

# A syllabo-tonic meter wins over the dolnik (and the dolnik over the taktovik) when it
# fits at least this share of the lines the looser form fits: one stray line in a
# quatrain (3 of 4) keeps an iambic quatrain iambic, while a true dolnik, whose lines mix
# intervals of one and two syllables, fits any single ternary meter in far fewer lines.
CLASSICAL_SHARE = 0.75
MIN_REGULARITY = 0.5


@dataclass(frozen=True)
class LineFit:
    fits: bool
    feet: int = 0       # ictuses up to the final stress
    omitted: int = 0    # strong positions left unstressed


@dataclass(frozen=True)
class MeterResult:
    meter: str
    feet: int | None          # commonest foot (ictus) count among fitting lines
    regularity: float         # share of verse lines that fit `meter`
    n_lines: int
    line_fits: tuple[bool, ...]
    shares: dict[str, float]  # share of lines fitting each meter, for inspection


def fit_classical(pattern: str, last: int, period: int, offset: int) -> LineFit:
    """Does a '+/-/?' pattern with its final stress at `last` fit this meter?"""
    strong = list(range(offset, last + 1, period))
    if last < offset or (last - offset) % period:
        return LineFit(False)
    for i, mark in enumerate(pattern[: last + 1]):
        # the anapest tolerates a stress on its first syllable ("Сжа́ла ру́ки под тёмной
        # вуа́лью"): an extrametrical stress on the anacrusis, common in Russian verse
        hypermetric = period == 3 and offset == 2 and i == 0
        if mark == "+" and (i < offset or (i - offset) % period) and not hypermetric:
            return LineFit(False)
    omitted = sum(pattern[i] == "-" for i in strong)
    if period == 3 and omitted > 1:
        return LineFit(False)
    return LineFit(True, len(strong), omitted)


def fit_accentual(pattern: str, last: int, max_interval: int, max_omitted: int = 1) -> LineFit:
    """Does the pattern fit an accentual verse whose stresses are 1..max_interval
    syllables apart (an interval of a + 1 + b with a, b in that range counts as one
    omitted ictus)? Monosyllables are taken as stressed or not, whichever fits."""
    head = pattern[: last + 1]
    must = [i for i, m in enumerate(head) if m == "+"] + [last]
    may = {i for i, m in enumerate(head) if m == "?"}
    candidates = sorted(set(must) | may)
    must_set = set(must)
    # best[i] = (fewest omissions, ictuses) for a stress chain ending at candidate i
    best: dict[int, tuple[int, int]] = {}
    for i in candidates:
        options = []
        if not any(j < i for j in must_set):
            if i <= max_interval:
                options.append((0, 1))
            elif i <= 2 * max_interval + 1 and max_omitted:
                options.append((1, 2))
        for j, (om, ict) in best.items():
            if j >= i or any(j < k < i for k in must_set):
                continue
            gap = i - j - 1
            if 1 <= gap <= max_interval:
                options.append((om, ict + 1))
            elif max_interval + 1 <= gap <= 2 * max_interval + 1 and om < max_omitted:
                options.append((om + 1, ict + 2))
        if options:
            best[i] = min(options)
    if last not in best:
        return LineFit(False)
    om, ict = best[last]
    return LineFit(True, ict, om)


def fit_line(line: StressedLine, meter: str) -> LineFit:
    last = line.last_stress
    if last is None:
        return LineFit(False)
    pattern = line.pattern
    if meter in CLASSICAL:
        return fit_classical(pattern, last, *CLASSICAL[meter])
    if meter == "dolnik":
        return fit_accentual(pattern, last, 2)
    if meter == "taktovik":
        return fit_accentual(pattern, last, 3)
    raise ValueError(f"meter: unknown meter {meter!r}; choose one of {METERS[:-1]}")


def verse_lines(lines: Sequence[StressedLine]) -> list[StressedLine]:
    """Lines with at least two syllables (headings like '* * *' or 'I' drop out)."""
    return [ln for ln in lines if ln.n_syllables >= 2]


def classify_meter(lines: Sequence[StressedLine]) -> MeterResult:
    verse = verse_lines(lines)
    if not verse:
        return MeterResult("other", None, 0.0, 0, (), {m: 0.0 for m in METERS[:-1]})
    fits = {m: [fit_line(ln, m) for ln in verse] for m in METERS[:-1]}
    counts = {m: sum(f.fits for f in fs) for m, fs in fits.items()}
    omitted = {m: sum(f.omitted for f in fs if f.fits) for m, fs in fits.items()}
    classical = max(CLASSICAL, key=lambda m: (counts[m], -omitted[m]))
    chosen = "other"
    for meter in (classical, "dolnik", "taktovik"):
        loosest = max(counts[meter], counts["dolnik"], counts["taktovik"])
        if counts[meter] < MIN_REGULARITY * len(verse):
            continue
        if counts[meter] >= CLASSICAL_SHARE * loosest:
            chosen = meter
            break
    n = len(verse)
    shares = {m: counts[m] / n for m in counts}
    if chosen == "other":
        return MeterResult("other", None, max(shares.values()), n, (False,) * n, shares)
    feet = Counter(f.feet for f in fits[chosen] if f.fits).most_common(1)[0][0]
    return MeterResult(chosen, feet, shares[chosen], n,
                       tuple(f.fits for f in fits[chosen]), shares)


# a line tries at most this many stress combinations of its uncertain words
MAX_COMBINATIONS = 64
# stresses the scansion pass may revise: a stress source's own reading (silero's model, or
# the cross-check's dictionary, `metrics.dictionary_stress`) and the fallback's guess;
# a stress marked in the text stays
REVISABLE_SOURCES = frozenset({"model", "dictionary", "heuristic"})
# the stress pass trusts a syllabo-tonic meter that fits at least this share of the
# lines once uncertain stresses may move (a dolnik's lines fit a ternary meter in
# far fewer, so its stresses are left alone)
REFIT_SHARE = 0.8


def fit_stress_to_meter(lines: Sequence[StressedLine]) -> list[StressedLine]:
    """Scansion's second pass: give the words whose stress is uncertain the stress the
    poem's meter asks for, as a reader of verse (and scansion tools) would. Uncertain
    are a homograph's listed stresses ("му́ки" / "муки́"), a stress guessed by the
    fallback rule, and the line's last stressed word, where poets use the old or the
    poetic stress ("ска́ла", "приподняли́", "заложён") that the model does not know;
    the line must then take the shape of one of the poem's fitting lines: the same
    last stress position and the same number of syllables after it (a poem keeps its
    line lengths and clausulas). Monosyllables need no choice: they fit either way.

    The meter is the syllabo-tonic one that fits the most lines once uncertain words
    may move (on a tie, the one that fits the most as stressed); it must then fit
    `REFIT_SHARE` of the lines. Poems in no syllabo-tonic
    meter, and lines that fit as they are, keep their stress source's stresses. Returns the lines
    in order (blank and one-syllable lines untouched); a changed word has source
    "meter"."""
    out = list(lines)
    index = [i for i, ln in enumerate(lines) if ln.n_syllables >= 2]
    verse = [lines[i] for i in index]
    if not verse:
        return out
    best: tuple[tuple[int, int], list[StressedLine | None], tuple[int, int]] | None = None
    for period, offset in CLASSICAL.values():
        fitted = _refit_all(verse, period, offset)
        rank = (sum(f is not None for f in fitted),
                sum(f is ln for f, ln in zip(fitted, verse)))
        if best is None or rank > best[0]:
            best = (rank, fitted, (period, offset))
    (n_fit, _), fitted, meter = best
    if n_fit < REFIT_SHARE * len(verse):
        return out
    for i, f in zip(index, fitted):
        if f is not None:
            out[i] = _settle_rhyme_word(f, *meter)
    return out


def _settle_rhyme_word(line: StressedLine, period: int, offset: int) -> StressedLine:
    """The line without the rhyme word's other stresses (a homograph's) that break the
    meter it fits: "ре́ки" in a trochaic line is not "реки́", whatever rhymes nearby."""
    k = last_stressed_word(line.words)
    word = line.words[k] if k is not None else None
    if word is None or not word.alternatives:
        return line
    start = sum(w.n_syllables for w in line.words[:k])
    keep = []
    for alt in word.alternatives:
        pattern = list(line.pattern)
        pattern[start:start + word.n_syllables] = ["+" if j == alt else "-"
                                                  for j in range(word.n_syllables)]
        if fit_classical("".join(pattern), start + alt, period, offset).fits:
            keep.append(alt)
    words = list(line.words)
    words[k] = replace(word, alternatives=tuple(keep))
    return StressedLine(line.text, tuple(words))


def _refit_all(verse: Sequence[StressedLine], period: int,
               offset: int) -> list[StressedLine | None]:
    """Each line as it fits the meter (itself when it fits as stressed), or None."""
    fits = [fit_classical(ln.pattern, ln.last_stress, period, offset).fits for ln in verse]
    shapes = Counter(_shape(ln.n_syllables, ln.last_stress) for ln, ok in zip(verse, fits) if ok)
    return [ln if ok else _refit(ln, period, offset, shapes) for ln, ok in zip(verse, fits)]


def _shape(n_syllables: int, last: int) -> tuple[int, int]:
    """A line's last stress position and the number of syllables after it."""
    return last, n_syllables - last - 1


def _refit(line: StressedLine, period: int, offset: int, shapes: Counter) -> StressedLine | None:
    """The line with the fewest stress changes that fits the meter, or None."""
    last_word = last_stressed_word(line.words)
    starts, options, pos = [], [], 0
    for k, w in enumerate(line.words):
        starts.append(pos)
        pos += w.n_syllables
        if w.n_syllables < 2 or w.source not in REVISABLE_SOURCES:
            options.append((w.stress,))
        elif w.source == "heuristic" or k == last_word:
            options.append((w.stress, *(s for s in range(w.n_syllables) if s != w.stress)))
        else:
            options.append((w.stress, *w.alternatives))
    base = list(line.pattern)
    best = None
    for n, choice in enumerate(product(*options)):
        if n >= MAX_COMBINATIONS:
            break
        pattern = list(base)
        for w, start, s in zip(line.words, starts, choice):
            if w.n_syllables > 1 and s != w.stress:
                pattern[start:start + w.n_syllables] = ["+" if j == s else "-"
                                                        for j in range(w.n_syllables)]
        last = starts[last_word] + (choice[last_word] or 0)
        shape = _shape(line.n_syllables, last)
        if choice[last_word] != line.words[last_word].stress and shape not in shapes:
            continue
        if not fit_classical("".join(pattern), last, period, offset).fits:
            continue
        rank = (sum(s != w.stress for w, s in zip(line.words, choice)), -shapes[shape])
        if best is None or rank < best[0]:
            best = (rank, choice)
    if best is None:
        return None
    words = tuple(w if s == w.stress else replace(w, stress=s, source="meter", alternatives=())
                  for w, s in zip(line.words, best[1]))
    return StressedLine(line.text, words)
