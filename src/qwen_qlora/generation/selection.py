"""Poetics-guided selection: of N candidates sampled for one requested poem, keep the
one that best has the requested form and the poet's voice.

What the selector optimises (`SELECTION_SCORE`, each term in [0, 1], summed):
compliance with the requested meter, rhyme scheme and stanza shape (1 each when
followed), the candidate's rhyme rate, its meter regularity, and p_author from the
*selection* attributor, one trained against half of the reference poets
(`selection_poets`); the poetics stage judges every row with an attributor trained
against the other half, so the selector's own judge never grades it. A candidate
that fails the quoting gate is never chosen. Selection is a decoding strategy, not
learning: the metrics keep the first candidate (`adapted`) beside the chosen one
(`adapted_selected`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from qwen_qlora.metrics.form_annotation import compliance
from qwen_qlora.rows import SELECTED_SUFFIX, row_of  # noqa: F401 (row_of: where selected rows come from)

SELECTION_SCORE = ("meter + scheme + stanza-shape compliance with the request (0/1 each) + rhyme rate + "
                   "meter regularity + p_author of the selection attributor (trained against half of the "
                   "reference poets; the other half trains the judging attributor); candidates failing the "
                   "quoting gate are never chosen")


def selection_poets(author: str) -> bool:
    """True for the half of the reference poets whose poems train the selection
    attributor; the judging attributor (poetics stage) trains on the other half. A
    fixed hash of the poet's key, so the halves do not move with any seed."""
    return int(hashlib.sha1(author.encode()).hexdigest()[:8], 16) % 2 == 0


def selector_training_texts(train: Sequence[dict[str, Any]],
                            reference: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """What the selection attributor trains on: (the target poet's train poems, the
    poems of the selection half of the reference poets). The poetics stage checks that
    its judge shares no poem with either."""
    return ([e["completion"] for e in train],
            [r["text"] for r in reference if selection_poets(r["author"])])


def candidate_score(form: dict, requested: dict, p_author: float) -> float:
    """The selection score of one candidate (see `SELECTION_SCORE`)."""
    c = compliance(form, requested)
    return c["meter"] + c["scheme"] + c["stanzas"] + form["rhyme_rate"] + form["regularity"] + p_author


def choose(scores: Sequence[float], passes_gate: Sequence[bool]) -> int | None:
    """Index of the best-scoring candidate that passes the quoting gate (the first on a
    tie), or None when none passes."""
    allowed = [k for k, ok in enumerate(passes_gate) if ok]
    if not allowed:
        return None
    return max(allowed, key=lambda k: (scores[k], -k))


def selected_sample(candidates: list[dict[str, Any]], scores: Sequence[float],
                    passes_gate: Sequence[bool]) -> dict[str, Any]:
    """The chosen candidate as a sample of the `<row>_selected` row, with every
    candidate's score kept (`candidates`). When none passes the gate the first is kept
    and marked, so the gate fails the stage on it."""
    k = choose(scores, passes_gate)
    pick = candidates[0 if k is None else k]
    return {**pick, "model": pick["model"] + SELECTED_SUFFIX, "chosen": k,
            "candidates": [{"score": round(s, 4), "passes_gate": ok} for s, ok in zip(scores, passes_gate, strict=True)]}
