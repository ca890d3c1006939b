"""False positives of the quoting gate: other poets' poems judged as if they were samples.

Builds the quoting index over the target poet's poems (train + val + test) and runs every
reference poem (other poets, none of them her) through `sample_quoting` and
`gate_reasons` with the evaluate params. None of them quotes her, so every failure is a
false positive (or a real quotation of her by another poet: read the listed reasons).
Prints the share of failing poems with its Wilson 95% interval, the share of flagged
lines (copied on their own, or matched to one of her poems), and the timings.

    PYTHONPATH=src python benchmarks/quoting_false_positives.py [DATA_DIR] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from qwen_qlora.config import load_params
from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.metrics.quoting import gate_reasons, sample_quoting
from qwen_qlora.stats import share_ci
from qwen_qlora.text import lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, nargs="?", default=Path("data/processed"))
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    ev = load_params(args.params).evaluate
    her = [e for split in ("train", "val", "test") for e in read_jsonl(args.data_dir / f"{split}.jsonl")]
    reference = read_jsonl(args.data_dir / "reference.jsonl")

    t0 = time.perf_counter()
    index = CorpusIndex.build([e["completion"] for e in her], doc_ids=[e["id"] for e in her])
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    records = [sample_quoting(index, r["text"], ev.min_line_words, ev.near_line_similarity) for r in reference]
    t_score = time.perf_counter() - t0

    reasons = [gate_reasons(q, ev.max_copied_line_share, ev.max_copied_run_words, ev.max_lines_from_one_poem)
               for q in records]
    failed = share_ci([bool(r) for r in reasons])
    flagged = [{m["line"] for m in q["copied_lines"]} | {m["line"] for m in q["lines_from_one_poem_matches"]}
               for q in records]
    total_lines = sum(len(lines(r["text"])) for r in reference)
    n_flagged = sum(len(f) for f in flagged)
    print(f"index: {len(her)} poems of the target poet, built in {t_build:.2f} s; "
          f"{len(reference)} reference poems scored in {t_score:.1f} s ({1000 * t_score / len(reference):.1f} ms each)")
    print(f"gate failures: {sum(map(bool, reasons))} of {len(reference)} = {failed['value']:.2%} "
          f"(95% Wilson {failed['ci_low']:.2%} - {failed['ci_high']:.2%})")
    print(f"flagged lines: {n_flagged} of {total_lines} = {n_flagged / total_lines:.3%} "
          f"(poems with any: {sum(map(bool, flagged))})")
    for r, why in zip(reference, reasons, strict=True):
        if why:
            print(f"  {r['id']}: {'; '.join(why)}")


if __name__ == "__main__":
    main()
