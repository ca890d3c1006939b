"""Degeneration and diversity of a model's generations.

- distinct-n: unique word n-grams over all n-grams, pooled over every generation of a
  model (n-grams never span two poems); low values mean the model repeats itself;
- repeated lines: share of poems in which some verse line occurs twice verbatim after
  normalisation, the usual sign of a sampling loop;
- self-BLEU within a theme: each poem scored by BLEU-4 against the other poems of its
  theme, averaged; high values mean the model writes one poem again and again.

BLEU is implemented here (no dependency): sentence BLEU with clipped n-gram counts
against several references, brevity penalty from the closest reference length (the
shorter on a tie), uniform weights, and smoothing method 1 of Chen & Cherry (2014), a
zero match count becomes 0.1 matches, which is what NLTK's ``SmoothingFunction().method1``
does and what Texygen's self-BLEU uses. A poem shorter than 4 words is scored on the
orders it has (sacreBLEU's "effective order"), so two identical short poems still score 1.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from qwen_qlora.text import lines, ngrams, normalize_line, verse_words

_EPSILON = 0.1


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Unique word n-grams over all word n-grams of the texts; None when there are none."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        grams = ngrams(verse_words(text), n)
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else None


def has_repeated_line(text: str) -> bool:
    """True when a verse line with words occurs at least twice after normalisation."""
    keys = [key for key in (normalize_line(line) for line in lines(text)) if key]
    return len(set(keys)) < len(keys)


def _counts(tokens: Sequence[str], max_n: int) -> list[Counter]:
    return [Counter(ngrams(list(tokens), n)) for n in range(1, max_n + 1)]


def _bleu_counts(hyp: list[Counter], hyp_len: int, refs: list[list[Counter]], ref_lens: list[int]) -> float:
    order = min(len(hyp), hyp_len)
    if order == 0:
        return 0.0
    log_precision = 0.0
    for n in range(order):
        matched = sum(min(c, max(ref[n][g] for ref in refs)) for g, c in hyp[n].items())
        log_precision += math.log((matched or _EPSILON) / sum(hyp[n].values())) / order
    ref_len = min((abs(length - hyp_len), length) for length in ref_lens)[1]
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Smoothed sentence BLEU of a token list against reference token lists (see module doc)."""
    if not references:
        raise ValueError("bleu: at least one reference is needed")
    refs = [_counts(ref, max_n) for ref in references]
    return _bleu_counts(_counts(hypothesis, max_n), len(hypothesis), refs, [len(r) for r in references])


def self_bleu(texts: Sequence[str], max_n: int = 4) -> float | None:
    """Mean BLEU of each text against all the others; None for fewer than two texts."""
    if len(texts) < 2:
        return None
    tokens = [verse_words(text) for text in texts]
    counts = [_counts(tok, max_n) for tok in tokens]
    lens = [len(tok) for tok in tokens]
    scores = [
        _bleu_counts(counts[i], lens[i], counts[:i] + counts[i + 1 :], lens[:i] + lens[i + 1 :])
        for i in range(len(tokens))
    ]
    return sum(scores) / len(scores)


def diversity_metrics(generations_by_theme: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Flat diversity figures of one model's generations grouped by theme.

    ``self_bleu_4`` is poem-weighted over themes that have at least two poems
    (``self_bleu_themes`` counts them); None marks an undefined figure.
    """
    poems = [text for texts in generations_by_theme.values() for text in texts]
    if not poems:
        raise ValueError("diversity_metrics: no generations to score; check the generate stage output")
    bleu_sum, bleu_poems, bleu_themes = 0.0, 0, 0
    for texts in generations_by_theme.values():
        score = self_bleu(texts)
        if score is not None:
            bleu_sum += score * len(texts)
            bleu_poems += len(texts)
            bleu_themes += 1
    return {
        "n_poems": len(poems),
        "n_themes": len(generations_by_theme),
        "distinct_1": distinct_n(poems, 1),
        "distinct_2": distinct_n(poems, 2),
        "repeated_line_poem_share": sum(map(has_repeated_line, poems)) / len(poems),
        "self_bleu_4": bleu_sum / bleu_poems if bleu_poems else None,
        "self_bleu_themes": bleu_themes,
    }
