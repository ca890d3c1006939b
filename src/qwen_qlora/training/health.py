"""Health checks for fine-tuning, before and during training.

Each check raises `HealthError` with a diagnosis a person can act on, instead of letting a
run finish with a loss of 0 or NaN. They target the known ways LoRA runs fail silently:
labels fully masked (a chat template the masking did not recognise), no EOS learned,
LoRA attached to no module or to a vision tower, fp16 overflow (NaN loss), and adapters
that never move (gradient checkpointing without input grads, a zero learning rate).
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
from transformers import TrainerCallback

from qwen_qlora.model.prompts import IGNORE


class HealthError(RuntimeError):
    """A training health check failed; the message says what was found and what to do."""


def check_examples(examples: list[dict[str, Any]], eos_id: int) -> None:
    """Every example has learned tokens, and its learned part ends with EOS, except a piece
    of a long poem that the poem goes on after (`final: false`, `model.prompts.poem_pieces`),
    which must not learn EOS at all."""
    if not examples:
        raise HealthError("no training examples left after encoding; check train.max_length "
                          "and data/processed/train.jsonl")
    for ex in examples:
        learned = [t for t in ex["labels"] if t != IGNORE]
        if not learned:
            raise HealthError(
                f"example {ex.get('id', '?')}: all {len(ex['labels'])} labels are masked, nothing "
                "would be learned; the prompt mask swallowed the completion (check the preset's "
                "prompt_format and chat template)")
        if not ex.get("final", True):
            if eos_id in learned:
                raise HealthError(
                    f"example {ex.get('id', '?')}: a piece of a poem that goes on after it learns EOS "
                    f"({eos_id}); the model would learn to stop mid-poem (only a poem's last piece "
                    "ends with EOS: model.prompts.poem_pieces)")
        elif learned[-1] != eos_id:
            raise HealthError(
                f"example {ex.get('id', '?')}: the learned part ends with token {learned[-1]}, not "
                f"EOS ({eos_id}); the model would never learn to stop (check the preset's eos_token)")


def supervised_tokens(labels: torch.Tensor) -> int:
    """Tokens that contribute to a causal LM loss (labels are shifted by one)."""
    return int((labels[..., 1:] != IGNORE).sum())


def check_batch(labels: torch.Tensor, step: int) -> None:
    if supervised_tokens(labels) == 0:
        raise HealthError(
            f"step {step}: a batch of {labels.shape[0]} sequences has no supervised token, the "
            "loss would be 0 or NaN; all labels are -100 (check the completion mask and train.max_length)")


def check_lora_targets(modules: list[str], targets: list[str], scope: str) -> None:
    """LoRA wraps at least one module per target name, all inside the language model."""
    if not modules:
        raise HealthError(
            f"LoRA attached to no module: lora.target_modules {targets} under scope {scope!r} "
            "matched nothing; print model.named_modules() and fix lora.target_modules or the "
            "preset's lora_scope")
    missing = [t for t in targets if not any(m.endswith("." + t) for m in modules)]
    if missing:
        raise HealthError(f"lora.target_modules {missing} matched no module (attached: "
                          f"{modules[:4]}...); fix the names in params.yaml")
    outside = [m for m in modules if not re.fullmatch(scope, m)]
    if outside:
        raise HealthError(f"LoRA attached outside the language model ({outside[:3]}); "
                          "restrict the preset's lora_scope")


def check_finite(step: int, **values: float) -> None:
    """Loss and grad norm are finite numbers."""
    bad = {k: v for k, v in values.items() if v is None or not math.isfinite(float(v))}
    if bad:
        raise HealthError(
            f"step {step}: {bad} is not finite. Likely causes: fp16 overflow (Gemma-3 must train "
            "in bf16 or fp32: train.precision), a learning rate too high (train.learning_rate), "
            "or a NaN in the inputs; the last good checkpoint is kept for inspection")


def moved(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> list[str]:
    """Names of LoRA B matrices that changed."""
    return [n for n, w in before.items() if not torch.equal(w, after[n])]


class HealthCallback(TrainerCallback):
    """During training: finite loss and grad norm in every log; LoRA B weights moved after
    `move_steps` optimizer steps."""

    def __init__(self, snapshot: Any, move_steps: int):
        self.snapshot = snapshot
        self.move_steps = move_steps
        self.before: dict[str, torch.Tensor] | None = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.before = self.snapshot(model)
        self.start_step = state.global_step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.before is None or state.global_step - self.start_step != self.move_steps:
            return
        changed = moved(self.before, self.snapshot(model))
        if not changed:
            raise HealthError(
                f"no LoRA B weight changed in {self.move_steps} optimizer steps: gradients do not "
                "reach the adapters (gradient checkpointing without input grads, a frozen adapter, "
                "or a zero learning rate / all-masked labels); check train.activation_checkpointing "
                "and train.learning_rate")
        self.before = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        values = {k: logs[k] for k in ("loss", "grad_norm", "eval_loss") if k in logs}
        check_finite(state.global_step, **values)
        if logs.get("loss") == 0.0:
            raise HealthError(f"step {state.global_step}: training loss is exactly 0, so nothing is "
                              "learned; labels are probably all masked")
