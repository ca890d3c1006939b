"""Group exact and near-duplicate poems; keep the best-formed variant of each group.

Texts are compared on their normalised words (lowercase, ё -> е, punctuation and layout
ignored), so the same poem with lost stanza breaks, doubled blank lines or different
dashes is an exact duplicate. Near-duplicates (other editions, a changed word or line)
and parts of a cycle printed alone are found over word shingles with an inverted index:
every pair that shares a (not too common) shingle is scored exactly, by Jaccard and by
containment. MinHash LSH would also find the Jaccard pairs, but it cannot find a short
part inside a long poem (their Jaccard is low), which is exactly the case that leaks a
val poem into train; the exact index takes ~2 s on the 5,800-poem corpus. Groups are the
connected components of confirmed pairs (union-find).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from qwen_qlora.text import words


def shingles(text: str, k: int) -> set[str]:
    w = words(text)
    if len(w) < k:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i:i + k]) for i in range(len(w) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def containment(a: set[str], b: set[str]) -> float:
    """Share of the smaller set found in the larger one."""
    small = min(len(a), len(b))
    return len(a & b) / small if small else 0.0


class UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def overlap_candidates(sets: Sequence[set[str]], max_df: int = 200) -> dict[tuple[int, int], int]:
    """Pairs (i < j) sharing at least one shingle, from an inverted index, with the count
    of shared shingles. Shingles found in more than `max_df` texts (stock phrases) are
    not used to propose pairs; real variants share many rarer ones too."""
    index: dict[str, list[int]] = {}
    for i, s in enumerate(sets):
        for sh in s:
            index.setdefault(sh, []).append(i)
    shared: dict[tuple[int, int], int] = {}
    for ids in index.values():
        if len(ids) > max_df:
            continue
        for a_pos, a in enumerate(ids):
            for b in ids[a_pos + 1:]:
                shared[(a, b)] = shared.get((a, b), 0) + 1
    return shared


def near_duplicate_pairs(texts: Sequence[str], threshold: float, k: int = 3,
                         min_containment: float = 1.01) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) with shingle Jaccard >= threshold, or with the smaller text's
    shingles at least `min_containment` inside the larger one (a poem and one of its
    parts); exact duplicates (same words) come with jaccard 1.0."""
    sets = [shingles(t, k) for t in texts]
    pairs: dict[tuple[int, int], float] = {}
    by_hash: dict[str, int] = {}
    for i, t in enumerate(texts):
        h = hashlib.sha1(" ".join(words(t)).encode()).hexdigest()
        if h in by_hash:
            pairs[(by_hash[h], i)] = 1.0
        else:
            by_hash[h] = i
    for (a, b), n_shared in overlap_candidates(sets).items():
        if (a, b) in pairs:
            continue
        sim = n_shared / len(sets[a] | sets[b])
        small = min(len(sets[a]), len(sets[b]))
        if sim >= threshold or (small and n_shared / small >= min_containment):
            pairs[(a, b)] = jaccard(sets[a], sets[b])
    return [(a, b, s) for (a, b), s in sorted(pairs.items())]


def quality(poem: dict[str, Any]) -> tuple:
    """Sort key of a variant: stanza breaks kept, then a title and year, then length."""
    return (poem.get("n_stanzas", 1) > 1, bool(poem.get("title")), bool(poem.get("year")),
            poem.get("n_lines", 0))


def group_duplicates(poems: list[dict[str, Any]], threshold: float, k: int = 3,
                     min_containment: float = 1.01) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Merge duplicate groups into their best variant, which keeps every variant's
    provenance in `variants`; returns (kept poems, counts of merged pairs by kind)."""
    pairs = near_duplicate_pairs([p["text"] for p in poems], threshold, k, min_containment)
    uf = UnionFind(len(poems))
    counts = {"exact_pairs": 0, "near_pairs": 0}
    for a, b, sim in pairs:
        uf.union(a, b)
        counts["exact_pairs" if sim == 1.0 else "near_pairs"] += 1
    groups: dict[int, list[int]] = {}
    for i in range(len(poems)):
        groups.setdefault(uf.find(i), []).append(i)
    kept = []
    for members in groups.values():
        variants = [poems[i] for i in members]
        best = dict(max(variants, key=quality))
        authors = {v["author"] for v in variants}
        for v in variants:
            best["title"] = best.get("title") or v.get("title")
            best["year"] = best.get("year") or v.get("year")
        best["variants"] = [{"source": v["source"], "locator": v["locator"], "author": v["author"]}
                            for v in variants]
        if len(authors) > 1:
            best["author_conflict"] = sorted(authors)
        best["id"] = poem_id(best)
        kept.append(best)
    kept.sort(key=lambda p: (p["author"], p["id"]))
    return kept, counts


def poem_id(poem: dict[str, Any]) -> str:
    """A stable id from author and normalised text."""
    h = hashlib.sha1((poem["author"] + "\n" + " ".join(words(poem["text"]))).encode()).hexdigest()
    return f"{poem['author']}-{h[:10]}"
