import math

import pytest

from qwen_qlora.metrics.diversity import bleu, distinct_n, diversity_metrics, has_repeated_line, self_bleu

POEM_A = "Тихо светит в небе месяц молодой,\nспит над полем ветер, спит над лебедой."
POEM_B = "Громко бьют часы на башне городской,\nи трамваи мчатся шумною рекой."


def test_distinct_n_exact_and_pooled_over_poems():
    poems = ["кот спит, кот спит", "Кот спит!"]
    assert distinct_n(poems, 1) == 2 / 6
    # bigrams: (кот спит) (спит кот) (кот спит) | (кот спит); none spans the two poems
    assert distinct_n(poems, 2) == 2 / 4
    assert distinct_n(["лес", "поле"], 2) is None
    assert distinct_n(["лес шумит", "поле"], 2) == 1.0


def test_repeated_line_detected_after_normalisation():
    assert has_repeated_line("Ночь тиха.\nИ звёзды спят.\nНОЧЬ ТИХА!")
    assert has_repeated_line("и звезды спят\n\nИ звёзды спят…")
    assert not has_repeated_line("Ночь тиха.\nНочь светла.")
    assert not has_repeated_line("* * *\nНочь тиха.\n* * *\nДень пришёл.")


def test_bleu_exact_on_hand_example():
    hyp = "ночь тиха светла река".split()
    ref = "ночь тиха светла луна".split()
    # p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0 -> 0.1/1 (smoothing); equal length, no penalty
    assert bleu(hyp, [ref]) == pytest.approx((0.75 * (2 / 3) * 0.5 * 0.1) ** 0.25)


def test_bleu_brevity_penalty_and_clipping():
    short = "ночь тиха светла река".split()
    longer = "ночь тиха светла река и лес".split()
    assert bleu(short, [longer]) == pytest.approx(math.exp(1 - 6 / 4))
    assert bleu(longer, [short]) == pytest.approx(1.0 * ((4 / 6) * (3 / 5) * (2 / 4) * (1 / 3)) ** 0.25)
    repeated = "и и и и".split()
    expected = (1 / 4 * (0.1 / 3) * (0.1 / 2) * (0.1 / 1)) ** 0.25
    assert bleu(repeated, [["и", "тут"]]) == pytest.approx(expected)


def test_bleu_clips_against_the_best_reference_and_closest_length():
    hyp = "ночь тиха светла река".split()
    refs = ["день тих".split(), "ночь тиха светла река".split(), "ночь тиха светла река и лес и сад".split()]
    assert bleu(hyp, refs) == 1.0


def test_bleu_short_and_empty_hypotheses():
    assert bleu(["лес", "шумит"], [["лес", "шумит"]]) == 1.0  # effective order 2
    assert bleu([], [["лес"]]) == 0.0
    with pytest.raises(ValueError):
        bleu(["лес"], [])


def test_self_bleu_identical_is_one_and_disjoint_is_low():
    assert self_bleu([POEM_A, POEM_A, POEM_A]) == 1.0
    disjoint = self_bleu([POEM_A, POEM_B])
    assert disjoint < 0.05
    assert self_bleu([POEM_A]) is None


def test_diversity_metrics_by_theme():
    by_theme = {
        "ночь": [POEM_A, POEM_A],
        "город": [POEM_B],
    }
    metrics = diversity_metrics(by_theme)
    assert metrics["n_poems"] == 3 and metrics["n_themes"] == 2
    assert metrics["self_bleu_4"] == 1.0 and metrics["self_bleu_themes"] == 1
    assert metrics["repeated_line_poem_share"] == 0.0
    # POEM_A: 13 words, 11 distinct ("спит над" twice); POEM_B: 11 words, all distinct, none shared
    assert metrics["distinct_1"] == 22 / (2 * 13 + 11)
    with pytest.raises(ValueError):
        diversity_metrics({"ночь": []})
