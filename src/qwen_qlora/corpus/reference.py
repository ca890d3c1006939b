"""Other poets' poems (the split stage's reference set) for the verse stage and the
"language kept" check: which poems may be learned, which are held out, which are refused.

One function, `partition_reference`, decides it for both stages:
- refused: a reference poem that shares text with any of the target poet's poems (the
  split stage's loose grouping: shingle Jaccard >= 0.2 or containment >= 0.5, so a
  variant, an excerpt or a quotation of her poem printed under another name), or that
  the clean stage merged with a variant credited to her. No such poem is learned or
  scored as "not hers".
- held out: `n_heldout` poems drawn by a hash of their ids (deterministic, any reference
  poet), scored by evaluate under base, verse and adapted; no poem of their groups is
  ever learned by the verse stage.
- learnable: the rest, in the same hash order.
The verse stage then takes its val poems and its training poems from the learnable ones
(`select_verse`), poets in the order params.yaml lists them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qwen_qlora.config import SplitParams
from qwen_qlora.corpus.dedup import UnionFind, near_duplicate_pairs
from qwen_qlora.corpus.split import LOOSE_CONTAINMENT, LOOSE_JACCARD
from qwen_qlora.corpus.themes import assign_theme
from qwen_qlora.model.prompts import make_prompt


def hash_order(poem_id: str) -> str:
    """A poem's place in every deterministic draw: independent of file order and seeds."""
    return hashlib.sha256(poem_id.encode()).hexdigest()


@dataclass
class Partition:
    learnable: list[dict[str, Any]]
    heldout: list[dict[str, Any]]
    refused: dict[str, str] = field(default_factory=dict)  # reference id -> why


def partition_reference(reference: Sequence[dict[str, Any]], target: Sequence[dict[str, Any]],
                        author: str, n_heldout: int) -> Partition:
    """Refused, held-out and learnable reference poems (module doc). `target`: every poem
    of the target poet (train, val and test records; their text is `completion`)."""
    target_texts = [t.get("completion", t.get("text", "")) for t in target]
    texts = target_texts + [r["text"] for r in reference]
    uf = UnionFind(len(texts))
    for a, b, _ in near_duplicate_pairs(texts, LOOSE_JACCARD, 3, LOOSE_CONTAINMENT):
        uf.union(a, b)
    hers = {uf.find(i): target[i]["id"] for i in range(len(target))}
    group = {r["id"]: uf.find(len(target) + j) for j, r in enumerate(reference)}
    refused = {}
    for r in reference:
        credited = sorted({v.get("author") for v in r.get("variants", [])} - {r["author"]})
        if r["author"] == author or author in credited:
            refused[r["id"]] = f"a variant of it is credited to {author}"
        elif group[r["id"]] in hers:
            refused[r["id"]] = f"shares text with {author}'s poem {hers[group[r['id']]]}"
    kept = sorted((r for r in reference if r["id"] not in refused), key=lambda r: hash_order(r["id"]))
    if len(kept) < n_heldout:
        raise ValueError(f"reference: only {len(kept)} poems of other poets left to hold out "
                         f"{n_heldout}; lower evaluate.retention_poems")
    heldout = kept[:n_heldout]
    heldout_groups = {group[r["id"]] for r in heldout}
    learnable = [r for r in kept[n_heldout:] if group[r["id"]] not in heldout_groups]
    return Partition(learnable, heldout, refused)


def reference_example(poem: dict[str, Any], p: SplitParams) -> dict[str, Any]:
    """Another poet's poem as a prompt/completion pair worded as her poems' prompts are
    (`model.prompts.make_prompt` with the theme `themes.assign_theme` finds)."""
    theme, _ = assign_theme(poem["text"], poem.get("title"))
    return {"id": poem["id"], "author": poem["author"], "title": poem.get("title"), "theme": theme,
            "prompt": make_prompt(p, theme), "completion": poem["text"]}


def select_verse(learnable: Sequence[dict[str, Any]], authors: Sequence[str], fits: Callable[[dict], bool],
                 val_poems: int, max_poems: int, max_per_author: int
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """(val, train, poems left out for length by author) from the learnable poems of
    `authors`: val = the first `val_poems` that fit in hash order (any of the poets);
    train = per poet in the listed order, up to `max_per_author` each and `max_poems` in
    all, poems that fit (`fits`, e.g. within train.max_length) in hash order."""
    known = {r["author"] for r in learnable}
    unknown = [a for a in authors if a not in known]
    if unknown:
        raise ValueError(f"verse.authors: {unknown} have no learnable poem among the reference "
                         f"poets; choose from {sorted(known)}")
    pool = [r for r in learnable if r["author"] in set(authors)]
    too_long: dict[str, int] = {}
    ok: dict[str, bool] = {}

    def fitting(r: dict[str, Any]) -> bool:
        if r["id"] not in ok:
            ok[r["id"]] = fits(r)
            if not ok[r["id"]]:
                too_long[r["author"]] = too_long.get(r["author"], 0) + 1
        return ok[r["id"]]

    val = []
    for r in pool:
        if len(val) == val_poems:
            break
        if fitting(r):
            val.append(r)
    taken = {r["id"] for r in val}
    train: list[dict[str, Any]] = []
    for author in authors:
        mine = 0
        for r in pool:
            if len(train) == max_poems or mine == max_per_author:
                break
            if r["author"] == author and r["id"] not in taken and fitting(r):
                train.append(r)
                mine += 1
    if len(val) < val_poems or not train:
        raise ValueError(f"verse: {len(val)} val and {len(train)} train poems of {list(authors)} fit; "
                         "add poets to verse.authors or raise train.max_length")
    return val, train, too_long
