"""Side-by-side speed of training, scoring and sampling on the default model and corpus.

Each variant runs in its own Python process (so its peak RSS is its own), one after the
other, from the same seed, the same LoRA initialisation and the same batches:

- train: the train stage's trainer for a fixed number of optimizer steps; reported are
  forward+backward tokens/s (non-padding tokens, as train.json), the wall time per step
  (optimizer and collation included), peak RSS, and the val loss afterwards over the FULL
  vocabulary, token-weighted over every val token (the evaluate stage's definition);
- evaluate: val poems scored from logits at the supervised positions (`logits_to_keep`, the
  evaluate stage's scorer before it used `model.head`) vs the tiled head at those positions
  (`model.head.score_batch`), tokens/s;
- generate: the generate stage's adapted row (trained adapter) on its first N requests
  in one batch: `transformers`' `generate` over the full vocabulary (the sampler when the
  speed work started) vs the project's cached loop (`generate.decode`: a stopped row
  leaves the batch) over the full vocabulary and over the corpus vocabulary (the stage's
  default); poem tokens (up to each row's EOS) per second, and the wall time of the batch.
  The memorisation probe has its own script (`probe_speed.py`).

The printed table carries ratios against today's settings, the machine, its load, the
thread count and library versions. On a shared machine wall-clock speed moves with the
other processes' load, so the first columns are tokens per CPU-second of this process
(all its threads), which depend much less on it; the wall-clock figures follow.

Usage: python benchmarks/speed.py [BASE_DIR] [--steps 3] [--only NAME ...] [--rows 32]
       [--skip train evaluate generate] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TRAIN_VARIANTS: dict[str, dict[str, Any]] = {
    # name: overrides of the train (and quant / preset) params; every flag the speed work
    # added is set explicitly, so a variant means the same whatever params.yaml defaults to
    "today": {"supervised_head": False, "vocab": "full", "upcast_frozen": True},
    "supervised": {"supervised_head": True, "vocab": "full", "upcast_frozen": True},
    "supervised+corpus-vocab": {"supervised_head": True, "vocab": "corpus", "upcast_frozen": True},
    "supervised+corpus-vocab, bf16 base": {"supervised_head": True, "vocab": "corpus", "upcast_frozen": True,
                                           "load_in_4bit": False},
    "supervised+corpus-vocab, sdpa": {"supervised_head": True, "vocab": "corpus", "upcast_frozen": True,
                                      "attn": "sdpa"},
    "supervised+corpus-vocab, bf16 frozen": {"supervised_head": True, "vocab": "corpus", "upcast_frozen": False},
    # run-to-run spread of the val loss: the same variants from another seed (--only ...)
    "supervised, seed 2": {"supervised_head": True, "vocab": "full", "upcast_frozen": True, "seed": 43},
    "supervised+corpus-vocab, seed 2": {"supervised_head": True, "vocab": "corpus", "upcast_frozen": True,
                                        "seed": 43},
    "supervised+corpus-vocab, bf16 frozen, seed 2": {"supervised_head": True, "vocab": "corpus",
                                                     "upcast_frozen": False, "seed": 43},
}
DEFAULT = ["today", "supervised", "supervised+corpus-vocab", "supervised+corpus-vocab, bf16 frozen",
           "supervised+corpus-vocab, bf16 frozen, seed 2"]  # the train stage's default is bf16 frozen


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(base: Path, params_path: str, change: dict[str, Any], training: bool = True) -> tuple[Any, ...]:
    """Params with `change` applied, the base model (+ LoRA) and the encoded splits. For
    training the LoRA is attached as the train stage does; otherwise as `load_adapted` loads
    a trained adapter (no k-bit preparation), with a fresh adapter (B = 0)."""
    import torch
    from peft import get_peft_model
    from transformers import set_seed

    from qwen_qlora.config import load_params
    from qwen_qlora.io import read_jsonl
    from qwen_qlora.model.load import load_base, resolve_precision
    from qwen_qlora.model.lora import attach_lora, lora_config
    from qwen_qlora.model.prompts import encode_pieces, encode_records

    params = load_params(params_path)
    change = dict(change)
    preset = params.model.selected
    if "attn" in change:
        preset = preset.model_copy(update={"attn_implementation": change.pop("attn")})
    quant = params.quant.model_copy(update={"load_in_4bit": change.pop("load_in_4bit", params.quant.load_in_4bit)})
    cfg = params.train.model_copy(update=change)
    set_seed(cfg.seed)
    precision = resolve_precision(cfg.precision, preset, "cpu")
    model, tok = load_base(base, preset, quant, precision)
    if training:
        model = attach_lora(model, lora_config(params.lora, preset), upcast=cfg.upcast_frozen)
    else:
        model = get_peft_model(model, lora_config(params.lora, preset)).eval()
    data = Path("data/processed")
    train, _, _ = encode_pieces(preset, tok, read_jsonl(data / "train.jsonl"), cfg.max_length)
    val, _ = encode_records(preset, tok, read_jsonl(data / "val.jsonl"), cfg.max_length)
    torch.manual_seed(cfg.seed)
    return params, preset, cfg, precision, model, tok, train, val


def val_loss(model: Any, tok: Any, val: list[dict[str, Any]], batch_size: int) -> float:
    """Full-vocabulary val loss, token-weighted over every val token."""
    from qwen_qlora.evaluation.scoring import collate, length_batches
    from qwen_qlora.model.head import score_batch

    model.eval()
    scores = []
    for idx in length_batches(val, batch_size):
        scores += score_batch(model, collate([val[i] for i in idx], tok.pad_token_id))
    return sum(s["nll"] for s in scores) / sum(s["tokens"] for s in scores)


def example_shape(train: list[dict[str, Any]], tok: Any, vocab: str) -> dict[str, Any]:
    """What the FLOP count needs: the share of tokens that are supervised, the mean example
    length and the output layer's width in training."""
    from qwen_qlora.model.head import corpus_vocab

    tokens = sum(len(e["input_ids"]) for e in train)
    supervised = sum(t != -100 for e in train for t in e["labels"][1:])
    return {"supervised_share": supervised / tokens, "mean_len": tokens / len(train),
            "head_vocab": len(corpus_vocab(train, tok)) if vocab == "corpus" else len(tok)}


