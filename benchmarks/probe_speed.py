"""What the memorisation probe costs, and whether it can be cheaper with the same results.

The probe (`generate.probe_continuations`) decodes greedily for `evaluate.probe_max_new_tokens`
tokens in batches, and keeps only the second verse line of the text. Measured here on
the evaluate stage's dense base with the trained adapter (the `adapted` row), on the
first N train poems of the probe set:

- every row decoded to `probe_max_new_tokens` (the stage before per-row stopping);
- with per-row stopping (`generate.SecondLineDone`, the stage now): a row stops (and is
  fed padding, which changes nothing in the other rows) once its second verse line is
  complete, i.e. followed by a line break; the batch ends when every row has stopped. The
  kept line is then the same by construction; the script checks it;
- with a larger batch (fewer, wider decoding loops; left padding differs, so the greedy
  tokens could in principle flip in bf16; the script checks).

Usage: python benchmarks/probe_speed.py [--poems 32] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from qwen_qlora.config import load_params
from qwen_qlora.generate import probe_continuations
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.rows import models_for_rows
from qwen_qlora.text import lines


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
        today = probe_continuations(model, tok, preset, records, ev.probe_max_new_tokens, stop_per_row=False)
        t_today = time.perf_counter() - started
        print(f"every row to max_new_tokens (batch 16): {t_today:.1f} s", flush=True)
        started = time.perf_counter()
        stopped = probe_continuations(model, tok, preset, records, ev.probe_max_new_tokens)
        t_stop = time.perf_counter() - started
        print(f"per-row stopping (batch 16, the evaluate stage): {t_stop:.1f} s (x{t_today / t_stop:.2f}); "
              f"same lines: {stopped == today} ({sum(a == b for a, b in zip(stopped, today))}/{len(today)})",
              flush=True)
        started = time.perf_counter()
        wide = probe_continuations(model, tok, preset, records, ev.probe_max_new_tokens, batch_size=len(records),
                                   stop_per_row=False)
        t_wide = time.perf_counter() - started
        print(f"one batch of {len(records)}: {t_wide:.1f} s (x{t_today / t_wide:.2f}); same lines: {wide == today} "
              f"({sum(a == b for a, b in zip(wide, today))}/{len(today)})", flush=True)


if __name__ == "__main__":
    main()
