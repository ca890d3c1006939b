"""Source readers: one function per source format, each yielding raw poem records.

A raw record is the poem as found, with its provenance:
`{"source", "locator", "author_raw", "title", "year", "text", "meta"}`; the text is
decoded (and line ends unified) but not cleaned: cleaning is the clean stage's job.
`READERS[kind](source, root)` returns `(records, skipped)`, where `skipped` lists the
files passed over under `on_error: skip`. Bad input raises `SourceError` naming the
file (and line) and the params key to fix.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

from qwen_qlora.config import SourceParams
from qwen_qlora.corpus import book
from qwen_qlora.text import normalize_line

Record = dict[str, Any]
Reader = Callable[[SourceParams, Path], tuple[list[Record], list[dict[str, str]]]]

# Encodings a Russian text plausibly comes in; detection is limited to these so that
# short cp1251 files are not mistaken for some Western code page.
CYRILLIC_ENCODINGS = ["utf_8", "cp1251", "koi8_r", "cp866", "mac_cyrillic", "iso8859_5"]


class SourceError(ValueError):
    """A source file is missing, unreadable or malformed."""


def _key(source: SourceParams, field: str = "path") -> str:
    return f"corpus.sources[{source.name}].{field}"


def resolve_path(source: SourceParams, root: Path) -> Path:
    """The source's path relative to the project root; a clear error if it is missing."""
    path = (root / source.path).resolve() if source.path else root
    if not path.exists():
        raise SourceError(
            f"{_key(source)}: {path} does not exist; fix the path in params.yaml "
            f"(relative to the project root) or set enabled: false for this source"
        )
    return path


def decode(raw: bytes, path: Path, encoding: str | None = None) -> tuple[str, str]:
    """Decode bytes as `encoding`, else UTF-8, else the best Cyrillic guess."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as err:
            raise SourceError(f"{path}: not valid {encoding} ({err}); fix `encoding` "
                              f"for this source or remove it to auto-detect") from err
    try:
        return raw.decode("utf-8"), "utf_8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(raw, cp_isolation=CYRILLIC_ENCODINGS).best()
    if best is None:
        raise SourceError(f"{path}: cannot detect the text encoding (neither UTF-8 nor a "
                          f"Cyrillic code page: binary or corrupt?); if it is text, set "
                          f"`encoding` for this source in params.yaml, else remove the file")
    return str(best), best.encoding


def unify_newlines(text: str) -> str:
    """CRLF, CR and NEL line ends become \\n; a BOM is dropped."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n")


