"""Style attribution on two synthetic 'poets' with different vocabularies and habits."""

from dataclasses import replace

import numpy as np
import pytest

from qwen_qlora.metrics.style import (
    balanced_weights,
    evaluate_attributor,
    fit_delta,
    load_attributor,
    normalise,
    out_of_fold_p_author,
    poem_key,
    save_attributor,
    separation,
    shared_poems,
    train_attributor,
)
from qwen_qlora.metrics.verse import VerseRule

COMMON = ["и", "в", "не", "на", "я", "ты", "как", "что", "мне", "но"]
TARGET = ["тёмной", "вуалью", "печаль", "свеча", "перчатку", "руки", "сжала", "бледна",
          "терпкой", "молитва", "колокол", "сад", "царскосельский", "смуглый", "отрок"]
OTHER = ["железный", "машина", "заводской", "гудок", "кувалда", "бетон", "трактор",
         "стальной", "ракета", "шахта", "рабочий", "молот", "бригада", "пятилетка", "цех"]


def poems(vocab: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lines = []
        for _ in range(4):
            words = list(rng.choice(vocab, size=3)) + list(rng.choice(COMMON, size=3))
            rng.shuffle(words)
            lines.append(" ".join(words).capitalize() + ",")
        out.append("\n".join(lines))
    return out


@pytest.fixture(scope="module")
def data():
    return {
        "train_target": poems(TARGET, 40, 1), "train_other": poems(OTHER, 60, 2),
        "val_target": poems(TARGET, 20, 3), "val_other": poems(OTHER, 20, 4),
    }


@pytest.fixture(scope="module")
def attributor(data):
    return train_attributor(data["train_target"], data["train_other"], seed=0)


def test_classifier_separates_two_styles(attributor, data):
    metrics = evaluate_attributor(attributor, data["val_target"], data["val_other"])
    assert metrics["accuracy"] >= 0.9
    assert metrics["f1"] >= 0.9
    assert metrics["roc_auc"] >= 0.95
    assert (metrics["n_val_target"], metrics["n_val_reference"]) == (20, 20)
    p_target = attributor.p_author(data["val_target"])
    p_other = attributor.p_author(data["val_other"])
    assert all(0.0 <= p <= 1.0 for p in p_target + p_other)
    assert np.mean(p_target) > 0.7 > 0.3 > np.mean(p_other)


def test_training_uses_every_poem_balanced_by_weight_and_is_deterministic(attributor, data):
    assert (attributor.n_train_target, attributor.n_train_reference) == (40, 60)
    weights = balanced_weights(np.array([1] * 40 + [0] * 60))
    assert weights[:40].sum() == pytest.approx(weights[40:].sum())
    again = train_attributor(data["train_target"], data["train_other"], seed=0)
    assert again.p_author(data["val_target"]) == attributor.p_author(data["val_target"])


def test_save_and_load_round_trip(attributor, data, tmp_path):
    path = tmp_path / "attributor.joblib"
    save_attributor(attributor, path)
    loaded = load_attributor(path)
    assert loaded.p_author(data["val_other"]) == attributor.p_author(data["val_other"])


def test_load_rejects_other_objects(tmp_path):
    import joblib
    path = tmp_path / "x.joblib"
    joblib.dump({"not": "an attributor"}, path)
    with pytest.raises(TypeError, match="not an Attributor"):
        load_attributor(path)


def test_errors_name_the_problem(data):
    with pytest.raises(ValueError, match="3 target texts"):
        train_attributor(data["train_target"][:3], data["train_other"], seed=0)


def test_evaluation_needs_both_classes(attributor, data):
    with pytest.raises(ValueError, match="both classes"):
        evaluate_attributor(attributor, data["val_target"], [])


def test_p_author_of_nothing_is_empty(attributor):
    assert attributor.p_author([]) == []


def test_burrows_delta_prefers_the_right_author(data):
    delta = fit_delta(data["train_target"], data["train_other"], n_words=60)
    assert len(delta.words) == 40                      # only 40 distinct words exist
    target_scores = delta.scores(data["val_target"])
    other_scores = delta.scores(data["val_other"])
    assert all(s["delta_target"] < s["delta_reference"] for s in target_scores)
    assert all(s["delta_reference"] < s["delta_target"] for s in other_scores)


def test_normalise_removes_source_typography():
    assert normalise("Ёлка  «в  снегу» —\n\nсве́ча…") == 'елка "в снегу" - свеча...'


def test_out_of_fold_scores_each_poem_by_an_attributor_that_did_not_see_it(data):
    """A poem of the other style slipped among the target's: the attributor trained on it
    calls it the target's far more readily than the one that never saw it."""
    stray = data["val_other"][0]
    target = [*data["train_target"][:24], stray]
    oof = out_of_fold_p_author(target, data["train_other"], seed=0, folds=5, calibration_folds=3)
    seen = train_attributor(target, data["train_other"], seed=0, calibration_folds=3).p_author([stray])[0]
    assert len(oof) == len(target) and all(0.0 <= p <= 1.0 for p in oof)
    assert oof[-1] < 0.5 and oof[-1] < seen
    assert np.mean(oof[:-1]) > 0.7
    again = out_of_fold_p_author(target, data["train_other"], seed=0, folds=5, calibration_folds=3)
    assert again == oof                                  # seeded folds: deterministic
    with pytest.raises(ValueError, match="judge_folds"):
        out_of_fold_p_author(target[:3], data["train_other"], seed=0, folds=5)


def test_separation_of_given_probabilities():
    fig = separation([0.9, 0.8, 0.4], [0.1, 0.5, 0.2, 0.3])
    assert fig["roc_auc"] == pytest.approx(11 / 12, abs=1e-4) and fig["n_val_target"] == 3
    with pytest.raises(ValueError, match="both classes"):
        separation([0.9], [])


def test_the_same_poem_is_found_across_layout_punctuation_and_case():
    poem = "Горит свеча,\nи тени ходят.\n\nЁлка в снегу."
    retyped = "ГОРИТ СВЕЧА; И ТЕНИ ХОДЯТ... ЕЛКА В СНЕГУ!"
    assert poem_key(poem) == poem_key(retyped) == "горит свеча и тени ходят елка в снегу"
    assert shared_poems([poem, "другое"], [retyped]) == {poem_key(poem)}
    assert shared_poems([poem], ["Горит свеча, и тени ходят."]) == set()


def test_the_judge_gives_p_author_to_verse_only(attributor, data):
    rhymed = {"meter": "iamb", "regularity": 1.0, "rhyme_rate": 1.0}
    prose = " ".join(data["val_target"][:3]).replace("\n", " ")
    judged = attributor.judge([data["val_target"][0], prose], [rhymed, rhymed])
    assert judged[0] == attributor.p_author([data["val_target"][0]])[0] and judged[1] is None
    assert attributor.refusal(prose, rhymed) == "prose"
    attributor_with_rule = replace(attributor, verse_rule=VerseRule(min_lines=5))
    assert attributor_with_rule.judge([data["val_target"][0]], [rhymed]) == [None]   # 4 lines < 5
    with pytest.raises(ValueError, match="form annotations"):
        attributor.judge([prose], [])
