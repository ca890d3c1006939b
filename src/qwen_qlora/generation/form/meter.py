"""The meter automaton: which word shapes may follow in a verse line of a given meter.

A word's shape is (syllables, stressed syllable); a line is built word by word, and the
automaton's state is where the line stands in its syllable pattern. The rules are those
of the scanner (`metrics.meter`), so a line the automaton ends is one the scanner fits:

- syllabo-tonic meters (iamb, trochee, dactyl, amphibrach, anapest) with N feet: the
  stressed syllable of a word of two or more syllables lands on a strong position
  (rupo's rule; the anapest also allows its first syllable); monosyllables go anywhere;
  ternary meters leave at most one strong position covered by an unstressed syllable;
- the dolnik with N ictuses: stresses of polysyllables one or two syllables apart, up
  to two syllables before the first; monosyllables are taken as unstressed; and the
  line has both a one- and a two-syllable interval (not counting one after a stress on
  the first syllable), so it fits no syllabo-tonic meter and the scanner calls it dolnik;
- a line ends only on its last word, whose stress is the line's N-th ictus, followed by
  the clausula's unstressed syllables (0 masculine, 1 feminine, 2 dactylic).
Words without vowels ("в", "с") keep the state. Line-final monosyllables are stressed,
as the scanner reads them.

    line = line_automaton("iamb", feet=4, clausula=1)
    s = line.start(); s = line.step(s, 2, 1)    # "весна́"
    line.ends(s, 2, 0) ...                        # may "зи́мы" close the line here?
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from qwen_qlora.metrics.meter import CLASSICAL

Shape = tuple[int, int | None]   # (syllables, stressed syllable; None without vowels)
State = tuple


@dataclass(frozen=True)
class ClassicalLine:
    """A syllabo-tonic line: state (position, omitted strong positions)."""

    period: int
    offset: int
    feet: int
    clausula: int

    @property
    def last_ictus(self) -> int:
        return self.offset + self.period * (self.feet - 1)

    def _strong(self, i: int) -> bool:
        return i >= self.offset and (i - self.offset) % self.period == 0

    def _may_stress(self, i: int) -> bool:
        return self._strong(i) or (self.period == 3 and self.offset == 2 and i == 0)

    def _omitted(self, start: int, n: int, stress: int) -> int:
        if n < 2 or self.period == 2:
            return 0
        return sum(self._strong(start + j) for j in range(n) if j != stress)

    def start(self) -> State:
        return (0, 0)

    def step(self, state: State, n: int, stress: int | None) -> State | None:
        """The state after a word that does not end the line, or None if it may not stand here."""
        pos, omitted = state
        if n == 0:
            return state
        if pos + n > self.last_ictus:
            return None
        if n >= 2 and not self._may_stress(pos + stress):
            return None
        omitted += self._omitted(pos, n, stress)
        return None if omitted > 1 and self.period == 3 else (pos + n, omitted)

    def ends(self, state: State, n: int, stress: int | None) -> bool:
        """May this word close the line from `state`?"""
        pos, omitted = state
        if n == 0 or n - 1 - stress != self.clausula or pos + stress != self.last_ictus:
            return False
        return self.period == 2 or omitted + self._omitted(pos, n, stress) <= 1


@dataclass(frozen=True)
class DolnikLine:
    """A dolnik line: state (syllables since the last stress, or since the start;
    ictuses so far; stress position of the last ictus (None before the first); position;
    seen a one-syllable interval not after position 0; seen a two-syllable interval)."""

    feet: int
    clausula: int

    def start(self) -> State:
        return (0, 0, None, 0, False, False)

    def _stress(self, state: State, gap: int) -> tuple[int, bool, bool] | None:
        """(ictuses, one-interval, two-interval) after a stress `gap` syllables after the last."""
        _, ictus, last, _, one, two = state
        if last is None:
            return (1, one, two) if gap <= 2 else None
        if gap not in (1, 2):
            return None
        return ictus + 1, one or (gap == 1 and last != 0), two or gap == 2

    def step(self, state: State, n: int, stress: int | None) -> State | None:
        run, ictus, last, pos, one, two = state
        if n == 0:
            return state
        if n == 1:
            return None if run + 1 > 2 else (run + 1, ictus, last, pos + 1, one, two)
        hit = self._stress(state, run + stress)
        if hit is None or hit[0] >= self.feet or n - 1 - stress > 2:
            return None
        return (n - 1 - stress, hit[0], pos + stress, pos + n, hit[1], hit[2])

    def ends(self, state: State, n: int, stress: int | None) -> bool:
        run = state[0]
        if n == 0 or n - 1 - stress != self.clausula:
            return False
        hit = self._stress(state, run + stress)
        return hit is not None and hit[0] == self.feet and hit[1] and hit[2]


LineAutomaton = ClassicalLine | DolnikLine


def line_automaton(meter: str, feet: int, clausula: int) -> LineAutomaton:
    """The automaton of one line: a meter of `METERS` (syllabo-tonic or "dolnik"), its
    foot (ictus) count and clausula (unstressed syllables after the last stress)."""
    if feet < 1 or clausula not in (0, 1, 2):
        raise ValueError(f"meter: feet must be >= 1 and clausula 0, 1 or 2; got {feet}, {clausula}")
    if meter in CLASSICAL:
        return ClassicalLine(*CLASSICAL[meter], feet, clausula)
    if meter == "dolnik":
        if feet < 3:
            raise ValueError("meter: a dolnik line needs 3+ ictuses to have both intervals")
        return DolnikLine(feet, clausula)
    raise ValueError(f"meter: the form decoder writes {(*CLASSICAL, 'dolnik')}, not {meter!r}")


def live_states(line: LineAutomaton, shapes: Iterable[Shape], final_shapes: Iterable[Shape]):
    """A predicate on states: can the line still be ended from here, with words of
    `shapes` and a last word of `final_shapes`? (The decoder admits a word only when it
    leads to a live state, so a line never runs into a dead end of the meter.)"""
    shapes = tuple(sorted({s for s in shapes if s[0] > 0}))
    final_shapes = tuple(sorted(set(final_shapes)))

    @cache
    def live(state: State) -> bool:
        if any(line.ends(state, n, s) for n, s in final_shapes):
            return True
        return any(nxt is not None and live(nxt) for nxt in (line.step(state, n, s) for n, s in shapes))

    return live
