"""Rhyme pair precision and recall on hand-labelled real stanzas (no assertions).

Reads the stanzas of tests/fixtures/rhyme_stanzas.jsonl from the offline corpus
snapshot (read-only), stresses them with the real model, lets the meter settle
uncertain stresses within each stanza (`meter.fit_stress_to_meter`, as the poetics
analysis does per poem), finds rhyme pairs with `qwen_qlora.metrics.rhyme.rhyme_pairs`
and prints precision, recall, F1 and every miss and false alarm with the two line
endings as the detector heard them.

    PYTHONPATH=src python benchmarks/rhyme_eval.py
    PYTHONPATH=src python benchmarks/rhyme_eval.py --quiet           # the scores only
    PYTHONPATH=src python benchmarks/rhyme_eval.py --no-meter-pass   # the model's stresses
    PYTHONPATH=src python benchmarks/rhyme_eval.py --fixture tests/fixtures/rhyme_stanzas_holdout.jsonl

The held-out set (46 more stanzas) was labelled after the rules were written and never
used to tune them: it shows how far the numbers on the main set carry over.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qwen_qlora.metrics.meter import fit_stress_to_meter
from qwen_qlora.metrics.rhyme import RHYME_WINDOW, line_ending, rhyme_pairs
from qwen_qlora.metrics.stress import StressedLine, load_stresser, mark_stress

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.rhyme_stanzas import FIXTURE, load_stanzas, score_pairs  # noqa: E402


def _heard(line: StressedLine) -> str:
    """The line's last word as stressed, and its ending's phones."""
    end = line_ending(line)
    words = [w for w in line.words if w.n_syllables]
    last = mark_stress(words[-1].text, words[-1].stress) if words else "?"
    return f"{last} [{end.key if end else '-'}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quiet", action="store_true", help="print the scores only")
    ap.add_argument("--fixture", type=Path, default=FIXTURE, help="labelled stanzas (JSONL)")
    ap.add_argument("--no-meter-pass", action="store_true",
                    help="keep the stress model's stresses (no scansion pass)")
    args = ap.parse_args()

    stanzas = load_stanzas(args.fixture)
    stresser = load_stresser()
    stressed = stresser.stress_texts(["\n".join(st.lines) for st in stanzas])
    if not args.no_meter_pass:
        stressed = [fit_stress_to_meter(lines) for lines in stressed]
    score = score_pairs(stanzas, [rhyme_pairs(lines) for lines in stressed], RHYME_WINDOW)
    by_id = {id(st): lines for st, lines in zip(stanzas, stressed)}

    n_lines = sum(len(st.lines) for st in stanzas)
    print(f"{len(stanzas)} stanzas, {n_lines} lines, {score.tp + score.fn} gold pairs "
          f"within {RHYME_WINDOW} lines")
    print(f"precision {score.precision:.3f}  recall {score.recall:.3f}  F1 {score.f1:.3f}  "
          f"(tp {score.tp}, fp {score.fp}, fn {score.fn})")
    if args.quiet:
        return
    for title, items in (("misses", score.misses), ("false alarms", score.false_alarms)):
        print(f"\n{title} ({len(items)}):")
        for st, (i, j) in items:
            lines = by_id[id(st)]
            print(f"  {_heard(lines[i]):32} ~ {_heard(lines[j]):32} {st.source}:{st.line + i}")


if __name__ == "__main__":
    main()
