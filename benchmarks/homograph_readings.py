"""How the samples read their homographs: does the scanner, to make a line scan, give a
word a reading its corpus verse does not (the words stage's vote: `words.reading_lines`,
`min_reading_share`)? "По́том пришла зима" scans as a trochee only if "потом" is sweat.

Each sample of reports/samples.jsonl is stressed and fitted to its meter as the poetics
stage's scanner does (`metrics.meter.fit_stress_to_meter`); each word the stress model
lists with several readings is counted, and counted again when its fitted reading is one
the word table left out (a reading with under `min_reading_share` of its lines' votes).
Per row: homographs per 100 words, the share of them read against the verse, and, as a
judge the decoder does not use, the share whose fitted reading differs from the one the
stress model's homograph solver gives in context before the meter pass (it reads "Всё
это сто́ит" and "Там дом стои́т"; it errs on some words, so free rows are the baseline), each
with a Wilson 95% interval. Reads what the generate and words stages wrote; decides nothing.

Her train poems are scanned the same way, as the row a metrical poem is read against.

Usage: PYTHONPATH=src python benchmarks/homograph_readings.py [--samples reports/samples.jsonl]
           [--table models/word_table.json] [--poet data/processed/train.jsonl]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from qwen_qlora.generation.form.words import load_table
from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.meter import fit_stress_to_meter
from qwen_qlora.metrics.stress import load_stresser, mark_stress
from qwen_qlora.stats import share_ci


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=Path("reports/samples.jsonl"))
    ap.add_argument("--table", type=Path, default=Path("models/word_table.json"),
                    help="the word table whose readings count as the verse's (the words stage's output)")
    ap.add_argument("--poet", type=Path, default=Path("data/processed/train.jsonl"),
                    help="her poems (their `completion`), scanned as the row the formed rows are read against")
    args = ap.parse_args()
    table, stresser = load_table(args.table), load_stresser()
    kept = {e.text: set(e.stresses) for e in table.entries}
    by_row = defaultdict(list)
    for sample in read_jsonl(args.samples):
        by_row[sample["model"]].append(sample["text"])
    by_row[f"the poet ({args.poet.stem})"] = [r["completion"] for r in read_jsonl(args.poet)]
    print(f"{args.samples} judged by the readings of {args.table}")
    print(f"{'row':<18} {'words':>6} {'homographs /100':>16} {'read against the verse':>32} "
          f"{'against the solver in context':>32}  examples")
    for row, texts in by_row.items():
        words = 0
        flags, moved, examples = [], [], []
        for lines in stresser.stress_texts(texts):
            for line, given in zip(fit_stress_to_meter(lines), lines, strict=True):
                for w, g in zip(line.words, given.words, strict=True):
                    words += 1
                    form = w.text.lower()
                    if form not in stresser.homographs or w.n_syllables < 2:
                        continue
                    flags.append(form in kept and w.stress not in kept[form])
                    moved.append(w.stress != g.stress)
                    if flags[-1]:
                        if len(examples) < 4:
                            examples.append(mark_stress(w.text, w.stress))
        if not flags:
            print(f"{row:<18} {words:>6} {0:>16.1f}  (no homographs)")
            continue
        print(f"{row:<18} {words:>6} {100 * len(flags) / words:>16.1f} {_share(flags)} {_share(moved)}  "
              f"{', '.join(examples)}")


def _share(flags: list[bool]) -> str:
    ci = share_ci(flags)
    return f"{sum(flags):>4}/{len(flags):<4} {ci['value']:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"


if __name__ == "__main__":
    main()
