"""What the memorisation probe costs, and whether it can be cheaper with the same results.

The probe (`generate.probe_continuations`) decodes greedily for up to
`evaluate.probe_max_new_tokens` tokens in batches, and keeps only the second verse line of
the text. Measured here on the evaluate stage's dense base with the trained adapter (the
`adapted` row), on the first N train poems of the probe set, side by side in one run:

- `transformers`' `generate`, every row decoded to `probe_max_new_tokens` (the probe when
  the speed work started; its loop is kept here as the reference);
- `generate.decode` (the project's cached loop), every row to `probe_max_new_tokens`;
- `decode` with per-row stopping (`generate.second_line_done`, the evaluate stage): a row
  stops once its second verse line is complete and leaves the batch;
- the same with one batch of all poems (left padding differs, so a greedy token could in
  principle flip in bf16; the script checks).

Every variant must give the same lines as the first; the script prints how many do.

Usage: python benchmarks/probe_speed.py [--poems 32] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from qwen_qlora.config import load_params
from qwen_qlora.evaluation.probe import probe_continuations
from qwen_qlora.generation.decode import left_pad
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.adapted import adapter_switch, models_for_rows
from qwen_qlora.model.prompts import probe_parts
from qwen_qlora.text import lines


@torch.no_grad()
def generate_probe(model, tok, preset, records, max_new_tokens: int, batch_size: int = 16) -> list[str]:
    """The probe through `transformers`' `generate` (greedy, every row to max_new_tokens)."""
    parts = [probe_parts(preset, tok, r["prompt"], r["completion"]) for r in records]
    outputs = []
    for start in range(0, len(parts), batch_size):
        chunk = parts[start:start + batch_size]
        ids, mask = left_pad([head + first for head, first in chunk], tok.pad_token_id, model.device)
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens,
                             eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
        for (_, first), row in zip(chunk, out[:, ids.shape[1]:], strict=True):
            verse = lines(tok.decode(first, skip_special_tokens=True) + tok.decode(row, skip_special_tokens=True))
            outputs.append(verse[1] if len(verse) > 1 else "")
    return outputs


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
    n = ev.probe_max_new_tokens
    print(f"{len(records)} probe poems, {n} new tokens, torch threads {torch.get_num_threads()}")
    variants = {
        "generate, every row to max_new_tokens (batch 16)": lambda: generate_probe(model, tok, preset, records, n),
        "decode, every row to max_new_tokens (batch 16)":
            lambda: probe_continuations(model, tok, preset, records, n, stop_per_row=False),
        "decode, per-row stopping (batch 16, the evaluate stage)":
            lambda: probe_continuations(model, tok, preset, records, n),
        f"decode, per-row stopping (one batch of {len(records)})":
            lambda: probe_continuations(model, tok, preset, records, n, batch_size=len(records)),
    }
    first, t_first = None, None
    with adapter_switch(model, True):
        for name, run in variants.items():
            started = time.perf_counter()
            got = run()
            took = time.perf_counter() - started
            first, t_first = (got, took) if first is None else (first, t_first)
            print(f"{name}: {took:.1f} s (x{t_first / took:.2f}); same lines as the first: "
                  f"{sum(a == b for a, b in zip(got, first, strict=True))}/{len(first)}", flush=True)


if __name__ == "__main__":
    main()
