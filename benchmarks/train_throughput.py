"""Training throughput of the prepared base model: tokens/s of a QLoRA step, fp32 vs bf16.

Why: `train.precision: auto` picks bf16 only where bf16 matmuls are native. On CPUs
without AVX512-BF16/AMX they are emulated and slower than fp32; this script shows which
holds on the machine at hand.

Usage: python benchmarks/train_throughput.py [BASE_DIR] [--steps 3] [--batch 4] [--seq 256]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from qwen_qlora.config import LoraParams, QuantParams, default_presets
from qwen_qlora.model.load import fast_bf16, load_base
from qwen_qlora.model.lora import attach_lora, lora_config


def tokens_per_second(base: Path, precision: str, steps: int, batch: int, seq: int) -> float:
    preset = default_presets()["gemma-3-270m"]
    model, _ = load_base(base, preset, QuantParams(), precision)
    model = attach_lora(model, lora_config(LoraParams(), preset))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(10, 20000, (batch, seq))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    elapsed = 0.0
    for step in range(steps + 1):  # the first step warms up
        started = time.perf_counter()
        with autocast:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step:
            elapsed += time.perf_counter() - started
    return steps * batch * seq / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", nargs="?", type=Path, default=Path("models/base/gemma-3-270m"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"native bf16 on this CPU: {fast_bf16('cpu')}; threads: {torch.get_num_threads()}")
    for precision in ("fp32", "bf16"):
        tps = tokens_per_second(args.base, precision, args.steps, args.batch, args.seq)
        print(f"{precision}: {tps:.0f} tokens/s (batch {args.batch} x {args.seq}, QLoRA r=16 q/v)")


if __name__ == "__main__":
    main()