def run_train(base: Path, params_path: str, name: str, steps: int) -> dict[str, Any]:
    from qwen_qlora.training.trainer import build_trainer, sft_config

    params, preset, cfg, precision, model, tok, train, val = setup(base, params_path, TRAIN_VARIANTS[name])
    cfg = cfg.model_copy(update={"max_steps": steps, "eval_steps": 10 * steps, "early_stopping_patience": 0})
    loaded_rss = peak_rss_mb()
    trainer = build_trainer(model, tok, train, val, sft_config(cfg, f"/tmp/speed-ckpt/{os.getpid()}", precision), cfg)
    started, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"tokens": trainer.tokens_seen, "train_tokens_per_s": trainer.tokens_per_second,
            "step_s": wall / steps, "wall_tokens_per_s": trainer.tokens_seen / wall,
            "tokens_per_cpu_s": trainer.tokens_seen / cpu,
            "peak_rss_mb": peak_rss_mb(), "loaded_rss_mb": loaded_rss,
            "val_loss": val_loss(model, tok, val, params.evaluate.batch_size), "precision": precision,
            **example_shape(train, tok, cfg.vocab)}


def run_evaluate(base: Path, params_path: str, name: str) -> dict[str, Any]:
    from score_equality import logits_scores  # the evaluate stage's scorer before model.head

    from qwen_qlora.evaluation.scoring import collate, length_batches
    from qwen_qlora.model.head import score_batch

    params, preset, cfg, precision, model, tok, train, val = setup(base, params_path, {}, training=False)
    bs = params.evaluate.batch_size
    score = logits_scores if name == "today" else score_batch
    started, cpu = time.perf_counter(), time.process_time()
    scores = [s for idx in length_batches(val, bs) for s in score(model, collate([val[i] for i in idx], tok.pad_token_id))]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    tokens = sum(len(e["input_ids"]) for e in val)  # every position goes through the model
    nll = sum(s["nll"] for s in scores) / sum(s["tokens"] for s in scores)
    return {"tokens_per_s": tokens / wall, "wall_s": wall, "tokens_per_cpu_s": tokens / cpu, "val_loss": nll, "peak_rss_mb": peak_rss_mb()}


