"""Corpus counts: raw, dropped by reason, merged, final.

Counts are kept per author and per source so every number can be traced to the files
behind it; line and stanza statistics describe the final poems. `headline_and_details`
splits them: the totals and the target poet's row go to metrics/corpus.json (a few dozen
keys that `dvc metrics diff` shows in a terminal), the per-author and per-source tables to
data/interim/corpus_stats.json, which the report reads.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any


def _bucket() -> dict[str, Any]:
    return {"raw": 0, "dropped": Counter(), "merged_duplicates": 0, "final": 0}


def corpus_counts(raw: list[dict[str, Any]], dropped: list[tuple[dict[str, Any], str]],
                  kept: list[dict[str, Any]], skipped_files: dict[str, int]) -> dict[str, Any]:
    """Flat-ish JSON: totals, then per author and per source."""
    by_author: dict[str, dict] = defaultdict(_bucket)
    by_source: dict[str, dict] = defaultdict(_bucket)
    for rec in raw:
        by_author[rec["author"]]["raw"] += 1
        by_source[rec["source"]]["raw"] += 1
    for rec, reason in dropped:
        by_author[rec["author"]]["dropped"][reason] += 1
        by_source[rec["source"]]["dropped"][reason] += 1
    lines_by_author: dict[str, list[int]] = defaultdict(list)
    stanzas_by_author: dict[str, list[int]] = defaultdict(list)
    for poem in kept:
        by_author[poem["author"]]["final"] += 1
        by_source[poem["source"]]["final"] += 1
        lines_by_author[poem["author"]].append(poem["n_lines"])
        stanzas_by_author[poem["author"]].append(poem["n_stanzas"])
        for v in poem["variants"]:
            if (v["source"], v["locator"]) != (poem["source"], poem["locator"]):
                by_author[v["author"]]["merged_duplicates"] += 1
                by_source[v["source"]]["merged_duplicates"] += 1

    def flat(bucket: dict[str, Any]) -> dict[str, Any]:
        out = {"raw": bucket["raw"], "dropped": sum(bucket["dropped"].values())}
        out.update({f"dropped_{k}": v for k, v in sorted(bucket["dropped"].items())})
        out.update({"merged_duplicates": bucket["merged_duplicates"], "final": bucket["final"]})
        return out

    authors = {}
    for name in sorted(by_author):
        authors[name] = flat(by_author[name])
        if lines_by_author[name]:
            authors[name].update(_line_stats(lines_by_author[name], stanzas_by_author[name]))
    sources = {name: flat(by_source[name]) | {"skipped_files": skipped_files.get(name, 0)}
               for name in sorted(by_source)}
    total = flat({"raw": len(raw), "dropped": Counter(r for _, r in dropped),
                  "merged_duplicates": sum(s["merged_duplicates"] for s in sources.values()),
                  "final": len(kept)})
    total["authors"] = len([a for a in authors.values() if a["final"]])
    total.update(_line_stats([p["n_lines"] for p in kept], [p["n_stanzas"] for p in kept]))
    return {"total": total, "by_author": authors, "by_source": sources}


def headline_and_details(counts: dict[str, Any], author: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics: totals + the target poet's row under "author" (the key is in params.yaml),
    details: per-author and per-source tables)."""
    metrics = {"total": counts["total"], "author": dict(counts["by_author"].get(author, {}))}
    return metrics, {"by_author": counts["by_author"], "by_source": counts["by_source"]}


def _line_stats(lines: list[int], stanzas: list[int]) -> dict[str, float]:
    return {"mean_lines": round(statistics.fmean(lines), 2) if lines else 0.0,
            "median_lines": float(statistics.median(lines)) if lines else 0.0,
            "mean_stanzas": round(statistics.fmean(stanzas), 2) if stanzas else 0.0,
            "quatrain_share": round(sum(1 for n in lines if n % 4 == 0) / len(lines), 4) if lines else 0.0}
