"""Does the evaluate stage's scorer (`model.head.score_batch`: backbone, then the output
layer in vocabulary tiles at the supervised positions) give the same per-poem figures as
full logits at those positions (`logits_to_keep`, then a float32 log-softmax)? On the
real base and adapter, every evaluate row, the val poems (an equality check: no test poem
is read); prints the largest per-poem differences and each path's CPU time.

Usage: python benchmarks/score_equality.py [--rows base base_4bit ...] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from qwen_qlora.config import load_params
from qwen_qlora.evaluation.scoring import collate, length_batches
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.adapted import adapter_switch, models_for_rows
from qwen_qlora.model.head import score_batch
from qwen_qlora.model.prompts import IGNORE, encode_example, fewshot_shots
from qwen_qlora.rows import ROWS


@torch.no_grad()
def logits_scores(model: Any, batch: dict[str, torch.Tensor]) -> list[dict[str, float]]:
    """The reference: logits at the predicting positions, log-softmax in float32."""
    target = batch["labels"][:, 1:]
    keep = target != IGNORE
    predicts = torch.nn.functional.pad(keep, (0, 1), value=False)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   logits_to_keep=predicts).logits
    logits = logits.reshape(-1, logits.shape[-1]).float()
    tg, rows = target[keep], keep.nonzero()[:, 0]
    logp = torch.log_softmax(logits, -1)
    nll = -logp.gather(-1, tg[:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    correct = logits.argmax(-1) == tg
    return [{"nll": float(nll[rows == r].double().sum()), "tokens": int((rows == r).sum()),
             "correct": int(correct[rows == r].sum()), "entropy": float(entropy[rows == r].double().sum())}
            for r in range(batch["input_ids"].shape[0])]


def score(fn, model, examples, pad_id, batch_size, adapter) -> tuple[list[dict[str, float]], float]:
    """Scores and the CPU seconds of this process they took (steadier than wall time on a
    shared machine)."""
    model.eval()
    out: list[Any] = [None] * len(examples)
    started = time.process_time()
    with adapter_switch(model, adapter):
        for idx in length_batches(examples, batch_size):
            for i, s in zip(idx, fn(model, collate([examples[i] for i in idx], pad_id)), strict=True):
                out[i] = s
    return out, time.process_time() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--rows", nargs="*", default=None)
    ap.add_argument("--poems", type=int, default=None, help="the first N val poems (default: all)")
    args = ap.parse_args()
    params = load_params(args.params)
    ev, preset = params.evaluate, params.model.selected
    test = read_jsonl(Path("data/processed/val.jsonl"))[:args.poems]
    shots = fewshot_shots(read_jsonl(Path("data/processed/train.jsonl")), ev.fewshot_shots)
    print(f"torch threads {torch.get_num_threads()}; {len(test)} val poems; batch size {ev.batch_size}")
    for rows, model, tok in models_for_rows("models/base/" + params.model.preset, "models/adapter", preset,
                                            params.quant, params.train.precision, args.rows or ev.rows):
        dtype = next(p.dtype for n, p in model.named_parameters() if "embed_tokens" in n)
        for name in rows:
            row = ROWS[name]
            examples = [encode_example(preset, tok, r["prompt"], r["completion"], shots if row.fewshot else ())
                        for r in test]
            want, t_ref = score(logits_scores, model, examples, tok.pad_token_id, ev.batch_size, row.adapter)
            got, t_new = score(score_batch, model, examples, tok.pad_token_id, ev.batch_size, row.adapter)
            nll_abs = max(abs(g["nll"] - w["nll"]) for g, w in zip(got, want))
            nll_rel = max(abs(g["nll"] - w["nll"]) / w["nll"] for g, w in zip(got, want))
            ent_rel = max(abs(g["entropy"] - w["entropy"]) / w["entropy"] for g, w in zip(got, want))
            loss = [sum(s["nll"] for s in x) / sum(s["tokens"] for s in x) for x in (want, got)]
            print(f"{name:13s} ({dtype}): per-poem NLL sum max |diff| {nll_abs:.2e} nats (max rel {nll_rel:.2e}), "
                  f"entropy max rel {ent_rel:.2e}; tokens equal {[g['tokens'] for g in got] == [w['tokens'] for w in want]}, "
                  f"argmax hits {sum(g['correct'] for g in got)} vs {sum(w['correct'] for w in want)}; "
                  f"test loss {loss[0]:.6f} vs {loss[1]:.6f}; CPU time {t_ref:.1f} s -> {t_new:.1f} s "
                  f"(x{t_ref / t_new:.2f})", flush=True)


if __name__ == "__main__":
    main()
