"""DVC stage `split`: leak-free train/val/test split of the target poet, plus the reference set.

With split.prompt_form: annotated the prompts name each poem's form from the annotate
stage's FORMS_JSONL; with none (the default) every prompt is split.prompt_template.

Usage: python stages/split.py POEMS_JSONL FORMS_JSONL OUT_DIR METRICS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qwen_qlora.config import load_params
from qwen_qlora.corpus.split import split_corpus
from qwen_qlora.io import read_jsonl, write_jsonl, write_metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("poems", "forms", "out_dir", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)

    poems = read_jsonl(args.poems)
    forms = {r["id"]: r["form"] for r in read_jsonl(args.forms)}
    try:
        parts, reference, stats = split_corpus(poems, params.author, params.split, forms)
    except ValueError as err:
        raise SystemExit(str(err)) from err

    for name, examples in parts.items():
        write_jsonl(args.out_dir / f"{name}.jsonl", examples)
    write_jsonl(args.out_dir / "reference.jsonl", reference)
    write_metrics(args.metrics, {"author": params.author, **stats})
    print(f"split: {params.author}: " + ", ".join(f"{len(v)} {k}" for k, v in parts.items())
          + f"; {len(reference)} reference poems")


if __name__ == "__main__":
    main()
