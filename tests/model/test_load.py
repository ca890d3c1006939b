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


# ---------------------------------------------------------------- safety

class _TouchOnUnpickle:
    """Unpickling this creates a file: what a hostile checkpoint could do instead."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _pickle_only_folder(tmp_path, marker):
    """A tiny Qwen2 folder whose weights are only a pickle (one that runs code)."""
    from fixtures.tiny_models import save_base

    folder, preset = save_base(tmp_path / "pickled", "qwen")
    for f in folder.glob("*.safetensors"):
        f.unlink()
    torch.save({"payload": _TouchOnUnpickle(marker)}, folder / "pytorch_model.bin")
    return folder, preset


def test_pickle_checkpoints_are_refused_before_unpickling(tmp_path):
    marker = tmp_path / "code-ran"
    folder, preset = _pickle_only_folder(tmp_path, marker)
    torch.load(folder / "pytorch_model.bin", weights_only=False)  # the payload is real
    assert marker.exists()
    marker.unlink()
    preset.source = str(folder)
    for load in (lambda: load_source(preset, tmp_path / "cache"),
                 lambda: load_base(folder, preset, QuantParams(load_in_4bit=False))):
        with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin.*only safetensors are loaded"):
            load()
    assert not marker.exists()


def test_weights_are_requested_as_safetensors_without_remote_code(gemma_base, monkeypatch):
    from qwen_qlora.model import load as load_mod

    seen = {}
    original = load_mod.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(load_mod.AutoModelForCausalLM, "from_pretrained", spy)
    path, preset = gemma_base
    load_base(path, preset, QuantParams(load_in_4bit=False))
    assert seen["use_safetensors"] is True and seen["trust_remote_code"] is False


CONFIG_CODE = '''
from pathlib import Path
from transformers import Qwen2Config
Path(r"{marker}").touch()


class ToyConfig(Qwen2Config):
    model_type = "toy_qwen2"
'''
MODELING_CODE = '''
from transformers import Qwen2ForCausalLM
from .configuration_toy import ToyConfig


class ToyForCausalLM(Qwen2ForCausalLM):
    config_class = ToyConfig
'''


def test_remote_code_runs_only_when_the_preset_opts_in(tmp_path, caplog):
    import json

    from fixtures.tiny_models import save_base

    marker = tmp_path / "remote-code-ran"
    folder, _ = save_base(tmp_path / "custom", "qwen")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="toy_qwen2", auto_map={
        "AutoConfig": "configuration_toy.ToyConfig",
        "AutoModelForCausalLM": "modeling_toy.ToyForCausalLM"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_toy.py").write_text(CONFIG_CODE.format(marker=marker))
    (folder / "modeling_toy.py").write_text(MODELING_CODE)

    preset = PresetParams(source=str(folder), prompt_format="chat")
    with pytest.raises(ModelLoadError, match=r"ships its own Python code.*trust_remote_code: true"):
        load_source(preset, tmp_path / "cache")
    assert not marker.exists()

    preset.trust_remote_code = True
    with caplog.at_level("WARNING", logger="qwen_qlora.model.load"):
        model, _ = load_source(preset, tmp_path / "cache")
    assert type(model).__name__ == "ToyForCausalLM" and marker.exists()
    assert any("trust_remote_code is on" in r.getMessage() for r in caplog.records)
