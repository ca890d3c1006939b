"""Poem text out of HTML: line breaks and stanzas kept, markup dropped.

`<br>` and line-level blocks (div, li, ...) become newlines; paragraph-level blocks (p,
blockquote, pre, headings, lists) and a `<div>` holding several lines become stanzas
(a blank line). Whitespace is collapsed as a browser would, except inside `<pre>`;
`&nbsp;` indentation is kept for the clean stage to strip.
"""

from __future__ import annotations

import re
from typing import Any

_WS = re.compile(r"[ \t\n\r\f]+")


def inline_text(matches: Any) -> str | None:
    """Matched text nodes or elements as one line (HTML whitespace collapsed), or None."""
    parts = [m.root if isinstance(m.root, str) else " ".join(m.css("::text").getall())
             for m in matches]
    text = _WS.sub(" ", " ".join(parts)).strip(" ")
    return text or None


def poem_text(matches: Any) -> str | None:
    """Matched elements rendered as lines: <br> and blocks break lines, stanzas are blank lines.

    Text-node matches (`::text`) become one line each. Whitespace is collapsed as a
    browser would (except in <pre>); nothing else is cleaned.
    """
    chunks = []
    for m in matches:
        if isinstance(m.root, str):
            chunks.append(m.root.strip(" \t\r\n"))
        else:
            chunks.append(render_element(m.root))
    if all(isinstance(m.root, str) for m in matches):
        text = "\n".join(chunks).strip("\n")
    else:
        text = "\n\n".join(c for c in chunks if c)
    return text or None


# block elements that end a paragraph (blank line after) vs. a line
_PARAGRAPH = {"p", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
              "dl", "table", "hr", "figure"}
_LINE = {"div", "li", "dd", "dt", "tr", "section", "article", "header", "footer", "center",
         "address", "main", "aside", "nav", "caption", "td", "th"}
_SKIP = {"script", "style", "noscript", "template", "head"}


def render_element(element: Any) -> str:
    """One HTML element as text: <br> = newline, <p> = paragraph, <div> = line (or
    paragraph when it holds several lines, as stanza divs do)."""
    tokens: list[tuple] = []
    _walk(element, tokens, pre=False, is_root=True)
    return _join(tokens)


def _walk(el: Any, out: list[tuple], pre: bool, is_root: bool = False) -> None:
    """Flatten `el` into tokens: ("text", str, pre), ("br",), ("block", 1 | 2)."""
    tag = el.tag.lower() if isinstance(el.tag, str) else None  # None: comment or PI
    if tag is not None and tag not in _SKIP:
        if tag == "br":
            out.append(("br",))
        block = 2 if tag in _PARAGRAPH else 1 if tag in _LINE else 0
        inner_pre = pre or tag == "pre"
        start = len(out)
        if el.text:
            out.append(("text", el.text, inner_pre))
        for child in el:
            _walk(child, out, inner_pre)
        if block == 1 and "\n" in _join(out[start:]):
            block = 2  # a div of several lines is a stanza
        if block:
            out.insert(start, ("block", block))
            out.append(("block", block))
    if el.tail and not is_root:
        out.append(("text", el.tail, pre))


def _join(tokens: list[tuple]) -> str:
    pieces: list[str] = []
    pending = 0  # newlines owed before the next text
    for tok in tokens:
        if tok[0] == "block":
            pending = max(pending, tok[1])
        elif tok[0] == "br":
            pending += 1
        else:
            _, text, pre = tok
            if not pre:
                text = _WS.sub(" ", text)
            if (not pieces or pending) and not pre:
                text = text.lstrip(" ")
            if not text:
                continue
            if pieces and pending:
                pieces[-1] = pieces[-1].rstrip(" ")
                pieces.append("\n" * pending)
            pending = 0
            pieces.append(text)
    return re.sub(r" +\n", "\n", "".join(pieces)).strip("\n").rstrip(" ")
