"""Known-word share and adjective-noun disagreement of her poems, other poets and samples.

Prints, per group, the pooled share of verse words known to pymorphy3's dictionary and
the share of adjacent adjective-noun pairs that cannot agree, each with its 95% bootstrap
interval over texts (`qwen_qlora.metrics.fluency`), and the commonest unknown words;
then the CPU, the analyzer's load time and the time per 1k words. Groups: her val and
test poems, the reference poets, and every model row of reports/samples.jsonl when it
exists.

    PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/fluency.py
    PYTHONPATH=src python benchmarks/fluency.py --root /work/baseline --top 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections import defaultdict
from pathlib import Path

from qwen_qlora.metrics.fluency import fluency_summary, load_morph, text_fluency, top_unknown_words


def _read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _cpu() -> str:
    out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "?")


def _groups(root: Path) -> dict[str, list[str]]:
    data = root / "data" / "processed"
    groups = {f"her {split}": [r["completion"] for r in _read(data / f"{split}.jsonl")] for split in ("val", "test")}
    groups["other poets"] = [r["text"] for r in _read(data / "reference.jsonl")]
    samples = root / "reports" / "samples.jsonl"
    if samples.exists():
        by_model: dict[str, list[str]] = defaultdict(list)
        for r in _read(samples):
            by_model[r["model"]].append(r["text"])
        groups.update({f"samples: {model}": texts for model, texts in by_model.items()})
    return groups


def _ci(s: dict, name: str) -> str:
    if s[name] is None:
        return "n/a"
    return f"{s[name]:.4f} [{s[name + '_ci_low']:.4f}, {s[name + '_ci_high']:.4f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."), help="project root with data/ and reports/")
    ap.add_argument("--top", type=int, default=8, help="unknown words and disagreeing pairs to list")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    start = time.perf_counter()
    morph = load_morph()
    load_s = time.perf_counter() - start
    groups = _groups(args.root)
    width = max(len(name) for name in groups)
    print(f"{'group':<{width}} {'texts':>5} {'words':>7}  {'known word share [95% CI]':<27} "
          f"{'pairs':>6}  disagreeing pair share [95% CI]")
    total_words, total_s, notes = 0, 0.0, []
    for name, texts in groups.items():
        t0 = time.perf_counter()
        records = [text_fluency(t, morph) for t in texts]
        total_s += time.perf_counter() - t0
        s = fluency_summary(records, args.seed)
        total_words += s["n_words"]
        print(f"{name:<{width}} {s['n_texts']:>5} {s['n_words']:>7}  {_ci(s, 'known_word_share'):<27} "
              f"{s['n_adj_noun_pairs']:>6}  {_ci(s, 'disagreeing_pair_share')}")
        unknown = ", ".join(f"{w} {c}" for w, c in top_unknown_words(records, args.top))
        pairs = ", ".join(f"{w} {c}" for w, c in top_unknown_words(records, args.top, "disagreeing_pairs"))
        notes.append(f"{name}: unknown: {unknown or '-'}\n{'':>{len(name) + 2}}disagreeing: {pairs or '-'}")
    if not any(n.startswith("samples") for n in groups):
        notes.append(f"(no {args.root / 'reports' / 'samples.jsonl'} yet: sample rows left out)")
    print("\n" + "\n".join(notes))
    print(f"\nCPU: {_cpu()}; MorphAnalyzer import and load: {load_s:.2f} s; "
          f"{1e6 * total_s / max(total_words, 1):.0f} ms per 1k judged words "
          f"({total_words} words in {total_s:.1f} s, one process)")


if __name__ == "__main__":
    main()
