"""Turn one raw record into a clean poem, or say why it is not one.

`clean_record(raw, params)` returns `(poem, None)` or `(None, reason)`. Rules, in order:
Unicode NFC and invisible characters (stress marks, soft hyphens, zero-width marks)
removed; site and e-book boilerplate removed (library headers, URLs, footnote marks,
"... - стихи о любви" lines and title suffixes, a leading author/title line); a trailing
date or place line becomes `year`/`dateline`; layout repaired (the "blank line after
every verse line" artefact collapsed while real stanza breaks stay, indentation
stripped); then stubs, prose, plays and non-Russian texts are dropped by the thresholds
in `CleanParams` (each a `reason` counted in metrics/corpus.json).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from qwen_qlora.config import CleanParams
from qwen_qlora.corpus.book import SEPARATOR
from qwen_qlora.text import normalize_line, strip_marks

SPACES = dict.fromkeys(map(ord, "\u00a0\u2002\u2003\u2009\u202f\t"), " ")

URL = re.compile(r"(?:https?://|www\.)\S+|\S+\.(?:ru|net|com|org)/\S*", re.IGNORECASE)
BOILERPLATE = re.compile(
    r"спасибо,? что скачали|приятного чтения|все книги автора|эта же книга в других"
    r"|электронной библиотеке|[-–—:]\s*стихи\b|\(стихи\)|стихи о любви|^\s*<\?>\s*$"
    r"|текст не выверен|#footnote|#t_d\d",
    re.IGNORECASE,
)
FOOTNOTE_MARK = re.compile(r"\[\d+\s*-[^\]]*\]|\[\d+\]|\{\d+\}")
TITLE_SUFFIX = re.compile(r"\s*(?:[-–—:]\s*)?(?:[А-ЯЁ][а-яё]+\s*)?\(?стихи\)?(?:\s+о\s+\w+)?\s*$", re.IGNORECASE)
PLACE_DATE = re.compile(
    r"^\s*(?:[А-ЯЁ][\w.\- ]{1,40},\s*)?(?:(?:\d{1,2}\s+)?[а-яё]+\s+)?(?:\d{1,2}\s+[а-яё]+\s+)?"
    r"(?:между|около|не позднее|конец|начало|осень|весна|лето|зима)?[\s\w]*?"
    r"(1[6-9]\d{2}|20[0-2]\d)(?:\s*[-–—]\s*\d{2,4})?\s*(?:г\.?|года?)?(?:,\s*[А-ЯЁ][\w.\- ]{1,40})?\s*$"
)
SPEAKER = re.compile(r"^(?:[А-ЯЁ][а-яё]+|[А-ЯЁ]{2,})(?:\s+[А-ЯЁ]?[а-яё]+){0,2}\s*(?:\([^)]*\))?\s*[.:]\s*$")
STAGE = re.compile(r"^(?:сцена|действие|явление|картина)\b", re.IGNORECASE)
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def normalize_chars(text: str) -> str:
    """NFC with stress marks, soft hyphens and zero-width characters removed, and the
    typographic spaces and tabs turned into plain spaces."""
    return strip_marks(text).translate(SPACES)


def clean_title(title: str | None, author_names: tuple[str, ...] = ()) -> str | None:
    """Title without site suffixes ("- Ахматова (стихи)"), quotes and surrounding space."""
    if not title or SEPARATOR.match(title):
        return None
    t = normalize_chars(title)
    t = FOOTNOTE_MARK.sub("", t)
    for _ in range(2):
        t = TITLE_SUFFIX.sub("", t).strip()
        for name in author_names:
            t = re.sub(rf"\s*[-–—:]?\s*{re.escape(name)}\s*$", "", t, flags=re.IGNORECASE).strip()
    t = t.strip(" \"'«»„“”.,:-–—").strip()
    if t.isupper():
        t = t.capitalize()
    return t or None


def strip_boilerplate(lines: list[str], names: tuple[str, ...]) -> list[str]:
    """Drop URL, library and site lines, inline footnote marks, leading lines that only
    repeat the author's name, and a leading ALL-CAPS heading."""
    out = []
    for line in lines:
        line = FOOTNOTE_MARK.sub("", line)
        if BOILERPLATE.search(line) or URL.search(line):
            continue
        if SEPARATOR.match(line) and not out:
            continue
        out.append(line.rstrip())
    names_n = {_plain(h) for h in names if h}
    while out and (not out[0].strip() or _plain(out[0]) in names_n or _is_caps_heading(out[0])):
        out.pop(0)
    return out


