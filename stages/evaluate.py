"""DVC stage `evaluate`: base vs adapted on the val poems' completion tokens.

Writes metrics/eval.json ({"base", "adapted", "delta"}) and the per-poem values beside
it (reports/eval_per_poem.jsonl) for the report.

Usage: python stages/evaluate.py DATA_DIR BASE_DIR ADAPTER_DIR METRICS_JSON PER_POEM_JSONL
       [--params params.yaml]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from transformers import set_seed

from qwen_qlora.config import load_params
from qwen_qlora.evaluate import aggregate, compare, score_examples
from qwen_qlora.io import read_jsonl, write_json, write_jsonl
from qwen_qlora.model.adapted import load_adapted
from qwen_qlora.model.load import ModelLoadError
from qwen_qlora.model.prompts import encode_example


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "base_dir", "adapter_dir", "metrics", "per_poem"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    preset = params.model.selected
    set_seed(params.train.seed)
    started = time.perf_counter()

    # The adapted model; the base is the same model with the adapter switched off
    model, tokenizer = load_adapted(args.base_dir, args.adapter_dir, preset, params.quant, params.train.precision)
    val = read_jsonl(args.data_dir / "val.jsonl")
    examples = [encode_example(preset, tokenizer, r["prompt"], r["completion"]) for r in val]

    # One scoring path, adapter off then on
    scores = {name: score_examples(model, examples, tokenizer.pad_token_id, params.evaluate.batch_size,
                                   adapter=(name == "adapted"))
              for name in ("base", "adapted")}
    result = {name: aggregate(s) for name, s in scores.items()}
    result["delta"] = compare(result["base"], result["adapted"])
    result["runtime_s"] = time.perf_counter() - started

    # Per poem, for the report
    rows = []
    for rec, base, adapted in zip(val, scores["base"], scores["adapted"], strict=True):
        row = {"id": rec["id"], "title": rec.get("title"), "theme": rec["theme"], "tokens": base["tokens"]}
        for name, s in (("base", base), ("adapted", adapted)):
            row[f"{name}_perplexity"] = math.exp(s["nll"] / s["tokens"])
            row[f"{name}_token_accuracy"] = s["correct"] / s["tokens"]
        rows.append(row)
    write_jsonl(args.per_poem, rows)
    write_json(args.metrics, result)
    print(f"evaluate: val perplexity base {result['base']['val_perplexity']:.2f} -> adapted "
          f"{result['adapted']['val_perplexity']:.2f} (x{result['delta']['val_perplexity_ratio']:.3f}); "
          f"{result['runtime_s']:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"evaluate: {err}") from err
