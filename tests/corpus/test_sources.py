"""Each reader on fixtures that imitate its source's quirks (toy verses written for tests)."""

import json
from pathlib import Path

import pytest

from qwen_qlora.config import SourceParams, build
from qwen_qlora.corpus.authors import AuthorResolver
from qwen_qlora.corpus.scrape import scrape_source
from qwen_qlora.corpus.sources import READERS, SourceError, decode

VERSE = ["Над тихой речкой вечер синий,", "Качает ветер старый клён,",
         "И на траве белеет иней,", "И сад молчанием пленён."]


def source(**kw) -> SourceParams:
    return build(SourceParams, {"name": "toy", **kw}, "corpus.sources[toy]")


def test_markdown_dir_reads_title_author_year_and_keeps_text_raw(tmp_path):
    d = tmp_path / "poetry" / "akhmatova"
    d.mkdir(parents=True)
    body = "\n\n    ".join(VERSE)
    (d / "Над_тихой_речкой_-_Ахматова_стихи.md").write_text(
        f"# Над тихой речкой - Ахматова (стихи)\n\nАвтор: Анна Ахматова\n\nГод: 1912\n\n{body}\n",
        encoding="utf-8")
    recs, skipped = READERS["markdown_dir"](source(kind="markdown_dir", path="poetry", glob="*/*.md"), tmp_path)
    assert skipped == [] and len(recs) == 1
    r = recs[0]
    assert r["author_raw"] == "Анна Ахматова" and r["year"] == "1912"
    assert r["title"] == "Над тихой речкой - Ахматова (стихи)"  # cleaned later, not here
    assert "    Качает ветер" in r["text"]
    assert r["locator"].endswith("Над_тихой_речкой_-_Ахматова_стихи.md")


def test_json_records_with_overrides(tmp_path):
    recs = [{"id": "a-1", "title": "Речка", "author": "Анна Ахматова", "year": "",
             "text": "\n".join(VERSE), "source": "https://example.org/1"},
            {"id": "b-2", "title": "Другое", "author": "Александр Блок", "year": "1905", "text": "x"}]
    (tmp_path / "poems.json").write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "over.json").write_text(json.dumps(
        [{"author": "Анна Ахматова", "title": "речка", "year": "1911", "source": "wikisource"}],
        ensure_ascii=False), encoding="utf-8")
    out, _ = READERS["json_records"](source(kind="json_records", path="poems.json", overrides="over.json"), tmp_path)
    assert [r["year"] for r in out] == ["1911", "1905"]
    assert out[0]["locator"].endswith("poems.json#a-1")
    assert out[0]["meta"]["override"] == "wikisource"


def test_malformed_json_names_file_and_line(tmp_path):
    (tmp_path / "poems.json").write_text('[{"text": "a"},\n{"text": }]', encoding="utf-8")
    with pytest.raises(SourceError, match=r"(?s)poems.json:2:.*malformed JSON.*on_error: skip"):
        READERS["json_records"](source(kind="json_records", path="poems.json"), tmp_path)


def test_text_book_cp1251_crlf_header_and_separators(tmp_path):
    lines = ["Спасибо, что скачали книгу в бесплатной электронной библиотеке Example: http://example.net",
             "Приятного чтения!", "", "Анна Ахматова", "Стихи", "", "* * *", ""]
    lines += ["\t\t" + v for v in VERSE[:2]] + [""] + ["\t\t" + v for v in VERSE[2:]]
    lines += ["", "1913", "", "", "Вечер", ""] + ["\t\t" + v for v in VERSE]
    lines += ["", "Анна Ахматова. Избранное. Город, 1990."]
    (tmp_path / "Ahmatova.txt").write_bytes("\r\n".join(lines).encode("cp1251"))
    recs, _ = READERS["text_book"](source(kind="text_book", path=".", glob="*.txt"), tmp_path)
    assert len(recs) == 2
    assert recs[0]["title"] is None and recs[0]["meta"]["trailing"] == ["1913"]
    assert recs[0]["text"].count("\n\n") == 1  # the stanza break survives
    assert recs[1]["title"] == "Вечер"
    assert recs[0]["meta"]["encoding"] == "cp1251"
    assert recs[0]["author_raw"] == "Ahmatova"
    assert "http" not in recs[0]["text"] + recs[1]["text"]


