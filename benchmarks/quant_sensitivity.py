"""What re-quantizing the base to 4-bit costs, and which modules kept out of 4-bit fix it.

The default model ships as a Q4_K_M GGUF: its weights are already 4-bit, dequantized by
prepare_model. QLoRA quantizes them again to NF4, which adds a second rounding. This
script scores the val poems (a design choice is made on val; test is read to report) with
the evaluate stage's scorer (token-weighted perplexity with a paired 95% bootstrap
interval against the unquantized base) for the base in 16/32 bits
and in NF4 with several choices of `quant.skip_modules` (`llm_int8_skip_modules`).

Usage: python benchmarks/quant_sensitivity.py [--base models/base/gemma-3-270m]
       [--poems data/processed/val.jsonl] [--variants none first last first+last attn mlp]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

from qwen_qlora.config import QuantParams, default_presets
from qwen_qlora.evaluation.scoring import aggregate, perplexity_ratio, score_examples
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.load import fast_bf16, load_base
from qwen_qlora.model.prompts import encode_example


def variants(n_layers: int) -> dict[str, list[str] | None]:
    last = f"model.layers.{n_layers - 1}"
    return {
        "dense": None,
        "nf4": [],
        "nf4, first block dense": ["model.layers.0"],
        "nf4, last block dense": [last],
        "nf4, first+last dense": ["model.layers.0", last],
        # patterns match from the start of a module name (transformers' should_convert_module)
        "nf4, attention dense": [r"model\.layers\.\d+\.self_attn"],
        "nf4, MLP dense": [r"model\.layers\.\d+\.mlp"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, default=Path("models/base/gemma-3-270m"))
    ap.add_argument("--poems", type=Path, default=Path("data/processed/val.jsonl"))
    ap.add_argument("--preset", default="gemma-3-270m")
    args = ap.parse_args()
    preset = default_presets()[args.preset]
    precision = "bf16" if fast_bf16("cpu") else "fp32"
    test = read_jsonl(args.poems)
    n_layers = json.loads((args.base / "config.json").read_text())["num_hidden_layers"]
    scores, rows = {}, []
    for name, skip in variants(n_layers).items():
        quant = QuantParams(load_in_4bit=skip is not None, skip_modules=skip or [])
        started = time.perf_counter()
        model, tok = load_base(args.base, preset, quant, precision)
        examples = [encode_example(preset, tok, r["prompt"], r["completion"]) for r in test]
        scores[name] = score_examples(model, examples, tok.pad_token_id, batch_size=8)
        agg = aggregate(scores[name])
        ratio = perplexity_ratio(scores[name], scores["dense"]) if name != "dense" else None
        dense_params = sum(p.numel() for n, p in model.named_parameters() if p.dtype.is_floating_point)
        rows.append((name, agg["test_perplexity"], ratio, dense_params, time.perf_counter() - started))
        del model
        gc.collect()
    print(f"{len(test)} poems of {args.poems}, {agg['test_tokens']} completion tokens, precision {precision}")
    print(f"{'variant':28} {'perplexity':>10} {'x dense (95% CI)':>24} {'float params':>13} {'s':>5}")
    for name, ppl, ratio, dense, secs in rows:
        r = (f"{ratio['test_perplexity_ratio']:.3f} ({ratio['test_perplexity_ratio_ci_low']:.3f}-"
             f"{ratio['test_perplexity_ratio_ci_high']:.3f})" if ratio else "1")
        print(f"{name:28} {ppl:10.2f} {r:>24} {dense / 1e6:12.1f}M {secs:5.0f}")


if __name__ == "__main__":
    main()
