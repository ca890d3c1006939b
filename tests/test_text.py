import pytest

from qwen_qlora.text import (
    is_verse_line,
    lines,
    ngrams,
    normalize,
    normalize_line,
    stanzas,
    verse_words,
    words,
)


def test_normalize_lowercases_folds_yo_and_drops_stress_marks():
    assert normalize("Ёлка ЗЕЛЁНАЯ") == "елка зеленая"
    assert normalize("доро\u0301га") == "дорога"
    assert normalize("ѐ") == "е"  # precomposed е with grave (a stress mark) is folded too


def test_normalize_keeps_short_i_and_composes_nfc():
    decomposed = "и\u0306ти"  # и + combining breve
    assert normalize(decomposed) == "йти"
    assert normalize("Мой край") == "мой край"


def test_normalize_drops_soft_hyphen_and_zero_width():
    assert normalize("сне\u00adга\u200b") == "снега"


def test_words_strip_punctuation_and_keep_hyphenated_words():
    assert words("Кто-то шёл, — и пел!.. «Да»") == ["кто-то", "шел", "и", "пел", "да"]
    assert words("…—!?") == []


def test_normalize_line_joins_tokens_with_one_space():
    assert normalize_line("  Ветер,   ве́тер — ЗЛОЙ!  ") == "ветер ветер злой"


def test_verse_lines_skip_blanks_separators_and_dates():
    text = "* * *\n\n  Первая строка  \nВторая\n\n1913\n"
    assert lines(text) == ["Первая строка", "Вторая"]
    assert not is_verse_line("* * *") and not is_verse_line("1913") and is_verse_line("Да")


def test_verse_words_exclude_dates():
    assert verse_words("Тихо в саду.\n\n1921") == ["тихо", "в", "саду"]


def test_stanzas_split_on_blank_and_letterless_lines():
    text = "а раз\nа два\n\n\nб раз\n* * *\nв раз\r\nв два\n   \n"
    assert stanzas(text) == [["а раз", "а два"], ["б раз"], ["в раз", "в два"]]
    assert stanzas("") == []


def test_ngrams_exact():
    assert ngrams(["а", "б", "в"], 2) == [("а", "б"), ("б", "в")]
    assert ngrams(["а"], 2) == []
    with pytest.raises(ValueError):
        ngrams(["а"], 0)
