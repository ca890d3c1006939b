"""Membership AUC of train vs test poems from per-poem losses, and the adapter's gap."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from qwen_qlora.metrics.membership import auc, membership_auc, membership_summary, per_token_losses


def losses(rng, mean, n, sd=0.3):
    return list(rng.normal(mean, sd, n))


def test_auc_matches_sklearn_with_lower_loss_as_member():
    rng = np.random.default_rng(1)
    train, test = losses(rng, 2.0, 40), losses(rng, 2.2, 15)
    train[:3] = test[:3]  # ties count half
    labels = [1] * len(train) + [0] * len(test)
    expected = roc_auc_score(labels, -np.asarray(train + test))
    assert auc(train, test) == pytest.approx(expected)


def test_clearly_lower_train_loss_gives_auc_near_one_and_an_interval_above_half():
    rng = np.random.default_rng(2)
    result = membership_auc(losses(rng, 1.0, 160), losses(rng, 2.5, 33), seed=0)
    assert result["auc"] > 0.99
    assert result["auc_ci_low"] > 0.5
    assert result["n_train"] == 160 and result["n_test"] == 33


def test_identical_distributions_give_intervals_containing_half_about_95_percent_of_the_time():
    # A 95% interval misses 0.5 on about 1 in 20 null datasets (AUC 0.63 happens by
    # chance with 33 test poems); 20 datasets with 16 or more hits rules out broken
    # coverage (p < 0.001 under 95%) without choosing a lucky seed.
    rng = np.random.default_rng(3)
    results = [membership_auc(losses(rng, 2.0, 160), losses(rng, 2.0, 33), seed=0) for _ in range(20)]
    assert sum(r["auc_ci_low"] < 0.5 < r["auc_ci_high"] for r in results) >= 16
    assert all(r["auc_ci_high"] - r["auc_ci_low"] < 0.4 for r in results)


def test_deterministic_with_a_seed_and_seed_moves_the_interval():
    rng = np.random.default_rng(4)
    train, test = losses(rng, 2.0, 60), losses(rng, 2.1, 20)
    assert membership_auc(train, test, seed=7) == membership_auc(train, test, seed=7)
    assert membership_auc(train, test, seed=7) != membership_auc(train, test, seed=8)


def test_stratified_resampling_keeps_group_sizes():
    # With one test poem scoring above every train poem, any resample that keeps at
    # least one test poem has AUC 1: a pooled resample could draw no test poem at all.
    result = membership_auc([1.0, 1.1, 1.2, 1.3], [5.0, 5.0, 5.0], seed=0)
    assert result["auc"] == result["auc_ci_low"] == result["auc_ci_high"] == 1.0


def test_per_token_losses_divide_and_refuse_empty_poems():
    assert per_token_losses([10.0, 3.0], [5, 2]) == [2.0, 1.5]
    with pytest.raises(ValueError, match="no scored tokens"):
        per_token_losses([1.0], [0])
    with pytest.raises(ValueError, match="token counts"):
        per_token_losses([1.0, 2.0], [1])


def test_reference_model_removes_poem_difficulty():
    # Poem difficulty varies a lot and is shared by both models; the adapter lowers the
    # train poems' loss by a little. Raw AUC barely sees it, the per-poem difference does.
    rng = np.random.default_rng(5)
    difficulty_train, difficulty_test = rng.normal(3.0, 0.8, 160), rng.normal(3.0, 0.8, 33)
    base_train = difficulty_train + rng.normal(0, 0.02, 160)
    base_test = difficulty_test + rng.normal(0, 0.02, 33)
    adapted_train = difficulty_train - 0.5 + rng.normal(0, 0.02, 160)
    adapted_test = difficulty_test - 0.4 + rng.normal(0, 0.02, 33)
    result = membership_summary(adapted_train, adapted_test, base_train, base_test, seed=0)
    assert result["auc"] > 0.95 and result["auc_ci_low"] > 0.9
    assert result["adapted_auc"] < 0.8
    assert result["base_auc_ci_low"] < 0.5 < result["base_auc_ci_high"]
    assert result["auc_gap"] == pytest.approx(result["adapted_auc"] - result["base_auc"], abs=1e-4)
    assert result["auc_gap_ci_low"] < result["auc_gap"] < result["auc_gap_ci_high"]
    assert result["n_train"] == 160 and result["n_test"] == 33
    assert result["adapted_train_loss_nats_per_token"] == pytest.approx(adapted_train.mean(), abs=1e-4)
    assert result["loss_removed_train_nats_per_token"] == pytest.approx((base_train - adapted_train).mean(), abs=1e-4)


def test_no_adapter_effect_gives_gap_and_reference_intervals_around_chance():
    rng = np.random.default_rng(6)
    base_train, base_test = rng.normal(3.0, 0.5, 160), rng.normal(3.0, 0.5, 33)
    noise = rng.normal(0, 0.05, 193)
    result = membership_summary(base_train + noise[:160], base_test + noise[160:], base_train, base_test, seed=0)
    assert result["auc_gap_ci_low"] < 0 < result["auc_gap_ci_high"]
    assert result["auc_ci_low"] < 0.5 < result["auc_ci_high"]
    # The gap is paired per poem: far narrower than the two AUC intervals side by side.
    assert result["auc_gap_ci_high"] - result["auc_gap_ci_low"] < 0.5 * (result["adapted_auc_ci_high"] -
                                                                         result["adapted_auc_ci_low"])


def test_memorised_train_poems_give_a_positive_gap():
    rng = np.random.default_rng(7)
    base_train, base_test = rng.normal(3.0, 0.5, 160), rng.normal(3.0, 0.5, 33)
    result = membership_summary(base_train - 1.0, base_test, base_train, base_test, seed=0)
    assert result["auc_gap_ci_low"] > 0.2
    assert result["auc"] == 1.0


def test_mismatched_poems_are_refused():
    with pytest.raises(ValueError, match="same poems"):
        membership_summary([1.0, 2.0], [1.0, 2.0], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="both train and test"):
        auc([1.0], [])
