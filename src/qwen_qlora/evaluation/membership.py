"""The membership test of the evaluate stage: her train poems against the test poems, each
poem's loss under the base and the adapted row (`metrics.membership` holds the figures).

Losses are over the poem's own tokens (`scoring.poem_tokens`: the stop token apart), so an
adapter that merely learnt where her poems end leaves no trace here. The train poems are a
fixed sample (`fixed_sample`), since scoring all of them under two rows costs as much as
the rest of the stage; the test poems are all scored anyway.
"""

from __future__ import annotations

import random
from typing import Any

from qwen_qlora.evaluation.scoring import poem_tokens
from qwen_qlora.metrics.membership import membership_summary, per_token_losses

PAIR = ("base", "adapted")  # the rows compared: the same model with the adapter off and on


def fixed_sample(records: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """`n` records (all when fewer), the same for the same ids and seed: shuffled in id
    order with `seed`, the first `n` kept, so a smaller sample is part of a larger one."""
    ordered = sorted(records, key=lambda r: str(r["id"]))
    random.Random(seed).shuffle(ordered)
    return ordered[:n]


def poem_losses(scores: list[dict[str, float]]) -> list[float]:
    """Each poem's mean loss over its own tokens (nats per token), the stop token apart."""
    own = poem_tokens(scores)
    return per_token_losses([s["nll"] for s in own], [s["tokens"] for s in own])


def membership_figures(train: dict[str, list[dict[str, float]]], test: dict[str, list[dict[str, float]]],
                       seed: int = 0) -> dict[str, Any]:
    """The membership figures (`metrics.membership.membership_summary`) from per-poem
    scores ({row: `score_examples` output}) of the train and test poems under `PAIR`."""
    missing = [f"{split}:{row}" for split, scores in (("train", train), ("test", test)) for row in PAIR
               if row not in scores]
    if missing:
        raise ValueError(f"membership: no scores for {missing}; evaluate.rows must include {list(PAIR)}")
    base, adapted = PAIR
    return membership_summary(poem_losses(train[adapted]), poem_losses(test[adapted]),
                              poem_losses(train[base]), poem_losses(test[base]), seed)
