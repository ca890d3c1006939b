"""Dedup on crafted variants."""

from qwen_qlora.corpus.dedup import group_duplicates, near_duplicate_pairs

A = ["Над тихой речкой вечер синий,", "Качает ветер старый клён,",
     "И на траве белеет иней,", "И сад молчанием пленён."]
B = ["Горит свеча в пустой светлице,", "Часы стучат, и ночь длинна,",
     "Мне до утра опять не спится,", "И в окнах белая луна."]
C = ["Дорога вьётся между сосен,", "Поёт над озером кулик,",
     "И подступает тихо осень,", "И день так ясен и велик."]


def poem(lines, source="s", n=0, **kw):
    text = "\n".join(lines)
    return {"author": "akhmatova", "text": text, "source": source, "locator": f"{source}#{n}",
            "title": kw.get("title"), "year": kw.get("year"), "n_lines": len([x for x in lines if x]),
            "n_stanzas": text.count("\n\n") + 1}


def test_exact_duplicate_ignores_layout_and_punctuation():
    v1 = poem(A + [""] + B, "md", 0)
    v2 = poem([x.replace(",", "").upper() for x in A + B], "json", 1, year="1912")
    kept, counts = group_duplicates([v1, v2, poem(C, "md", 2)], threshold=0.3)
    assert len(kept) == 2 and counts["exact_pairs"] == 1
    merged = next(k for k in kept if len(k["variants"]) == 2)
    assert merged["n_stanzas"] == 2, "the variant with stanza breaks is kept"
    assert merged["year"] == "1912", "metadata of other variants fills gaps"
    assert {v["source"] for v in merged["variants"]} == {"md", "json"}


def test_near_duplicate_edition_variant():
    edited = A[:3] + ["И сад безмолвием пленён."] + B
    pairs = near_duplicate_pairs(["\n".join(A + B), "\n".join(edited), "\n".join(C)], threshold=0.3)
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]
    assert 0.3 <= pairs[0][2] < 1.0


def test_part_of_a_cycle_is_grouped_by_containment():
    whole, part = "\n".join(A + B + C), "\n".join(B)
    assert near_duplicate_pairs([whole, part], threshold=0.9) == []
    assert len(near_duplicate_pairs([whole, part], threshold=0.9, min_containment=0.8)) == 1


def test_different_poems_not_merged():
    kept, counts = group_duplicates([poem(A), poem(B, n=1), poem(C, n=2)], threshold=0.3)
    assert len(kept) == 3 and counts == {"exact_pairs": 0, "near_pairs": 0}
