"""What the memorisation probe costs, and whether it can be cheaper with the same results.

The probe (`generate.probe_continuations`) decodes greedily for `evaluate.probe_max_new_tokens`
tokens in batches, and keeps only the second verse line of the text. Measured here on
the evaluate stage's dense base with the trained adapter (the `adapted` row), on the
first N train poems of the probe set:

- as the stage runs it;
- with per-row stopping: a row stops (and is fed padding, which changes nothing in the
  other rows) once its second verse line is complete, i.e. followed by a line break; the
  batch ends when every row has stopped. The kept line is then the same by construction;
  the script checks it;
- with a larger batch (fewer, wider decoding loops; left padding differs, so the greedy
  tokens could in principle flip in bf16; the script checks).

Usage: python benchmarks/probe_speed.py [--poems 32] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from qwen_qlora.config import load_params
from qwen_qlora.generate import left_pad, probe_continuations
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.prompts import probe_parts
from qwen_qlora.model.rows import models_for_rows
from qwen_qlora.text import is_verse_line, lines


def complete_verse_lines(text: str) -> int:
    """Verse lines of `text` that are followed by a line break (cannot change any more)."""
    return sum(1 for part in text.splitlines(keepends=True)
               if part.splitlines()[0] != part and is_verse_line(part))


class SecondLineDone(StoppingCriteria):
    """Per row: True once the first line plus the generated text hold two complete verse lines."""

    def __init__(self, tokenizer: Any, firsts: list[str], width: int):
        self.tokenizer, self.firsts, self.width = tokenizer, firsts, width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.width:], skip_special_tokens=True)
        return torch.tensor([complete_verse_lines(f + t) >= 2 for f, t in zip(self.firsts, texts, strict=True)],
                            device=input_ids.device)


@torch.no_grad()
def probe_stopping(model: Any, tokenizer: Any, preset: Any, records: list[dict[str, Any]],
                   max_new_tokens: int, batch_size: int = 16) -> tuple[list[str], int]:
    """`probe_continuations` with per-row stopping; also returns the decoding steps run."""
    parts = [probe_parts(preset, tokenizer, r["prompt"], r["completion"]) for r in records]
    outputs, steps = [], 0
    for start in range(0, len(parts), batch_size):
        chunk = parts[start:start + batch_size]
        ids, mask = left_pad([head + first for head, first in chunk], tokenizer.pad_token_id, model.device)
        firsts = [tokenizer.decode(first, skip_special_tokens=True) for _, first in chunk]
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                             stopping_criteria=StoppingCriteriaList([SecondLineDone(tokenizer, firsts, ids.shape[1])]))
        steps += out.shape[1] - ids.shape[1]
        for first, row in zip(firsts, out[:, ids.shape[1]:], strict=True):
            verse = lines(first + tokenizer.decode(row, skip_special_tokens=True))
            outputs.append(verse[1] if len(verse) > 1 else "")
    return outputs, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poems", type=int, default=32)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    ev, preset = params.evaluate, params.model.selected
    train = read_jsonl(Path("data/processed/train.jsonl"))
    records = [r for r in train if len(lines(r["completion"])) >= 2][:args.poems]
    rows, model, tok = next(models_for_rows("models/base/" + params.model.preset, "models/adapter", preset,
                                            params.quant, params.train.precision, ["adapted"]))
    print(f"{len(records)} probe poems, {ev.probe_max_new_tokens} new tokens, torch threads {torch.get_num_threads()}")
    with adapter_switch(model, True):
        started = time.perf_counter()
        today = probe_continuations(model, tok, preset, records, ev.probe_max_new_tokens)
        t_today = time.perf_counter() - started
        print(f"as today (batch 16): {t_today:.1f} s", flush=True)
        started = time.perf_counter()
        stopped, steps = probe_stopping(model, tok, preset, records, ev.probe_max_new_tokens)
        t_stop = time.perf_counter() - started
        full_steps = ev.probe_max_new_tokens * -(-len(records) // 16)
        print(f"per-row stopping (batch 16): {t_stop:.1f} s (x{t_today / t_stop:.2f}); decoding steps {steps} "
              f"of {full_steps}; same lines: {stopped == today} ({sum(a == b for a, b in zip(stopped, today))}"
              f"/{len(today)})", flush=True)
        started = time.perf_counter()
        wide = probe_continuations(model, tok, preset, records, ev.probe_max_new_tokens, batch_size=len(records))
        t_wide = time.perf_counter() - started
        print(f"one batch of {len(records)}: {t_wide:.1f} s (x{t_today / t_wide:.2f}); same lines: {wide == today} "
              f"({sum(a == b for a, b in zip(wide, today))}/{len(today)})", flush=True)


if __name__ == "__main__":
    main()
