"""Verbatim quoting of generated poems against every text the project knows, and the gate.

The claim is "original poems in the poet's style, not quotations", so a generation is
checked against everything known, not only what was trained on: the target poet's
train, val and test poems, every raw record as scraped (variants merged by dedup and
records dropped by clean included) and the reference poets. `known_texts` lays them out
with a provenance label per document; `sample_quoting` scores one poem; the gate judges
each sample on its own (a pooled share would let two recited poems hide among fourteen
originals): a sample fails when it is empty, when its copied-line share (exact or near)
exceeds the threshold, or when its longest copied word run reaches the limit. Light
rewordings fail too (`metrics.alignment`): more than `max_poem_lines` of its lines
matching lines of one known poem (verbatim, short lines included, or within two word
edits each), two lines copied from one poem (each a copy on its own, however far apart),
or a cento: more than `max_poem_lines` lines, over `max_share` of its lines, that occur
verbatim in known poems (lines of 2 words and more that hold a content word).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.stats import flat, mean_ci, ratio_ci, share_ci
from qwen_qlora.text import content_words, lines, verse_words

# The order is the order of preference when one line occurs in several documents: a hit
# names the most specific known source (a target split before a raw record).
ROLES = ("train", "val", "test", "reference", "raw")


def known_texts(splits: dict[str, Iterable[dict[str, Any]]], reference: Iterable[dict[str, Any]],
                raw: Iterable[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(texts, provenance labels) of every known poem: `splits` maps train/val/test to
    example records (`completion`), `reference` holds cleaned poems of other poets and
    `raw` the scraped records (`source`, `locator`). Labels read like
    ``test:akhmatova-0de463d26a «Летний сад»`` or ``raw:lyriccloud:Ahmatova.txt#12``."""
    texts, labels = [], []
    for role, records in splits.items():
        for r in records:
            texts.append(r["completion"])
            labels.append(f"{role}:{r['id']}" + (f" «{r['title']}»" if r.get("title") else ""))
    for r in reference:
        texts.append(r["text"])
        labels.append(f"reference:{r['id']}" + (f" «{r['title']}»" if r.get("title") else ""))
    for r in raw:
        texts.append(r.get("text") or "")
        locator = str(r.get("locator", "?")).rsplit("/", 1)[-1]
        labels.append(f"raw:{r.get('source', '?')}:{locator}")
    return texts, labels


def sample_quoting(index: CorpusIndex, text: str, min_line_words: int = 3,
                   near_similarity: float | None = 0.85) -> dict[str, Any]:
    """Quoting figures of one generation, flat and JSON-ready."""
    overlap = index.ngram_overlap(text)
    run, doc = index.longest_run(text)
    aligned = index.align(text, min_line_words)
    eligible, matches = index.line_matches(text, min_line_words, near_similarity, aligned)
    best = aligned[0] if aligned else None
    most_copied = max(aligned, key=lambda m: (m.strong, len(m.pairs), -m.doc), default=None)
    verse = lines(text)
    exact = [m for m in matches if m.kind == "exact"]
    short_eligible, found = index.line_matches(text, 2, None, [])
    verbatim = [m for m in found if content_words(m.line)]
    record: dict[str, Any] = {f"ngram_overlap_{n}": share for n, share in overlap.items()}
    record.update(
        words=len(verse_words(text)),
        longest_copied_run_words=run,
        longest_copied_run_source=doc,
        eligible_lines=eligible,
        copied_lines=[m.as_dict() for m in matches],
        copied_line_share=len(matches) / eligible if eligible else 0.0,
        copied_line_share_exact=len(exact) / eligible if eligible else 0.0,
        lines_from_one_poem=len(best.pairs) if best else 0,
        lines_from_one_poem_source=index.doc_ids[best.doc] if best else None,
        lines_from_one_poem_matches=[{"line": verse[i], "match": index.lines.keys[k], "edits": e}
                                     for i, k, e in best.pairs] if best else [],
        copied_lines_from_one_poem=most_copied.strong if most_copied else 0,
        copied_lines_from_one_poem_source=index.doc_ids[most_copied.doc] if most_copied and most_copied.strong else None,
        lines_of_two_words=short_eligible,
        verbatim_lines=[{"line": m.line, "doc_id": m.doc} for m in verbatim],
    )
    return record


