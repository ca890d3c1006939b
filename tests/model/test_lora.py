import re

import pytest
import torch
from fixtures.tiny_models import char_tokenizer, gemma_preset, tiny_gemma, tiny_gemma_multimodal, tiny_qwen
from peft import LoraConfig

from qwen_qlora.config import LoraParams, default_presets
from qwen_qlora.model.lora import attach_lora, lora_b_weights, lora_config, lora_modules, target_pattern
from qwen_qlora.training.health import HealthError, check_lora_targets


def test_pattern_keeps_lora_off_the_vision_tower():
    pattern = target_pattern(LoraParams(), default_presets()["gemma-3-4b-it"])
    assert re.fullmatch(pattern, "model.language_model.layers.3.self_attn.q_proj")
    assert re.fullmatch(pattern, "model.language_model.layers.3.self_attn.v_proj")
    assert not re.fullmatch(pattern, "model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj")
    assert not re.fullmatch(pattern, "model.language_model.layers.3.self_attn.k_proj")


def test_attach_wraps_only_the_targets_with_zero_b():
    model = tiny_gemma(len(char_tokenizer()))
    peft_model = attach_lora(model, lora_config(LoraParams(r=4, alpha=8), gemma_preset()))
    assert lora_modules(peft_model) == [f"model.layers.{i}.self_attn.{p}" for i in (0, 1)
                                        for p in ("q_proj", "v_proj")]
    b = lora_b_weights(peft_model)
    assert len(b) == 4 and all(torch.count_nonzero(w) == 0 for w in b.values())
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_other_targets_on_qwen():
    model = tiny_qwen(len(char_tokenizer(chat=True)))
    cfg = lora_config(LoraParams(target_modules=["o_proj", "down_proj"]), default_presets()["qwen2.5-3b-instruct"])
    names = lora_modules(attach_lora(model, cfg))
    assert names == ["model.layers.0.self_attn.o_proj", "model.layers.0.mlp.down_proj",
                     "model.layers.1.self_attn.o_proj", "model.layers.1.mlp.down_proj"]


def test_multimodal_gemma_gets_lora_only_in_the_language_model():
    preset = default_presets()["gemma-3-4b-it"]
    model = tiny_gemma_multimodal()
    assert any("vision_tower" in n and n.endswith("q_proj") for n, _ in model.named_modules())
    names = lora_modules(attach_lora(model, lora_config(LoraParams(), preset)))
    assert names == [f"model.language_model.layers.{i}.self_attn.{p}" for i in (0, 1)
                     for p in ("q_proj", "v_proj")]
    check_lora_targets(names, ["q_proj", "v_proj"], preset.lora_scope)


def test_a_bare_name_list_would_reach_the_vision_tower_and_is_caught():
    preset = default_presets()["gemma-3-4b-it"]
    naive = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    names = lora_modules(attach_lora(tiny_gemma_multimodal(), naive))
    assert any("vision_tower" in n for n in names)
    with pytest.raises(HealthError, match="outside the language model"):
        check_lora_targets(names, ["q_proj", "v_proj"], preset.lora_scope)
