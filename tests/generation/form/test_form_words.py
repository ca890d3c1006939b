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
