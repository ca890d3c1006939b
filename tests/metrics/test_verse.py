"""The verse rule under which p_author applies: prose, lists and dialogues are refused,
rhymed or metrical verse passes. Forms are given as stored annotations (no stress model)."""

from qwen_qlora.metrics.non_verse import CHECK_SET
from qwen_qlora.metrics.verse import VerseRule

RHYMED = {"meter": "iamb", "regularity": 1.0, "rhyme_rate": 1.0}
UNRHYMED_METRICAL = {"meter": "dolnik", "regularity": 1.0, "rhyme_rate": 0.0}
LOOSE = {"meter": "taktovik", "regularity": 1.0, "rhyme_rate": 0.0}
QUATRAIN = "Горит свеча в пустой гостиной,\nи тени ходят по стене.\nЯ жду тебя зимой старинной,\nи ты не пишешь мне."


def test_rhymed_short_lines_are_verse():
    assert VerseRule().why_not(QUATRAIN, RHYMED) is None
    assert VerseRule().applies(QUATRAIN, RHYMED)


def test_prose_is_refused_whatever_its_scan_says():
    paragraph = " ".join(QUATRAIN.split("\n")) + " " + " ".join(QUATRAIN.split("\n"))
    assert VerseRule().why_not(paragraph, RHYMED) == "prose"
    long_line = QUATRAIN + "\n" + "слово " * 40
    assert VerseRule().why_not(long_line, RHYMED) == "prose"


def test_lists_and_dialogues_are_refused():
    shopping = "Купить:\n1. хлеб\n2. молоко\n3. сыр\n4. яблоки"
    talk = "— Ты придёшь?\n— Приду.\n— Когда?\n— Вечером.\nХорошо."
    assert VerseRule().why_not(shopping, RHYMED) == "list_or_dialogue"
    assert VerseRule().why_not(talk, RHYMED) == "list_or_dialogue"
    # a poem with one dash-led line of four is still a poem
    assert VerseRule().why_not("— " + QUATRAIN, RHYMED) is None


def test_unrhymed_verse_needs_a_meter_over_enough_lines():
    four = QUATRAIN
    five = QUATRAIN + "\nи снег идёт над старым садом."
    assert VerseRule().why_not(four, UNRHYMED_METRICAL) == "no_rhyme_or_meter"
    assert VerseRule().why_not(five, UNRHYMED_METRICAL) is None
    assert VerseRule().why_not(five, LOOSE) == "no_rhyme_or_meter"   # the taktovik fits prose too
    assert VerseRule().why_not(five, {**UNRHYMED_METRICAL, "regularity": 0.6}) == "no_rhyme_or_meter"
    assert VerseRule(min_unrhymed_lines=4).why_not(four, UNRHYMED_METRICAL) is None


def test_too_few_lines_and_empty_texts_are_refused():
    assert VerseRule().why_not("Горит свеча.\nИ тени ходят.", RHYMED) == "too_few_lines"
    assert VerseRule().why_not("", RHYMED) == "too_few_lines"


def test_the_layout_alone_refuses_the_check_sets_prose_lists_with_marks_and_dialogues():
    """Even with the most verse-like scan (rhymed, regular), every prose paragraph, every
    dialogue and every list with marks is refused by layout; what is left (a list without
    marks, short notices and letters) is left to the scan."""
    refused = {kind: [VerseRule().why_not(text, RHYMED) for k, text in CHECK_SET if k == kind]
               for kind in dict.fromkeys(k for k, _ in CHECK_SET)}
    assert set(refused["prose"]) == {"prose"}
    assert set(refused["dialogue"]) == {"list_or_dialogue"}
    assert refused["list"].count("list_or_dialogue") == len(refused["list"]) - 1
    assert all(why in (None, "prose", "list_or_dialogue") for why in refused["notice_or_letter"])


def test_the_rule_describes_itself_with_its_thresholds():
    rule = VerseRule(min_lines=6)
    assert "at least 6 lines" in rule.describe() and rule.as_dict()["min_lines"] == 6
