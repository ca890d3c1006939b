"""Split a whole e-book of verse into poems.

E-library books come in two layouts. Most indent every verse line (a tab or spaces) and
leave headings, prose and notes flush left: then a poem is a run of indented lines (blank
lines inside it are stanza breaks) and the flush-left line just before it is its title.
Books without indentation are cut at separators (`* * *`, `x x x`, `-----`), ALL-CAPS
headings and runs of 3+ blank lines. The library header (everything up to
"Приятного чтения!") is dropped. Flush-left lines after a poem (a date, an edition note)
are kept as `trailing`, for the clean stage to turn into a year or drop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SEPARATOR = re.compile(r"^\s*(?:[*xхXХ]\s*){3,}\s*$|^\s*[-—_=]{3,}\s*$")
DATE_LINE = re.compile(r"^\s*(?:<?\s*)?(?:\d{1,2}\s+\w+\s+)?\d{4}(?:\s*[-–—]\s*\d{2,4})?\s*(?:г\.?|года)?\s*>?\s*$")
HEADER_END = re.compile(r"приятного\s+чтения", re.IGNORECASE)
INDENT_SHARE = 0.5


@dataclass
class BookPoem:
    index: int
    title: str | None
    text: str
    line: int
    trailing: list[str] = field(default_factory=list)


def strip_header(lines: list[str], scan: int = 20) -> list[str]:
    """Drop the e-library header block ("Спасибо, что скачали..." to "Приятного чтения!")."""
    for i, line in enumerate(lines[:scan]):
        if HEADER_END.search(line):
            return [""] * (i + 1) + lines[i + 1:]
    return lines


def _indented(line: str) -> bool:
    return bool(line.strip()) and line[:1] in (" ", "\t", "\u00a0")


def _is_heading(line: str) -> bool:
    s = line.strip()
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters) and len(s) <= 80


def split_book(text: str) -> list[BookPoem]:
    """Poems of a whole book, in order, each with the 1-based line where it starts."""
    lines = strip_header(text.split("\n"))
    nonblank = [ln for ln in lines if ln.strip()]
    if not nonblank:
        return []
    if sum(map(_indented, nonblank)) / len(nonblank) >= INDENT_SHARE:
        return _split_indented(lines)
    return _split_flat(lines)


def _finish(poems: list[BookPoem], body: list[str], title: str | None, start: int) -> None:
    while body and not body[-1].strip():
        body.pop()
    if any(ln.strip() for ln in body):
        poems.append(BookPoem(len(poems), title, "\n".join(body), start + 1))


def _split_indented(lines: list[str]) -> list[BookPoem]:
    poems: list[BookPoem] = []
    body: list[str] = []
    plain: list[str] = []  # flush-left lines since the last body
    title, start = None, 0
    for i, line in enumerate(lines):
        if _indented(line):
            if not body:
                title, start = _take_title(poems, plain), i
                plain = []
            body.append(line)
        elif not line.strip():
            if body:
                body.append(line)
        else:
            if body:
                _finish(poems, body, title, start)
                body = []
            plain.append(line.strip())
    if body:
        _finish(poems, body, title, start)
    if plain and poems:
        poems[-1].trailing.extend(plain)
    return poems


def _take_title(poems: list[BookPoem], plain: list[str]) -> str | None:
    """Split the flush-left lines between two poems into the previous poem's trailing
    lines (dates, notes) and the next poem's title (the last line, unless a separator
    or a bare date)."""
    title = None
    if plain and not SEPARATOR.match(plain[-1]) and not DATE_LINE.match(plain[-1]):
        title = plain.pop()
    trailing = [p for p in plain if not SEPARATOR.match(p)]
    if poems and trailing:
        poems[-1].trailing.extend(trailing)
    return title


def _split_flat(lines: list[str]) -> list[BookPoem]:
    poems: list[BookPoem] = []
    body: list[str] = []
    title, start, blanks = None, 0, 0
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            blanks += 1
            if body:
                body.append("")
            continue
        cut = SEPARATOR.match(s) or _is_heading(s) or blanks >= 3
        blanks = 0
        if cut:
            if body:
                _finish(poems, body, title, start)
                body = []
            title, start = (None if SEPARATOR.match(s) else s.title() if _is_heading(s) else None), i
            if SEPARATOR.match(s) or _is_heading(s):
                continue
        if DATE_LINE.match(s) and body and poems is not None:
            _finish(poems, body, title, start)
            poems[-1].trailing.append(s) if poems else None
            body, title = [], None
            continue
        if not body:
            start = i
        body.append(line)
    if body:
        _finish(poems, body, title, start)
    return poems
