"""Leak-free train/val/test split of the target poet's poems, and the reference corpus.

The clean stage already merged duplicates; here the target poems are grouped again at a
looser similarity (any shared stretch of text: shingle Jaccard >= `loose_jaccard` or
containment >= `loose_containment`), and scikit-learn's GroupShuffleSplit keeps each
group on one side, so no val or test poem has a variant or a quoted part in another
split. Three roles: train (learned), val (checkpoint selection and early stopping) and
test (the reported figures; never seen by training or selection). Each target poem
becomes a prompt/completion pair whose theme never repeats its title or first line
(`themes.leaked_words`); all other poets form `reference`.

The prompt wording (`model.prompts.make_prompt`) names the theme and, with
`split.prompt_form: annotated`, the poem's form in words when its annotation (the
`annotate` stage) is confident: "Напиши стихотворение на тему: память. Форма: ямбом,
5 стоп, рифмовка ABAB, 3 строфы по 4 строки". The same function words the requests at
generation time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from qwen_qlora.config import SplitParams
from qwen_qlora.corpus.dedup import UnionFind, near_duplicate_pairs
from qwen_qlora.corpus.themes import assign_theme, leaked_words
from qwen_qlora.model.prompts import make_prompt

LOOSE_JACCARD = 0.2
LOOSE_CONTAINMENT = 0.5


def leak_groups(texts: list[str], k: int = 3, loose_jaccard: float = LOOSE_JACCARD,
                loose_containment: float = LOOSE_CONTAINMENT) -> list[int]:
    """Group id per text: connected components of pairs sharing enough shingles."""
    uf = UnionFind(len(texts))
    for a, b, _ in near_duplicate_pairs(texts, loose_jaccard, k, loose_containment):
        uf.union(a, b)
    return [uf.find(i) for i in range(len(texts))]


def to_example(poem: dict[str, Any], p: SplitParams, form: dict | None = None) -> dict[str, Any]:
    """A target poem as a prompt/completion pair, provenance and form annotation kept."""
    theme, method = assign_theme(poem["text"], poem.get("title"))
    leak = leaked_words(theme, poem["text"], poem.get("title"))
    if leak:
        raise ValueError(f"split: the prompt theme {theme!r} of poem {poem['id']} repeats "
                         f"{sorted(leak)} from its title or first line; prompts must not carry "
                         "the poem's opening (see corpus/themes.py)")
    return {
        "id": poem["id"], "author": poem["author"], "title": poem.get("title"),
        "year": poem.get("year"), "theme": theme, "theme_method": method,
        "prompt": make_prompt(p, theme, form), "completion": poem["text"],
        "n_lines": poem["n_lines"], "n_stanzas": poem["n_stanzas"],
        "variants": poem.get("variants", []), "form": form,
    }


def group_split(groups: list[int], idx: np.ndarray, fraction: float, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) positions of `idx`, about `fraction` of them held out, whole groups."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    keep, out = next(splitter.split(np.zeros(len(idx)), groups=[groups[i] for i in idx]))
    return idx[keep], idx[out]


def split_corpus(poems: list[dict[str, Any]], author: str, p: SplitParams,
                 forms: dict[str, dict] | None = None
                 ) -> tuple[dict[str, list[dict]], list[dict], dict[str, Any]]:
    """({"train", "val", "test"}: examples, reference poems, stats) for target `author`;
    `forms`: form annotations by poem id (`annotate` stage), required for every target
    poem when prompts name the form."""
    target = sorted((x for x in poems if x["author"] == author), key=lambda x: x["id"])
    reference = sorted((x for x in poems if x["author"] != author), key=lambda x: x["id"])
    if len(target) < 10:
        found = sorted({x["author"] for x in poems})
        raise ValueError(f"split: only {len(target)} poems by author {author!r} (need >= 10); "
                         f"authors in the corpus: {found}; check `author` in params.yaml")
    forms = forms or {}
    missing = [x["id"] for x in target if x["id"] not in forms]
    if p.prompt_form == "annotated" and missing:
        raise ValueError(f"split: {len(missing)} target poems have no form annotation (e.g. {missing[:3]}); "
                         "re-run the annotate stage (`dvc repro annotate`) or set split.prompt_form: none")
    groups = leak_groups([x["text"] for x in target])
    rest, test_idx = group_split(groups, np.arange(len(target)), p.test_fraction, p.seed)
    train_idx, val_idx = group_split(groups, rest, p.val_fraction / (1 - p.test_fraction), p.seed)
    parts = {name: [to_example(target[i], p, forms.get(target[i]["id"])) for i in sorted(idx)]
             for name, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx))}
    ref = [{"id": x["id"], "author": x["author"], "title": x.get("title"), "text": x["text"],
            "variants": x.get("variants", [])} for x in reference]
    examples = [e for part in parts.values() for e in part]
    stats = {
        "target_poems": len(target),
        **{f"{name}_poems": len(part) for name, part in parts.items()},
        **{f"{name}_share": round(len(part) / len(target), 4) for name, part in parts.items()},
        "leak_groups": len(set(groups)),
        "multi_poem_groups": sum(1 for g in set(groups) if groups.count(g) > 1),
        "reference_poems": len(ref), "reference_authors": len({x["author"] for x in ref}),
        **{f"theme_{method}_share": round(sum(e["theme_method"] == method for e in examples) / len(examples), 4)
           for method in ("lexicon", "wide_lexicon", "neutral")},
        "prompt_form": p.prompt_form,
        "form_in_prompt_share": round(sum(bool(e["form"] and e["form"]["confident"]) for e in examples)
                                      / len(examples), 4) if p.prompt_form == "annotated" else 0.0,
    }
    return parts, ref, stats
