"""Train poems longer than `train.max_length`: how many whole-poem encoding leaves out, and
what stanza-aligned pieces (`model.prompts.encode_pieces`, the train stage's encoding) keep.

For the default author it reads ROOT/data/processed/train.jsonl; with `--author` it splits
ROOT/data/interim/poems.jsonl for that author in memory (the split stage's own function,
nothing written), as `dvc exp run -S author=...` would. Tokens are the preset tokenizer's,
from ROOT/models/base/<preset>/ (after `dvc repro prepare_model split`).

Usage: PYTHONPATH=src python benchmarks/long_poems.py [--root .] [--author pushkin] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from transformers import AutoTokenizer

from qwen_qlora.config import load_params
from qwen_qlora.corpus.split import split_corpus
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.load import configure_tokenizer
from qwen_qlora.model.prompts import IGNORE, encode_pieces, encode_records


def learned_tokens(examples: list[dict]) -> int:
    return sum(t != IGNORE for ex in examples for t in ex["labels"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--author", help="split data/interim/poems.jsonl for this author instead")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    preset, max_len = params.model.selected, params.train.max_length
    tok = configure_tokenizer(AutoTokenizer.from_pretrained(args.root / "models" / "base" / params.model.preset),
                              preset)
    if args.author:
        forms = {r["id"]: r["form"] for r in read_jsonl(args.root / "data" / "interim" / "forms.jsonl")}
        parts, _, _ = split_corpus(read_jsonl(args.root / "data" / "interim" / "poems.jsonl"), args.author,
                                   params.split, forms)
        train = parts["train"]
    else:
        train = read_jsonl(args.root / "data" / "processed" / "train.jsonl")

    whole, too_long = encode_records(preset, tok, train, max_len)
    pieces, counts, left_out = encode_pieces(preset, tok, train, max_len)
    lengths = sorted(len(p["input_ids"]) for p in pieces if "#" in p["id"])
    print(f"{args.author or params.author}: {len(train)} train poems, train.max_length={max_len} "
          f"({params.model.preset} tokens, prompt included)")
    print(f"  whole poems only: {len(whole)} kept, {len(too_long)} left out "
          f"({len(too_long) / len(train):.1%}); {learned_tokens(whole)} learned tokens")
    print(f"  with pieces:      {counts['pieces']} examples; {counts['poems_split']} poems in "
          f"{len(lengths)} pieces; {len(left_out)} left out (a line fits no piece) {left_out[:5]}; "
          f"{learned_tokens(pieces)} learned tokens")
    if lengths:
        per_poem = [int(p["id"].rsplit("/", 1)[1]) for p in pieces if "#1/" in p["id"]]
        print(f"  piece length (tokens): min {lengths[0]}, median {statistics.median(lengths):.0f}, "
              f"max {lengths[-1]}; pieces per split poem: median {statistics.median(per_poem):.0f}, "
              f"max {max(per_poem)}")


if __name__ == "__main__":
    main()
