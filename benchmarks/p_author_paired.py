"""p_author of a formed row against its free row on the same requests, and the base-model
judge's perplexity of each row beside her own test poems.

The poetics stage gives p_author only to texts that scan as verse, so a free row's mean
covers the requests whose free poem happened to scan (15 of 32 in the default run) while
the formed row's covers all 32. This reads the run's samples (reports/samples.jsonl) and
the poetics stage's saved judge (models/attributor) and sets the two rows side by side on
the requests where both scan as verse: the paired difference, with a 95% bootstrap
interval over requests. Then the fluency judge (the base model as shipped, the poem's own
tokens after its prompt: `generate`'s base_judge_perplexity) beside the same judge on her
33 test poems (evaluate's base row, the same scoring code), which says what that figure
gives the poet's own verse. Last, where the p_author gap sits, on the same paired requests:
the classifier on each poem's words alone (punctuation and layout out), then on its words
without each line's last word (the rhyme words the form decoder plans), and the share of
words, and of line-final words, that her train poems use. Reads no model weights and no
test poem's text; decides nothing.

Usage: PYTHONPATH=src python benchmarks/p_author_paired.py [--rows adapted base]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.style import load_attributor
from qwen_qlora.rows import FORMED_SUFFIX
from qwen_qlora.stats import mean_ci
from qwen_qlora.text import lines, words


def _ci(figure: dict) -> str:
    return f"{figure['value']:.3f} [{figure['ci_low']:.3f}, {figure['ci_high']:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", default=["adapted", "base"], help="free rows that have a formed row")
    ap.add_argument("--samples", type=Path, default=Path("reports/samples.jsonl"))
    ap.add_argument("--attributor", type=Path, default=Path("models/attributor/attributor.joblib"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    samples = read_jsonl(args.samples)
    judge = load_attributor(args.attributor)
    generation = json.loads(Path("reports/generation_detail.json").read_text())
    evaluation = json.loads(Path("reports/eval_detail.json").read_text())

    paired: dict[str, list[tuple]] = {}
    print("| free row | requests | both scan as verse | free p_author | formed p_author | formed - free, paired |")
    print("|---|---|---|---|---|---|")
    for row in args.rows:
        by_request = {}
        for name in (row, row + FORMED_SUFFIX):
            mine = [s for s in samples if s["model"] == name]
            verdicts = judge.judge([s["text"] for s in mine], [s["form"] for s in mine])
            for s, p in zip(mine, verdicts, strict=True):
                by_request.setdefault((s["theme"], s["sample"]), {})[name] = p
        keys = [k for k, v in by_request.items() if None not in (v.get(row), v.get(row + FORMED_SUFFIX))]
        if not keys:
            print(f"| {row} | {len(by_request)} | 0 | | | |")
            continue
        free, formed = ([by_request[k][name] for k in keys] for name in (row, row + FORMED_SUFFIX))
        print(f"| {row} | {len(by_request)} | {len(keys)} | {_ci(mean_ci(free, args.seed))} | "
              f"{_ci(mean_ci(formed, args.seed))} | {_paired_ci(free, formed, args.seed)} |")
        paired[row] = keys

    print("\nThe fluency judge (base model as shipped, poem tokens after the prompt):")
    for name in [r for row in args.rows for r in (row, row + FORMED_SUFFIX)]:
        figure = generation.get(name, {})
        if "base_judge_perplexity" in figure:
            print(f"  {name:<16} {figure['base_judge_perplexity']:.1f} [{figure['base_judge_perplexity_ci_low']:.1f}, "
                  f"{figure['base_judge_perplexity_ci_high']:.1f}]")
    base = evaluation["base"]
    print(f"  her test poems   {base['poem_test_perplexity']:.1f} [{base['poem_test_perplexity_ci_low']:.1f}, "
          f"{base['poem_test_perplexity_ci_high']:.1f}] (evaluate's base row)")
    _where_the_gap_sits(samples, judge, paired, args.seed)


def _paired_ci(free: list[float], formed: list[float], seed: int) -> str:
    return _ci(mean_ci([b - a for a, b in zip(free, formed, strict=True)], seed))


def _line_words(text: str) -> list[list[str]]:
    return [w for w in (words(line) for line in lines(text)) if w]


def _where_the_gap_sits(samples: list[dict], judge, paired: dict[str, list[tuple]], seed: int) -> None:
    """The classifier on reduced texts, and her train poems' vocabulary, free against
    formed on the requests where both scan as verse (`paired`: (theme, sample) by row)."""
    hers = {w for r in read_jsonl(Path("data/processed/train.jsonl")) for w in words(r["completion"])}
    text_of = {(s["model"], s["theme"], s["sample"]): s["text"] for s in samples}
    views = {  # each maps the poems' words, line by line, to one figure a poem
        "p_author, words only": lambda poems: judge.p_author(["\n".join(map(" ".join, ls)) for ls in poems]),
        "p_author, words without line ends": lambda poems: judge.p_author(
            ["\n".join(" ".join(ws[:-1]) for ws in ls) for ls in poems]),
        "share of words in her train poems": lambda poems: [_share([w for ws in ls for w in ws], hers)
                                                            for ls in poems],
        "share of line-final words in them": lambda poems: [_share([ws[-1] for ws in ls], hers) for ls in poems],
    }
    print("\nWhere the gap sits (the same paired requests; formed - free with a 95% interval):")
    print("| free row | figure | free | formed | formed - free |")
    print("|---|---|---|---|---|")
    for row, requests in paired.items():
        free_poems, formed_poems = ([_line_words(text_of[(name, t, i)]) for t, i in requests]
                                    for name in (row, row + FORMED_SUFFIX))
        for name, view in views.items():
            free, formed = view(free_poems), view(formed_poems)
            print(f"| {row} | {name} | {_ci(mean_ci(free, seed))} | {_ci(mean_ci(formed, seed))} | "
                  f"{_paired_ci(free, formed, seed)} |")


def _share(ws: list[str], vocabulary: set[str]) -> float:
    return sum(w in vocabulary for w in ws) / len(ws) if ws else 0.0

if __name__ == "__main__":
    main()