def generate_sample(model: Any, tok: Any, preset: Any, prompts: list[str], seed: int, g: Any) -> list[int]:
    """The sampler when the speed work started: `transformers`' `generate` over the full
    vocabulary, one left-padded batch; new tokens per row up to its EOS."""
    import torch

    from qwen_qlora.generation.decode import left_pad
    from qwen_qlora.model.prompts import prompt_ids

    ids, mask = left_pad([prompt_ids(preset, tok, p) for p in prompts], tok.pad_token_id, model.device)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=g.temperature,
                             top_p=g.top_p, repetition_penalty=g.repetition_penalty,
                             max_new_tokens=g.max_new_tokens, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id)
    counts = []
    for row in out[:, ids.shape[1]:]:
        ended = (row == tok.eos_token_id).nonzero()
        counts.append(int(ended[0]) if len(ended) else len(row))
    return counts


GENERATE_VARIANTS = ("today", "decode", "decode+corpus-vocab")


def run_generate(base: Path, params_path: str, name: str, rows: int) -> dict[str, Any]:
    """The generate stage's adapted row (the trained adapter in models/adapter on the base
    as shipped) on its first `rows` requests (prompts as the stage builds them, its
    decoding settings and max_new_tokens): `today` = `generate_sample`;
    `decode` = `generate.sample` over the full vocabulary; `+corpus-vocab` = over the
    train poems' tokens (the stage's default). Poem tokens are the sampled tokens up to
    each row's EOS; the variants draw different random numbers, so their poems differ."""
    from qwen_qlora.config import load_params
    from qwen_qlora.generation.decode import sample
    from qwen_qlora.io import read_jsonl
    from qwen_qlora.metrics.form_annotation import assign_requests, common_forms
    from qwen_qlora.model.adapted import models_for_rows
    from qwen_qlora.model.head import records_vocab
    from qwen_qlora.model.prompts import make_prompt

    params = load_params(params_path)
    g, preset = params.generate, params.model.selected
    _, model, tok = next(models_for_rows(base, "models/adapter", preset, params.quant, params.train.precision,
                                         ["adapted"]))
    records = read_jsonl(Path("data/processed/train.jsonl"))
    requests = common_forms([r["form"] for r in records if r.get("form")], g.forms)
    prompts = [make_prompt(params.split, theme, request)
               for theme, _, request in assign_requests(g.themes, g.samples_per_theme, requests)][:rows]
    started, cpu = time.perf_counter(), time.process_time()
    if name == "today":
        counts = generate_sample(model, tok, preset, prompts, g.seed, g)
    else:
        vocab = records_vocab(preset, tok, records) if name == "decode+corpus-vocab" else None
        decoding = g.decoding(end_chance="processed",  # EOS as `generate` treats it
                              vocab="corpus" if vocab is not None else "full")
        out = sample(model, tok, preset, prompts, 1, g.seed, decoding, batch_size=len(prompts), vocab=vocab)
        counts = [s["new_tokens"] for per in out for s in per]
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"new_tokens_per_s": sum(counts) / wall, "new_tokens_per_cpu_s": sum(counts) / cpu,
            "generated_tokens": sum(counts), "rows": len(prompts), "wall_s": wall, "peak_rss_mb": peak_rss_mb()}


