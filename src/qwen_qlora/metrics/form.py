"""Form of a generated poem: lines, stanzas, quatrains, and whether it is in Russian.

The prompt asks for 2-4 quatrains. A poem complies when it has 2-4 stanzas of exactly
4 verse lines each. A poem of 8, 12 or 16 verse lines with no stanza breaks also
complies by default (``accept_unbroken``): the quatrain is a unit of rhyme and sense,
small models often drop blank lines, and layout is scored by the stanza count anyway;
pass ``accept_unbroken=False`` for the strict reading. Lines and stanzas follow
`text.lines` / `text.stanzas`, so ``* * *`` separators and dates are not verse lines.

The Cyrillic share is Cyrillic letters over all letters, so a model drifting into
English or transliteration shows up; it is None for a text without letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qwen_qlora.stats import flat, mean_ci, share_ci
from qwen_qlora.text import stanzas

QUATRAIN_STANZAS = range(2, 5)


def _is_cyrillic(char: str) -> bool:
    # Cyrillic, Cyrillic Supplement, Extended-A/B/C blocks.
    code = ord(char)
    return 0x0400 <= code <= 0x052F or 0x2DE0 <= code <= 0x2DFF or 0xA640 <= code <= 0xA69F or 0x1C80 <= code <= 0x1C8F


def cyrillic_share(text: str) -> float | None:
    """Cyrillic letters over all letters; None when the text has no letters."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return None
    return sum(map(_is_cyrillic, letters)) / len(letters)


def is_quatrains(text: str, accept_unbroken: bool = True) -> bool:
    """True for 2-4 stanzas of 4 verse lines (or 8/12/16 unbroken lines, see module doc)."""
    sizes = [len(stanza) for stanza in stanzas(text)]
    if len(sizes) in QUATRAIN_STANZAS and all(size == 4 for size in sizes):
        return True
    return accept_unbroken and len(sizes) == 1 and sizes[0] in {4 * k for k in QUATRAIN_STANZAS}


def form_metrics(text: str, accept_unbroken: bool = True) -> dict[str, Any]:
    """Form figures of one poem."""
    groups = stanzas(text)
    return {
        "lines": sum(len(stanza) for stanza in groups),
        "stanzas": len(groups),
        "is_quatrains": is_quatrains(text, accept_unbroken),
        "cyrillic_share": cyrillic_share(text),
    }


def form_summary(texts: Sequence[str], accept_unbroken: bool = True, seed: int = 0) -> dict[str, Any]:
    """Flat form figures of one model's generations: means and compliance shares, with
    95% intervals (bootstrap over poems for means, Wilson for shares)."""
    if not texts:
        raise ValueError("form_summary: no generations to score; check the generate stage output")
    rows = [form_metrics(text, accept_unbroken) for text in texts]
    shares = [r["cyrillic_share"] for r in rows if r["cyrillic_share"] is not None]
    return {
        "n_poems": len(rows),
        **flat("lines_mean", mean_ci([r["lines"] for r in rows], seed), 2),
        **flat("stanzas_mean", mean_ci([r["stanzas"] for r in rows], seed), 2),
        **flat("quatrain_compliance_share", share_ci([r["is_quatrains"] for r in rows])),
        "cyrillic_letter_share_mean": round(sum(shares) / len(shares), 4) if shares else None,
    }
