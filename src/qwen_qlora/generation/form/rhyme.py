"""Rhyme planning: which words may end each line of a requested stanza form.

A form's lines are planned up front (`plan_lines`): each line knows the earlier line
it must rhyme with (its partner under the scheme), its clausula (rhymes of one letter
share one; by default the Russian habit of alternating feminine and masculine: letters
A and C feminine, B masculine) and whether it closes a stanza or the poem. When a line
starts, `final_candidates` lists the table words that may end it:

- a line whose partner is written ends on a word that rhymes with the partner's last
  word by the rhyme detector itself (`metrics.rhyme.endings_rhyme`);
- a line that opens a pair ends on a word that has a rhyme in the table: another word
  with the same exact ending and no lemma in common (so its partner line can close);
- no lemma ends two lines of a poem (no rhyme word repeated, no rhyme of a word with a
  form of itself: "ночь" / "ночи");
- a line never rhymes with an earlier line of its stanza that the scheme keeps apart
  (ABCB's A and C), so the scanner reads the requested scheme and no other;
- enclitics ("же", "ли") and personal pronouns never end a line: the scanner would
  read the stress before them, or a compound rhyme; nor do words that lean on the next
  word (`PROCLITICS`: prepositions, conjunctions, "не"), which leave a line hanging.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from qwen_qlora.generation.form.words import WordTable, word_ending
from qwen_qlora.generation.line_selection import PARTNERS
from qwen_qlora.metrics.rhyme import UNSTRESSED_PRONOUNS, Ending, endings_rhyme
from qwen_qlora.metrics.stress import ENCLITICS

# prepositions, conjunctions and negations: they lean on the word after them
PROCLITICS = frozenset({"не", "ни", "и", "а", "но", "да", "или", "в", "во", "на", "за", "по", "до", "из", "изо",
                        "от", "ото", "без", "под", "подо", "над", "при", "про", "со", "ко", "о", "об", "обо",
                        "у", "через", "для", "чтоб", "чтобы", "ль"})
Choice = tuple[int, int]   # (entry index in the table, index into its stresses)


@dataclass(frozen=True)
class LinePlan:
    index: int
    stanza: int
    letter: str               # the line's rhyme letter in its stanza ("" when unrhymed)
    partner: int | None       # index of the earlier line it rhymes with
    opens: bool               # a later line rhymes with this one
    clausula: int             # unstressed syllables after the last stress
    last_in_stanza: bool
    last_in_poem: bool


def plan_lines(scheme: str | None, n_stanzas: int, stanza_lines: int = 4,
               clausulas: tuple[int, int] = (1, 0)) -> list[LinePlan]:
    """The lines of `n_stanzas` stanzas under a quatrain scheme (ABAB, AABB, ABBA, ABCB;
    None: unrhymed). `clausulas`: for letters A and C, and for B (unrhymed lines
    alternate them)."""
    if scheme not in PARTNERS:
        raise ValueError(f"rhyme plan: scheme {scheme!r} is not one of {list(PARTNERS)}")
    if scheme is not None and stanza_lines != 4:
        raise ValueError(f"rhyme plan: scheme {scheme} is a quatrain scheme; got {stanza_lines}-line stanzas")
    if n_stanzas < 1 or stanza_lines < 1:
        raise ValueError("rhyme plan: n_stanzas and stanza_lines must be at least 1")
    partners = PARTNERS[scheme] if scheme else (None,) * stanza_lines
    out = []
    for st in range(n_stanzas):
        for j in range(stanza_lines):
            letter = scheme[j] if scheme else ""
            partner = partners[j]
            clausula = clausulas[(0 if letter in "AC" else 1) if letter else j % 2]
            opens = any(p == j for p in partners)
            out.append(LinePlan(st * stanza_lines + j, st, letter,
                                None if partner is None else st * stanza_lines + partner, opens, clausula,
                                j == stanza_lines - 1, st == n_stanzas - 1 and j == stanza_lines - 1))
    return out


class RhymeIndex:
    """The table's line-ending words by clausula, exact ending and rhyme class; words seen
    fewer than `min_count` times in the corpus never end a line (a rare form at the rhyme,
    where the choice is narrowest, is the likeliest to be a misspelling or a fragment)."""

    def __init__(self, table: WordTable, min_count: int = 1):
        self.table = table
        self._endings: dict[Choice, Ending] = {}
        self._rhymeable: dict[int, list[Choice]] = {}
        self.by_clausula: dict[int, list[Choice]] = defaultdict(list)
        self.by_key: dict[str, list[Choice]] = defaultdict(list)
        self.by_class: dict[str, list[Choice]] = defaultdict(list)
        for i, e in enumerate(table.entries):
            if e.n_syllables == 0 or e.text in ENCLITICS or e.text in UNSTRESSED_PRONOUNS or e.text in PROCLITICS \
                    or e.count < min_count:
                continue
            for k, _ in enumerate(e.stresses):
                self.by_clausula[e.clausula(k)].append((i, k))
                self.by_key[e.rhyme_keys[k]].append((i, k))
                self.by_class[e.rhyme_classes[k]].append((i, k))

    def ending(self, choice: Choice) -> Ending:
        """The rhyme detector's ending of a line-final word (cached per index)."""
        if choice not in self._endings:
            e = self.table.entries[choice[0]]
            self._endings[choice] = word_ending(e.text, e.n_syllables, e.stresses[choice[1]])
        return self._endings[choice]

    def _shares_lemma(self, a: int, b: int) -> bool:
        return self.table.entries[a].shares_lemma(self.table.entries[b])

    def _used(self, i: int, used_lemmas: set[str]) -> bool:
        return not used_lemmas.isdisjoint(self.table.entries[i].lemmas)

    def has_partner(self, choice: Choice, used_lemmas: set[str]) -> bool:
        """Is there a word with the same exact ending, of another lemma, not yet used?"""
        i, k = choice
        return any(j != i and not self._shares_lemma(i, j) and not self._used(j, used_lemmas)
                   for j, _ in self.by_key[self.table.entries[i].rhyme_keys[k]])

    def rhymeable(self, clausula: int) -> list[Choice]:
        """Words of this clausula that have a rhyme of another lemma in the table (cached)."""
        if clausula not in self._rhymeable:
            self._rhymeable[clausula] = [c for c in self.by_clausula[clausula] if self.has_partner(c, set())]
        return self._rhymeable[clausula]

    def final_candidates(self, plan: LinePlan, line_ends: dict[int, Choice], plans: list[LinePlan],
                         banned: frozenset[Choice] = frozenset()) -> list[Choice]:
        """The words that may end line `plan`, given the words ending the earlier lines
        (`line_ends`: line index -> choice) and choices ruled out by backtracking."""
        used = {lemma for c in line_ends.values() for lemma in self.table.entries[c[0]].lemmas}
        if plan.partner is not None:
            partner = line_ends[plan.partner]
            pool = [c for c in self.by_class[self.table.entries[partner[0]].rhyme_classes[partner[1]]]
                    if self.table.entries[c[0]].clausula(c[1]) == plan.clausula]
            rhymes = self._rhyme_test(self.ending(partner))
            pool = [c for c in pool if rhymes(c)]
        else:
            pool = self.rhymeable(plan.clausula) if plan.opens else self.by_clausula[plan.clausula]
        apart = [self._rhyme_test(self.ending(line_ends[p.index])) for p in plans
                 if p.stanza == plan.stanza and p.index < plan.index and p.letter != plan.letter
                 and p.index in line_ends]
        touched: dict[str, bool] = {}  # exact ending -> does a used lemma end on it?
        out = []
        for c in pool:
            if c in banned or self._used(c[0], used):
                continue
            if plan.opens and plan.partner is None:
                key = self.table.entries[c[0]].rhyme_keys[c[1]]
                if key not in touched:
                    touched[key] = any(self._used(j, used) for j, _ in self.by_key[key])
                if touched[key] and not self.has_partner(c, used):
                    continue
            if any(test(c) for test in apart):
                continue
            out.append(c)
        return out

    def _rhyme_test(self, target: Ending):
        """A predicate: does a choice's ending rhyme with `target`? Endings that sound
        alike (same phones, the same 'е'-for-'ё' doubt, the same support) are judged
        once; a word's rhyme with itself is ruled out by the lemma rule instead."""
        memo: dict[tuple, bool] = {}

        def test(c: Choice) -> bool:
            ending = self.ending(c)
            sound = (ending.phones, ending.maybe_yo, ending.support, ending.compound is None)
            if sound not in memo:
                memo[sound] = endings_rhyme(target, ending)
            return memo[sound]

        return test
