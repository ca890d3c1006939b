"""The poet stage's choice, on val only, with intervals: poet adapters (a run's
models/adapter, an experiment's, a copy of an earlier one) scored on

    her val poems          the poems the trainer's val loss is taken on (the choice rule)
    other poets' val poems the verse stage's own val draw (models/verse_adapter/verse_poems.json):
                           language kept, read on poems no test figure uses

each against the base (adapter off) and against the first adapter named, perplexity on
poem tokens (the stop token apart, as evaluate's headline), paired bootstrap over poems.
Reads no test poem; decides nothing by itself. `--test` is the one closing read once a
setting is chosen: her test poems (as evaluate scores them) for the chosen setting against
the old default, paired, instead of the two val sets.

Usage: PYTHONPATH=src python benchmarks/val_choice.py lr3e-4=/tmp/adapter_old lr1e-3=models/adapter
           [--precision auto] [--test]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transformers import AutoTokenizer

from qwen_qlora.config import load_params
from qwen_qlora.corpus.reference import reference_example
from qwen_qlora.evaluation.scoring import perplexity_ratio, score_deployed
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.load import configure_tokenizer
from qwen_qlora.model.prompts import encode_example


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("adapters", nargs="+", help="NAME=FOLDER, the first is the one the others are set against")
    ap.add_argument("--precision", default=None, help="default: train.precision, as evaluate scores")
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--test", action="store_true",
                    help="her test poems instead of the val sets: the closing read, after the choice")
    args = ap.parse_args()
    params = load_params(args.root / "params.yaml")
    preset = params.model.selected
    base = args.root / "models/base" / params.model.preset
    named = dict(a.split("=", 1) for a in args.adapters)
    if args.test:
        sets = {"her test poems": read_jsonl(args.root / "data/processed/test.jsonl")}
    else:
        verse_val = set(json.loads((args.root / "models/verse_adapter/verse_poems.json").read_text())["val"])
        sets = {"her val poems": read_jsonl(args.root / "data/processed/val.jsonl"),
                "other poets' val poems": [reference_example(r, params.split)
                                           for r in read_jsonl(args.root / "data/processed/reference.jsonl")
                                           if r["id"] in verse_val]}
    # one base model as shipped; each adapter loaded beside the first and made active in turn
    tok = configure_tokenizer(AutoTokenizer.from_pretrained(base), preset)
    examples = {s: [encode_example(preset, tok, r["prompt"], r["completion"]) for r in poems]
                for s, poems in sets.items()}
    first = next(iter(named))
    scores = score_deployed(base, named, preset, args.precision or params.train.precision, examples,
                            params.evaluate.batch_size)
    for s, rows in scores.items():
        print(f"\n{s} ({len(sets[s])} poems, {sum(x['tokens'] for x in rows['base']):.0f} poem tokens):")
        for name, sc in rows.items():
            line = f"  {name:<14} loss {sum(x['nll'] for x in sc) / sum(x['tokens'] for x in sc):.4f}"
            if name != "base":
                line += "  / base " + _ratio(perplexity_ratio(sc, rows["base"], params.evaluate.seed))
            if name not in ("base", first):
                line += f"  / {first} " + _ratio(perplexity_ratio(sc, rows[first], params.evaluate.seed))
            print(line)


def _ratio(r: dict) -> str:
    return (f"{r['test_perplexity_ratio']:.4f} [{r['test_perplexity_ratio_ci_low']:.4f}, "
            f"{r['test_perplexity_ratio_ci_high']:.4f}]")


if __name__ == "__main__":
    main()