def train_flops_per_token(config: dict[str, Any], head_vocab: int, head_share: float, recompute_head: bool,
                          mean_len: float) -> float:
    """Forward + backward FLOPs per trained token of a frozen base with LoRA, from the model
    shape: 2 FLOPs per multiply-add; forward 2N; backward 2N for the activation gradients only
    (the base's weights are frozen, so their weight gradients are never computed; the LoRA
    matrices' are negligible); causal attention over mean_len / 2 positions on average; the
    output layer (head_vocab x hidden) at `head_share` of the tokens, recomputed once in the
    backward pass when `recompute_head` (TRL's tiled head)."""
    c = config.get("text_config", config)
    h, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    body = layers * (h * (q + 2 * kv) + q * h + 3 * h * inter)
    attention = layers * 2 * q * mean_len / 2  # scores and weighted values, per token
    head = head_vocab * h * head_share * (3 if recompute_head else 2)
    return 2 * (2 * body + 2 * attention + head)


def peak_flops(seconds: float = 3.0) -> dict[str, float]:
    """FLOP/s of this process: a large bf16 and fp32 matmul, and the nominal peaks from the CPU
    flags (AMX bf16: 1024 FLOPs per cycle and core; AVX512-BF16: 128; AVX512 fp32: 64;
    AVX2 fp32: 32) at the clock /proc/cpuinfo reports."""
    import torch

    info = Path("/proc/cpuinfo").read_text()
    flags = set(next(line for line in info.splitlines() if line.startswith("flags")).split(":", 1)[1].split())
    mhz = float(next(line for line in info.splitlines() if line.startswith("cpu MHz")).split(":", 1)[1])
    cores = os.cpu_count() or 1
    per_cycle = (1024 if "amx_bf16" in flags else 128 if "avx512_bf16" in flags else 0,
                 64 if "avx512f" in flags else 32)
    out = {"nominal_bf16": per_cycle[0] * cores * mhz * 1e6, "nominal_fp32": per_cycle[1] * cores * mhz * 1e6}
    for dtype in (torch.bfloat16, torch.float32):
        a = torch.randn(2048, 2048, dtype=dtype)
        b = torch.randn(2048, 2048, dtype=dtype)
        a @ b
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            a @ b
            n += 1
        out[f"matmul_{str(dtype).split('.')[1]}"] = 2 * 2048 ** 3 * n / (time.perf_counter() - started)
    return out


def worker(args: argparse.Namespace) -> None:
    kind, name = args.worker
    if kind == "train":
        result = run_train(args.base, args.params, name, args.steps)
    elif kind == "evaluate":
        result = run_evaluate(args.base, args.params, name)
    else:
        result = run_generate(args.base, args.params, name, args.rows)
    print("RESULT " + json.dumps(result), flush=True)


def spawn(args: argparse.Namespace, kind: str, name: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, str(args.base), "--params", args.params, "--steps", str(args.steps),
           "--rows", str(args.rows), "--worker", kind, name]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"speed: {kind} {name!r} failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][7:])
    print(f"  {kind:8s} {name:38s} {json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()})}"
          f" ({time.perf_counter() - started:.0f} s)", flush=True)
    return result


def machine() -> str:
    import bitsandbytes
    import peft
    import torch
    import transformers
    import trl

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; python {platform.python_version()}, torch "
            f"{torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, peft "
            f"{peft.__version__}, bitsandbytes {bitsandbytes.__version__}")


