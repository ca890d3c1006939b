"""Leak-free train/val split of the target poet's poems, and the reference corpus.

The clean stage already merged duplicates; here the target poems are grouped again at a
looser similarity (any shared stretch of text: shingle Jaccard >= `loose_jaccard` or
containment >= `loose_containment`), and scikit-learn's GroupShuffleSplit keeps each
group on one side, so no val poem has a variant or a quoted part in train. Each target
poem becomes a prompt/completion pair; all other poets form `reference`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from qwen_qlora.config import SplitParams
from qwen_qlora.corpus.dedup import UnionFind, near_duplicate_pairs
from qwen_qlora.corpus.themes import assign_theme

LOOSE_JACCARD = 0.2
LOOSE_CONTAINMENT = 0.5


def leak_groups(texts: list[str], k: int = 3, loose_jaccard: float = LOOSE_JACCARD,
                loose_containment: float = LOOSE_CONTAINMENT) -> list[int]:
    """Group id per text: connected components of pairs sharing enough shingles."""
    uf = UnionFind(len(texts))
    for a, b, _ in near_duplicate_pairs(texts, loose_jaccard, k, loose_containment):
        uf.union(a, b)
    return [uf.find(i) for i in range(len(texts))]


def to_example(poem: dict[str, Any], p: SplitParams) -> dict[str, Any]:
    """A target poem as a prompt/completion pair, provenance kept."""
    theme, method = assign_theme(poem["text"], poem.get("title"))
    return {
        "id": poem["id"], "author": poem["author"], "title": poem.get("title"),
        "year": poem.get("year"), "theme": theme, "theme_method": method,
        "prompt": p.prompt_template.format(theme=theme), "completion": poem["text"],
        "n_lines": poem["n_lines"], "n_stanzas": poem["n_stanzas"],
        "variants": poem.get("variants", []),
    }


def split_corpus(poems: list[dict[str, Any]], author: str, p: SplitParams
                 ) -> tuple[list[dict], list[dict], list[dict], dict[str, Any]]:
    """(train, val, reference, stats) for target `author`."""
    target = sorted((x for x in poems if x["author"] == author), key=lambda x: x["id"])
    reference = sorted((x for x in poems if x["author"] != author), key=lambda x: x["id"])
    if len(target) < 10:
        found = sorted({x["author"] for x in poems})
        raise ValueError(f"split: only {len(target)} poems by author {author!r} (need >= 10); "
                         f"authors in the corpus: {found}; check `author` in params.yaml")
    groups = leak_groups([x["text"] for x in target])
    splitter = GroupShuffleSplit(n_splits=1, test_size=p.val_fraction, random_state=p.seed)
    train_idx, val_idx = next(splitter.split(np.zeros(len(target)), groups=groups))
    train = [to_example(target[i], p) for i in sorted(train_idx)]
    val = [to_example(target[i], p) for i in sorted(val_idx)]
    ref = [{"id": x["id"], "author": x["author"], "title": x.get("title"), "text": x["text"],
            "variants": x.get("variants", [])} for x in reference]
    stats = {
        "target_poems": len(target), "train_poems": len(train), "val_poems": len(val),
        "val_share": round(len(val) / len(target), 4),
        "leak_groups": len(set(groups)),
        "multi_poem_groups": sum(1 for g in set(groups) if groups.count(g) > 1),
        "reference_poems": len(ref), "reference_authors": len({x["author"] for x in ref}),
        "theme_from_lexicon_share": round(
            sum(e["theme_method"] == "lexicon" for e in train + val) / len(target), 4),
    }
    return train, val, ref, stats
