"""Score a causal LM on completion tokens: loss, perplexity, token accuracy, entropy.

One code path scores every model row: the adapted model with its adapter enabled, and
the base model as the same object with the adapter disabled (`peft`'s
`disable_adapter()`), so the two numbers differ only by the adapter. Examples are
batched in length order, so a batch pads only to its own longest example, and the
output layer runs only at the positions that predict a completion token
(`logits_to_keep` with a boolean mask): with a 262k-token vocabulary the logits of the
prompt (and of few-shot examples) would cost most of the time and memory.

Perplexity is exp of the summed negative log-likelihood over the scored tokens divided
by their number, token-weighted over poems, in two ways: over the poem's own tokens
(`poem_tokens`: the stop token left out; the headline) and over every completion token
(the poem and its EOS, what training learns). The stop token's own term is reported
apart (`stop_term`), since knowing where a poem ends is not writing it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from qwen_qlora.config import PresetParams, QuantParams
from qwen_qlora.model.adapted import adapter_switch, load_adapted
from qwen_qlora.model.prompts import IGNORE
from qwen_qlora.stats import bootstrap_ci, flat, mean_ci

LN2 = math.log(2)


def length_batches(examples: list[dict[str, Any]], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first)."""
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i]["input_ids"]))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(batch: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ex["input_ids"]) for ex in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, ex in enumerate(batch):
        n = len(ex["input_ids"])
        ids[row, :n] = torch.tensor(ex["input_ids"])
        labels[row, :n] = torch.tensor(ex["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def token_stats(logits: torch.Tensor, target: torch.Tensor, chunk: int = 256) -> dict[str, torch.Tensor]:
    """NLL, argmax correctness and predictive entropy (nats) per supervised position.

    Works through the positions in chunks: with a 262k-token vocabulary (Gemma-3) a
    float32 log-softmax over a whole batch would take gigabytes.
    """
    nll, correct, entropy = [], [], []
    for start in range(0, len(target), chunk):
        lg = logits[start:start + chunk].float()
        tg = target[start:start + chunk]
        logp = torch.log_softmax(lg, dim=-1)
        nll.append(-logp.gather(-1, tg.unsqueeze(-1)).squeeze(-1))
        entropy.append(-(logp.exp() * logp).sum(-1))
        correct.append(lg.argmax(-1) == tg)
    empty = torch.zeros(0)
    return {"nll": torch.cat(nll) if nll else empty, "correct": torch.cat(correct) if correct else empty,
            "entropy": torch.cat(entropy) if entropy else empty}


@torch.no_grad()
def score_examples(model: Any, examples: list[dict[str, Any]], pad_id: int, batch_size: int = 8,
                   adapter: bool = True, progress: Callable[[int], object] | None = None) -> list[dict[str, float]]:
    """Per example: summed NLL (nats), supervised tokens, correct argmax predictions and
    summed predictive entropy (nats) over the completion tokens. `progress`: called with
    the number of examples scored by each batch."""
    model.eval()
    device = next(model.parameters()).device
    out: list[dict[str, float] | None] = [None] * len(examples)
    with adapter_switch(model, adapter):
        for idx in length_batches(examples, batch_size):
            batch = collate([examples[i] for i in idx], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            target = batch["labels"][:, 1:]
            keep = target != IGNORE
            # Position t predicts token t+1: keep the positions whose next token is learned
            predicts = torch.nn.functional.pad(keep, (0, 1), value=False)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           logits_to_keep=predicts).logits
            rows = keep.nonzero()[:, 0]
            stats = token_stats(logits.reshape(-1, logits.shape[-1]), target[keep])
            for row, i in enumerate(idx):
                sel = rows == row
                last = int(sel.nonzero()[-1]) if sel.any() else None  # the stop token (EOS)
                out[i] = {"nll": float(stats["nll"][sel].sum()), "tokens": int(sel.sum()),
                          "correct": int(stats["correct"][sel].sum()),
                          "entropy": float(stats["entropy"][sel].sum()),
                          "stop_nll": float(stats["nll"][last]) if last is not None else 0.0,
                          "stop_correct": int(stats["correct"][last]) if last is not None else 0,
                          "stop_entropy": float(stats["entropy"][last]) if last is not None else 0.0}
            if progress is not None:
                progress(len(idx))
    return out  # type: ignore[return-value]


def poem_tokens(scores: list[dict[str, float]]) -> list[dict[str, float]]:
    """The same scores over the poem's own tokens: the stop token (EOS, the last learned
    token of every example, `model.prompts.encode_example`) left out. A model that merely
    learnt where poems end gains on the stop token alone; these figures do not see it."""
    return [{"nll": s["nll"] - s["stop_nll"], "tokens": s["tokens"] - 1,
             "correct": s["correct"] - s["stop_correct"], "entropy": s["entropy"] - s["stop_entropy"]}
            for s in scores]


def stop_term(scores: list[dict[str, float]], seed: int = 0) -> dict[str, float]:
    """The stop token on its own: mean NLL per poem (nats) with a 95% bootstrap interval,
    and the share of poems where it is the likeliest token."""
    return {**flat("stop_nats_per_poem", mean_ci([s["stop_nll"] for s in scores], seed)),
            "stop_top1_share": sum(s["stop_correct"] for s in scores) / len(scores)}


def aggregate(scores: list[dict[str, float]], seed: int = 0) -> dict[str, float]:
    """Token-weighted test metrics from per-example scores, with a 95% bootstrap interval
    of the perplexity (poems resampled)."""
    tokens = sum(s["tokens"] for s in scores)
    if tokens == 0:
        raise ValueError("evaluate: no supervised tokens in the test set; check the split and "
                         "that completions are not empty")
    loss = sum(s["nll"] for s in scores) / tokens
    entropy = sum(s["entropy"] for s in scores) / tokens
    low, high = bootstrap_ci([[s["nll"] for s in scores], [s["tokens"] for s in scores]],
                             lambda nll, tok: math.exp(nll.sum() / tok.sum()), seed)
    return {"test_loss": loss, "test_perplexity": math.exp(loss),
            "test_perplexity_ci_low": low, "test_perplexity_ci_high": high,
            "token_accuracy": sum(s["correct"] for s in scores) / tokens,
            "mean_entropy_nats": entropy, "mean_entropy_bits": entropy / LN2,
            "test_tokens": tokens, "test_poems": len(scores)}


def poems_better(scores: list[dict[str, float]], reference: list[dict[str, float]]) -> int:
    """On how many poems `scores` has the lower per-token NLL than `reference` (same poems)."""
    return sum(s["nll"] / s["tokens"] < r["nll"] / r["tokens"]
               for s, r in zip(scores, reference, strict=True) if s["tokens"])


def perplexity_ratio(scores: list[dict[str, float]], reference: list[dict[str, float]],
                     seed: int = 0) -> dict[str, float]:
    """Perplexity of `scores` over that of `reference` on the same poems, with a paired
    95% bootstrap interval (poem i of both is resampled together)."""
    if [s["tokens"] for s in scores] != [s["tokens"] for s in reference]:
        raise ValueError("perplexity_ratio: the two rows scored different tokens; compare rows "
                         "scored on the same poems with the same tokenizer")

    def ratio(a, b, tok):
        return math.exp((a.sum() - b.sum()) / tok.sum())

    cols = [[s["nll"] for s in scores], [s["nll"] for s in reference], [s["tokens"] for s in scores]]
    low, high = bootstrap_ci(cols, ratio, seed)
    return {"test_perplexity_ratio": ratio(*(torch.tensor(c, dtype=torch.float64) for c in cols)),
            "test_perplexity_ratio_ci_low": low, "test_perplexity_ratio_ci_high": high}


def score_deployed(base_dir: str | Path, adapters: Mapping[str, str | Path], preset: PresetParams, precision: str,
                   sets: Mapping[str, list[dict[str, Any]]], batch_size: int = 8) -> dict[str, dict[str, list]]:
    """Poem-token scores (`poem_tokens`) of each set of encoded poems, {set: {row: scores}},
    under the model as deployed: the base as shipped (not 4-bit; row "base", adapter off)
    and each named adapter on it, loaded beside the first and made active in turn, so
    every row shares one base. The rows of one set compare with `perplexity_ratio`."""
    first, *others = adapters
    model, tokenizer = load_adapted(base_dir, adapters[first], preset, QuantParams(load_in_4bit=False), precision)
    for name in others:
        model.load_adapter(str(adapters[name]), adapter_name=name)
    scores: dict[str, dict[str, list]] = {s: {} for s in sets}
    for name in ("base", *adapters):
        model.set_adapter("default" if name in ("base", first) else name)
        for s, examples in sets.items():
            scores[s][name] = poem_tokens(score_examples(model, examples, tokenizer.pad_token_id, batch_size,
                                                         adapter=name != "base"))
    return scores
