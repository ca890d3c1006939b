"""DVC stage `scrape`: read every source in params.yaml into data/raw/<source>.jsonl.

Usage: python stages/scrape.py OUT_DIR STATS_JSON [--params params.yaml] [--debug]

Bad input (params, a source file, a crawl) is reported in one message naming the file
and the fix; the other sources are still read and written, then the stage fails listing
every bad source. `--debug`, or QWEN_QLORA_DEBUG=1 in the environment (for `dvc repro`),
shows the Python traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qwen_qlora.config import ConfigError, load_params, to_dict
from qwen_qlora.corpus.authors import AuthorResolver
from qwen_qlora.corpus.scrape import scrape_source
from qwen_qlora.corpus.sources import SourceError
from qwen_qlora.io import write_json, write_jsonl

DEBUG_HINT = "(QWEN_QLORA_DEBUG=1 shows the Python traceback)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("stats", type=Path)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--debug", action="store_true", help="tracebacks for bad-input errors")
    args = ap.parse_args()
    debug = args.debug or os.environ.get("QWEN_QLORA_DEBUG", "") not in ("", "0")
    try:
        params = load_params(args.params)
    except ConfigError as err:
        if debug:
            raise
        sys.exit(f"scrape: {err} {DEBUG_HINT}")
    resolver = AuthorResolver(params.corpus.author_aliases)
    root = Path.cwd()

    # one file per source, written as each source finishes; a bad source does not stop the rest
    stats, failed = {}, []
    sources = [s for s in params.corpus.sources if s.enabled]
    if not sources:
        sys.exit("scrape: no enabled sources in params.yaml (corpus.sources)")
    for source in sources:
        try:
            records, stats[source.name] = scrape_source(source, root, resolver, Path(".cache/web"))
        except SourceError as err:
            if debug:
                raise
            failed.append(source.name)
            print(f"scrape: {source.name}: FAILED: {err}", file=sys.stderr)
            continue
        write_jsonl(args.out_dir / f"{source.name}.jsonl", records)
        skipped = stats[source.name]["skipped_files"]
        print(f"scrape: {source.name}: {len(records)} records"
              + (f", {skipped} bad file(s) skipped (on_error: skip)" if skipped else ""))

    # drop files of sources no longer configured (or failed), so clean reads exactly these
    keep = {f"{s.name}.jsonl" for s in sources if s.name not in failed}
    for old in args.out_dir.glob("*.jsonl"):
        if old.name not in keep:
            old.unlink()
    if failed:
        sys.exit(f"scrape: {len(failed)} of {len(sources)} source(s) failed ({', '.join(failed)}); "
                 f"the others are written to {args.out_dir}/. Fix each as its message says, "
                 f"or set on_error: skip (skip bad files) or enabled: false (the whole "
                 f"source) {DEBUG_HINT}")
    write_json(args.stats, {"sources": stats, "unmatched_authors": resolver.unmatched,
                            "config": to_dict(params.corpus)})


if __name__ == "__main__":
    main()
