"""Known-word share: what is judged, how hyphens, ё, names and numbers count, the summary."""

import pytest

from qwen_qlora.metrics.fluency import (fluency_summary, is_known, known_word_share, load_morph,
                                        text_fluency, top_unknown_words)

# Toy verses written for these tests; "уильнях" and "нескользнуло" are invented words.
REAL = "Горит свеча в пустой светлице,\nИ ночь длинна."
INVENTED = "Охрустать уильнях не могу,\nНескользнуло в синем снегу."


@pytest.fixture(scope="module")
def morph():
    return load_morph()


def test_real_verse_is_fully_known(morph):
    record = text_fluency(REAL, morph)
    assert record["n_words"] == 8
    assert record["n_known"] == 8
    assert record["known_word_share"] == 1.0
    assert record["unknown_words"] == []


def test_invented_words_are_unknown_and_listed_in_order(morph):
    record = text_fluency(INVENTED, morph)
    assert record["unknown_words"] == ["охрустать", "уильнях", "нескользнуло"]
    assert record["n_words"] == 8
    assert record["known_word_share"] == pytest.approx(5 / 8)


def test_yo_is_folded_and_still_known(morph):
    record = text_fluency("Зелёная ёлка.\nЗеленая елка.", morph)
    assert record["n_known"] == record["n_words"] == 4


def test_hyphenated_word_known_whole_or_by_parts_unknown_with_an_invented_part(morph):
    assert is_known("кто-то", morph)
    assert is_known("пойду-ка", morph)  # not in the dictionary whole; both parts are
    assert not morph.word_is_known("пойду-ка")
    assert not is_known("ночь-уильнях", morph)
    record = text_fluency("Кто-то пришёл, пойду-ка я.", morph)
    assert record["n_words"] == 4 and record["n_known"] == 4


def test_names_inside_a_sentence_numbers_and_foreign_words_are_not_judged(morph):
    # Слепнево is a real village missing from the dictionary: a mid-line capital skips it.
    record = text_fluency("Я еду в Слепнево опять,\nИ the ветер 1913 года.", morph)
    assert record["n_names"] == 1
    assert record["n_foreign"] == 1
    assert record["n_numbers"] == 1
    assert record["unknown_words"] == []
    assert record["n_words"] == 7


def test_capital_after_a_full_stop_or_at_line_start_is_judged(morph):
    record = text_fluency("Уильнях. Уильнях шёл,\nУильнях", morph)
    assert record["n_names"] == 0
    assert record["unknown_words"] == ["уильнях"] * 3


def test_a_latin_look_alike_letter_makes_the_word_unknown(morph):
    record = text_fluency("Всe спят", morph)  # Latin "e" at the end
    assert record["unknown_words"] == ["всe"]


def test_letterless_lines_are_not_verse(morph):
    record = text_fluency("* * *\nГорит свеча\n1913", morph)
    assert record["n_words"] == 2 and record["n_numbers"] == 0


def test_known_word_share_per_text_and_pooled(morph):
    result = known_word_share([REAL, INVENTED, "1913"], morph)
    assert result["per_text"] == [1.0, pytest.approx(5 / 8), None]
    assert result["pooled"] == pytest.approx(13 / 16)


def test_summary_pools_with_an_interval_over_texts(morph):
    records = [text_fluency(t, morph) for t in [REAL] * 10 + [INVENTED] * 10]
    summary = fluency_summary(records, seed=0)
    assert summary["n_texts"] == 20 and summary["n_words"] == 160
    assert summary["known_word_share"] == pytest.approx(130 / 160, abs=1e-4)
    assert summary["known_word_share_ci_low"] < summary["known_word_share"] < summary["known_word_share_ci_high"]
    assert 0.6 < summary["known_word_share_ci_low"] and summary["known_word_share_ci_high"] < 1.0
    assert summary["n_unknown_words"] == 30
    assert fluency_summary(records, seed=0) == summary


def test_summary_of_texts_without_words_and_of_nothing(morph):
    assert fluency_summary([text_fluency("1913", morph)])["known_word_share"] is None
    with pytest.raises(ValueError, match="no texts"):
        fluency_summary([])


def test_top_unknown_words_by_count(morph):
    records = [text_fluency(t, morph) for t in [INVENTED, "Уильнях, уильнях!", REAL]]
    assert top_unknown_words(records, 2) == [("уильнях", 3), ("охрустать", 1)]


def test_adjective_noun_agreement(morph):
    from qwen_qlora.metrics.fluency import agrees

    assert agrees("красная", "роза", morph)
    assert agrees("белой", "ночью", morph)
    assert agrees("сиротливый", "сирота", morph)  # common gender noun
    assert not agrees("красный", "роза", morph)
    assert not agrees("белые", "ночь", morph)
    assert not agrees("синем", "рукой", morph)


def test_disagreeing_pairs_are_found_only_between_adjacent_unambiguous_words(morph):
    record = text_fluency("Белый ночь светла,\nБелая ночь, синем рукой.", morph)
    assert record["n_adj_noun_pairs"] == 3
    assert record["disagreeing_pairs"] == ["белый ночь", "синем рукой"]
    # punctuation between, a paucal numeral before, a first word that may be a noun
    # (красный: also a Red Army man), a number: not judged
    record = text_fluency("Лес тёмный, ночь.\nДва тёмных леса.\nКрасный роза.\nНа 9-е января.", morph)
    assert record["n_adj_noun_pairs"] == 0
    assert record["disagreeing_pairs"] == []


def test_summary_carries_the_disagreeing_pair_share(morph):
    records = [text_fluency(t, morph) for t in ["Тёмный лес.", "Тёмная лес."] * 5]
    summary = fluency_summary(records, seed=0)
    assert summary["n_adj_noun_pairs"] == 10
    assert summary["disagreeing_pair_share"] == 0.5
    assert summary["disagreeing_pair_share_ci_low"] < 0.5 < summary["disagreeing_pair_share_ci_high"]
    assert fluency_summary([text_fluency("Горит свеча.", morph)])["disagreeing_pair_share"] is None
    assert top_unknown_words(records, 1, "disagreeing_pairs") == [("темная лес", 5)]
