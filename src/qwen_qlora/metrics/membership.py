"""Membership inference: can a poem's loss tell whether the model was trained on it.

A model that memorised its training poems gives them a lower per-token loss than poems
it never saw. Each poem's mean token loss (nats per token) is read under the adapted
model and under the base (the same model with the adapter off, which never saw the
split); the figure is a ROC-AUC of "train vs test": 0.5 means the losses carry no trace
of training, 1.0 that every train poem is told from every test poem.

- ``auc``, the headline: on the loss the adapter removed from each poem (base loss
  minus adapted loss; the larger, the likelier a train poem). This is the
  reference-model attack (Carlini et al. 2021, "Extracting Training Data from Large
  Language Models"; Mireshghallah et al. 2022): the base's loss cancels how hard a poem
  is for any model, so what is left is what training on it added;
- ``adapted_auc``: on the adapted loss alone (the lower, the likelier a train poem), for
  reference; it mixes memorisation with poem difficulty;
- ``base_auc``: the same under the base, what chance and the split give;
  ``auc_gap`` is adapted_auc minus base_auc.

Intervals are 95% percentile bootstraps with poems as the unit, stratified: train and
test poems are resampled separately (their counts stay fixed), and a poem keeps both
its losses when two models are compared (scipy.stats.bootstrap, fixed seed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from qwen_qlora.stats import CONFIDENCE, RESAMPLES


def per_token_losses(nll: Sequence[float], tokens: Sequence[int]) -> list[float]:
    """Each poem's mean token loss: summed NLL (nats) over its scored tokens."""
    if len(nll) != len(tokens):
        raise ValueError(f"membership: {len(nll)} losses but {len(tokens)} token counts")
    if any(t <= 0 for t in tokens):
        raise ValueError("membership: a poem has no scored tokens; drop empty completions first")
    return [float(n) / t for n, t in zip(nll, tokens)]


def auc(member_losses: Sequence[float], nonmember_losses: Sequence[float]) -> float:
    """ROC-AUC of telling members by their lower loss: the chance that a random member
    scores below a random non-member, ties counted half (Mann-Whitney U / (n m))."""
    a = np.asarray(member_losses, float)[:, None]
    b = np.asarray(nonmember_losses, float)[None, :]
    if a.size == 0 or b.size == 0:
        raise ValueError("membership: both train and test poems are needed for an AUC")
    return float(np.mean((a < b) + 0.5 * (a == b)))


def _stratified_ci(statistic: Callable[[np.ndarray, np.ndarray], float], n_train: int, n_test: int,
                   seed: int) -> tuple[float, float]:
    """Percentile interval of `statistic(train_idx, test_idx)`, indices resampled per group."""
    if n_train < 2 or n_test < 2:
        value = statistic(np.arange(n_train), np.arange(n_test))
        return value, value
    res = stats.bootstrap((np.arange(n_train), np.arange(n_test)), statistic, paired=False,
                          vectorized=False, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                          method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _named(name: str, value: float, ci: tuple[float, float], digits: int = 4) -> dict[str, float]:
    return {name: round(value, digits), f"{name}_ci_low": round(ci[0], digits),
            f"{name}_ci_high": round(ci[1], digits)}


def membership_auc(train_losses: Sequence[float], test_losses: Sequence[float], seed: int = 0,
                   name: str = "auc") -> dict[str, float]:
    """{name, name_ci_low, name_ci_high, n_train, n_test}: the train-vs-test AUC of
    per-poem losses with its stratified bootstrap interval."""
    tr, te = np.asarray(train_losses, float), np.asarray(test_losses, float)
    value = auc(tr, te)
    ci = _stratified_ci(lambda i, j: auc(tr[i.astype(int)], te[j.astype(int)]), len(tr), len(te), seed)
    return {**_named(name, value, ci), "n_train": len(tr), "n_test": len(te)}


def membership_summary(train_adapted: Sequence[float], test_adapted: Sequence[float],
                       train_base: Sequence[float], test_base: Sequence[float],
                       seed: int = 0) -> dict[str, Any]:
    """The membership figures of an adapter, flat: ``auc`` (on the loss the adapter
    removed per poem), ``adapted_auc``, ``base_auc`` and ``auc_gap``, each with its
    interval, the mean losses (nats per token) and the counts. Arguments are per-poem
    mean token losses, poem i of the adapted and base lists the same poem."""
    tr_a, te_a = np.asarray(train_adapted, float), np.asarray(test_adapted, float)
    tr_b, te_b = np.asarray(train_base, float), np.asarray(test_base, float)
    if len(tr_a) != len(tr_b) or len(te_a) != len(te_b):
        raise ValueError(f"membership: adapted and base losses must cover the same poems; got "
                         f"{len(tr_a)}/{len(tr_b)} train and {len(te_a)}/{len(te_b)} test")
    # AUC takes the lower value as "train": the removed loss enters negated
    tr_d, te_d = tr_a - tr_b, te_a - te_b

    def gap(i: np.ndarray, j: np.ndarray) -> float:
        i, j = i.astype(int), j.astype(int)
        return auc(tr_a[i], te_a[j]) - auc(tr_b[i], te_b[j])

    out: dict[str, Any] = membership_auc(tr_d, te_d, seed)
    for name, (tr, te) in (("adapted_auc", (tr_a, te_a)), ("base_auc", (tr_b, te_b))):
        out.update({k: v for k, v in membership_auc(tr, te, seed, name).items() if k.startswith(name)})
    out.update(_named("auc_gap", auc(tr_a, te_a) - auc(tr_b, te_b), _stratified_ci(gap, len(tr_a), len(te_a), seed)))
    out.update({"loss_removed_train_nats_per_token": round(float(-tr_d.mean()), 4),
                "loss_removed_test_nats_per_token": round(float(-te_d.mean()), 4),
                "adapted_train_loss_nats_per_token": round(float(tr_a.mean()), 4),
                "adapted_test_loss_nats_per_token": round(float(te_a.mean()), 4),
                "base_train_loss_nats_per_token": round(float(tr_b.mean()), 4),
                "base_test_loss_nats_per_token": round(float(te_b.mean()), 4)})
    return out
