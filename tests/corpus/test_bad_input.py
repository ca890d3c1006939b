"""Broken sources, one table row each: the reader names the file and the fix, and with
`on_error: skip` the bad file is counted while the good file beside it is still read.

Every row is a folder source holding one good file (toy verses written for the tests)
and one bad file; the last tests run the scrape stage itself to check that a person sees
one message (no traceback unless asked) and that the other sources' outputs are written.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from qwen_qlora.config import SourceParams, build
from qwen_qlora.corpus.authors import AuthorResolver
from qwen_qlora.corpus.html_text import poem_text
from qwen_qlora.corpus.scrape import scrape_source
from qwen_qlora.corpus.sources import SourceError

ROOT = Path(__file__).resolve().parents[2]
VERSE = ["Над тихой речкой вечер синий,", "Качает ветер старый клён,",
         "И на траве белеет иней,", "И сад молчанием пленён."]
RNG_BYTES = random.Random(0).randbytes(4096)


def good_file(kind: str) -> tuple[str, bytes]:
    """A valid file of `kind` with one poem."""
    poem = "\n".join(VERSE)
    return {
        "text_book": ("good.txt", ("\t" + "\n\t".join(VERSE) + "\n").encode()),
        "markdown_dir": ("good.md", f"# Речка\n\nАвтор: Анна Ахматова\n\n{poem}\n".encode()),
        "json_records": ("good.json", json.dumps([{"id": "g1", "title": "Речка", "author":
                         "Анна Ахматова", "year": 1912, "text": poem}], ensure_ascii=False).encode()),
        "csv": ("good.csv", ('text,label\n"' + poem + '",akhmatova\n').encode()),
    }[kind]


def symlinks(d: Path, target: str) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        (folder / d).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, folder / d)
    return make


@dataclass
class Bad:
    id: str
    kind: str
    name: str                          # the bad file's name
    content: bytes | None              # None: `make` creates it
    error: str                         # regex the message must match (after the file name)
    make: Callable[[Path], None] | None = None


HTML = ("<!DOCTYPE html><html><head><script>var s = '<p>Не стих</p>';</script></head>"
        "<body><div class=poem>Строка&nbsp;первая<br>&laquo;Вторая&raquo; &amp; "
        "&#1090;ретья</div></body></html>").encode()
BAD = [
    Bad("random-bytes", "text_book", "noise.txt", RNG_BYTES,
        r"binary data, not text \(a NUL at offset \d+\); remove the file or narrow `glob`"),
    Bad("random-bytes-without-nul", "text_book", "noise.txt", bytes(b or 1 for b in RNG_BYTES),
        r"cannot detect the text encoding .*binary or corrupt.*set\s+`encoding`.*else remove"),
    Bad("10MB-single-line", "text_book", "one_line.txt", ("Слово " * 1_750_000).encode(),
        r":1: a line of 10,500,000 characters .*lost its line\s+breaks.*restore them or remove"),
    Bad("zero-byte-ebook", "text_book", "empty.txt", b"",
        r"empty file \(0 bytes\); re-download or re-export it, or remove it"),
    Bad("html-page-as-book", "text_book", "page.txt", HTML,
        r"an HTML page, not plain text; .*`kind: web`"),
    Bad("html-page-as-markdown", "markdown_dir", "page.md", HTML, r"an HTML page, not plain text"),
    Bad("punctuation-only-poem", "markdown_dir", "dots.md",
        "# Без слов\n\n...\n— — —\n!?!\n«»\n".encode(),
        r"the poem has no letters, only punctuation.*fix or remove the file"),
    Bad("punctuation-only-book", "text_book", "dots.txt", "\t...\n\t!!!\n\t— — —\n".encode(),
        r"no letters, only punctuation, digits or spaces"),
    Bad("symlink-loop", "markdown_dir", "loop.md", None,
        r"a symbolic link that loops back on itself; fix or remove the link",
        make=symlinks(Path("loop.md"), "loop.md")),
    Bad("dangling-symlink", "markdown_dir", "gone.md", None,
        r"a symbolic link that points to missing.md, which cannot be read \(No such file",
        make=symlinks(Path("gone.md"), "missing.md")),
    Bad("json-text-is-a-list", "json_records", "bad.json",
        json.dumps([{"id": "x1", "author": "Анна Ахматова", "text": ["строка", "строка"]}],
                   ensure_ascii=False).encode(),
        r"record 0 \(id 'x1'\): `text` is a JSON array \(\[\"строка\", \"строка\"\]\), expected "
        r"a string; fix the record or point corpus.sources\[toy\].text_field"),
    Bad("json-author-is-a-number", "json_records", "bad.json",
        json.dumps([{"author": 42, "text": "строка"}]).encode(),
        r"record 0 \(id 0\): `author` is a JSON number \(42\), expected a string.*author_field"),
    Bad("json-year-is-an-object", "json_records", "bad.json",
        json.dumps([{"author": "А", "year": {"from": 1912}, "text": "строка"}]).encode(),
        r"`year` is a JSON object \(\{\"from\": 1912\}\), expected a string or a number"),
    Bad("json-record-is-a-string", "json_records", "bad.json", b'["just text"]',
        r"record 0 is a JSON string, expected an object with a `text` field"),
    Bad("json-top-level-object", "json_records", "bad.json", b'{"text": "a"}',
        r"expected a JSON list of records, got a JSON object"),
    Bad("csv-ragged-long-row", "csv", "bad.csv",
        "text,label\nСтрока один,akhmatova\nСтрока, с запятой,akhmatova\n".encode(),
        r":3: a row of 3 field\(s\), the header has 2; quote fields that contain commas"),
    Bad("csv-ragged-short-row", "csv", "bad.csv", "text,label\nСтрока без метки\n".encode(),
        r":2: a row of 1 field\(s\), the header has 2"),
]

SOURCE_KW = {"text_book": dict(glob="*.txt"), "markdown_dir": dict(glob="*.md"),
             "json_records": dict(glob="*.json"),
             "csv": dict(glob="*.csv", author_field="label", title_field=None, year_field=None)}


def source(kind: str, **kw) -> SourceParams:
    return build(SourceParams, {"name": "toy", "kind": kind, "path": "src", **SOURCE_KW[kind], **kw},
                 "corpus.sources[toy]")


def lay_out(tmp: Path, bad: Bad) -> Path:
    """tmp/src with the good file, a symlink to it (a folder of links), and the bad file."""
    folder = tmp / "src"
    folder.mkdir()
    name, content = good_file(bad.kind)
    (tmp / "real").mkdir()
    (tmp / "real" / name).write_bytes(content)
    os.symlink(Path("..") / "real" / name, folder / name)  # a good link is read through
    if bad.make:
        bad.make(folder)
    else:
        (folder / bad.name).write_bytes(bad.content)
    return folder / bad.name


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_bad_file_fails_naming_file_and_fix(tmp_path, bad):
    path = lay_out(tmp_path, bad)
    with pytest.raises(SourceError) as err:
        scrape_source(source(bad.kind), tmp_path, AuthorResolver(), tmp_path / "cache")
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert re.search(bad.error, message, re.S), message
    assert "on_error: skip" in message  # how to go on without the file
    assert len(message) < 600 and "Traceback" not in message


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_bad_file_is_counted_and_the_good_one_kept_under_skip(tmp_path, bad):
    path = lay_out(tmp_path, bad)
    records, stats = scrape_source(source(bad.kind, on_error="skip"), tmp_path,
                                   AuthorResolver(), tmp_path / "cache")
    assert [[ln.strip() for ln in r["text"].strip().split("\n")] for r in records] == [VERSE]
    assert stats["records"] == 1 and stats["skipped_files"] == 1
    assert stats["skipped"][0]["file"] == str(path)


def test_html_extraction_drops_scripts_and_decodes_entities():
    """What the `web` kind does with the same page: script text gone, entities decoded."""
    from parsel import Selector

    text = poem_text(Selector(text=HTML.decode()).css("div.poem"))
    assert text == "Строка\xa0первая\n«Вторая» & третья"


# ---------------------------------------------------------------- the stage, as a person runs it

def run_stage(tmp: Path, sources: list[dict], env: dict | None = None) -> subprocess.CompletedProcess:
    (tmp / "params.yaml").write_text(yaml.safe_dump(
        {**yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")),
         "corpus": {"author_aliases": {}, "sources": sources}}, allow_unicode=True))
    return subprocess.run([sys.executable, str(ROOT / "stages" / "scrape.py"), "data/raw",
                           "data/raw_stats.json"], cwd=tmp, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})})


def two_sources(tmp: Path, on_error: str) -> list[dict]:
    (tmp / "good").mkdir()
    (tmp / "good" / "a.md").write_bytes(good_file("markdown_dir")[1])
    (tmp / "books").mkdir()
    (tmp / "books" / "good.txt").write_bytes(good_file("text_book")[1])
    (tmp / "books" / "broken.txt").write_bytes(b"\xcf\xf0\xe8\xe2\xe5\xf2 \xff\xfe\x81")
    return [{"name": "poems", "kind": "markdown_dir", "path": "good", "glob": "*.md"},
            {"name": "books", "kind": "text_book", "path": "books", "glob": "*.txt",
             "encoding": "utf-8", "on_error": on_error}]


def test_stage_prints_one_message_and_keeps_the_other_sources(tmp_path):
    run = run_stage(tmp_path, two_sources(tmp_path, "fail"))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr, run.stderr
    assert "books/broken.txt: not valid utf-8" in run.stderr
    assert "set corpus.sources[books].on_error: skip" in run.stderr
    assert "1 of 2 source(s) failed (books)" in run.stderr
    assert "QWEN_QLORA_DEBUG=1" in run.stderr
    # the good source was read and written all the same
    assert (tmp_path / "data/raw/poems.jsonl").read_text().count("\n") == 1
    assert not (tmp_path / "data/raw/books.jsonl").exists()

    sources = yaml.safe_load((tmp_path / "params.yaml").read_text())["corpus"]["sources"]
    debug = run_stage(tmp_path, sources, env={"QWEN_QLORA_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "SourceError" in debug.stderr


def test_stage_skips_and_counts_under_on_error_skip(tmp_path):
    run = run_stage(tmp_path, two_sources(tmp_path, "skip"))
    assert run.returncode == 0, run.stderr
    assert "books: 1 records, 1 bad file(s) skipped (on_error: skip)" in run.stdout
    stats = json.loads((tmp_path / "data/raw_stats.json").read_text())["sources"]
    assert stats["books"]["skipped_files"] == 1 and stats["poems"]["records"] == 1
    assert "broken.txt" in stats["books"]["skipped"][0]["file"]