def _is_caps_heading(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


def _plain(s: str) -> str:
    return normalize_line(s)


def split_dateline(lines: list[str]) -> tuple[list[str], str | None, str | None]:
    """Move a trailing date or place+date line off the verse: (lines, year, dateline)."""
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return lines, None, None
    last = lines[-1].strip().strip("<>").strip()
    m = PLACE_DATE.match(last) if len(last) <= 60 else None
    if m and len(re.findall(r"[а-яёa-z]+", last, re.IGNORECASE)) <= 6:
        return lines[:-1], m.group(1), last
    return lines, None, None


def repair_layout(lines: list[str]) -> list[str]:
    """Strip indentation; collapse the blank-after-every-line artefact (then only a gap
    wider than the usual one is a stanza break); one blank line between stanzas."""
    lines = [ln.strip() for ln in lines]
    gaps, run, seen_text = [], 0, False
    for ln in lines:
        if ln:
            if seen_text:
                gaps.append(run)
            run, seen_text = 0, True
        else:
            run += 1
    doubled = bool(gaps) and sum(g >= 1 for g in gaps) / len(gaps) >= 0.7
    usual = Counter(g for g in gaps if g >= 1).most_common(1)[0][0] if doubled else 0
    out: list[str] = []
    run = 0
    for ln in lines:
        if not ln:
            run += 1
            continue
        if out and run > usual:
            out.append("")
        out.append(ln)
        run = 0
    return out


def split_heading(lines: list[str], title: str | None) -> tuple[list[str], str | None]:
    """A one-line first stanza is a heading, not verse: the title repeated (dropped), or a
    dedication or epigraph attribution ("М. Лозинскому", returned)."""
    if len(lines) > 3 and lines[0] and lines[1] == "" and len(lines[0].split()) <= 6 \
            and not lines[0].rstrip().endswith((",", ";", ":", "-", "—")):
        first = lines[0]
        return lines[2:], (None if title and _plain(first) == _plain(title) else first)
    return lines, None


def stats(lines: list[str]) -> dict[str, Any]:
    verse = [ln for ln in lines if ln]
    stanzas = [s for s in "\n".join(lines).split("\n\n") if s.strip()]
    return {"n_lines": len(verse), "n_stanzas": len(stanzas),
            "n_words": sum(len(ln.split()) for ln in verse)}


def reject_reason(lines: list[str], p: CleanParams) -> str | None:
    """Why these lines are not a poem we keep (None if they are)."""
    verse = [ln for ln in lines if ln]
    if not verse:
        return "empty"
    st = stats(lines)
    if st["n_lines"] < p.min_lines or st["n_words"] < p.min_words:
        return "stub"
    if st["n_lines"] > p.max_lines:
        return "too_long"
    letters = [c for c in "".join(verse) if c.isalpha()]
    if not letters or sum(bool(CYRILLIC.match(c)) for c in letters) / len(letters) < p.min_cyrillic_share:
        return "not_russian"
    mean_len = sum(map(len, verse)) / len(verse)
    if mean_len > p.max_mean_line_chars or max(map(len, verse)) > p.max_line_chars:
        return "prose"
    if is_play(verse, p.max_dialogue_share):
        return "play"
    return None


def is_play(verse: list[str], max_share: float) -> bool:
    """Speaker cues ("Моцарт.", "Она:") that recur, from at least two speakers, on more
    than `max_share` of the lines, or any stage direction ("Сцена ...") with one: a play
    or a dialogue, not a lyric. A refrain ("Ночь.") is one repeated cue, not two."""
    cues = Counter(ln for ln in verse if SPEAKER.match(ln))
    recurring = {c: n for c, n in cues.items() if n >= 2}
    staged = any(STAGE.match(ln) for ln in verse)
    if len(recurring) >= 2 and sum(recurring.values()) / len(verse) > max_share:
        return True
    return staged and bool(recurring)


def clean_record(raw: dict[str, Any], p: CleanParams) -> tuple[dict[str, Any] | None, str | None]:
    """A clean poem record (text, title, year, stats, provenance) or the reason to drop it."""
    names = tuple(n for n in (raw.get("author_raw"),) if n)
    surname_forms = tuple(w for n in names for w in n.split() if len(w) > 3)
    title = clean_title(raw.get("title"), names + surname_forms)
    text = normalize_chars(raw.get("text") or "")
    lines = strip_boilerplate(text.split("\n"), names)
    lines, year, dateline = split_dateline(lines)
    for extra in raw.get("meta", {}).get("trailing", []):
        m = PLACE_DATE.match(extra.strip()) if len(extra) <= 60 else None
        if m and year is None:
            year, dateline = m.group(1), extra.strip()
    lines, dedication = split_heading(repair_layout(lines), title)
    reason = reject_reason(lines, p)
    if reason:
        return None, reason
    year = year or _year(raw.get("year"))
    poem = {
        "author": raw["author"], "title": title, "year": year, "text": "\n".join(lines),
        **stats(lines),
        "source": raw["source"], "locator": raw["locator"],
    }
    if dateline:
        poem["dateline"] = dateline
    if dedication:
        poem["dedication"] = dedication
    return poem, None


def _year(value: Any) -> str | None:
    m = re.search(r"1[6-9]\d{2}|20[0-2]\d", str(value or ""))
    return m.group(0) if m else None
