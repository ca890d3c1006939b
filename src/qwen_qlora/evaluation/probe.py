"""The memorisation probe: each poem's prompt and first verse line, continued greedily;
a continuation close to the real next line counts as recited.

It decodes through the same loop as every sample (`generation.decode.decode`), with a
per-row stop once the next line is complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rapidfuzz import fuzz

from qwen_qlora.generation.decode import RowDone, decode
from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.prompts import probe_parts
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
