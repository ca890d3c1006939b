"""Stress and syllables with the real silero-stress model (loaded once for the module)."""

import pytest
import torch

from types import SimpleNamespace

from qwen_qlora.metrics.stress import (ACUTE, Stresser, Word, count_syllables,
                                       heuristic_stress, homograph_stresses, load_stresser,
                                       mark_stress, parse_marked, parse_stressed)


@pytest.fixture(scope="module")
def stresser():
    before = torch.get_num_threads()
    torch.set_num_threads(2)                     # the suite runs on 1 thread; silero sets 1
    loaded = load_stresser()
    assert torch.get_num_threads() == 2          # silero's import set it to 1; we restore it
    assert torch.is_grad_enabled()               # its loading switched autograd off; restored
    torch.set_num_threads(before)
    return loaded


def test_words_get_model_stress(stresser):
    (line,) = stresser.stress_text("Мой дядя самых честных правил")
    assert [(w.text, w.stress, w.source) for w in line.words] == [
        ("Мой", 0, "mono"), ("дядя", 0, "model"), ("самых", 0, "model"),
        ("честных", 0, "model"), ("правил", 0, "model")]
    assert line.pattern == "?+-+-+-+-"
    assert line.last_stress == 7


def test_stress_on_later_syllables_and_yo(stresser):
    (line,) = stresser.stress_text("Окно, дорога, зелёный")
    assert [w.stress for w in line.words] == [1, 1, 1]
    assert line.stressed_text == "Окно́, доро́га, зелёный"      # ё shows its own stress


def test_words_glued_to_quotes_are_stressed_right(stresser):
    (line,) = stresser.stress_text("«Почему ты сегодня одна?»")
    assert line.words[0].stress == 2 and line.words[0].source == "model"


def test_stress_marks_in_the_text_win(stresser):
    (a,) = stresser.stress_text("Старинный за́мок")
    (b,) = stresser.stress_text("Старинный замо́к")
    assert (a.words[1].stress, a.words[1].source) == (0, "text")
    assert (b.words[1].stress, b.words[1].source) == (1, "text")
    assert ACUTE not in a.text


def test_lines_blank_lines_and_enclitics(stresser):
    lines = stresser.stress_text("Что же\n\nСказала что же")
    assert [len(ln.words) for ln in lines] == [2, 0, 3]
    assert lines[1].n_syllables == 0 and lines[1].last_stress is None
    assert lines[2].last_stress == 3        # "же" is unstressed: the stress is on "что"


def test_batched_equals_one_by_one(stresser):
    texts = ["Ветер дует над рекою", "", "Листья падают во мгле;\nИ луна над тишиною"]
    batched = stresser.stress_texts(texts)
    single = [stresser.stress_text(t) for t in texts]
    assert batched == single
    small = type(stresser)(stresser._accentor, batch_chars=10)   # forces one text per batch
    assert small.stress_texts(texts) == batched


def test_syllables_are_vowels():
    assert count_syllables("здравствуйте") == 3
    assert count_syllables("в") == 0
    assert Word("сад", 1, 0, "mono").n_syllables == 1


def test_heuristic_fallback():
    assert heuristic_stress("кабарда") == 1       # penultimate syllable
    assert heuristic_stress("ёлочка") == 0        # ё is always stressed
    assert heuristic_stress("приёмщица") == 1


def test_mark_stress():
    assert mark_stress("дорога", 1) == "доро́га"
    assert mark_stress("ёж", 0) == "ёж"


def test_misaligned_model_output_is_an_error():
    with pytest.raises(RuntimeError, match="pin silero-stress"):
        parse_marked("кот", "к+ит")


def test_parse_stressed_demands_marks():
    assert parse_stressed("Доро́га в сад")[0].pattern == "-+-?"
    with pytest.raises(ValueError, match="'дорога' has no stress mark"):
        parse_stressed("Сад и дорога")


def test_homographs_keep_their_other_stresses(stresser):
    (line,) = stresser.stress_text("С выраженьем надежды и муки")
    muki = line.words[-1]
    assert muki.source == "model" and set(muki.alternatives) | {muki.stress} == {0, 1}
    assert muki.stress not in muki.alternatives
    assert line.words[1].alternatives == ()                     # "выраженьем": one stress
    (marked,) = stresser.stress_text("С выраженьем надежды и му́ки")
    assert marked.words[-1].alternatives == ()                  # the text decided


def test_homograph_stresses_from_the_dictionary():
    fake = SimpleNamespace(homosolver=SimpleNamespace(homodict={
        "муки": ["м+уки", "мук+и"], "мел": ["м+ёл", "м+ел"], "замок": ["з+амок", "зам+ок"]}))
    assert homograph_stresses(fake) == {"муки": (0, 1), "замок": (0, 1)}   # мел: one vowel
    with pytest.raises(RuntimeError, match="homograph dictionary"):
        Stresser(SimpleNamespace())
    assert Stresser(SimpleNamespace(), homographs={}).homographs == {}