def test_decode_detects_cp1251_and_koi8r():
    text = "\n".join(VERSE * 3)
    assert decode(text.encode("cp1251"), Path("x"))[0] == text
    assert decode(text.encode("koi8_r"), Path("x"))[0] == text
    assert decode(text.encode("utf-8"), Path("x"))[1] == "utf_8"


def test_text_dir_with_info_csv(tmp_path):
    d = tmp_path / "poems" / "Pushkin"
    d.mkdir(parents=True)
    (d / "Речка.txt").write_text("Александр Пушкин\nРЕЧКА\n" + "\n".join(VERSE), encoding="utf-8")
    (d / "info.csv").write_text("name,year\nРечка,1825\n", encoding="utf-8")
    recs, _ = READERS["text_dir"](source(kind="text_dir", path="poems", glob="*/*.txt"), tmp_path)
    assert len(recs) == 1 and recs[0]["year"] == "1825" and recs[0]["author_raw"] == "Pushkin"


def test_text_dir_bad_metadata_names_file(tmp_path):
    d = tmp_path / "poems" / "Blok"
    d.mkdir(parents=True)
    (d / "a.txt").write_text("\n".join(VERSE), encoding="utf-8")
    (d / "info.csv").write_text("title;when\n", encoding="utf-8")
    with pytest.raises(SourceError, match="info.csv:1: expected a CSV header"):
        READERS["text_dir"](source(kind="text_dir", path="poems", glob="*/*.txt"), tmp_path)


def test_csv_labels_become_authors(tmp_path):
    (tmp_path / "raw.csv").write_text('text,label\n"' + "\n".join(VERSE) + '",cvetaeva\n', encoding="utf-8")
    src = source(kind="csv", path="raw.csv", author_field="label", title_field=None, year_field=None)
    recs, stats = scrape_source(src, tmp_path, AuthorResolver(), tmp_path / "cache")
    assert recs[0]["author"] == "tsvetaeva" and stats["records"] == 1


def test_csv_missing_column(tmp_path):
    (tmp_path / "raw.csv").write_text("poem,who\nа,б\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"raw.csv:1: missing column"):
        READERS["csv"](source(kind="csv", path="raw.csv", author_field="label"), tmp_path)


def test_on_error_skip_counts_bad_files(tmp_path):
    (tmp_path / "good.txt").write_text("\t" + "\n\t".join(VERSE), encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\x81\x98\x00\xff" * 3)
    src = source(kind="text_book", path=".", glob="*.txt", encoding="utf-8", on_error="skip")
    recs, skipped = READERS["text_book"](src, tmp_path)
    assert len(recs) == 1 and len(skipped) == 1 and "bad.txt" in skipped[0]["file"]
    with pytest.raises(SourceError, match="bad.txt: not valid utf-8"):
        READERS["text_book"](source(kind="text_book", path=".", glob="*.txt", encoding="utf-8"), tmp_path)


def test_missing_path_names_params_key(tmp_path):
    with pytest.raises(SourceError, match=r"corpus.sources\[toy\].path: .*does not exist"):
        READERS["markdown_dir"](source(kind="markdown_dir", path="nowhere"), tmp_path)


def test_hf_dataset_from_local_save(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": ["\n".join(VERSE)], "author": ["Анна Ахматова"],
                                "title": ["Речка"], "year": ["1910"]}).save_to_disk(str(tmp_path / "ds"))
    recs, _ = READERS["hf_dataset"](source(kind="hf_dataset", path="ds"), tmp_path)
    assert recs[0]["author_raw"] == "Анна Ахматова" and recs[0]["title"] == "Речка"


def test_authors_resolve_variants():
    r = AuthorResolver({"gippius": ["Гиппиус"]})
    names = ["Анна Ахматова", "Ахматова Анна", "akhmatova", "Ahmatova", "Анна Андреевна Ахматова"]
    assert {r.resolve(n) for n in names} == {"akhmatova"}
    assert r.resolve("cvetaeva") == "tsvetaeva"
    assert r.resolve("Зинаида Гиппиус") == "gippius"
    assert r.resolve("Иван Петров") == "ivan_petrov" and "Иван Петров" in r.unmatched
