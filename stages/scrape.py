"""DVC stage `scrape`: read every source in params.yaml into data/raw/<source>.jsonl.

Usage: python stages/scrape.py OUT_DIR STATS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qwen_qlora.config import load_params, to_dict
from qwen_qlora.corpus.authors import AuthorResolver
from qwen_qlora.corpus.scrape import scrape_source
from qwen_qlora.io import write_json, write_jsonl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("stats", type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    resolver = AuthorResolver(params.corpus.author_aliases)
    root = Path.cwd()

    # one file per source, written as each source finishes
    stats = {}
    sources = [s for s in params.corpus.sources if s.enabled]
    if not sources:
        sys.exit("scrape: no enabled sources in params.yaml (corpus.sources)")
    for source in sources:
        records, stats[source.name] = scrape_source(source, root, resolver, Path(".cache/web"))
        write_jsonl(args.out_dir / f"{source.name}.jsonl", records)
        print(f"scrape: {source.name}: {len(records)} records")

    # drop files of sources no longer configured, so clean reads exactly these
    keep = {f"{s.name}.jsonl" for s in sources}
    for old in args.out_dir.glob("*.jsonl"):
        if old.name not in keep:
            old.unlink()
    write_json(args.stats, {"sources": stats, "unmatched_authors": resolver.unmatched,
                            "config": to_dict(params.corpus)})


if __name__ == "__main__":
    main()
