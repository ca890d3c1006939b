"""The second stress source: Wiktionary's stress marks looked up word by word, unknown
words marked and counted, the scansion pass free to choose among a homograph's readings.
The verses are made up for the tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from fixtures.formed_verses import QUATRAIN

from qwen_qlora.metrics.dictionary_stress import (
    DictionaryStresser,
    load_dictionary_stresser,
    stress_table,
    unknown_words,
)
from qwen_qlora.metrics.poetics import analyse_lines


@pytest.fixture(scope="module")
def wiktionary():
    return load_dictionary_stresser()  # about 10 s and 1 GB while loading


def stresses(lines):
    return [(w.text, w.stress, w.source) for ln in lines for w in ln.words if w.n_syllables > 1]


def test_known_words_get_the_dictionary_stress(wiktionary):
    lines = wiktionary.stress_text(QUATRAIN)
    assert [ln.stressed_text for ln in lines] == [
        "Над ти́хой ре́чкой спит доро́га,", "и ве́тер го́нит облака́,",
        "а я стою́ здесь у поро́га,", "и жду тебя́ издалека́."]
    assert {source for _, _, source in stresses(lines)} == {"dictionary"}
    assert unknown_words(lines) == (0, 10)


def test_homographs_keep_their_other_readings_and_yo_shows_the_stress(wiktionary):
    (line,) = wiktionary.stress_text("Мне му́ки, звёзды, Москва")
    muki, zvezdy, moskva = (w for w in line.words if w.n_syllables > 1)
    assert (muki.stress, muki.source) == (0, "text")             # the mark in the text wins
    assert (zvezdy.stress, zvezdy.source) == (0, "dictionary")   # 'ё' carries it
    assert (moskva.stress, moskva.source) == (1, "dictionary")   # a name, capitalised in the dictionary
    (line,) = wiktionary.stress_text("муки замок")
    assert {(w.text, w.stress, w.alternatives) for w in line.words} == {("муки", 0, (1,)), ("замок", 1, (0,))}


def test_unknown_words_are_marked_not_taken_as_known(wiktionary):
    (line,) = wiktionary.stress_text("Бурлюкает глумень у дороги")
    assert stresses([line]) == [("Бурлюкает", 2, "heuristic"), ("глумень", 0, "heuristic"),
                                ("дороги", 1, "dictionary")]
    assert unknown_words([line]) == (2, 3)


def test_the_table_keeps_single_words_on_vowels_commonest_reading_first():
    entries = {
        "муки": [{"word_form": "муки", "stress_pos": [1]}, {"word_form": "муки", "stress_pos": [3]},
                 {"word_form": "муки", "stress_pos": [1]}],
        "звезды": [{"word_form": "звёзды", "stress_pos": [2]}, {"word_form": "звезды", "stress_pos": [5]}],
        "катарсис": [{"word_form": "катарсис", "stress_pos": [1, 4]}],   # 4 is a consonant
        "жук-носорог": [{"word_form": "жук-носорог", "stress_pos": [1, 10]}],
        "Волга": [{"word_form": "Волга", "stress_pos": [1]}],
        "все": [{"word_form": "все", "stress_pos": []}],
    }
    table = stress_table(entries)
    assert table == {"муки": (0, 1), "звезды": (0, 1), "катарсис": (0,), "Волга": (0,)}
    stresser = DictionaryStresser(table)
    assert stresser.readings("Звёзды") == (0, 1) and stresser.readings("волга") == (0,)


def test_the_scansion_pass_chooses_among_a_homographs_readings():
    table = {"сады": (1,), "морозы": (1,), "зимою": (1,), "стоят": (1,), "тихо": (0,), "дома": (0, 1),
             "лежит": (1,), "метель": (1,), "кружит": (1,), "луна": (1,), "бела": (1,)}
    poem = "Сады морозы жгут зимою,\nстоят и тихо спят дома,\nночами снег лежит стеною,\nметель кружит, луна бела."
    stressed = DictionaryStresser(table).stress_text(poem)
    assert stressed[1].words[-1].stress == 0                  # до́ма: the commonest reading first
    doma = analyse_lines(stressed).lines[1].words[-1]
    assert (doma.stress, doma.source) == (1, "meter")         # дома́, as the iamb and the rhyme ask
    assert unknown_words(stressed) == (2, 13)                 # ночами, стеною


def test_the_loader_reads_plain_data_and_refuses_code(tmp_path: Path):
    data = tmp_path / "wordforms.dat"
    data.write_bytes(pickle.dumps({"дома": [{"word_form": "дома", "stress_pos": [1]}]}))
    assert load_dictionary_stresser(data).table == {"дома": (0,)}
    data.write_bytes(pickle.dumps({"дома": Path("дома")}))
    with pytest.raises(pickle.UnpicklingError, match="plain data"):
        load_dictionary_stresser(data)
