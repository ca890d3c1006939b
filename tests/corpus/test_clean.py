"""Cleaning rules one by one, on toy strings."""

from qwen_qlora.config import CleanParams
from qwen_qlora.corpus.clean import (clean_record, clean_title, normalize_chars, reject_reason,
                                     repair_layout, split_dateline, split_heading, strip_boilerplate)

P = CleanParams()
VERSE = ["Над тихой речкой вечер синий,", "Качает ветер старый клён,",
         "И на траве белеет иней,", "И сад молчанием пленён."]


def raw(text, **kw):
    return {"source": "toy", "locator": "toy#0", "author": "akhmatova", "author_raw": "Анна Ахматова",
            "title": kw.pop("title", None), "year": kw.pop("year", None), "text": text, "meta": kw}


def test_stress_marks_soft_hyphens_zero_width_removed_nfc():
    s = "Мо\u0301й го\u00adлос\u200b и\u0301 йод ёлка"
    assert normalize_chars(s) == "Мой голос и йод ёлка"
    assert normalize_chars("и\u0306") == "й"


def test_title_suffixes_removed():
    assert clean_title("Белой ночью - Ахматова (стихи)", ("Ахматова",)) == "Белой ночью"
    assert clean_title("А ты думал - я тоже такая: Ахматова (стихи)", ("Ахматова",)) == "А ты думал - я тоже такая"
    assert clean_title("* * *") is None
    assert clean_title("ГОСТЬ") == "Гость"


def test_boilerplate_lines_dropped():
    lines = ["Анна Ахматова", "Анна Ахматова - стихи о любви", "Все книги автора: http://x.net/a",
             "www.example.ru/poem", VERSE[0] + "[1 - примечание]", VERSE[1]]
    assert strip_boilerplate(lines, ("Анна Ахматова",)) == VERSE[:2]


def test_trailing_date_becomes_year():
    for tail, year in [("1913", "1913"), ("Царское Село, 1911", "1911"), ("3 мая 1913", "1913"),
                       ("Между 15 и 25 августа 1921", "1921"), ("1909-1910", "1909")]:
        lines, got, dateline = split_dateline(VERSE + [tail])
        assert (lines, got, dateline) == (VERSE, year, tail), tail
    assert split_dateline(VERSE)[1] is None


def test_blank_line_after_every_line_collapsed_stanzas_kept():
    doubled = ["    " + v if i else v for i, v in enumerate(VERSE)]
    lines = []
    for v in doubled:
        lines += [v, ""]
    lines += ["    ", ""] + [x for v in VERSE for x in ("    " + v, "")]
    assert repair_layout(lines) == VERSE + [""] + VERSE


def test_normal_layout_keeps_single_blank_between_stanzas():
    assert repair_layout(["\t" + v for v in VERSE] + ["", "", ""] + VERSE) == VERSE + [""] + VERSE


def test_heading_line_title_dropped_dedication_kept():
    lines, ded = split_heading(["Речка", ""] + VERSE, "Речка")
    assert lines == VERSE and ded is None
    lines, ded = split_heading(["М. Л-скому", ""] + VERSE, "Речка")
    assert lines == VERSE and ded == "М. Л-скому"


def test_thresholds():
    assert reject_reason([], P) == "empty"
    assert reject_reason(VERSE[:2], P) == "stub"
    assert reject_reason(VERSE * 40, P) == "too_long"
    assert reject_reason(["Over the hills and far away we go"] * 4, P) == "not_russian"
    prose = ["Это длинная строка прозы, в которой нет никакого стихотворного ритма и много слов подряд, " * 2] * 4
    assert reject_reason(prose, P) == "prose"
    play = ["Моцарт.", VERSE[0], "Сальери.", VERSE[1], "Моцарт.", VERSE[2], "Сальери.", VERSE[3]]
    assert reject_reason(play, P) == "play"
    refrain = ["Ночь.", VERSE[0], VERSE[1], "Ночь.", VERSE[2], VERSE[3], "Тишина.", "Ночь."]
    assert reject_reason(refrain, P) is None, "a refrain or short sentences are not speaker cues"
    assert reject_reason(VERSE, P) is None


def test_clean_record_end_to_end():
    text = "\n" + "\n\n".join(["Анна Ахматова - стихи о любви"] + ["    " + v for v in VERSE]) + "\n\n    Царское Село, 1912\n"
    poem, reason = clean_record(raw(text, title="Речка - Ахматова (стихи)"), P)
    assert reason is None
    assert poem["text"] == "\n".join(VERSE)
    assert poem["year"] == "1912" and poem["title"] == "Речка"
    assert (poem["n_lines"], poem["n_stanzas"]) == (4, 1)


def test_clean_record_uses_book_trailing_date():
    poem, _ = clean_record(raw("\n".join(VERSE), trailing=["1915", "Анна Ахматова. Избранное. 1990."]), P)
    assert poem["year"] == "1915"
