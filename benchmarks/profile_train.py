"""Where the time goes: torch.profiler breakdown of a training step, a scoring batch and a
decode step on the default model, as the stages run them.

Every profiled op is put in one category: by its name (bitsandbytes dequantisation), by
the nearest enclosing labelled module in the forward pass (forward hooks open a
`record_function` range per module), or by the autograd node it runs under in the
backward pass. Self CPU time is summed per category, so the shares add up to the
profiled wall time of the thread that ran the step.

Three training variants are profiled on the same batches' kind (TRL's fused head over all
positions; supervised positions with the full vocabulary; with the corpus vocabulary),
scoring by full logits vs `model.head.score_batch`, and decoding with the full vs the
trimmed head.

Usage: python benchmarks/profile_train.py [BASE_DIR] [--data data/processed] [--steps 2]
       [--params params.yaml]
Prints markdown tables (benchmarks/README.md keeps the last run's).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from peft import get_peft_model
from torch.profiler import ProfilerActivity, profile, record_function

from qwen_qlora.config import load_params
from qwen_qlora.evaluation.scoring import collate, score_examples
from qwen_qlora.generation.decode import Sampling, decode
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.head import corpus_vocab, score_batch
from qwen_qlora.model.load import load_base, resolve_precision
from qwen_qlora.model.lora import attach_lora, lora_config
from qwen_qlora.model.prompts import encode_pieces, encode_records, prompt_ids
from qwen_qlora.training.trainer import build_trainer, sft_config

BACKWARD = {  # autograd node name prefix -> category
    "ChunkedLogProbFunctionBackward": "LM head + loss",
    "HeadLossBackward": "LM head + loss",
    "MatMul4Bit": "NF4 linear: matmul",
    "MmBackward": "LoRA",
    "AddmmBackward": "LoRA",
    "EmbeddingBackward": "embedding",
}


def module_label(name: str, module: Any) -> str | None:
    """The category of a module's own (exclusive) time in the forward pass."""
    kind = type(module).__name__
    if "lora_A" in name.split(".") or "lora_B" in name.split(".") or "lora_dropout" in name.split("."):
        return "LoRA"
    if kind == "Linear4bit":
        return "NF4 linear: matmul"
    if kind.endswith("RMSNorm"):
        return "norms"
    if name.endswith("embed_tokens"):
        return "embedding"
    if name.endswith("self_attn"):
        return "attention (scores, softmax, rotary)"
    if name.endswith("mlp"):
        return "MLP activation"
    if name.endswith("lm_head"):
        return "LM head + loss"
    if kind.endswith("DecoderLayer"):
        return "residuals, other"
    if kind.endswith("TextModel"):
        return "residuals, other"
    return None


class Labeller:
    """Forward hooks that wrap each labelled module's forward in a `record_function` range."""

    def __init__(self, model: Any):
        self.handles, self.stack = [], []
        for name, module in model.named_modules():
            label = module_label(name, module)
            if label is None:
                continue
            self.handles.append(module.register_forward_pre_hook(self._enter(label)))
            self.handles.append(module.register_forward_hook(self._exit))

    def _enter(self, label: str):
        def hook(module, args):
            ctx = record_function(f"cat::{label}")
            ctx.__enter__()
            self.stack.append(ctx)
        return hook

    def _exit(self, module, args, output):
        self.stack.pop().__exit__(None, None, None)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def category(event: Any, default: str) -> str:
    """The category of a profiled op: dequantisation by name, else the nearest label above it."""
    if "dequantize" in event.name.lower():
        return "NF4 dequantisation"
    node = event
    while node is not None:
        if node.name.startswith("cat::"):
            return node.name[5:]
        if node.name.startswith("autograd::engine::evaluate_function: "):
            fn = node.name.split(": ", 1)[1]
            for prefix, cat in BACKWARD.items():
                if fn.startswith(prefix):
                    return cat + " (backward)"
            return f"other backward: {fn.rstrip('0123456789')}"
        node = node.cpu_parent
    return default


def breakdown(prof: Any, default: str) -> dict[str, float]:
    """Milliseconds of self CPU time per category (the main thread only)."""
    events = prof.events()
    main = max({e.thread for e in events}, key=lambda t: sum(e.self_cpu_time_total for e in events
                                                             if e.thread == t))
    out: dict[str, float] = defaultdict(float)
    for e in events:
        if e.thread == main and not e.name.startswith("cat::") and e.self_cpu_time_total > 0:
            out[category(e, default)] += e.self_cpu_time_total / 1000
    return dict(out)


def table(title: str, parts: dict[str, float], per: int, unit: str) -> str:
    total = sum(parts.values())
    rows = [f"\n### {title}\n", f"| category | ms per {unit} | share |", "|---|---|---|"]
    for cat, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
        if ms / total >= 0.002:
            rows.append(f"| {cat} | {ms / per:.0f} | {ms / total:.1%} |")
    rows.append(f"| **total** | **{total / per:.0f}** | 100% |")
    return "\n".join(rows)


def profiled(fn, model: Any, repeat: int, default: str) -> tuple[dict[str, float], float]:
    labeller = Labeller(model)
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeat):
            fn()
    wall = time.perf_counter() - started
    labeller.remove()
    return breakdown(prof, default), wall


