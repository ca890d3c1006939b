"""Intervals cover their point estimate, narrow with more poems, and are reproducible."""

import math

import numpy as np
import pytest

from qwen_qlora.stats import bootstrap_ci, difference_ci, flat, mean_ci, ratio_ci, share_ci


def test_mean_interval_covers_the_point_and_narrows_with_more_poems():
    rng = np.random.default_rng(0)
    small, large = rng.normal(5, 2, 16), rng.normal(5, 2, 256)
    a, b = mean_ci(small), mean_ci(large)
    for s in (a, b):
        assert s["ci_low"] <= s["value"] <= s["ci_high"]
    assert (b["ci_high"] - b["ci_low"]) < 0.5 * (a["ci_high"] - a["ci_low"])
    assert mean_ci(small) == a  # seeded


def test_pooled_ratio_resamples_poems():
    summary = ratio_ci([1, 0, 0, 3], [4, 4, 2, 6])
    assert summary["value"] == pytest.approx(4 / 16)
    assert summary["ci_low"] < 0.25 < summary["ci_high"]
    with pytest.raises(ValueError):
        ratio_ci([0], [0])


def test_share_interval_is_wilson_and_honest_at_zero():
    zero = share_ci([False] * 32)
    assert zero["value"] == 0 and zero["ci_low"] == 0 and 0.09 < zero["ci_high"] < 0.12
    half = share_ci([True, False] * 50)
    assert half["ci_low"] == pytest.approx(0.4038, abs=1e-3) and half["ci_high"] == pytest.approx(0.5962, abs=1e-3)


def test_paired_bootstrap_of_a_perplexity_ratio():
    nll_a, nll_b, tok = [10.0, 12.0, 9.0, 11.0], [12.0, 13.0, 11.0, 12.5], [5, 6, 4, 5]
    low, high = bootstrap_ci([nll_a, nll_b, tok], lambda a, b, t: math.exp((a.sum() - b.sum()) / t.sum()))
    point = math.exp((sum(nll_a) - sum(nll_b)) / sum(tok))
    assert low <= point <= high < 1


def test_difference_and_flat_keys():
    d = difference_ci([1, 1, 1, 0], [0, 0, 0, 1])
    assert d["value"] == 0.5 and d["ci_low"] <= 0.5 <= d["ci_high"]
    assert flat("x", {"value": 0.123456, "ci_low": 0.1, "ci_high": 0.2}) == {"x": 0.1235, "x_ci_low": 0.1, "x_ci_high": 0.2}
