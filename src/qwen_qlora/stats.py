"""Intervals for every comparison: bootstrap over poems, and Wilson intervals for shares.

A figure in metrics/ that compares models carries its sample size and a 95% interval.
Poems are the unit that is resampled (a poem's tokens or lines are not independent), with
scipy.stats.bootstrap's percentile method and a fixed seed, so a re-run gives the same
interval. A share of poems with a property (0/1 per poem) gets a Wilson score interval
instead: the bootstrap of an all-zero sample is [0, 0], which claims far too much for 32
poems, while Wilson's upper bound stays honest (about 0.11 for 0 of 32).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000


def bootstrap_ci(samples: Sequence[Sequence[float]], statistic: Callable[..., float], seed: int = 0,
                 confidence: float = CONFIDENCE, resamples: int = RESAMPLES) -> tuple[float, float]:
    """(low, high) of `statistic` over poems: `samples` are aligned per-poem arrays
    (paired: poem i of every array is resampled together)."""
    arrays = [np.asarray(a, dtype=float) for a in samples]
    if not arrays or len(arrays[0]) == 0:
        raise ValueError("bootstrap_ci: no poems to resample")
    if len(arrays[0]) == 1:
        value = float(statistic(*arrays))
        return value, value
    res = stats.bootstrap(arrays, statistic, paired=True, vectorized=False, n_resamples=resamples,
                          confidence_level=confidence, method="percentile",
                          random_state=np.random.default_rng(seed))
    low, high = res.confidence_interval
    return float(low), float(high)


def mean_ci(values: Sequence[float], seed: int = 0) -> dict[str, float]:
    """{value, ci_low, ci_high} of the mean of per-poem values."""
    vals = [float(v) for v in values]
    low, high = bootstrap_ci([vals], np.mean, seed)
    return {"value": float(np.mean(vals)), "ci_low": low, "ci_high": high}


def ratio_ci(numerators: Sequence[float], denominators: Sequence[float], seed: int = 0) -> dict[str, float]:
    """{value, ci_low, ci_high} of sum(numerators) / sum(denominators) over poems: a
    pooled share (copied lines over lines) resampled by poem."""
    num, den = np.asarray(numerators, float), np.asarray(denominators, float)
    if den.sum() == 0:
        raise ValueError("ratio_ci: the denominators sum to zero")

    def pooled(n, d):
        return n.sum() / d.sum() if d.sum() else 0.0

    low, high = bootstrap_ci([num, den], pooled, seed)
    return {"value": float(num.sum() / den.sum()), "ci_low": low, "ci_high": high}


def difference_ci(a: Sequence[float], b: Sequence[float], seed: int = 0) -> dict[str, float]:
    """{value, ci_low, ci_high} of mean(a) - mean(b) for two independent samples of poems."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("difference_ci: both samples need poems")
    res = stats.bootstrap((x, y), lambda u, v: np.mean(u) - np.mean(v), paired=False, vectorized=False,
                          n_resamples=RESAMPLES, method="percentile", random_state=np.random.default_rng(seed))
    return {"value": float(x.mean() - y.mean()), "ci_low": float(res.confidence_interval.low),
            "ci_high": float(res.confidence_interval.high)}


def ratio_difference_ci(a: tuple[Sequence[float], Sequence[float]], b: tuple[Sequence[float], Sequence[float]],
                        seed: int = 0) -> dict[str, float]:
    """{value, ci_low, ci_high} of pooled ratio a minus pooled ratio b (each sum(num) /
    sum(den), as `ratio_ci`) for two independent samples of poems, each resampled by poem."""
    (na, da), (nb, db) = ((np.asarray(n, float), np.asarray(d, float)) for n, d in (a, b))
    if len(na) == 0 or len(nb) == 0 or da.sum() == 0 or db.sum() == 0:
        raise ValueError("ratio_difference_ci: both samples need poems with a nonzero denominator")

    def pooled(n: np.ndarray, d: np.ndarray) -> float:
        return n.sum() / d.sum() if d.sum() else 0.0

    def diff(i: np.ndarray, j: np.ndarray) -> float:
        i, j = i.astype(int), j.astype(int)
        return pooled(na[i], da[i]) - pooled(nb[j], db[j])

    value = pooled(na, da) - pooled(nb, db)
    if len(na) < 2 or len(nb) < 2:
        return {"value": value, "ci_low": value, "ci_high": value}
    res = stats.bootstrap((np.arange(len(na)), np.arange(len(nb))), diff, paired=False, vectorized=False,
                          n_resamples=RESAMPLES, method="percentile", random_state=np.random.default_rng(seed))
    return {"value": value, "ci_low": float(res.confidence_interval.low),
            "ci_high": float(res.confidence_interval.high)}


def share_ci(flags: Sequence[bool], confidence: float = CONFIDENCE) -> dict[str, float]:
    """{value, ci_low, ci_high} of the share of True flags, Wilson score interval."""
    k, n = int(sum(bool(f) for f in flags)), len(flags)
    if n == 0:
        raise ValueError("share_ci: no poems")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return {"value": k / n, "ci_low": float(ci.low), "ci_high": float(ci.high)}


def flat(name: str, summary: dict[str, float], digits: int = 4) -> dict[str, float]:
    """{name, name_ci_low, name_ci_high}: a summary as flat metric keys."""
    return {name: round(summary["value"], digits), f"{name}_ci_low": round(summary["ci_low"], digits),
            f"{name}_ci_high": round(summary["ci_high"], digits)}