def profile_training(model: Any, tok: Any, train: list, val: list, cfg: Any, precision: str,
                     steps: int, label: str) -> None:
    trainer = build_trainer(model, tok, train, val, sft_config(cfg, "/tmp/profile-ckpt", precision), cfg)
    # Collation: the Trainer's data loader (TRL's collator) per batch
    loader = iter(trainer.get_train_dataloader())
    started = time.perf_counter()
    batches = [next(loader) for _ in range(steps + 1)]
    collate_ms = (time.perf_counter() - started) * 1000 / len(batches)

    # Training step: forward + backward as the Trainer runs it, then the optimizer step
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    trainer.current_gradient_accumulation_steps = 1
    queue = list(batches)

    def step() -> None:
        trainer.training_step(model, queue.pop(0))
        with record_function("cat::optimizer"):
            trainer.optimizer.step()
            trainer.optimizer.zero_grad()

    step()  # warm-up
    parts, wall = profiled(step, model, steps, "LM head + loss")
    parts["collation (data loader)"] = collate_ms * steps
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[1:])
    print(table(f"Training step, {label} (batch {cfg.per_device_train_batch_size}, {tokens / steps:.0f} tokens per step, "
                f"{tokens / wall:.0f} tokens/s under the profiler)", parts, steps, "step"), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", nargs="?", type=Path, default=Path("models/base/gemma-3-270m"))
    ap.add_argument("--data", type=Path, default=Path("data/processed"))
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--decode-rows", type=int, default=16)
    args = ap.parse_args()
    params = load_params(args.params)
    cfg, preset = params.train, params.model.selected
    torch.manual_seed(cfg.seed)
    precision = resolve_precision(cfg.precision, preset, "cpu")
    model, tok = load_base(args.base, preset, params.quant, precision)
    model = attach_lora(model, lora_config(params.lora, preset))
    train, _, _ = encode_pieces(preset, tok, read_jsonl(args.data / "train.jsonl"), cfg.max_length)
    val, _ = encode_records(preset, tok, read_jsonl(args.data / "val.jsonl"), cfg.max_length)
    print(f"threads {torch.get_num_threads()}; precision {precision}; 4-bit {params.quant.load_in_4bit}")

    variants = {"TRL's fused head (all positions, full vocabulary)": dict(supervised_head=False),
                "supervised positions, full vocabulary": dict(supervised_head=True, vocab="full"),
                "supervised positions, corpus vocabulary": dict(supervised_head=True, vocab="corpus")}
    for label, change in variants.items():
        profile_training(model, tok, train, val, dataclasses.replace(cfg, **change), precision, args.steps, label)

    # Scoring and sampling load the model as `load_adapted` does (no k-bit preparation)
    model, _ = load_base(args.base, preset, params.quant, precision)
    model = get_peft_model(model, lora_config(params.lora, preset)).eval()

    # Scoring batch: the evaluate stage's forward over the longest val batch, then score_batch
    batch = sorted(val, key=lambda e: -len(e["input_ids"]))[:params.evaluate.batch_size]
    collated = collate(batch, tok.pad_token_id)
    n = int(collated["attention_mask"].sum())
    for label, fn in (("full logits (evaluate.score_examples)",
                       lambda: score_examples(model, batch, tok.pad_token_id, len(batch))),
                      ("supervised positions (head.score_batch)", lambda: score_batch(model, collated))):
        fn()  # warm-up
        parts, wall = profiled(fn, model, 1, "LM head + loss")
        print(table(f"Scoring batch, {label} ({len(batch)} poems, {n} tokens, {n / wall:.0f} tokens/s)",
                    parts, 1, "batch"), flush=True)

    # Decode steps: sampling as the generate stage runs it (all prompts in one batch)
    rows = [prompt_ids(preset, tok, f"Напиши стихотворение на тему: {t}") for t in params.generate.themes]
    rows = (rows * args.decode_rows)[:args.decode_rows]
    width = max(map(len, rows))
    ids = torch.tensor([[tok.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = (ids != tok.pad_token_id).long()
    new = 16
    vocab = corpus_vocab(train, tok)

    def hf_generate() -> None:
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, do_sample=True, max_new_tokens=new,
                           min_new_tokens=new, pad_token_id=tok.pad_token_id)

    def cached_loop(subset: torch.Tensor | None) -> None:  # no stop token: every row decodes `new` tokens
        decode(model, rows, pad_id=tok.pad_token_id, stop_ids=[], max_new_tokens=new, vocab=subset,
               sampling=Sampling(temperature=1.0, top_p=1.0, repetition_penalty=1.0))

    for label, fn in (("transformers generate, full vocabulary", hf_generate),
                      ("generate.decode, full vocabulary", lambda: cached_loop(None)),
                      ("generate.decode, corpus vocabulary", lambda: cached_loop(vocab))):
        fn()
        parts, wall = profiled(fn, model, 1, "sampling, cache, other")
        print(table(f"Decoding, {label} ({len(rows)} rows x {new} new tokens incl. prefill, "
                    f"{len(rows) * new / wall:.1f} new tokens/s)", parts, new, "decode step"), flush=True)

if __name__ == "__main__":
    main()
