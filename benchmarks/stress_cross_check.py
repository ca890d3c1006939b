"""The poetics stage's stress cross-check on real samples: figures per row, and its cost.

For each formed row of reports/samples.jsonl and its free row, prints the rhyme rate and
the meter, scheme and whole-form compliance under silero-stress (the primary source,
which the form decoder writes with) and under Wiktionary's stress dictionary (the check,
`metrics.dictionary_stress`), their difference, and the share of polysyllables the
dictionary lacks, with the commonest of them; how often the dictionary records silero's
stress, and how often it records several (homographs, which the scansion may choose
among); the same figures with the dictionary's first reading only, no choice left (a
sensitivity check: the first reading is the one most entries give, not the one the
context asks for); then what the cross-check costs: loading
each source, and the seconds per 100 poems of each source's scan and of the stage's whole
cross-check (both scans and the intervals).

    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/stress_cross_check.py
    PYTHONPATH=src python benchmarks/stress_cross_check.py --samples /work/main/reports/samples.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from qwen_qlora.metrics.dictionary_stress import DictionaryStresser, load_dictionary_stresser
from qwen_qlora.metrics.form_annotation import annotate_forms
from qwen_qlora.metrics.form_judge import CHECK_TOLERANCE, cross_check_figures
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.rows import FORMED_SUFFIX, is_formed

FIGURES = [("rhyme rate", "rhyme_rate_rescanned", "rhyme_rate_check"),
           ("meter", "meter_compliance", "meter_compliance_check"),
           ("scheme", "scheme_compliance", "scheme_compliance_check"),
           ("form", "form_compliance", "form_compliance_check")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=Path("reports/samples.jsonl"))
    ap.add_argument("--min-regularity", type=float, default=0.8, help="annotate.min_regularity")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--top", type=int, default=12, help="unknown words to list per row")
    args = ap.parse_args()
    samples = [json.loads(line) for line in args.samples.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = list(dict.fromkeys(s["model"] for s in samples))
    checked = [m for m in rows if is_formed(m) or m + FORMED_SUFFIX in rows]

    t0 = time.perf_counter()
    primary = load_stresser()
    t1 = time.perf_counter()
    check = load_dictionary_stresser()
    t2 = time.perf_counter()
    first_only = DictionaryStresser({w: r[:1] for w, r in check.table.items()})
    print(f"load: silero-stress {t1 - t0:.1f} s, Wiktionary dictionary {t2 - t1:.1f} s ({len(check.table)} words)\n")
    print(f"{'row':<16} {'poems':>5}  " + "  ".join(f"{name + ' (primary / check / diff)':<32}" for name, _, _ in FIGURES)
          + "  unknown share [95% CI]")
    scan_s = {"primary": 0.0, "check": 0.0, "figures": 0.0}
    n_poems = 0
    for name in checked:
        mine = [s for s in samples if s["model"] == name]
        texts = [s["text"] for s in mine]
        n_poems += len(mine)
        for label, stresser in (("primary", primary), ("check", check)):
            t = time.perf_counter()
            annotate_forms(texts, stresser, args.min_regularity)
            scan_s[label] += time.perf_counter() - t
        t = time.perf_counter()
        out = cross_check_figures(mine, primary, check, args.min_regularity, args.seed)
        scan_s["figures"] += time.perf_counter() - t
        cells = [f"{out[p]:.3f} / {out[c]:.3f} / {out[c + '_diff']:+.3f}"
                 + (" !" if abs(out[c + "_diff"]) > CHECK_TOLERANCE else "") for _, p, c in FIGURES]
        unknown = (f"{out['check_unknown_word_share']:.3f} [{out['check_unknown_word_share_ci_low']:.3f}, "
                   f"{out['check_unknown_word_share_ci_high']:.3f}] of {out['check_n_polysyllables']}")
        print(f"{name:<16} {len(mine):>5}  " + "  ".join(f"{c:<32}" for c in cells) + "  " + unknown)
        missing = Counter(w.text.lower() for poem in check.stress_texts(texts) for ln in poem for w in ln.words
                          if w.n_syllables > 1 and w.source == "heuristic")
        print(f"{'':<16}        unknown: " + ", ".join(f"{w} {c}" for w, c in missing.most_common(args.top)))
        strict = cross_check_figures(mine, primary, first_only, args.min_regularity, args.seed)
        print(f"{'':<16}        silero's stress recorded {out['check_stress_agreement']:.3f}, homographs "
              f"{out['check_homograph_share']:.3f} of {out['check_n_polysyllables_both_know']} words both know; "
              f"first reading only: " + ", ".join(f"{n} {strict[c]:.3f}" for n, _, c in FIGURES))
    per100 = {k: 100 * v / n_poems for k, v in scan_s.items()}
    print(f"\n'!': past the tolerance ({CHECK_TOLERANCE}). Per 100 poems ({n_poems} scanned): the check's scan "
          f"{per100['check']:.2f} s, the primary's {per100['primary']:.2f} s; the stage's cross-check "
          f"(`cross_check_figures`: both scans and the intervals) {per100['figures']:.2f} s, plus the "
          f"dictionary's load once ({t2 - t1:.1f} s)")


if __name__ == "__main__":
    main()
