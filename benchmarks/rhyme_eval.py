"""Rhyme pair precision and recall on hand-labelled real stanzas (no assertions).

Reads the labelled stanzas of tests/fixtures (rhyme_stanzas*.jsonl) from the offline
corpus snapshot (read-only), stresses them with the real model, lets the meter settle
uncertain stresses within each stanza (`meter.fit_stress_to_meter`, as the poetics
analysis does per poem), finds rhyme pairs with `qwen_qlora.metrics.rhyme.rhyme_pairs`
and prints, per set: pairs, precision and recall with 95% Wilson intervals, and the
missed pairs split by cause: a stress error (a line's last stress heard elsewhere than
a reader puts it, by the labelled clausulae) or a rule miss (stresses right, pair
refused). Where clausulae are labelled it also scores the detector on them (the
stresses a reader gives), which shows what the rules alone achieve.

    PYTHONPATH=src python benchmarks/rhyme_eval.py                   # every set, scores only
    PYTHONPATH=src python benchmarks/rhyme_eval.py --set hard --show # misses, false alarms
    PYTHONPATH=src python benchmarks/rhyme_eval.py --no-meter-pass   # the model's stresses

Sets: `old` (211 stanzas of 12 poets), `old-holdout` (46, labelled after those rules
were written), `hard` (134 windows of 20th-century poets, inexact and compound rhymes:
the set the current rules were tuned on) and `hard-holdout` (61 windows drawn with it,
labelled after the rules were committed; they have not changed since).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qwen_qlora.metrics.meter import fit_stress_to_meter
from qwen_qlora.metrics.rhyme import RHYME_WINDOW, line_ending, rhyme_pairs
from qwen_qlora.metrics.stress import StressedLine, load_stresser, mark_stress
from qwen_qlora.stats import share_ci

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fixtures.rhyme_stanzas import FIXTURE, load_stanzas, miss_causes, score_pairs  # noqa: E402

SETS = {"old": FIXTURE, "old-holdout": FIXTURE.with_name("rhyme_stanzas_holdout.jsonl"),
        "hard": FIXTURE.with_name("rhyme_stanzas_hard.jsonl"),
        "hard-holdout": FIXTURE.with_name("rhyme_stanzas_hard_holdout.jsonl")}


def _heard(line: StressedLine) -> str:
    """The line's last word as stressed, and its ending's phones."""
    end = line_ending(line)
    words = [w for w in line.words if w.n_syllables]
    last = mark_stress(words[-1].text, words[-1].stress) if words else "?"
    return f"{last} [{end.key if end else '-'}]"


def _ci(k: int, n: int) -> str:
    if n == 0:
        return "-"
    ci = share_ci([True] * k + [False] * (n - k))
    return f"{k / n:.3f} [{ci['ci_low']:.3f}, {ci['ci_high']:.3f}]"


def evaluate(name: str, stresser, meter_pass: bool, show: bool) -> None:
    stanzas = load_stanzas(SETS[name])
    stressed = stresser.stress_texts(["\n".join(st.lines) for st in stanzas])
    if meter_pass:
        stressed = [fit_stress_to_meter(lines) for lines in stressed]
    score = score_pairs(stanzas, [rhyme_pairs(lines) for lines in stressed], RHYME_WINDOW)
    causes = miss_causes(score, stanzas, stressed)
    print(f"\n{name}: {len(stanzas)} stanzas, {sum(len(st.lines) for st in stanzas)} lines, "
          f"{score.tp + score.fn} gold pairs within {RHYME_WINDOW} lines")
    print(f"  precision {_ci(score.tp, score.tp + score.fp)}  recall "
          f"{_ci(score.tp, score.tp + score.fn)}  (tp {score.tp}, fp {score.fp}, fn {score.fn})")
    print(f"  misses: {causes.stress_errors} stress errors, {causes.rule_misses} rule misses"
          + (f", {causes.unknown} without labelled stresses" if causes.unknown else ""))
    if all(st.clausulae is not None for st in stanzas):
        gold = score_pairs(stanzas, [rhyme_pairs(lines, clausulae=st.clausulae)
                                     for st, lines in zip(stanzas, stressed)], RHYME_WINDOW)
        print(f"  with a reader's stresses: precision {_ci(gold.tp, gold.tp + gold.fp)}  "
              f"recall {_ci(gold.tp, gold.tp + gold.fn)}")
    if not show:
        return
    by_id = {id(st): lines for st, lines in zip(stanzas, stressed)}
    for title, items in (("misses", score.misses), ("false alarms", score.false_alarms)):
        print(f"\n  {title} ({len(items)}):")
        for st, (i, j) in items:
            lines = by_id[id(st)]
            print(f"    {_heard(lines[i]):32} ~ {_heard(lines[j]):32} {st.source}:{st.line + i}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=[*SETS, "all"], default="all", help="which labelled set")
    ap.add_argument("--show", action="store_true", help="print every miss and false alarm")
    ap.add_argument("--no-meter-pass", action="store_true",
                    help="keep the stress model's stresses (no scansion pass)")
    args = ap.parse_args()

    stresser = load_stresser()
    for name in SETS if args.set == "all" else [args.set]:
        if SETS[name].is_file():
            evaluate(name, stresser, not args.no_meter_pass, args.show)


if __name__ == "__main__":
    main()
