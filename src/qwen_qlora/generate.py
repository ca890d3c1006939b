"""Batched, seeded sampling for base and adapted models, and the memorization probe.

The base model is the adapted one with its adapter disabled, so both see the same
prompts, seeds and decoding settings. All prompts (each repeated for its samples) go in
one left-padded batch: on a CPU with a 4-bit base, a decoding step costs nearly the
same for 2 rows as for 16 (the weights are dequantized per step), so batching the
themes is several times faster than one batch per theme.
"""

from __future__ import annotations

from typing import Any

import torch

from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.prompts import format_prompt, prompt_ids


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
           adapter: bool = True) -> list[list[dict[str, Any]]]:
    """`n` sampled completions of each prompt, all in one batch: per prompt, a list of
    {text, new_tokens, stopped_at_eos}. The same prompts and seed give the same poems."""
    model.eval()
    device = next(model.parameters()).device
    rows = [prompt_ids(preset, tokenizer, p) for p in prompts for _ in range(n)]
    ids, mask = left_pad(rows, tokenizer.pad_token_id, device)
    torch.manual_seed(seed)
    with adapter_switch(model, adapter):
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True,
                             temperature=temperature, top_p=top_p,
                             repetition_penalty=repetition_penalty, max_new_tokens=max_new_tokens,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    results = []
    for row in out[:, ids.shape[1]:]:
        ended = (row == tokenizer.eos_token_id).nonzero()
        stop = int(ended[0]) if len(ended) else len(row)
        results.append({"text": _decode(tokenizer, row[:stop]), "new_tokens": stop,
                        "stopped_at_eos": bool(len(ended))})
    return [results[i * n:(i + 1) * n] for i in range(len(prompts))]


@torch.no_grad()
def continue_first_lines(model: Any, tokenizer: Any, preset: Any, records: list[dict[str, Any]],
                         max_new_tokens: int = 32, batch_size: int = 8,
                         adapter: bool = True) -> list[str]:
    """Greedy continuation of each record's prompt followed by its poem's first line:
    the memorization probe (does the model recite the real next line?)."""
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    texts = []
    for rec in records:
        first = rec["completion"].split("\n", 1)[0]
        texts.append(format_prompt(preset, tokenizer, rec["prompt"]) + first + "\n")
    outputs: list[str] = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        add_special = preset.prompt_format == "plain"
        ids, mask = left_pad([tokenizer(t, add_special_tokens=add_special)["input_ids"] for t in chunk],
                             pad, device)
        width = ids.shape[1]
        with adapter_switch(model, adapter):
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                 max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=pad)
        outputs.extend(_decode(tokenizer, row) for row in out[:, width:])
    return outputs