def gate_reasons(record: dict[str, Any], max_share: float, max_run: int, max_poem_lines: int = 2) -> list[str]:
    """Why one sample fails the quoting gate (empty list: it passes); each reason names
    the known poem copied."""
    reasons = []
    if record["words"] == 0:
        reasons.append("empty: no verse words")
    if record["copied_line_share"] > max_share:
        reasons.append(f"{record['copied_line_share']:.0%} of its lines copied (limit {max_share:.0%})")
    if record["longest_copied_run_words"] >= max_run:
        reasons.append(f"a {record['longest_copied_run_words']}-word run copied from "
                       f"{record['longest_copied_run_source']} (limit {max_run - 1})")
    if record["lines_from_one_poem"] > max_poem_lines:
        reasons.append(f"{record['lines_from_one_poem']} of its lines match lines of "
                       f"{record['lines_from_one_poem_source']}, verbatim or within two word edits each "
                       f"(limit {max_poem_lines})")
    if record["copied_lines_from_one_poem"] >= 2:
        reasons.append(f"{record['copied_lines_from_one_poem']} of its lines copied from one poem, "
                       f"{record['copied_lines_from_one_poem_source']} (limit 1)")
    verbatim = record["verbatim_lines"]
    if len(verbatim) > max_poem_lines and len(verbatim) / record["lines_of_two_words"] > max_share:
        sources = sorted({str(m["doc_id"]) for m in verbatim})
        reasons.append(f"a cento: {len(verbatim)} of its {record['lines_of_two_words']} lines occur verbatim in "
                       f"known poems ({', '.join(sources[:3])}{', ...' if len(sources) > 3 else ''}; "
                       f"limit {max_poem_lines} lines or {max_share:.0%})")
    return reasons


def quoting_summary(records: Sequence[dict[str, Any]], max_share: float, max_run: int,
                    seed: int = 0, max_poem_lines: int = 2) -> dict[str, Any]:
    """One model's quoting figures over its samples, with 95% intervals (module `stats`)."""
    if not records:
        raise ValueError("quoting: no generations to score; check the generate stage output")
    eligible = [r["eligible_lines"] for r in records]
    out: dict[str, Any] = {"n_generations": len(records)}
    for n in sorted(int(k.rsplit("_", 1)[1]) for k in records[0] if k.startswith("ngram_overlap_")):
        shares = [r[f"ngram_overlap_{n}"] for r in records if r[f"ngram_overlap_{n}"] is not None]
        out[f"ngram_overlap_{n}"] = round(sum(shares) / len(shares), 4) if shares else None
    if sum(eligible):
        out.update(flat("copied_line_share", ratio_ci([len(r["copied_lines"]) for r in records], eligible, seed)))
        exact = [sum(m["kind"] == "exact" for m in r["copied_lines"]) for r in records]
        out.update(flat("copied_line_share_exact", ratio_ci(exact, eligible, seed)))
    runs = [r["longest_copied_run_words"] for r in records]
    out["longest_copied_run_words_max"] = max(runs)
    out.update(flat("longest_copied_run_words_mean", mean_ci(runs, seed), 2))
    out.update(flat("poems_with_copied_line_share", share_ci([bool(r["copied_lines"]) for r in records])))
    out["lines_from_one_poem_max"] = max(r["lines_from_one_poem"] for r in records)
    out.update(flat("gate_failure_share",
                    share_ci([bool(gate_reasons(r, max_share, max_run, max_poem_lines)) for r in records])))
    return out