def flops_report(train: dict[str, dict[str, Any]], config: dict[str, Any]) -> str:
    """Training FLOP/s of each variant against this machine's peaks. Model FLOPs count the
    work the task needs (full-vocabulary output layer at the supervised positions) for every
    variant; executed FLOPs count what the variant's head computes: TRL's tiled head on a CPU
    scores every position (padding excluded here) and recomputes its tiles in the backward
    pass, as the supervised head does, at the supervised positions only."""
    peak = peak_flops()
    vocab = config.get("text_config", config)["vocab_size"]
    out = ["", "FLOP/s (2 per multiply-add; frozen base: forward 2N + activation gradients 2N, no weight "
           "gradients; attention over half the mean example on average):",
           "peak: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peak.items()),
           "| variant | model GFLOP per token | executed GFLOP per token | model GFLOP/s | executed GFLOP/s | "
           "model FLOP/s / nominal bf16 peak | model / bf16 matmul rate | executed / bf16 matmul rate |",
           "|---|---|---|---|---|---|---|---|"]
    for name, r in train.items():
        model = train_flops_per_token(config, vocab, r["supervised_share"], False, r["mean_len"])
        executed = train_flops_per_token(config, r["head_vocab"], 1.0 if name == "today" else r["supervised_share"],
                                          True, r["mean_len"])
        rate = r["train_tokens_per_s"]
        out.append(f"| {name} | {model / 1e9:.3f} | {executed / 1e9:.3f} | {model * rate / 1e9:.1f} | "
                   f"{executed * rate / 1e9:.1f} | {model * rate / peak['nominal_bf16']:.2%} | "
                   f"{model * rate / peak['matmul_bfloat16']:.1%} | {executed * rate / peak['matmul_bfloat16']:.1%} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", nargs="?", type=Path, default=Path("models/base/gemma-3-270m"))
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps per training variant")
    ap.add_argument("--rows", type=int, default=32, help="generate: the stage's first N requests, one batch")
    ap.add_argument("--skip", nargs="*", default=[], choices=["train", "evaluate", "generate"],
                    help="parts not to run")
    ap.add_argument("--only", nargs="*", default=None, help="training variants to run (default: all)")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    print(f"machine: {machine()}", flush=True)
    started = time.perf_counter()
    train = {n: spawn(args, "train", n) for n in (args.only or DEFAULT)} if "train" not in args.skip else {}
    evaluate = ({n: spawn(args, "evaluate", n) for n in ("today", "supervised")}
                if "evaluate" not in args.skip else {})
    generate = {n: spawn(args, "generate", n) for n in GENERATE_VARIANTS} if "generate" not in args.skip else {}

    t0 = train.get("today")
    rows = ["| variant | tokens per CPU-second | x today | train tok/s, wall (fwd+bwd) | x today | "
            "s per step, wall | peak RSS MB | full-vocab val loss after the same tokens |",
            "|---|---|---|---|---|---|---|---|"]
    for n, r in train.items():
        cpu_x = f"{r['tokens_per_cpu_s'] / t0['tokens_per_cpu_s']:.2f}" if t0 else "-"
        wall_x = f"{r['train_tokens_per_s'] / t0['train_tokens_per_s']:.2f}" if t0 else "-"
        rows.append(f"| train: {n} | {r['tokens_per_cpu_s']:.1f} | {cpu_x} | {r['train_tokens_per_s']:.1f} | "
                    f"{wall_x} | {r['step_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['val_loss']:.4f} |")
    for kind, data, key, wall_key, names in (
            ("evaluate", evaluate, "tokens_per_cpu_s", "tokens_per_s", ("today", "supervised")),
            ("generate (poem tokens)", generate, "new_tokens_per_cpu_s", "new_tokens_per_s",
             GENERATE_VARIANTS)):
        if not data:
            continue
        base = data[names[0]]
        for n in names:
            r = data[n]
            loss = f"{r['val_loss']:.4f} (before training)" if "val_loss" in r else ""
            rows.append(f"| {kind}: {n} | {r[key]:.1f} | {r[key] / base[key]:.2f} | {r[wall_key]:.1f} | "
                        f"{r[wall_key] / base[wall_key]:.2f} | | {r['peak_rss_mb']:.0f} | {loss} |")
    print("\n" + "\n".join(rows))
    tokens = {n: r["tokens"] for n, r in train.items()}
    print(f"\ntrain tokens per variant: {tokens}; {args.steps} optimizer steps; val loss before "
          f"training (base) = evaluate row; total {time.perf_counter() - started:.0f} s")
    if train:
        print(flops_report(train, json.loads((args.base / "config.json").read_text())))
    print(f"machine at the end: {machine()}")
    assert all(math.isfinite(r["val_loss"]) for r in train.values())


if __name__ == "__main__":
    main()
