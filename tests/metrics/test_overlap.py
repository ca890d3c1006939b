import random

import pytest

from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.text import verse_words

# Toy verses written for these tests.
DUSK = (
    "Над рекою тихо гаснет летний день,\n"
    "и по саду бродит медленная тень.\n"
    "\n"
    "Я стою одна у старого окна,\n"
    "и вечерняя печаль моя ясна.\n"
    "\n"
    "1922"
)
SNOW = "Снег ложится на пустые мостовые,\nфонари горят, как в годы молодые."


@pytest.fixture(scope="module")
def index():
    return CorpusIndex.build([DUSK, SNOW])


def test_build_counts_documents_and_words(index):
    assert index.n_docs == 2
    assert index.ns == (4, 5, 6, 7, 8)
    assert len(index.vocab) == len(set(verse_words(DUSK) + verse_words(SNOW)))
    assert index.nbytes > 0


def test_copied_line_detected_novel_line_not(index):
    gen = "Над рекою тихо гаснет летний день,\nа в горах поют холодные ручьи."
    assert index.copied_lines(gen) == ["Над рекою тихо гаснет летний день,"]


def test_copied_line_survives_case_punctuation_yo_and_stress(index):
    gen = "ФОНАРИ ГОРЯТ — КАК В ГО́ДЫ МОЛОДЫЕ…\nи вечёрняя печаль моя ясна\nи вечерняя тоска моя ясна"
    assert index.copied_lines(gen) == ["ФОНАРИ ГОРЯТ — КАК В ГО́ДЫ МОЛОДЫЕ…", "и вечёрняя печаль моя ясна"]


def test_copied_lines_ignore_short_lines_by_threshold(index):
    gen = "и по саду бродит медленная тень"  # 6 words
    assert index.copied_lines(gen, min_words=6) == [gen]
    assert index.copied_lines(gen, min_words=7) == []
    assert index.line_matches(gen, min_words=7) == (0, [])
    assert index.line_matches(gen, min_words=6)[1][0].doc == 0
    with pytest.raises(ValueError):
        index.copied_lines(gen, min_words=0)


def test_ngram_overlap_exact(index):
    # 12 words: a copied 6-word line, then 6 novel words.
    gen = "Над рекою тихо гаснет летний день,\nа в горах поют холодные ручьи."
    assert index.ngram_overlap(gen) == {4: 3 / 9, 5: 2 / 8, 6: 1 / 7, 7: 0.0, 8: 0.0}


def test_ngram_overlap_counts_runs_across_lines_and_none_when_too_short(index):
    gen = "бродит медленная тень,\nя стою"  # 5 words, all one corpus run
    assert index.ngram_overlap(gen) == {4: 1.0, 5: 1.0, 6: None, 7: None, 8: None}


def test_longest_run_exact_across_lines(index):
    gen = "Бродит медленная тень,\nя стою одна у моря."
    assert index.longest_run(gen) == (7, 0)
    assert index.copied_lines(gen) == []


def test_longest_run_never_spans_two_corpus_poems(index):
    # "печаль моя ясна" ends DUSK, "снег ложится на пустые" starts SNOW.
    gen = "печаль моя ясна, снег ложится на пустые"
    assert index.longest_run(gen) == (4, 1)


def test_longest_run_below_anchor_is_not_reported(index):
    assert index.longest_run("над рекою тихо, а потом гроза") == (0, None)
    assert index.longest_run("") == (0, None)


def test_longest_run_picks_the_right_poem_among_shared_prefixes():
    corpus = [
        "ветер гонит лист по тропе домой",
        "ветер гонит лист по реке широкой тихой ночью",
        "ветер гонит лист по реке",
    ]
    idx = CorpusIndex.build(corpus, doc_ids=["a", "b", "c"])
    assert idx.longest_run("ветер гонит лист по реке широкой") == (6, "b")
    assert idx.longest_run("и ветер гонит лист по тропе") == (5, "a")
    assert idx.longest_run("ветер гонит лист по реке")[0] == 5  # a tie between "b" and "c"


def test_build_rejects_bad_arguments():
    with pytest.raises(ValueError, match="doc_ids"):
        CorpusIndex.build(["а б в г"], doc_ids=["x", "y"])
    with pytest.raises(ValueError, match="ns"):
        CorpusIndex.build(["а б в г"], ns=[0, 4])


def _brute_force(corpus, gen, ns):
    docs = [verse_words(t) for t in corpus]
    toks = verse_words(gen)
    shares = {}
    for n in ns:
        grams = {tuple(d[i : i + n]) for d in docs for i in range(len(d) - n + 1)}
        gen_grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        shares[n] = sum(g in grams for g in gen_grams) / len(gen_grams) if gen_grams else None
    best = (0, None)
    for doc_id, d in enumerate(docs):
        prev = [0] * (len(d) + 1)
        for i in range(len(toks)):
            cur = [0] * (len(d) + 1)
            for j in range(len(d)):
                if toks[i] == d[j]:
                    cur[j + 1] = prev[j] + 1
                    if cur[j + 1] > best[0]:
                        best = (cur[j + 1], doc_id)
            prev = cur
    if best[0] < min(ns):
        best = (0, None)
    return shares, best


def test_index_agrees_with_brute_force_on_random_corpora():
    rng = random.Random(7)
    vocab = ["лес", "дом", "ночь", "свет", "снег", "река", "окно", "сад", "я", "и"]
    for _ in range(40):
        corpus = [
            "\n".join(" ".join(rng.choices(vocab, k=rng.randint(3, 6))) for _ in range(rng.randint(1, 4)))
            for _ in range(rng.randint(1, 6))
        ]
        idx = CorpusIndex.build(corpus, ns=range(3, 7))
        for _ in range(5):
            gen = " ".join(rng.choices(vocab + ["туман"], k=rng.randint(0, 14)))
            if rng.random() < 0.5:  # splice in a stretch of a corpus poem: long runs
                source = verse_words(rng.choice(corpus))
                start = rng.randrange(len(source))
                gen += " " + " ".join(source[start : start + rng.randint(1, 12)]) + " туман"
            shares, best = _brute_force(corpus, gen, range(3, 7))
            assert idx.ngram_overlap(gen) == shares
            # Ties may resolve to another poem with an equally long run; the length is exact.
            length, doc = idx.longest_run(gen)
            assert length == best[0]
            if length:
                assert _brute_force([corpus[doc]], gen, range(3, 7))[1][0] == length


def test_near_line_one_word_changed_is_caught_and_named():
    idx = CorpusIndex.build([DUSK, SNOW], doc_ids=["test:dusk", "reference:snow"])
    gen = "Над рекою тихо гаснет зимний день\nи в окне моем горит свеча"
    assert idx.copied_lines(gen) == []  # not verbatim
    (m,) = idx.line_matches(gen, near_similarity=0.85)[1]
    assert (m.line, m.doc, m.kind) == ("Над рекою тихо гаснет зимний день", "test:dusk", "near")
    assert m.match == "над рекою тихо гаснет летний день" and 0.7 < m.similarity < 1


def test_near_line_word_inserted_or_deleted_and_spelling_changes():
    idx = CorpusIndex.build([SNOW], doc_ids=["s"])
    inserted = "Снег тихо ложится на пустые мостовые"
    deleted = "фонари горят, как в годы"
    spelled = "Снег ложиться на пустые мостовыя"  # two letters off: character similarity
    for gen in (inserted, deleted, spelled):
        assert [m.kind for m in idx.line_matches(gen, near_similarity=0.85)[1]] == ["near"], gen
    assert idx.line_matches("Снег идёт на тёмные дворы", near_similarity=0.85)[1] == []
