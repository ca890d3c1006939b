"""Batched, seeded sampling for every model row, and the memorisation probe.

The base model is the adapted one with its adapter disabled, so both see the same
prompts, seeds and decoding settings. The few-shot row puts worked examples before the
prompt; a base model then goes on to write the next "prompt" itself, so its sample is
cut where the prompt template's fixed text starts again (`cut_at`). All prompts (each repeated for its samples) go in
one left-padded batch: on a CPU with a 4-bit base, a decoding step costs nearly the
same for 2 rows as for 16 (the weights are dequantized per step), so batching the
themes is several times faster than one batch per theme.
"""

from __future__ import annotations

from typing import Any

import torch

from collections.abc import Sequence

from rapidfuzz import fuzz
from transformers import StoppingCriteria, StoppingCriteriaList

from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.prompts import Shot, probe_parts, prompt_ids
from qwen_qlora.text import is_verse_line, lines, normalize_line


def _decode(tokenizer: Any, ids: torch.Tensor) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True).strip()


def left_pad(rows: list[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows left-padded into one batch (generation continues at the right edge)."""
    width = max(map(len, rows))
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    return ids, mask


@torch.no_grad()
def sample(model: Any, tokenizer: Any, preset: Any, prompts: list[str], n: int, seed: int, *,
           temperature: float, top_p: float, repetition_penalty: float, max_new_tokens: int,
           adapter: bool = True, shots: Sequence[Shot] = (), cut_at: str | None = None,
           batch_size: int = 64) -> list[list[dict[str, Any]]]:
    """`n` sampled completions of each prompt, in batches of `batch_size` rows: per
    prompt, a list of {text, new_tokens, stopped_at_eos}. The same prompts and seed give
    the same poems. `cut_at`: a text at which a sample is cut (and counted as stopped)."""
    model.eval()
    device = next(model.parameters()).device
    rows = [prompt_ids(preset, tokenizer, p, shots) for p in prompts for _ in range(n)]
    results = []
    torch.manual_seed(seed)
    for start in range(0, len(rows), batch_size):
        ids, mask = left_pad(rows[start:start + batch_size], tokenizer.pad_token_id, device)
        with adapter_switch(model, adapter):
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True,
                                 temperature=temperature, top_p=top_p,
                                 repetition_penalty=repetition_penalty, max_new_tokens=max_new_tokens,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        for row in out[:, ids.shape[1]:]:
            ended = (row == tokenizer.eos_token_id).nonzero()
            stop = int(ended[0]) if len(ended) else len(row)
            text = _decode(tokenizer, row[:stop])
            cut = bool(cut_at) and cut_at in text
            results.append({"text": text.split(cut_at)[0].strip() if cut else text,
                            "new_tokens": stop, "stopped_at_eos": bool(len(ended)) or cut})
    return [results[i * n:(i + 1) * n] for i in range(len(prompts))]


def complete_verse_lines(text: str) -> int:
    """Verse lines of `text` that are followed by a line break (they cannot change any more)."""
    return sum(1 for part in text.splitlines(keepends=True)
               if part.splitlines()[0] != part and is_verse_line(part))


class SecondLineDone(StoppingCriteria):
    """Per row: True once the row's first verse line plus its generated text hold two
    complete verse lines. The probe keeps only the second line, so a row stopped here
    keeps the same line it would have kept after `max_new_tokens`; a stopped row is fed
    padding that only it attends to, so the other rows decode as before."""

    def __init__(self, tokenizer: Any, firsts: list[str], width: int):
        self.tokenizer, self.firsts, self.width = tokenizer, firsts, width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.width:], skip_special_tokens=True)
        return torch.tensor([complete_verse_lines(f + t) >= 2 for f, t in zip(self.firsts, texts, strict=True)],
                            dtype=torch.bool, device=input_ids.device)


@torch.no_grad()
def probe_continuations(model: Any, tokenizer: Any, preset: Any, records: list[dict[str, Any]],
                        max_new_tokens: int = 24, batch_size: int = 16, adapter: bool = True,
                        stop_per_row: bool = True) -> list[str]:
    """The memorisation probe: each record's prompt and first verse line, tokenised as in
    training (`prompts.probe_prefix`), continued greedily; returns the generated next
    verse line (empty when none came). `stop_per_row`: a row stops decoding once its next
    line is complete (`SecondLineDone`), and a batch once all its rows have; the lines
    returned are the same either way."""
    model.eval()
    device = next(model.parameters()).device
    parts = [probe_parts(preset, tokenizer, r["prompt"], r["completion"]) for r in records]
    outputs: list[str] = []
    for start in range(0, len(parts), batch_size):
        chunk = parts[start:start + batch_size]
        ids, mask = left_pad([head + first for head, first in chunk], tokenizer.pad_token_id, device)
        firsts = [tokenizer.decode(first, skip_special_tokens=True) for _, first in chunk]
        stopping = StoppingCriteriaList([SecondLineDone(tokenizer, firsts, ids.shape[1])] if stop_per_row else [])
        with adapter_switch(model, adapter):
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                 max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id, stopping_criteria=stopping)
        for first, row in zip(firsts, out[:, ids.shape[1]:], strict=True):
            verse = lines(first + tokenizer.decode(row, skip_special_tokens=True))
            outputs.append(verse[1] if len(verse) > 1 else "")
    return outputs


def probe_hits(expected: Sequence[str], generated: Sequence[str], threshold: float) -> list[bool]:
    """Per probe: is the generated next line the real one, by character similarity
    (rapidfuzz's normalised Indel ratio on normalised lines) at or above `threshold`?"""
    if len(expected) != len(generated):
        raise ValueError(f"probe: {len(expected)} expected lines for {len(generated)} generations")
    return [bool(g.strip()) and fuzz.ratio(normalize_line(e), normalize_line(g)) / 100 >= threshold
            for e, g in zip(expected, generated, strict=True)]
