"""Time the poetics scan on real poems and print the corpus profile (no assertions).

Reads one poet's Markdown files from the offline corpus snapshot (read-only), strips
their headers roughly, repeats them to `--n` poems and times stressing plus meter,
rhyme and scheme analysis, then prints the profile of the distinct poems.

    PYTHONPATH=src python benchmarks/scan_poems.py --n 1000
    PYTHONPATH=src python benchmarks/scan_poems.py --poet blok
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from qwen_qlora.metrics.poetics import analyse_poems, profile_from_analyses
from qwen_qlora.metrics.stress import load_stresser

CORPUS = Path(__file__).resolve().parents[1] / "../shared/corpus/sources/clody_spark/poetry"


def read_markdown_poem(path: Path) -> str:
    """The verse of one Clody_Spark file: headings, the 'Автор:' line and the site's
    '... - стихи' captions dropped; a blank line after every verse line is kept (the
    stanza code recognises that artefact)."""
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.startswith("#") or s.startswith("Автор:") or s.endswith(" - стихи"):
            continue
        keep.append(s)
    return "\n".join(keep).strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poet", default="akhmatova")
    ap.add_argument("--n", type=int, default=1000, help="poems to scan (the corpus is repeated)")
    args = ap.parse_args()

    poems = [p for p in (read_markdown_poem(f) for f in sorted((CORPUS / args.poet).glob("*.md")))
             if sum(1 for ln in p.splitlines() if ln.strip()) >= 4]
    if not poems:
        raise SystemExit(f"no poems with 4+ lines under {CORPUS / args.poet}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{len(poems)} distinct {args.poet} poems with 4+ lines")

    t0 = time.perf_counter()
    stresser = load_stresser()
    print(f"load stress model: {time.perf_counter() - t0:.1f} s")

    batch = (poems * (args.n // len(poems) + 1))[: args.n]
    t0 = time.perf_counter()
    analyses = analyse_poems(batch, stresser)
    seconds = time.perf_counter() - t0
    n_lines = sum(len(a.verse) for a in analyses)
    print(f"scanned {len(batch)} poems ({n_lines} verse lines) in {seconds:.1f} s: "
          f"{1000 * seconds / len(batch):.1f} ms per poem")

    profile = profile_from_analyses(analyses[: len(poems)])
    for key, value in profile.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
