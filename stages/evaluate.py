"""DVC stage `evaluate`: every model row on the test poems' completion tokens, and the
memorisation probe.

Rows (`qwen_qlora.rows`): base as shipped, base 4-bit, base few-shot, adapted on
the 4-bit base, adapted on the base as shipped. Test poems were never seen by training
or checkpoint selection (val). Writes metrics/eval.json ({row: figures with 95%
intervals, "headline": adapted vs base, "vs_base": every row vs base}; every perplexity and ratio
twice: `poem_*` over the poems' own tokens, the headline, and plain over every completion
token with the stop token, whose own term is `stop_nats_per_poem`) and the per-poem
values (reports/eval_per_poem.jsonl) for the report.

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
from qwen_qlora.evaluation.probe import probe_continuations, probe_hits
from qwen_qlora.evaluation.scoring import (aggregate, perplexity_ratio, poem_tokens, poems_better, score_examples,
                                           stop_term)
from qwen_qlora.io import read_jsonl, write_jsonl, write_metrics
from qwen_qlora.model.adapted import models_for_rows
from qwen_qlora.model.load import ModelLoadError
from qwen_qlora.model.prompts import encode_example, fewshot_shots
from qwen_qlora.rows import ROWS
from qwen_qlora.stats import difference_ci, flat, share_ci
from qwen_qlora.text import lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "base_dir", "adapter_dir", "metrics", "per_poem"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    ev, preset = params.evaluate, params.model.selected
    set_seed(ev.seed)
    started = time.perf_counter()
    test = read_jsonl(args.data_dir / "test.jsonl")
    train = read_jsonl(args.data_dir / "train.jsonl")
    shots = fewshot_shots(train, ev.fewshot_shots)
    probe_sets = {name: [r for r in recs if len(lines(r["completion"])) >= 2]
                  for name, recs in (("train", train), ("test", test))}

    # Score every row; the base rows are the same model with the adapter switched off
    scores, result = {}, {}
    for rows, model, tokenizer in models_for_rows(args.base_dir, args.adapter_dir, preset, params.quant,
                                                  params.train.precision, ev.rows):
        for name in rows:
            row = ROWS[name]
            examples = [encode_example(preset, tokenizer, r["prompt"], r["completion"],
                                       shots if row.fewshot else ()) for r in test]
            scores[name] = score_examples(model, examples, tokenizer.pad_token_id, ev.batch_size, adapter=row.adapter)
            result[name] = {**aggregate(scores[name], ev.seed),
                            **{f"poem_{k}": v for k, v in aggregate(poem_tokens(scores[name]), ev.seed).items()},
                            **stop_term(scores[name], ev.seed)}
            if name in ev.probe_rows:
                result[name].update(probe(model, tokenizer, preset, probe_sets, ev, row.adapter))
            print(f"evaluate: {name}: test perplexity {result[name]['poem_test_perplexity']:.2f} on poem tokens, "
                  f"{result[name]['test_perplexity']:.2f} with the stop token "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)

    # Ratios against the model as shipped; the headline is the adapter on that same base, on
    # the poems' own tokens (poem_*), and with the stop token as training scores it
    def compare(num: str, den: str) -> dict:
        return {**{f"poem_{k}": v for k, v in perplexity_ratio(poem_tokens(scores[num]), poem_tokens(scores[den]),
                                                               ev.seed).items()},
                "poem_poems_better": poems_better(poem_tokens(scores[num]), poem_tokens(scores[den])),
                **perplexity_ratio(scores[num], scores[den], ev.seed),
                "poems_better": poems_better(scores[num], scores[den]),
                "numerator": num, "denominator": den, "test_poems": len(test)}

    against_base = {name: compare(name, "base") for name in scores if name != "base"}
    result["vs_base"] = {f"{name}_{part}perplexity_ratio": round(ratio[f"{part}test_perplexity_ratio"], 4)
                         for name, ratio in against_base.items() for part in ("poem_", "")}
    result["headline"] = against_base["adapted"]
    if "base_fewshot" in scores:  # the alternative to fine-tuning: worked examples in the prompt
        result["vs_fewshot"] = compare("adapted", "base_fewshot")
    if "base_4bit" in scores:
        result["quantization"] = {k: v for k, v in against_base["base_4bit"].items() if "poems_better" not in k}
    result["runtime_s"] = time.perf_counter() - started

    rows_out = []
    for i, rec in enumerate(test):
        row = {"id": rec["id"], "title": rec.get("title"), "theme": rec["theme"], "tokens": scores["base"][i]["tokens"]}
        for name, s in scores.items():
            poem = poem_tokens([s[i]])[0]
            row[f"{name}_poem_perplexity"] = math.exp(poem["nll"] / poem["tokens"])
            row[f"{name}_perplexity"] = math.exp(s[i]["nll"] / s[i]["tokens"])
            row[f"{name}_stop_nats"] = s[i]["stop_nll"]
            row[f"{name}_token_accuracy"] = s[i]["correct"] / s[i]["tokens"]
        rows_out.append(row)
    write_jsonl(args.per_poem, rows_out)
    write_metrics(args.metrics, result)
    h = result["headline"]
    for part, what in (("poem_", "poem tokens"), ("", "with the stop token")):
        print(f"evaluate: test perplexity on {what}: base {result['base'][part + 'test_perplexity']:.2f} -> adapted "
              f"{result['adapted'][part + 'test_perplexity']:.2f} (x{h[part + 'test_perplexity_ratio']:.3f}, 95% CI "
              f"{h[part + 'test_perplexity_ratio_ci_low']:.3f}-{h[part + 'test_perplexity_ratio_ci_high']:.3f}, "
              f"{len(test)} poems)" + (f"; against few-shot x{result['vs_fewshot'][part + 'test_perplexity_ratio']:.3f}"
                                        if "vs_fewshot" in result else ""))
    print(f"evaluate: {result['runtime_s']:.0f} s")


def probe(model, tokenizer, preset, probe_sets, ev, adapter: bool) -> dict[str, float]:
    """Memorisation probe rates on train and test poems; the gap is what training added."""
    out, hits = {}, {}
    for split, records in probe_sets.items():
        generated = probe_continuations(model, tokenizer, preset, records, ev.probe_max_new_tokens,
                                        adapter=adapter)
        hits[split] = probe_hits([lines(r["completion"])[1] for r in records], generated, ev.probe_similarity)
        out.update(flat(f"probe_{split}_rate", share_ci(hits[split])))
        out[f"probe_{split}_poems"] = len(records)
    out.update(flat("probe_rate_gap", difference_ci(hits["train"], hits["test"], ev.seed)))
    out["probe_similarity_threshold"] = ev.probe_similarity
    return out


if __name__ == "__main__":
    try:
        main()
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"evaluate: {err}") from err