def read_text_file(path: Path, encoding: str | None = None) -> tuple[str, str]:
    """A text file decoded, line ends unified; empty, binary or unreadable files raise."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        if path.is_symlink():
            target = os.readlink(path)
            problem = ("loops back on itself" if err.errno == errno.ELOOP
                       else f"points to {target}, which cannot be read ({err.strerror})")
            raise SourceError(f"{path}: a symbolic link that {problem}; fix or remove "
                              f"the link") from err
        raise SourceError(f"{path}: cannot read ({err.strerror})") from err
    if not raw:
        raise SourceError(f"{path}: empty file (0 bytes); re-download or re-export it, or "
                          f"remove it from the source folder")
    # a NUL is binary data in any 8-bit encoding; with an explicit encoding, decode first
    nul = raw.find(b"\0") if encoding is None else -1
    text, enc = decode(raw, path, encoding) if nul < 0 else ("", "")
    if nul >= 0 or (nul := text.find("\0")) >= 0:
        raise SourceError(f"{path}: binary data, not text (a NUL at offset {nul}); remove "
                          f"the file or narrow `glob` (a UTF-16 text: re-save it as UTF-8)")
    return unify_newlines(text), enc


# A verse line is short; a text line far longer is a file that lost its line breaks.
MAX_LINE_CHARS = 10_000
_LETTER = re.compile(r"[^\W\d_]")
_HTML_START = re.compile(r"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
                         re.IGNORECASE | re.DOTALL)


def check_plain_text(text: str, path: Path) -> None:
    """A plain-text verse file: not HTML, some letters, no line of prose-book length."""
    if _HTML_START.match(text[:4096]):
        raise SourceError(f"{path}: an HTML page, not plain text; save the poem text from "
                          f"it, or crawl the site with a `kind: web` source, which extracts "
                          f"the text from HTML")
    if not _LETTER.search(text):
        raise SourceError(f"{path}: no letters, only punctuation, digits or spaces; this is "
                          f"not a poem: fix or remove the file")
    longest = max(text.split("\n"), key=len)
    if len(longest) > MAX_LINE_CHARS:
        lineno = text.split("\n").index(longest) + 1
        raise SourceError(f"{path}:{lineno}: a line of {len(longest):,} characters (verse "
                          f"lines are at most a few hundred); the file has lost its line "
                          f"breaks or is not verse: restore them or remove the file")


def _files(source: SourceParams, root: Path) -> list[Path]:
    path = resolve_path(source, root)
    # a link that loops or dangles is not a file, but is kept here so it gets reported
    files = [path] if path.is_file() else sorted(
        p for p in path.glob(source.glob) if p.is_file() or (p.is_symlink() and not p.exists()))
    if not files:
        raise SourceError(f"{_key(source, 'glob')}: no files match {source.glob!r} under {path}")
    return files


def _each_file(source: SourceParams, root: Path, read_one: Callable[[Path], list[Record]]):
    """Apply `read_one` to every file; under on_error=skip, bad files are counted, not fatal."""
    records, skipped = [], []
    for path in _files(source, root):
        try:
            records.extend(read_one(path))
        except (SourceError, OSError, UnicodeDecodeError, ValueError) as err:
            if source.on_error == "fail":
                raise SourceError(f"{err}\n(to skip bad files of this source instead, set "
                                  f"{_key(source, 'on_error')}: skip)") from err
            skipped.append({"file": str(path), "error": str(err)})
    return records, skipped


def _record(source: SourceParams, locator: str, text: str, *, author=None, title=None,
            year=None, **meta: Any) -> Record:
    year = str(year).strip() if year not in (None, "") else None
    return {"source": source.name, "locator": locator, "author_raw": author or source.author,
            "title": (title or "").strip() or None, "year": year, "text": text,
            "meta": {k: v for k, v in meta.items() if v not in (None, "", [], {})}}


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve().parent))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- markdown_dir

_MD_AUTHOR = re.compile(r"^\s*Автор\s*:\s*(.+?)\s*$")
_MD_YEAR = re.compile(r"^\s*Год\s*:\s*(.+?)\s*$")


def read_markdown_dir(source: SourceParams, root: Path):
    """One Markdown file per poem: `# title`, optional `Автор:` / `Год:` lines, then the text.

    The author comes from the `Автор:` line, else the file's folder name.
    """
    def read_one(path: Path) -> list[Record]:
        text, enc = read_text_file(path, source.encoding)
        check_plain_text(text, path)
        lines = text.split("\n")
        title = author = year = None
        body_start = 0
        for i, line in enumerate(lines[:10]):
            if title is None and line.startswith("# "):
                title, body_start = line[2:].strip(), i + 1
            elif (m := _MD_AUTHOR.match(line)):
                author, body_start = m.group(1), i + 1
            elif (m := _MD_YEAR.match(line)):
                year, body_start = m.group(1), i + 1
        body = "\n".join(lines[body_start:])
        if not _LETTER.search(body):
            raise SourceError(f"{path}: the poem has no letters, only punctuation, digits or "
                              f"spaces (after the title and header lines); fix or remove the file")
        return [_record(source, _rel(path, root), body, author=author or path.parent.name,
                        title=title or path.stem.replace("_", " "), year=year, encoding=enc,
                        file_title=path.stem.replace("_", " "))]
    return _each_file(source, root, read_one)


# ---------------------------------------------------------------- json_records

def _load_json(path: Path, source: SourceParams) -> Any:
    text, _ = read_text_file(path, source.encoding)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SourceError(f"{path}:{err.lineno}:{err.colno}: malformed JSON ({err.msg})") from err


def _norm_key(author: str | None, title: str | None) -> tuple[str, str]:
    return normalize_line(author or ""), normalize_line(title or "")


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _check_json_types(rec: dict, i: int, path: Path, source: SourceParams) -> None:
    """Text, author and title are strings (or null), a year a string or a number."""
    allowed = {source.text_field: (str,), source.author_field: (str,)}
    if source.title_field:
        allowed[source.title_field] = (str,)
    if source.year_field:
        allowed[source.year_field] = (str, int)
    for field, types in allowed.items():
        value = rec.get(field)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            want = "a string" if types == (str,) else "a string or a number"
            shown = json.dumps(value, ensure_ascii=False)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise SourceError(f"{path}: record {i} (id {rec.get('id', i)!r}): `{field}` is a "
                              f"JSON {_json_type(value)} ({shown}), expected {want}; fix the "
                              f"record or point {_key(source, _field_key(source, field))} at "
                              f"another field")


def _field_key(source: SourceParams, field: str) -> str:
    """The params key that names `field` (text_field, author_field, ...)."""
    for key in ("text_field", "author_field", "title_field", "year_field"):
        if getattr(source, key) == field:
            return key
    return field


def read_json_records(source: SourceParams, root: Path):
    """A JSON list of records; `overrides` (a JSON list keyed by author + title) fixes
    titles, years and sources for individual records."""
    overrides: dict[tuple[str, str], dict] = {}
    if source.overrides:
        opath = (root / source.overrides).resolve()
        if not opath.exists():
            raise SourceError(f"{_key(source, 'overrides')}: {opath} does not exist")
        data = _load_json(opath, source)
        if not isinstance(data, list):
            raise SourceError(f"{opath}: expected a JSON list of override records")
        for i, o in enumerate(data):
            if not isinstance(o, dict) or "author" not in o or "title" not in o:
                raise SourceError(f"{opath}: record {i} needs `author` and `title` keys")
            overrides[_norm_key(o["author"], o["title"])] = o

    def read_one(path: Path) -> list[Record]:
        data = _load_json(path, source)
        if not isinstance(data, list):
            raise SourceError(f"{path}: expected a JSON list of records, got a JSON "
                              f"{_json_type(data)}")
        out = []
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise SourceError(f"{path}: record {i} is a JSON {_json_type(rec)}, expected an "
                                  f"object with a `{source.text_field}` field")
            if source.text_field not in rec:
                raise SourceError(f"{path}: record {i} has no `{source.text_field}` field; "
                                  f"set {_key(source, 'text_field')}")
            _check_json_types(rec, i, path, source)
            author = rec.get(source.author_field)
            title = rec.get(source.title_field) if source.title_field else None
            year = rec.get(source.year_field) if source.year_field else None
            override = overrides.get(_norm_key(author, title))
            if override:
                year = override.get("year", year)
                title = override.get("title", title)
            out.append(_record(
                source, f"{_rel(path, root)}#{rec.get('id', i)}", str(rec[source.text_field] or ""),
                author=author, title=title, year=year, id=rec.get("id"), url=rec.get("source"),
                tags=rec.get("tags"), restricted=rec.get("restricted"),
                override=override.get("source") if override else None))
        return out
    return _each_file(source, root, read_one)


# ---------------------------------------------------------------- text_book

def read_text_book(source: SourceParams, root: Path):
    """Whole e-books, one file per poet: library header dropped, poems split (see book.py)."""
    def read_one(path: Path) -> list[Record]:
        text, enc = read_text_file(path, source.encoding)
        check_plain_text(text, path)
        poems = book.split_book(text)
        return [_record(source, f"{_rel(path, root)}#{p.index}", p.text, author=source.author or path.stem,
                        title=p.title, encoding=enc, trailing=p.trailing, line=p.line)
                for p in poems]
    return _each_file(source, root, read_one)


# ---------------------------------------------------------------- text_dir

def _read_info_csv(path: Path, source: SourceParams) -> dict[str, str]:
    text, _ = read_text_file(path, source.encoding)
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["name", "year"]:
        raise SourceError(f"{path}:1: expected a CSV header `name,year`")
    years = {}
    for lineno, row in enumerate(rows[1:], 2):
        if len(row) < 2:
            raise SourceError(f"{path}:{lineno}: expected `name,year`, got {row!r}")
        years[row[0].strip()] = row[1].strip()
    return years


def read_text_dir(source: SourceParams, root: Path):
    """A text file per work in a folder per author, plus a metadata CSV (`name,year`)."""
    base = resolve_path(source, root)
    meta_cache: dict[Path, dict[str, str]] = {}

    def read_one(path: Path) -> list[Record]:
        if path.suffix.lower() != ".txt":
            return []
        meta_path = path.parent / (source.metadata or "info.csv")
        if meta_path.exists() and meta_path not in meta_cache:
            meta_cache[meta_path] = _read_info_csv(meta_path, source)
        years = meta_cache.get(meta_path, {})
        text, enc = read_text_file(path, source.encoding)
        check_plain_text(text, path)
        author = source.author or (path.parent.name if path.parent != base else None)
        return [_record(source, _rel(path, root), text, author=author, title=path.stem,
                        year=years.get(path.stem), encoding=enc)]
    return _each_file(source, root, read_one)


# ---------------------------------------------------------------- csv

def read_csv(source: SourceParams, root: Path):
    """A CSV with a text column and an author (label) column."""
    def read_one(path: Path) -> list[Record]:
        text, _ = read_text_file(path, source.encoding)
        reader = csv.DictReader(text.splitlines(keepends=True))
        missing = {source.text_field, source.author_field} - set(reader.fieldnames or [])
        if missing and not (source.author and missing == {source.author_field}):
            raise SourceError(f"{path}:1: missing column(s) {sorted(missing)}; columns are "
                              f"{reader.fieldnames}; set {_key(source, 'text_field')} / author_field")
        out = []
        try:
            width = len(reader.fieldnames or [])
            for i, row in enumerate(reader):
                if None in row or None in row.values():
                    got = width + len(row.get(None, [])) - list(row.values()).count(None)
                    raise SourceError(f"{path}:{reader.line_num}: a row of {got} field(s), the "
                                      f"header has {width}; quote fields that contain commas "
                                      f"(\"...\") or fix the row")
                year = row.get(source.year_field) if source.year_field else None
                out.append(_record(source, f"{_rel(path, root)}#{i}", row[source.text_field],
                                   author=row.get(source.author_field), year=year,
                                   title=row.get(source.title_field) if source.title_field else None))
        except csv.Error as err:
            raise SourceError(f"{path}:{reader.line_num}: malformed CSV ({err})") from err
        return out
    return _each_file(source, root, read_one)


# ---------------------------------------------------------------- hf_dataset

def read_hf_dataset(source: SourceParams, root: Path):
    """A Hugging Face dataset: a hub name, a `save_to_disk` folder, or a local data file."""
    import datasets  # heavy import, only for this kind

    local = (root / source.path) if source.path else None
    try:
        if local is not None and local.is_dir() and (local / "dataset_info.json").exists():
            ds = datasets.load_from_disk(str(local))
        elif local is not None and local.is_dir() and (local / "state.json").exists():
            ds = datasets.load_from_disk(str(local))
        elif local is not None and local.is_file():
            fmt = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}.get(local.suffix)
            if fmt is None:
                raise SourceError(f"{local}: unsupported data file type {local.suffix!r}")
            ds = datasets.load_dataset(fmt, data_files=str(local), split="train")
        else:
            ds = datasets.load_dataset(source.path, split=source.split)
    except SourceError:
        raise
    except Exception as err:  # hub and file errors come in many types
        raise SourceError(f"{_key(source)}: cannot load dataset {source.path!r} "
                          f"({type(err).__name__}: {err}); check the name, that the hub is "
                          f"reachable, or point it at a local copy") from err
    if isinstance(ds, datasets.DatasetDict):
        if source.split not in ds:
            raise SourceError(f"{_key(source, 'split')}: no split {source.split!r}; has {list(ds)}")
        ds = ds[source.split]
    if source.text_field not in ds.column_names:
        raise SourceError(f"{_key(source, 'text_field')}: dataset has no column "
                          f"{source.text_field!r}; columns: {ds.column_names}")
    out = []
    for i, row in enumerate(ds):
        out.append(_record(source, f"{source.path}#{i}", str(row[source.text_field] or ""),
                           author=row.get(source.author_field),
                           title=row.get(source.title_field) if source.title_field else None,
                           year=row.get(source.year_field) if source.year_field else None))
    return out, []


# ---------------------------------------------------------------- registry

READERS: dict[str, Reader] = {
    "markdown_dir": read_markdown_dir,
    "json_records": read_json_records,
    "text_book": read_text_book,
    "text_dir": read_text_dir,
    "csv": read_csv,
    "hf_dataset": read_hf_dataset,
}
