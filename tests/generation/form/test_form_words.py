from __future__ import annotations

import pytest

from qwen_qlora.generation.form.words import (
    SPELLINGS,
    corpus_words,
    load_table,
    save_table,
    table_from_dict,
    table_to_dict,
    word_ending,
)
from qwen_qlora.metrics.rhyme import endings_rhyme


def test_corpus_words_counts_forms_and_leaves_out_hyphenated():
    counts = corpus_words(["Кто-то шёл, и шёл опять.", "ШЁЛ домой"])
    assert counts["шёл"] == 3 and counts["опять"] == 1 and counts["домой"] == 1
    assert "кто" not in counts and "то" not in counts


def test_entries_carry_stress_syllables_clausula_and_rhyme(toy_table):
    spring = toy_table.get("Весна")
    assert (spring.n_syllables, spring.stresses[0], spring.clausula()) == (2, 1, 0)
    assert toy_table.get("тихо").clausula() == 1
    assert toy_table.get("в").stresses == (None,) and toy_table.get("в").n_syllables == 0
    star, water, night = toy_table.get("звезда"), toy_table.get("вода"), toy_table.get("ночь")
    assert star.rhyme_keys[0] == water.rhyme_keys[0] != night.rhyme_keys[0]
    assert star.rhyme_classes[0] == water.rhyme_classes[0]
    assert endings_rhyme(word_ending("звезда", 2, 1), word_ending("вода", 2, 1))


def test_homographs_keep_every_stress(toy_table):
    road = toy_table.get("дорога")  # доро́га / дорога́: the stress model's dictionary lists both
    assert set(road.stresses) == {1, 2}
    assert len(road.rhyme_keys) == len(road.stresses) == len(road.rhyme_classes)


def test_words_outside_the_table_are_none(toy_table):
    assert toy_table.get("кто-то") is None and toy_table.get("слон") is None


def test_lemmas_from_pymorphy(toy_table):
    assert toy_table.get("звездой").shares_lemma(toy_table.get("звезда"))
    assert not toy_table.get("звездой").shares_lemma(toy_table.get("водой"))


def test_token_spellings_decode_to_the_word(toy_table, char_tok):
    entry = toy_table.get("тишина")
    spelled = dict(zip(SPELLINGS, entry.tokens))
    assert char_tok.decode(spelled["space"]) == " тишина"
    assert char_tok.decode(spelled["bare_cap"]) == "Тишина"
    assert char_tok.decode(spelled["space_cap"]) == " Тишина"


def test_save_and_load_round_trip(toy_table, tmp_path):
    save_table(toy_table, tmp_path / "table.json")
    again = load_table(tmp_path / "table.json")
    assert again.entries == toy_table.entries and again.tokenizer_name == toy_table.tokenizer_name


def test_a_table_of_another_format_is_refused(toy_table):
    data = table_to_dict(toy_table) | {"format": 0}
    with pytest.raises(ValueError, match="rebuild the table"):
        table_from_dict(data)


def test_no_words_is_an_error(stresser, char_tok):
    from qwen_qlora.generation.form.words import build_word_table

    with pytest.raises(ValueError, match="no Russian word forms"):
        build_word_table(["123 abc"], stresser, char_tok)


def test_vowelless_forms_other_than_prepositions_are_left_out(stresser, char_tok):
    from qwen_qlora.generation.form.words import build_word_table

    table = build_word_table(["А. Т. шёл в сад с братом, т"], stresser, char_tok)
    assert table.get("в") is not None and table.get("с") is not None
    assert table.get("т") is None and table.get("шёл") is not None


def test_corpus_coverage_counts_word_occurrences_in_the_table(toy_table):
    from qwen_qlora.generation.form.words import corpus_coverage

    # "ночь" twice and "зюзя" (not in the table) once: 2 of 3 occurrences covered
    assert corpus_coverage(toy_table, ["Ночь, ночь, зюзя"]) == 2 / 3


# Iambic lines written for the test, each with "уже" (уже́ / у́же) and "потом" (пото́м / по́том)
# where only the reader's reading keeps the iamb.
READ_LINES = "\n".join([
    "Уже́ темно, и сад молчит",        # the second syllable of "уже" on a strong place
    "Я знаю, что уже́ пора",
    "А мы уже́ не говорим",
    "Пото́м пришла ко мне зима",
    "И он пото́м ушёл домой",
    "Уже́ горят огни вдали",
]).replace("\u0301", "")


def test_a_line_votes_for_the_reading_that_alone_fits_a_meter(stresser):
    from qwen_qlora.generation.form.words import reading_votes

    votes = reading_votes([READ_LINES], stresser, {"уже": (0, 1), "потом": (0, 1)}, lines_per_word=10)
    assert votes["уже"][1] >= 3 and votes["уже"][0] == 0
    assert votes["потом"][1] >= 1 and votes["потом"][0] == 0
    capped = reading_votes([READ_LINES], stresser, {"уже": (0, 1)}, lines_per_word=1)
    assert sum(capped["уже"].values()) <= 1


def test_settling_keeps_readings_by_their_share_of_votes():
    from collections import Counter

    from qwen_qlora.generation.form.words import Readings, settle_readings

    rule = Readings(lines=30, min_votes=5, min_share=0.25)
    assert settle_readings((0, 1), Counter({1: 9, 0: 1}), rule) == (1,)       # "у́же" dropped
    assert settle_readings((0, 1), Counter({1: 6, 0: 4}), rule) == (1, 0)     # both read; commoner first
    assert settle_readings((0, 1), Counter({1: 3}), rule) == (0, 1)           # too few votes: all kept, as listed
    assert settle_readings((0, 1, 2), Counter({0: 3, 1: 3, 2: 3}), Readings(1, 1, 0.9)) == (0,)  # never empty


def test_the_table_drops_a_reading_its_lines_do_not_give(stresser, char_tok):
    from qwen_qlora.generation.form.words import Readings, build_word_table

    kept = build_word_table([READ_LINES], stresser, char_tok)
    settled = build_word_table([READ_LINES], stresser, char_tok, readings=Readings(lines=10, min_votes=3))
    assert set(kept.get("уже").stresses) == {0, 1}
    assert settled.get("уже").stresses == (1,)
    assert len(settled.get("уже").rhyme_keys) == 1
