"""LoRA on a (possibly 4-bit) base: the config translated from params, and attachment.

QLoRA is this same LoRA with a 4-bit base (`model.load.bnb_config`); the only extra step
is peft's `prepare_model_for_kbit_training` (every frozen weight that is not 4-bit, i.e.
the embeddings and norms, cast to fp32; input grads for checkpointing), or, with
`upcast=False`, the same without the fp32 cast.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

from qwen_qlora.config import LoraParams, PresetParams


class LoraTargetError(ValueError):
    """LoRA matched no module of the model; training catches it as a failed health check."""


def target_pattern(lora: LoraParams, preset: PresetParams) -> str:
    """A regex (peft full-matches it against module names) limited to the language model."""
    names = "|".join(re.escape(t) for t in lora.target_modules)
    return rf"{preset.lora_scope}\.({names})"


def lora_config(lora: LoraParams, preset: PresetParams) -> LoraConfig:
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=target_pattern(lora, preset),
        bias="none",
        task_type="CAUSAL_LM",
    )


def keep_4bit_differentiable(model: Any) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for CPU inference; returns the number of
    4-bit layers touched.

    On CPUs with AVX512-BF16, bitsandbytes (0.50) repacks a `Linear4bit` weight in place the
    first time it runs in eval mode without grad (an evaluation), and its matmul on the
    repacked weight has no autograd kernel: every later training step then passes no
    gradient through the frozen layers, and the adapters never move. A model that trains
    (and is evaluated between steps) keeps the trainable layout.
    """
    from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse
    from bitsandbytes.nn import Linear4bit

    layers = [m for m in model.modules() if isinstance(m, Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
        state = getattr(layer.weight, "quant_state", None)
        if getattr(state, "packing_format_for_cpu", False):
            layer.weight.data, layer.weight.quant_state = _convert_weight_packed_for_cpu_inverse(
                layer.weight.data, state)
    return len(layers)


def attach_lora(model: Any, config: LoraConfig, gradient_checkpointing: bool = False,
                upcast: bool = True, init_from: str | Path | None = None) -> Any:
    """Wrap `model` in a PeftModel; a quantized base is prepared for k-bit training first
    (`upcast`: its frozen non-4-bit weights in fp32, as peft does; else in their load dtype).
    `init_from`: a saved adapter (the verse stage's) whose weights are loaded trainable, so
    training continues them instead of starting B at zero; its rank, scale and targets
    must be `config`'s.

    With gradient checkpointing the inputs must require grads, or the checkpointed blocks
    pass no gradient back to the LoRA weights (they would silently stay at zero).
    """
    kbit = getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)
    if kbit and upcast:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    elif kbit:
        for param in model.parameters():
            param.requires_grad = False
    if kbit:
        keep_4bit_differentiable(model)
    if gradient_checkpointing and not (kbit and upcast):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if init_from is not None:
        check_same_lora(init_from, config)
        return PeftModel.from_pretrained(model, str(init_from), is_trainable=True)
    try:
        return get_peft_model(model, config)
    except ValueError as err:
        if "not found in the base model" not in str(err) and "Target modules" not in str(err):
            raise
        linear = [n for n, m in model.named_modules() if type(m).__name__.startswith("Linear")][:3]
        raise LoraTargetError(f"LoRA attached to no module: pattern {config.target_modules!r} matched "
                              f"nothing in {type(model).__name__} (linear layers look like {linear}); "
                              "fix lora.target_modules or the preset's lora_scope") from err


def check_same_lora(adapter_dir: str | Path, config: LoraConfig) -> None:
    """The saved adapter has the rank, alpha and target pattern of `config`, so continuing
    it trains the LoRA the params describe (a stale adapter would silently differ)."""
    path = Path(adapter_dir) / "adapter_config.json"
    if not path.is_file():
        raise ValueError(f"{adapter_dir}: no adapter_config.json to continue from; run "
                         "`dvc repro verse` first (or set verse.enabled: false)")
    saved = json.loads(path.read_text(encoding="utf-8"))
    want = {"r": config.r, "lora_alpha": config.lora_alpha, "target_modules": config.target_modules}
    differ = {k: (saved.get(k), v) for k, v in want.items() if saved.get(k) != v}
    if differ:
        raise ValueError(f"{adapter_dir}: the adapter to continue differs from the lora section "
                         f"(saved, wanted): {differ}; re-run `dvc repro verse` with the same lora params")


def lora_modules(model: Any) -> list[str]:
    """Names of the modules that carry a LoRA adapter (as in the base model)."""
    names = []
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "base_layer"):
            names.append(name.removeprefix("base_model.model."))
    return names


def lora_b_weights(model: Any) -> dict[str, Any]:
    """A detached copy of every LoRA B matrix (zero at initialisation)."""
    return {n: p.detach().float().clone() for n, p in model.named_parameters() if "lora_B" in n}
