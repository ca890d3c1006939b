"""DVC stage `words`: the stressed word table the form decoder writes with.

Every word form of the cleaned poems of all poets, seen at least `words.min_count`
times, stressed by the evaluation's stress model (a homograph keeps the readings its
corpus lines' meter gives it: `words.reading_lines`, `min_reading_votes`, `min_reading_share`),
with its syllables, clausula, rhyme keys, lemmas and token ids under the selected
model's tokenizer (`generation.form.words`). Words outside it are never written by the
decoder. Writes the table (cached) and metrics/words.json: its size, its homographs (and
how many lost a reading), the share of the corpus' word occurrences it covers, and the
build time.

Usage: python stages/words.py POEMS_JSONL BASE_DIR TABLE_JSON METRICS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from transformers import AutoTokenizer

from qwen_qlora.config import load_params
from qwen_qlora.generation.form.words import Readings, build_word_table, corpus_coverage, save_table
from qwen_qlora.io import read_jsonl, write_metrics
from qwen_qlora.metrics.stress import load_stresser


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("poems", "base_dir", "table", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    started = time.perf_counter()

    # Every poet's words: the decoder may write any word of the corpus, not only hers
    texts = [p["text"] for p in read_jsonl(args.poems)]
    tokenizer = AutoTokenizer.from_pretrained(args.base_dir)
    w = params.words
    stresser = load_stresser()
    table = build_word_table(texts, stresser, tokenizer, min_count=w.min_count,
                             readings=Readings(w.reading_lines, w.min_reading_votes, w.min_reading_share))
    save_table(table, args.table)

    metrics = {
        "word_forms": len(table),
        "homographs": sum(len(e.stresses) > 1 for e in table.entries),
        # forms the stress model lists with several readings that kept fewer (`Readings`)
        "homographs_settled": sum(len(e.stresses) < len(stresser.homographs[e.text])
                                  for e in table.entries if e.text in stresser.homographs),
        "corpus_token_coverage": round(corpus_coverage(table, texts), 4),
        "poems": len(texts),
        "build_s": round(time.perf_counter() - started, 1),
    }
    write_metrics(args.metrics, metrics)
    print(f"words: {metrics['word_forms']} word forms (min count {params.words.min_count}), "
          f"{metrics['corpus_token_coverage']:.1%} of the corpus' words, {metrics['build_s']:.0f} s")


if __name__ == "__main__":
    main()
