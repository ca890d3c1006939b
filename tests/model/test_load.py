import bitsandbytes as bnb
import huggingface_hub.constants
import pytest
import torch

from qwen_qlora.config import PresetParams, QuantParams, default_presets
from qwen_qlora.model.load import ModelLoadError, bnb_config, load_base, load_source


def test_bnb_config_is_qlora_recipe_or_none():
    cfg = bnb_config(QuantParams(), "bf16")
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == "nf4"
    assert cfg.bnb_4bit_use_double_quant and cfg.bnb_4bit_compute_dtype == torch.bfloat16
    assert bnb_config(QuantParams(), "fp32").bnb_4bit_compute_dtype == torch.float32
    assert bnb_config(QuantParams(compute_dtype="bfloat16"), "fp32").bnb_4bit_compute_dtype == torch.bfloat16
    assert bnb_config(QuantParams(load_in_4bit=False)) is None


def test_load_base_4bit_has_nf4_layers(gemma_base):
    path, preset = gemma_base
    model, tok = load_base(path, preset, QuantParams())
    q_proj = model.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, bnb.nn.Linear4bit)
    assert q_proj.weight.quant_type == "nf4"
    assert model.config._attn_implementation == "eager"
    assert tok.pad_token == "<pad>" and tok.eos_token == "<eos>"


def test_load_base_plain_lora_keeps_dense_layers(gemma_base):
    path, preset = gemma_base
    model, _ = load_base(path, preset, QuantParams(load_in_4bit=False), "bf16")
    assert type(model.model.layers[0].self_attn.q_proj) is torch.nn.Linear
    assert model.dtype == torch.bfloat16
    model, _ = load_base(path, preset, QuantParams(load_in_4bit=False), "fp32")
    assert model.dtype == torch.float32


def test_missing_base_folder_says_which_stage_to_run(tmp_path):
    with pytest.raises(ModelLoadError, match="dvc repro prepare_model"):
        load_base(tmp_path, default_presets()["gemma-3-270m"], QuantParams())


def test_pad_token_equal_to_eos_is_refused(gemma_base):
    path, _ = gemma_base
    preset = PresetParams(source="x", eos_token="<eos>")
    # the tokenizer's own pad token is <pad>; forcing it onto EOS must fail
    preset.pad_token = "<eos>"
    with pytest.raises(ModelLoadError, match="padding would mask the end"):
        load_base(path, preset, QuantParams(load_in_4bit=False))


def test_hub_source_offline_fails_with_a_message(monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    preset = PresetParams(source="nobody/not-a-model-xyz", prompt_format="chat")
    with pytest.raises(ModelLoadError, match="neither a local HF folder nor reachable"):
        load_source(preset, tmp_path)
