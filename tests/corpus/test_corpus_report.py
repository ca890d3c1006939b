"""Corpus counts: the headline figures for metrics/corpus.json and the detailed tables."""

from qwen_qlora.corpus.report import corpus_counts, headline_and_details


def _poem(author, source, locator):
    return {"author": author, "source": source, "locator": locator, "n_lines": 8, "n_stanzas": 2,
            "variants": [{"author": author, "source": source, "locator": locator}]}


def test_headline_keeps_totals_and_target_row_only():
    raw = [{"author": a, "source": s} for a, s in [("akhmatova", "md"), ("akhmatova", "csv"), ("blok", "md")]]
    dropped = [(raw[1], "stub")]
    kept = [_poem("akhmatova", "md", "a.md"), _poem("blok", "md", "b.md")]
    metrics, details = headline_and_details(corpus_counts(raw, dropped, kept, {"md": 0, "csv": 2}), "akhmatova")
    assert set(metrics) == {"total", "author"}
    assert metrics["author"] == details["by_author"]["akhmatova"] and metrics["author"]["final"] == 1
    assert metrics["author"]["dropped_stub"] == 1 and metrics["total"]["final"] == 2
    assert set(details["by_author"]) == {"akhmatova", "blok"}
    assert details["by_source"]["csv"] == {"raw": 1, "dropped": 1, "dropped_stub": 1, "merged_duplicates": 0,
                                           "final": 0, "skipped_files": 2}
    assert all(isinstance(v, (int, float)) for row in metrics.values() for v in row.values())  # flat rows
