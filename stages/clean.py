"""DVC stage `clean`: clean, filter and deduplicate raw poems.

Writes the poems, the headline counts (METRICS_JSON) and the per-author and per-source
tables (STATS_JSON, read by the report).

Usage: python stages/clean.py RAW_DIR SCRAPE_STATS OUT_JSONL METRICS_JSON STATS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from qwen_qlora.config import load_params
from qwen_qlora.corpus.clean import clean_record
from qwen_qlora.corpus.dedup import group_duplicates
from qwen_qlora.corpus.report import corpus_counts, headline_and_details
from qwen_qlora.io import read_jsonl, write_json, write_jsonl, write_metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("raw_dir", "scrape_stats", "out", "metrics", "stats"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    p = params.clean

    # read what scrape wrote
    raw = [rec for f in sorted(args.raw_dir.glob("*.jsonl")) for rec in read_jsonl(f)]
    scrape_stats = json.loads(args.scrape_stats.read_text(encoding="utf-8"))["sources"]

    # clean each record; keep the reason for every drop
    poems, dropped = [], []
    for rec in raw:
        poem, reason = clean_record(rec, p)
        if poem is None:
            dropped.append((rec, reason))
        else:
            poems.append(poem)

    # merge exact and near duplicates across and within sources
    kept, pairs = group_duplicates(poems, p.dedup_threshold, p.dedup_shingle_words,
                                   p.dedup_containment)
    target = sum(1 for x in kept if x["author"] == params.author)
    if target == 0:
        yielded = {s: v["records"] for s, v in scrape_stats.items()}
        raise SystemExit(f"clean: 0 poems left for author {params.author!r} after filtering; "
                         f"records per source: {yielded}; check `author` and corpus.sources "
                         f"in params.yaml")

    write_jsonl(args.out, kept)
    counts = corpus_counts(raw, dropped, kept, {s: v["skipped_files"] for s, v in scrape_stats.items()})
    counts["total"].update({f"dedup_{k}": v for k, v in pairs.items()})
    counts["total"]["author_conflicts"] = sum("author_conflict" in x for x in kept)
    metrics, details = headline_and_details(counts, params.author)
    write_metrics(args.metrics, metrics)
    write_json(args.stats, details)
    print(f"clean: {len(raw)} raw -> {len(poems)} poems -> {len(kept)} distinct "
          f"({target} by {params.author})")


if __name__ == "__main__":
    main()
