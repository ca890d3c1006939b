"""The output layer only where it is needed: at supervised positions, chunked over the
vocabulary, optionally restricted to the tokens of the corpus.

Why: gemma-3-270m's output layer is 262,144 x 640, about 168M multiply-adds per position
against about 100M for all 18 transformer blocks, so on a CPU it dominates every forward
and backward pass. Three cuts, each measured in `benchmarks/speed.py`:

- score only the positions whose label is set (the poem, not the prompt or the padding):
  the backbone's hidden states are gathered there before the head;
- never build a [tokens x vocabulary] logits tensor: TRL's `ChunkedLogProbFunction` folds
  vocabulary tiles into log-probabilities, entropy and argmax hits, and recomputes the
  tiles in the backward pass;
- for training only, a trimmed output vocabulary (`corpus_vocab`: every token of the
  training examples plus the special tokens). It changes the softmax's
  denominator, so every figure that is reported (the Trainer's eval loss, the evaluate
  stage) uses the full vocabulary.

For scoring, `score_batch` gives per-example NLL, token count, argmax hits and entropy
over the full vocabulary; for sampling, `generate.decode` computes the output layer over a
`corpus_vocab` subset and gives every other token probability zero (an explicit restriction).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from trl.kernels import ChunkedLogProbFunction

from qwen_qlora.model.prompts import IGNORE, encode_example

VOCAB_CHUNK = 32768  # vocabulary tile width (TRL's default for its fused head)


def backbone_and_head(model: Any) -> tuple[Any, Any]:
    """The transformer body (returns hidden states) and the output layer of a causal LM,
    through a PeftModel wrapper if there is one (LoRA layers live inside the body)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.base_model, base.get_output_embeddings()


def logit_transform(model: Any) -> dict[str, Any]:
    """Final-logit softcapping and scale of the model's config, as the kernel takes them."""
    text = model.config.get_text_config()
    return {"softcap": getattr(text, "final_logit_softcapping", None),
            "scale": getattr(text, "logit_scale", None) or 1.0}


def supervised_positions(hidden: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Hidden states that predict a labelled token (causal shift), their targets, and the
    batch row of each: [N, H], [N], [N]."""
    target = labels[:, 1:]
    keep = target != IGNORE
    return hidden[:, :-1][keep], target[keep], keep.nonzero()[:, 0]


def token_logprobs(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *,
                   softcap: float | None = None, scale: float = 1.0,
                   outputs: tuple[str, ...] = ("entropy", "is_top1")) -> dict[str, torch.Tensor]:
    """Per position: log p(target) (differentiable w.r.t. `hidden`), and on request the
    predictive entropy (nats) and whether the target is the argmax, over the rows of
    `weight` as vocabulary; no [N x V] tensor is built."""
    logp, entropy, _, _, top1 = ChunkedLogProbFunction.apply(
        hidden, weight, None, targets, 1.0, VOCAB_CHUNK, softcap, scale, outputs)
    return {"log_probs": logp, "entropy": entropy, "is_top1": top1}


def corpus_vocab(examples: Iterable[dict[str, Any]], tokenizer: Any) -> torch.Tensor:
    """Sorted ids of every token in `examples` (input ids) plus the tokenizer's special tokens."""
    ids = {int(t) for ex in examples for t in ex["input_ids"]}
    ids.update(int(t) for t in tokenizer.all_special_ids)
    return torch.tensor(sorted(ids), dtype=torch.long)


def records_vocab(preset: Any, tokenizer: Any, records: Iterable[dict[str, Any]]) -> torch.Tensor:
    """`corpus_vocab` of prompt / completion records, each encoded as in training (long ones
    included): the token subset `generate.vocab: corpus` samples from."""
    return corpus_vocab([encode_example(preset, tokenizer, r["prompt"], r["completion"]) for r in records], tokenizer)


class SupervisedHead:
    """The loss of a causal LM at supervised positions, over the full vocabulary or over
    `vocab` (sorted token ids) when `trimmed` is asked for (training only)."""

    def __init__(self, model: Any, vocab: torch.Tensor | None = None):
        _, head = backbone_and_head(model)
        self.transform = logit_transform(model)
        self.vocab = vocab
        self.lookup = None
        self.weight = None
        if vocab is not None:
            size = head.weight.shape[0]
            self.lookup = torch.full((size,), -1, dtype=torch.long)
            self.lookup[vocab] = torch.arange(len(vocab))
            self.weight = head.weight.detach()[vocab].contiguous()  # frozen: cut once

    def __call__(self, model: Any, batch: dict[str, torch.Tensor], trimmed: bool = False,
                 outputs: tuple[str, ...] = ("entropy", "is_top1")) -> dict[str, torch.Tensor]:
        """Per supervised position: log_probs, entropy, is_top1 (see `token_logprobs`) and rows."""
        backbone, head = backbone_and_head(model)
        hidden = backbone(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                          use_cache=False).last_hidden_state
        hidden, target, rows = supervised_positions(hidden, batch["labels"])
        weight = head.weight
        if trimmed and self.weight is not None:
            target = self.lookup.to(target.device)[target]
            if bool((target < 0).any()):
                raise ValueError("a training target is outside the trimmed vocabulary; build it with "
                                 "corpus_vocab over the examples being trained on")
            weight = self.weight.to(hidden.device)
        out = token_logprobs(hidden, weight, target, outputs=outputs, **self.transform)
        return {**out, "rows": rows}


@torch.no_grad()
def score_batch(model: Any, batch: dict[str, torch.Tensor]) -> list[dict[str, float]]:
    """Per batch row: summed NLL (nats), supervised tokens, argmax hits and summed entropy
    (nats) over the completion tokens, over the full vocabulary (what `evaluate.score_examples`
    computes from the full logits, without building them)."""
    out = SupervisedHead(model)(model, batch)
    n = batch["input_ids"].shape[0]
    rows = out["rows"]

    def per_row(values: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.float64).index_add_(0, rows.cpu(), values.double().cpu())

    nll, ent = per_row(-out["log_probs"]), per_row(out["entropy"])
    hits = per_row(out["is_top1"].double())
    tokens = torch.bincount(rows.cpu(), minlength=n)
    return [{"nll": float(nll[i]), "tokens": int(tokens[i]), "correct": int(hits[i]),
             "entropy": float(ent[i])} for i in range(n)]
