"""Decoding and training beside a busy neighbour: torch's threads against another process.

On a 2-core laptop another busy process (a browser, a second run) takes one core. torch
starts as many threads as cores, and its OpenMP threads spin while they wait (libgomp's
default wait policy), so two threads on one free core can fight each other. This script
measures, each in a new process on the default run's model:

    decode   the generate stage's sampler (`decode.sample`): free poems on one prompt,
             the adapter on, seconds for the batch (the model load not counted)
    train    a QLoRA training step of the prepared base (`train_throughput`), tokens/s

quiet (nothing else running) with 2 threads, then beside a busy process (a pure-Python
spin loop on one core) with 2 and 1 threads, under OpenMP's default and PASSIVE wait
policy and with libgomp's spin shortened (GOMP_SPINCOUNT=10000). Ratios are against the
quiet run with 2 threads, measured in this same run.

Usage: PYTHONPATH=src python benchmarks/busy_neighbour.py [--poems 8] [--steps 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
SHORT_SPIN = {"GOMP_SPINCOUNT": "10000"}  # libgomp spins this many times, then sleeps
CONDITIONS = [  # (label, busy neighbour, torch threads, OpenMP environment; {} = the defaults)
    ("quiet, 2 threads", False, 2, {}),
    ("quiet, 2 threads, PASSIVE", False, 2, PASSIVE),
    ("quiet, 2 threads, short spin", False, 2, SHORT_SPIN),
    ("busy, 2 threads", True, 2, {}),
    ("busy, 1 thread", True, 1, {}),
    ("busy, 2 threads, PASSIVE", True, 2, PASSIVE),
    ("busy, 1 thread, PASSIVE", True, 1, PASSIVE),
    ("busy, 2 threads, short spin", True, 2, SHORT_SPIN),
]


def worker(kind: str, threads: int, poems: int, steps: int) -> None:
    """One measurement in this process; prints the figure on the last line."""
    import torch

    torch.set_num_threads(threads)
    if kind == "train":
        sys.path.insert(0, str(Path(__file__).parent))
        from train_throughput import tokens_per_second

        from qwen_qlora.config import load_params

        base = Path("models/base") / load_params("params.yaml").model.preset
        print(f"{tokens_per_second(base, 'fp32', steps, 4, 256):.1f}")
        return
    from qwen_qlora.config import QuantParams, load_params
    from qwen_qlora.generation.decode import sample
    from qwen_qlora.model.adapted import load_adapted
    from qwen_qlora.model.prompts import make_prompt

    params = load_params("params.yaml")
    model, tokenizer = load_adapted(Path("models/base") / params.model.preset, Path("models/adapter"),
                                    params.model.selected, QuantParams(load_in_4bit=False))
    prompt = make_prompt(params.split, "разлука", None)
    started = time.perf_counter()
    sample(model, tokenizer, params.model.selected, [prompt], poems, 0, params.generate.decoding(vocab="full"))
    print(f"{time.perf_counter() - started:.2f}")


def measure(kind: str, threads: int, openmp: dict[str, str], poems: int, steps: int) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(openmp)
    done = subprocess.run([sys.executable, __file__, "--worker", kind, "--threads", str(threads),
                           "--poems", str(poems), "--steps", str(steps)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} with {threads} threads failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poems", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--worker", choices=["decode", "train"], default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", default=None, metavar="LABEL",
                    help="conditions whose label is one of these (the first, quiet, is always run)")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.threads, args.poems, args.steps)
        return
    rows = []
    print("| condition | decode s | train tokens/s |  (as measured)\n|---|---|---|", flush=True)
    for label, busy, threads, openmp in CONDITIONS:
        if args.only is not None and label not in args.only and label != CONDITIONS[0][0]:
            continue
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            rows.append((label, measure("decode", threads, openmp, args.poems, args.steps),
                         measure("train", threads, openmp, args.poems, args.steps)))
            print(f"| {label} | {rows[-1][1]:.1f} | {rows[-1][2]:.0f} |", flush=True)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    quiet_decode, quiet_train = rows[0][1], rows[0][2]
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True,
                         check=False).stdout.strip()
    print(f"{cpu}; {os.cpu_count()} cores; decode: {args.poems} free poems on one prompt; train: "
          f"{args.steps} QLoRA steps of 4 x 256 tokens")
    print("\n| condition | decode s | x quiet | train tokens/s | x quiet |\n|---|---|---|---|---|")
    for label, dec, tr in rows:
        print(f"| {label} | {dec:.1f} | {dec / quiet_decode:.2f} | {tr:.0f} | {quiet_train / tr:.2f} |")


if __name__ == "__main__":
    main()
