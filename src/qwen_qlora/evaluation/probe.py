"""The memorisation probes: a poem's real lines given to the model, and what it writes next.

`recite_lines` (the evaluate stage's probe) asks for every verse line of a poem given the
prompt and the real lines before it, sampled with the generate stage's settings (what
people get); a line whose character similarity to the real one is at or above a threshold
counts as recited. A sampled probe can recite where a greedy one never does (a memorised
line is often the second likeliest path), and every line gives a poem many chances, not
one. `probe_continuations` is the older greedy probe of the second line only
(`benchmarks/probe_speed.py`).

Both decode through the same loop as every sample (`generation.decode.decode`), with a
per-row stop once the asked line is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from rapidfuzz import fuzz

from qwen_qlora.generation.decode import RowDone, Sampling, decode
from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.prompts import line_prefixes, probe_parts
from qwen_qlora.stats import flat, ratio_ci, ratio_difference_ci, share_ci
from qwen_qlora.text import is_verse_line, lines, normalize_line


def complete_verse_lines(text: str) -> int:
    """Verse lines of `text` that are followed by a line break (they cannot change any more)."""
    return sum(1 for part in text.splitlines(keepends=True)
               if part.splitlines()[0] != part and is_verse_line(part))


def second_line_done(tokenizer: Any, firsts: list[str]) -> RowDone:
    """`decode`'s per-row stop for the probe: True once row i's first verse line
    (`firsts[i]`) plus its new tokens hold two complete verse lines. The probe keeps only
    the second line, so a row stopped here keeps the line it would have kept after
    `max_new_tokens`."""
    def done(i: int, new: list[int]) -> bool:
        return complete_verse_lines(firsts[i] + tokenizer.decode(new, skip_special_tokens=True)) >= 2
    return done


def probe_continuations(model: Any, tokenizer: Any, preset: Any, records: list[dict[str, Any]],
                        max_new_tokens: int = 24, batch_size: int = 16, adapter: bool = True,
                        stop_per_row: bool = True) -> list[str]:
    """The memorisation probe: each record's prompt and first verse line, tokenised as in
    training (`prompts.probe_prefix`), continued greedily over the full vocabulary;
    returns the generated next verse line (empty when none came). `stop_per_row`: a row
    stops decoding once its next line is complete (`second_line_done`); the lines
    returned are the same either way."""
    parts = [probe_parts(preset, tokenizer, r["prompt"], r["completion"]) for r in records]
    outputs: list[str] = []
    for start in range(0, len(parts), batch_size):
        chunk = parts[start:start + batch_size]
        firsts = [tokenizer.decode(first, skip_special_tokens=True) for _, first in chunk]
        with adapter_switch(model, adapter):
            news = decode(model, [head + first for head, first in chunk], pad_id=tokenizer.pad_token_id,
                          stop_ids=[tokenizer.eos_token_id], max_new_tokens=max_new_tokens,
                          done=second_line_done(tokenizer, firsts) if stop_per_row else None)
        for first, new in zip(firsts, news, strict=True):
            verse = lines(first + tokenizer.decode(new, skip_special_tokens=True))
            outputs.append(verse[1] if len(verse) > 1 else "")
    return outputs


def probe_hits(expected: Sequence[str], generated: Sequence[str], threshold: float) -> list[bool]:
    """Per probe: is the generated next line the real one, by character similarity
    (rapidfuzz's normalised Indel ratio on normalised lines) at or above `threshold`?"""
    if len(expected) != len(generated):
        raise ValueError(f"probe: {len(expected)} expected lines for {len(generated)} generations")
    return [bool(g.strip()) and fuzz.ratio(normalize_line(e), normalize_line(g)) / 100 >= threshold
            for e, g in zip(expected, generated, strict=True)]


def line_similarity(expected: str, generated: str) -> float:
    """Character similarity (0-1) of two verse lines: rapidfuzz's normalised Indel ratio
    on normalised lines; 0 for an empty generation."""
    if not generated.strip():
        return 0.0
    return fuzz.ratio(normalize_line(expected), normalize_line(generated)) / 100


def nth_line_done(tokenizer: Any, prefixes: list[str], targets: list[int]) -> RowDone:
    """`decode`'s per-row stop for `recite_lines`: True once row i's text (its real prefix
    `prefixes[i]` and the new tokens) holds verse line `targets[i]` complete."""
    closed = [complete_verse_lines(p[:p.rfind("\n") + 1]) for p in prefixes]
    tails = [p[p.rfind("\n") + 1:] for p in prefixes]

    def done(i: int, new: list[int]) -> bool:
        text = tails[i] + tokenizer.decode(new, skip_special_tokens=True)
        return closed[i] + complete_verse_lines(text) > targets[i]
    return done


def recite_lines(model: Any, tokenizer: Any, preset: Any, records: list[dict[str, Any]], sampling: Sampling | None,
                 *, seed: int = 0, max_lines: int | None = None, max_new_tokens: int = 24, batch_size: int = 32,
                 vocab: torch.Tensor | None = None, adapter: bool = True,
                 progress: Callable[[int], object] | None = None) -> list[list[tuple[str, str]]]:
    """Per record, [(real line, generated line)] for its first `max_lines` verse lines
    (all when None): line k is generated from the prompt and the real completion tokens
    before it (`prompts.line_prefixes`), sampled with `sampling` (greedy when None) over
    `vocab` (every token when None), seeded with `seed`. A poem is run once and each of
    its lines branches off its key-value cache (`decode`'s `branches`); a batch holds
    whole poems, about `batch_size` lines. `progress`: called with the poems each batch probed."""
    poems = []
    for rec in records:
        head, body, targets = line_prefixes(preset, tokenizer, rec["prompt"], rec["completion"])
        poems.append((head + body, len(head), targets[:max_lines]))
    out: list[list[tuple[str, str]]] = [[] for _ in records]
    order = sorted(range(len(poems)), key=lambda p: -len(poems[p][0]))  # similar lengths pad less
    torch.manual_seed(seed)
    for positions in line_batches([len(poems[p][2]) for p in order], batch_size):
        batch = [order[i] for i in positions]
        branches, prefixes, targets = [], [], []
        for row, p in enumerate(batch):
            ids, head, lines_k = poems[p]
            for k, (n, _) in enumerate(lines_k):
                branches.append((row, head + n))
                prefixes.append(tokenizer.decode(ids[head:head + n], skip_special_tokens=True))
                targets.append(k)
        with adapter_switch(model, adapter):
            news = decode(model, [poems[p][0] for p in batch], pad_id=tokenizer.pad_token_id,
                          stop_ids=[tokenizer.eos_token_id], max_new_tokens=max_new_tokens, sampling=sampling,
                          vocab=vocab, done=nth_line_done(tokenizer, prefixes, targets), branches=branches)
        for (row, _), prefix, k, new in zip(branches, prefixes, targets, news, strict=True):
            verse = lines(prefix + tokenizer.decode(new, skip_special_tokens=True))
            out[batch[row]].append((poems[batch[row]][2][k][1], verse[k] if len(verse) > k else ""))
        if progress is not None:
            progress(len(batch))
    return out


def line_batches(counts: Sequence[int], batch_size: int) -> list[list[int]]:
    """Poem indices in batches of about `batch_size` lines, whole poems only (a longer poem
    is a batch of its own)."""
    batches: list[list[int]] = [[]]
    total = 0
    for i, n in enumerate(counts):
        if batches[-1] and total + n > batch_size:
            batches.append([])
            total = 0
        batches[-1].append(i)
        total += n
    return [b for b in batches if b]


def probe_summary(pairs: dict[str, list[list[tuple[str, str]]]], threshold: float, seed: int = 0) -> dict[str, float]:
    """The probe's figures per split of `pairs` ({split: per poem [(real, generated)]}),
    flat: ``probe_{split}_rate``, the share of lines recited (similarity >= `threshold`)
    pooled over lines with an interval resampling poems; ``probe_{split}_similarity``,
    the mean line similarity (a signal below the threshold too); ``probe_{split}_poem_share``,
    poems with a recited line (a Wilson interval, honest at zero); the counts; and
    ``probe_rate_gap``, the train rate minus the test rate, when both are there."""
    out: dict[str, float] = {}
    per_poem = {}
    for split, poems in pairs.items():
        poems = [p for p in poems if p]
        if not poems:
            raise ValueError(f"probe: no {split} poem has a verse line to probe")
        sims = [[line_similarity(e, g) for e, g in p] for p in poems]
        hits = [sum(s >= threshold for s in p) for p in sims]
        per_poem[split] = (hits, [len(p) for p in poems])
        out.update(flat(f"probe_{split}_rate", ratio_ci(*per_poem[split], seed)))
        out.update(flat(f"probe_{split}_similarity", ratio_ci([sum(p) for p in sims], per_poem[split][1], seed)))
        out.update(flat(f"probe_{split}_poem_share", share_ci([h > 0 for h in hits])))
        out[f"probe_{split}_poems"] = len(poems)
        out[f"probe_{split}_lines"] = sum(per_poem[split][1])
    if {"train", "test"} <= set(per_poem):
        out.update(flat("probe_rate_gap", ratio_difference_ci(per_poem["train"], per_poem["test"], seed)))
    out["probe_similarity_threshold"] = threshold
    return out
