"""The split is deterministic, grouped, and leak-free."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_qlora.config import SplitParams
from qwen_qlora.corpus.dedup import containment, jaccard, shingles
from qwen_qlora.corpus.split import leak_groups, split_corpus
from qwen_qlora.corpus.themes import NEUTRAL_THEME, assign_theme, leaked_words, lemma
from qwen_qlora.metrics.form_annotation import request_form
from qwen_qlora.model.prompts import make_prompt, prompt_prefix
from qwen_qlora.text import content_words

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
def test_no_poem_has_a_near_duplicate_in_another_split(seed):
    parts, ref, stats = split_corpus(corpus(seed), "akhmatova",
                                     SplitParams(val_fraction=0.2, test_fraction=0.2, seed=seed,
                                                 prompt_form="none"))
    assert sum(len(p) for p in parts.values()) == stats["target_poems"]
    assert parts["val"] and parts["test"] and parts["train"]
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for x in parts[a]:
                xs = shingles(x["completion"], 3)
                for y in parts[b]:
                    ys = shingles(y["completion"], 3)
                    assert jaccard(xs, ys) < 0.2 and containment(xs, ys) < 0.5, (a, b)


def test_split_is_deterministic_and_prompts_follow_template():
    p = SplitParams(seed=7, prompt_form="none")
    a = split_corpus(corpus(1), "akhmatova", p)
    b = split_corpus(corpus(1), "akhmatova", p)
    for name in ("train", "val", "test"):
        assert [x["id"] for x in a[0][name]] == [x["id"] for x in b[0][name]]
    ex = a[0]["train"][0]
    assert ex["prompt"] == p.prompt_template.format(theme=ex["theme"])
    assert ex["completion"] and {r["author"] for r in a[1]} == {"blok"}


def test_excerpt_and_whole_share_a_group():
    rng = random.Random(3)
    whole = toy_poem(rng, 12)
    part = "\n".join(whole.split("\n")[4:8])
    assert len(set(leak_groups([whole, part, toy_poem(rng)]))) == 2


def test_too_few_target_poems_lists_authors():
    with pytest.raises(ValueError, match=r"only 0 poems by author 'pushkin'.*akhmatova"):
        split_corpus(corpus(0), "pushkin", SplitParams())


def test_theme_lexicon_wide_lexicon_and_neutral():
    assert assign_theme("Я помню вечер и разлуку,\nЯ помню всё, что было встарь,\nИ вспоминаю эту муку") \
        == ("память", "lexicon")
    assert assign_theme("Стол и стул и шкаф", "Комната") == ("дом", "wide_lexicon")
    assert assign_theme("Бурый хвост,\nсерый нос", "Кот") == (NEUTRAL_THEME, "neutral")


def test_a_prompt_built_from_a_first_line_is_refused():
    poem = {"id": "x-1", "author": "akhmatova", "title": None, "n_lines": 2, "n_stanzas": 1,
            "text": "Бурый хвост,\nсерый нос"}
    assert leaked_words("бурый хвост", poem["text"], None) == {"бурый", "хвост"}
    assert leaked_words("серые глаза", poem["text"], "Кот") == set()
    from qwen_qlora.corpus import split as split_mod

    with pytest.raises(ValueError, match=r"x-1 repeats \['бурый', 'хвост'\]"):
        orig = split_mod.assign_theme
        split_mod.assign_theme = lambda text, title: ("Бурый хвост", "first_line")
        try:
            split_mod.to_example(poem, SplitParams())
        finally:
            split_mod.assign_theme = orig


def test_no_prompt_shares_a_content_word_with_its_first_line_unless_it_is_the_theme():
    rng = random.Random(5)
    lines = ["Любовь покоряет обманно", "Сад и река под луной", "Бурый хвост и серый нос",
             "Я пришла к поэту в гости", "Город спит, фонарь горит"]
    poems = [{"id": f"akhmatova-{i:03d}", "author": "akhmatova", "title": rng.choice([None, line]),
              "n_lines": 4, "n_stanzas": 1,
              "text": line + "\n" + toy_poem(rng, 3)} for i, line in enumerate(lines * 4)]
    forms = {p["id"]: request_form("trochee", 4, "ABAB", 1) for p in poems}
    parts, _, _ = split_corpus(poems, "akhmatova", SplitParams(val_fraction=0.2, test_fraction=0.2), forms)
    for ex in (e for part in parts.values() for e in part):
        first = ex["completion"].split("\n")[0]
        shared = {lemma(w) for w in content_words(ex["prompt"])} & {lemma(w) for w in content_words(first)}
        assert shared <= {lemma(ex["theme"])}, (ex["prompt"], first)


def test_annotated_prompts_name_a_confident_form_only():
    poems = corpus(2)
    target = [p["id"] for p in poems if p["author"] == "akhmatova"]
    iamb = request_form("iamb", 4, "ABAB", stanzas=2)
    forms = {pid: ({**iamb, "confident": False} if k % 2 else iamb) for k, pid in enumerate(target)}
    parts, _, stats = split_corpus(poems, "akhmatova", SplitParams(prompt_form="annotated"), forms)
    examples = [e for part in parts.values() for e in part]
    named = [e for e in examples if e["form"]["confident"]]
    assert named and len(named) < len(examples)
    for e in examples:
        if e["form"]["confident"]:
            assert e["prompt"] == f"Напиши стихотворение на тему: {e['theme']}. Форма: ямбом, 4 стопы, " \
                                  "рифмовка ABAB, 2 строфы по 4 строки"
        else:
            assert e["prompt"] == f"Напиши стихотворение на тему: {e['theme']}"
    assert stats["form_in_prompt_share"] == round(len(named) / len(examples), 4)
    del forms[target[3]]
    with pytest.raises(ValueError, match=r"1 target poems have no form annotation.*annotate"):
        split_corpus(poems, "akhmatova", SplitParams(prompt_form="annotated"), forms)
    assert split_corpus(poems, "akhmatova", SplitParams(prompt_form="none"), {})[0]


def test_every_prompt_starts_with_the_prefix_a_fewshot_sample_is_cut_at():
    p = SplitParams()
    assert prompt_prefix(p) == "Напиши стихотворение"
    for prompt in (make_prompt(p, "осень", request_form("iamb", 5)), make_prompt(p, "осень"),
                   make_prompt(SplitParams(prompt_form="none"), "осень")):
        assert prompt.startswith(prompt_prefix(p))
