from __future__ import annotations

import pytest

from qwen_qlora.generation.form.rhyme import RhymeIndex, plan_lines
from qwen_qlora.metrics.rhyme import endings_rhyme


def test_plans_pair_lines_by_scheme_and_alternate_clausulas():
    plans = plan_lines("ABAB", 2)
    assert [p.partner for p in plans] == [None, None, 0, 1, None, None, 4, 5]
    assert [p.opens for p in plans[:4]] == [True, True, False, False]
    assert [p.clausula for p in plans[:4]] == [1, 0, 1, 0]
    assert [p.last_in_stanza for p in plans] == [False, False, False, True] * 2
    assert plans[-1].last_in_poem and not plans[3].last_in_poem
    assert [p.partner for p in plan_lines("ABBA", 1)] == [None, None, 1, 0]
    assert [p.opens for p in plan_lines("ABCB", 1)] == [False, True, False, False]


def test_plans_refuse_unknown_schemes_and_non_quatrains():
    with pytest.raises(ValueError, match="scheme"):
        plan_lines("ABC", 1)
    with pytest.raises(ValueError, match="quatrain"):
        plan_lines("ABAB", 1, stanza_lines=3)


def test_partner_line_ends_on_a_rhyme_of_another_lemma(toy_table):
    index, plans = RhymeIndex(toy_table), plan_lines("ABAB", 2)
    star = (toy_table.index("звезда"), 0)
    ends = {0: (toy_table.index("дорога"), 0), 1: star, 2: (toy_table.index("порога"), 0)}
    words = {toy_table.entries[i].text for i, _ in index.final_candidates(plans[3], ends, plans)}
    assert words == {"вода", "всегда", "беда"}   # never звезда itself
    for w in words:
        assert endings_rhyme(index.ending(star), index.ending((toy_table.index(w), 0)))


def test_no_lemma_ends_two_lines(toy_table):
    index, plans = RhymeIndex(toy_table), plan_lines("ABAB", 2)
    ends = {0: (toy_table.index("дорога"), 0), 1: (toy_table.index("звезда"), 0),
            2: (toy_table.index("тревога"), 0), 3: (toy_table.index("вода"), 0)}
    opener = {toy_table.entries[i].text for i, _ in index.final_candidates(plans[5], ends, plans)}
    assert "звездой" not in opener and "водой" not in opener and "беда" in opener
    assert "нет" in opener and "мой" not in opener      # мой has no rhyme in the table


def test_openers_need_a_rhyme_left_and_bans_hold(toy_table):
    index, plans = RhymeIndex(toy_table), plan_lines("AABB", 1)
    first = {toy_table.entries[i].text for i, _ in index.final_candidates(plans[0], {}, plans)}
    assert {"тобою", "печали", "порога"} <= first and "тихо" not in first
    banned = frozenset({(toy_table.index("тобою"), 0)})
    again = {toy_table.entries[i].text for i, _ in index.final_candidates(plans[0], {}, plans, banned)}
    assert again == first - {"тобою"}


def test_abcb_keeps_its_unrhymed_lines_apart(toy_table):
    index, plans = RhymeIndex(toy_table), plan_lines("ABCB", 1)
    ends = {0: (toy_table.index("весною"), 0), 1: (toy_table.index("звезда"), 0)}
    third = {toy_table.entries[i].text for i, _ in index.final_candidates(plans[2], ends, plans)}
    assert third and not third & {"тобою", "луною", "волною"}


def test_words_that_lean_on_the_next_never_end_a_line_and_rare_words_can_be_kept_off(toy_table):
    from qwen_qlora.generation.form.rhyme import RhymeIndex

    ends = {toy_table.entries[i].text for i, _ in RhymeIndex(toy_table).by_clausula[0]}
    assert {"ночь", "звезда"} <= ends and not ends & {"и", "в", "с"}
    assert not RhymeIndex(toy_table, min_count=1000).by_clausula[0]
