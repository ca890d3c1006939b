"""Read every configured source into raw records with canonical author keys.

`scrape_source(source, root, resolver, cache_dir)` dispatches on `source.kind` to one
reader (sources.py, or the crawler for `web`), then adds the canonical `author` key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qwen_qlora.config import SourceParams
from qwen_qlora.corpus.authors import AuthorResolver
from qwen_qlora.corpus.sources import READERS, SourceError


def scrape_source(source: SourceParams, root: Path, resolver: AuthorResolver,
                  cache_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Raw records of one source and its stats (records, skipped files, crawl figures)."""
    stats: dict[str, Any] = {}
    if source.kind == "web":
        from qwen_qlora.corpus.crawl import crawl_web  # Scrapy only when crawling

        records, stats = crawl_web(source, Path(source.cache_dir) if source.cache_dir else cache_dir)
        skipped: list[dict[str, str]] = []
    else:
        records, skipped = READERS[source.kind](source, root)
    unknown_author = 0
    for rec in records:
        rec["author"] = resolver.resolve(rec.get("author_raw"))
        if rec["author"] is None:
            unknown_author += 1
            rec["author"] = "unknown"
    if not records and not skipped:
        raise SourceError(f"corpus.sources[{source.name}]: read 0 poems from "
                          f"{source.path or source.url}; check path, glob and kind")
    stats.update({"records": len(records), "skipped_files": len(skipped),
                  "unknown_author": unknown_author})
    if skipped:
        stats["skipped"] = skipped
    return records, stats
