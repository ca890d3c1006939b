"""The split is deterministic, grouped, and leak-free."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_qlora.config import SplitParams
from qwen_qlora.corpus.dedup import containment, jaccard, shingles
from qwen_qlora.corpus.split import leak_groups, split_corpus
from qwen_qlora.corpus.themes import assign_theme

WORDS = ("ветер сад река луна свеча окно дорога осень песня берег тень звезда город "
         "память сердце голос вечер снег море поле").split()


def toy_poem(rng: random.Random, n_lines: int = 8) -> str:
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(5)) for _ in range(n_lines))


def corpus(seed: int, n: int = 40, n_variants: int = 8):
    rng = random.Random(seed)
    poems = [{"id": f"akhmatova-{i:03d}", "author": "akhmatova", "text": toy_poem(rng),
              "title": None, "n_lines": 8, "n_stanzas": 1} for i in range(n)]
    for j in range(n_variants):  # variants and excerpts of earlier poems
        src = poems[rng.randrange(n)]["text"].split("\n")
        text = "\n".join(src[:4]) if j % 2 else "\n".join(src[:-1] + ["новая строка в конце стиха"])
        poems.append({"id": f"akhmatova-v{j}", "author": "akhmatova", "text": text,
                      "title": None, "n_lines": 4, "n_stanzas": 1})
    poems += [{"id": f"blok-{i}", "author": "blok", "text": toy_poem(rng), "title": None,
               "n_lines": 8, "n_stanzas": 1} for i in range(5)]
    return poems


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_no_val_poem_is_a_near_duplicate_of_a_train_poem(seed):
    train, val, ref, stats = split_corpus(corpus(seed), "akhmatova", SplitParams(val_fraction=0.2, seed=seed))
    assert len(train) + len(val) == stats["target_poems"] and val
    for v in val:
        vs = shingles(v["completion"], 3)
        for t in train:
            ts = shingles(t["completion"], 3)
            assert jaccard(vs, ts) < 0.2 and containment(vs, ts) < 0.5


def test_split_is_deterministic_and_prompts_follow_template():
    p = SplitParams(seed=7)
    a = split_corpus(corpus(1), "akhmatova", p)
    b = split_corpus(corpus(1), "akhmatova", p)
    assert [x["id"] for x in a[1]] == [x["id"] for x in b[1]]
    ex = a[0][0]
    assert ex["prompt"] == p.prompt_template.format(theme=ex["theme"])
    assert ex["completion"] and {r["author"] for r in a[2]} == {"blok"}


def test_excerpt_and_whole_share_a_group():
    rng = random.Random(3)
    whole = toy_poem(rng, 12)
    part = "\n".join(whole.split("\n")[4:8])
    assert len(set(leak_groups([whole, part, toy_poem(rng)]))) == 2


def test_too_few_target_poems_lists_authors():
    import pytest
    with pytest.raises(ValueError, match=r"only 0 poems by author 'pushkin'.*akhmatova"):
        split_corpus(corpus(0), "pushkin", SplitParams())


def test_theme_lexicon_and_fallback():
    assert assign_theme("Я помню вечер и разлуку,\nЯ помню всё, что было встарь,\nИ вспоминаю эту муку", None)[0] == "память"
    theme, method = assign_theme("Стол и стул и шкаф", "Комната")
    assert (theme, method) == ("Комната", "title")
    assert assign_theme("Стол и стул,\nи шкаф", None) == ("Стол и стул", "first_line")
