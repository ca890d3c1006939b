"""Other poets' poems for the verse stage and the language-kept check: refused, held out,
learnable, and the verse selection (toy verses written for the tests)."""

from __future__ import annotations

import pytest
from fixtures.other_poets import other_poem as poem

from qwen_qlora.config import SplitParams
from qwen_qlora.corpus.reference import partition_reference, reference_example, select_verse


HERS = [{"id": "her-1", "completion": "Над серой пристанью качались фонари,\nи чайка плакала о позднем ледоходе,\n"
                                      "я шла по набережной с трёх и до зари\nи думала о тёплой непогоде."}]  # made up


def reference(n: int = 12) -> list[dict]:
    authors = ["blok", "fet", "tyutchev"]
    return [{"id": f"{authors[i % 3]}-{i}", "author": authors[i % 3], "title": None, "text": poem(i),
             "variants": [{"author": authors[i % 3]}]} for i in range(n)]


def test_poems_sharing_text_with_hers_or_credited_to_her_are_refused():
    ref = reference()
    ref.append({"id": "blok-quote", "author": "blok", "title": None,
                "text": HERS[0]["completion"] + "\nи ещё одна строка о другом", "variants": []})
    ref.append({"id": "fet-misattributed", "author": "fet", "title": None, "text": poem(99),
                "variants": [{"author": "fet"}, {"author": "akhmatova"}]})
    part = partition_reference(ref, HERS, "akhmatova", 3)
    assert set(part.refused) == {"blok-quote", "fet-misattributed"}
    assert "her-1" in part.refused["blok-quote"] and "akhmatova" in part.refused["fet-misattributed"]
    kept = {r["id"] for r in part.learnable} | {r["id"] for r in part.heldout}
    assert not kept & set(part.refused)


def test_the_held_out_set_is_fixed_and_disjoint_from_what_may_be_learned():
    ref = reference()
    part = partition_reference(ref, HERS, "akhmatova", 3)
    again = partition_reference(list(reversed(ref)), HERS, "akhmatova", 3)
    assert [r["id"] for r in part.heldout] == [r["id"] for r in again.heldout]  # file order does not matter
    assert len(part.heldout) == 3 and len(part.learnable) == len(ref) - 3
    assert not {r["id"] for r in part.heldout} & {r["id"] for r in part.learnable}
    # a variant of a held-out poem (another edition) is not learned either
    variant = {**part.heldout[0], "id": "zz-variant", "author": "fet", "text": part.heldout[0]["text"] + "\nконец"}
    part2 = partition_reference(ref + [variant], HERS, "akhmatova", 3)
    pair = {"zz-variant", part.heldout[0]["id"]}
    assert pair & {r["id"] for r in part2.heldout}  # one of the two editions is held out ...
    assert not pair & {r["id"] for r in part2.learnable}  # ... and neither is learned
    with pytest.raises(ValueError, match="evaluate.retention_poems"):
        partition_reference(ref, HERS, "akhmatova", 50)


def test_select_verse_takes_poets_in_order_within_caps_and_keeps_val_apart():
    learnable = reference(30)
    val, train, too_long = select_verse(learnable, ["fet", "blok"], lambda r: r["id"] != "fet-1",
                                        val_poems=2, max_poems=7, max_per_author=4)
    assert len(val) == 2 and len(train) == 7
    assert [r["author"] for r in train] == ["fet"] * 4 + ["blok"] * 3  # fet first, capped at 4
    assert not {r["id"] for r in val} & {r["id"] for r in train}
    assert all(r["author"] in ("fet", "blok") for r in val + train)
    assert "fet-1" not in {r["id"] for r in val + train} and too_long == {"fet": 1}
    with pytest.raises(ValueError, match="verse.authors.*mandelstam"):
        select_verse(learnable, ["mandelstam"], lambda r: True, 2, 5, 5)


def test_reference_poems_are_worded_as_her_prompts():
    ex = reference_example({"id": "fet-0", "author": "fet", "title": None, "text": poem(0)}, SplitParams())
    assert ex["prompt"].startswith("Напиши стихотворение") and ex["completion"] == poem(0)
