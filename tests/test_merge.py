"""Merging the adapter into a dense copy of the base: logits match base+adapter, the
folder loads with plain transformers, bad requests fail with a readable message."""

from __future__ import annotations

import json

import pytest
import torch
from fixtures.adapters import save_adapter
from transformers import AutoModelForCausalLM

from qwen_qlora.app.merge import TOLERANCE, MergeError, compare_logits, merge_adapter, model_card


@pytest.fixture(scope="module")
def adapter(gemma_base, tmp_path_factory):
    base_dir, preset = gemma_base
    return base_dir, preset, save_adapter(base_dir, tmp_path_factory.mktemp("adapter"))


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_merged_logits_match_base_plus_adapter(adapter, tmp_path, dtype):
    base_dir, preset, adapter_dir = adapter
    card = model_card(preset="tiny", source="tiny-gemma", author="toy", lora={"r": 4}, train={"num_train_epochs": 1},
                      dtype=dtype, metrics={"eval": {"adapted": {"test_perplexity": 9.5, "test_perplexity_ci_low": 9.0,
                                                                 "test_perplexity_ci_high": 10.0}}},
                      split={"train_poems": 6, "val_poems": 2})
    res = merge_adapter(base_dir, adapter_dir, preset, tmp_path / "merged", dtype=dtype, card=card)
    print(f"{dtype}: max |merged - base+adapter| = {res.max_abs_diff:.3g}, KL {res.max_kl:.2g} "
          f"(tolerance {res.tolerance}), top-1 {res.top1_agreement:.0%}, reload {res.reload_max_abs_diff:.3g}, "
          f"{res.probe_tokens} tokens")
    assert res.max_kl <= TOLERANCE[dtype] and res.top1_agreement > 0.95
    assert res.max_abs_diff <= (1e-3 if dtype == "fp32" else 0.1)
    assert res.reload_max_kl <= TOLERANCE[dtype]  # plain reload may pick another attention kernel
    files = {p.name for p in (tmp_path / "merged").iterdir()}
    assert "model.safetensors" in files and "tokenizer.json" in files and "README.md" in files
    assert not any(f.startswith("adapter_") for f in files)  # a plain model, no peft files
    config = json.loads((tmp_path / "merged/config.json").read_text())
    assert "quantization_config" not in config
    assert "9.5 (95% CI 9–10)" in (tmp_path / "merged/README.md").read_text()


def test_model_card_says_how_it_was_trained():
    card = model_card(preset="p", source="s", author="a", lora={}, train={}, dtype="bf16",
                      split={"train_poems": 160, "val_poems": 22},
                      metrics={"eval": {"delta": {"val_perplexity_ratio": 0.74}}}, quantized=False)
    assert "LoRA on the frozen 16/32-bit base" in card and "NF4" not in card
    assert "| adapted / base | val_perplexity_ratio | 0.74 |" in card
    assert "train 160, validation 22 poems" in card and "?" not in card
    assert "Other poets' poems served only as reference" in card  # no verse stage


def test_model_card_names_what_the_verse_stage_taught():
    card = model_card(preset="p", source="s", author="a", lora={}, train={}, dtype="bf16",
                      split={"train_poems": 160, "val_poems": 22}, metrics={},
                      verse={"enabled": True, "train_examples": 720,
                             "poems_by_author": {"blok": 200, "fet": 0, "tsvetaeva": 200}})
    assert "learned 720 poems of other Russian poets (blok 200, tsvetaeva 200; the verse stage)" in card
    assert "fet" not in card and "served only as reference" not in card


def test_merge_really_changes_the_base(adapter, tmp_path):
    """The check would catch a merge that silently dropped the adapter."""
    base_dir, preset, adapter_dir = adapter
    merge_adapter(base_dir, adapter_dir, preset, tmp_path / "m", dtype="fp32")
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "m", dtype=torch.float32)
    ids = torch.tensor([[2, 10, 11, 12, 13]])
    assert (base(input_ids=ids).logits - merged(input_ids=ids).logits).abs().max() > 1e-2


def test_compare_logits_measures_distribution_shift():
    ref = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    assert compare_logits(ref, ref + 5.0)[:2] == (5.0, 0.0)  # a constant shift changes no probability
    diff, kl, top1 = compare_logits(ref, torch.tensor([[0.0, 2.0, -1.0], [0.0, 1.0, 0.0]]))
    assert diff == 2.0 and kl > 0.5 and top1 == 0.5


def test_refuses_bad_requests(adapter, tmp_path):
    base_dir, preset, adapter_dir = adapter
    with pytest.raises(MergeError, match="never into 4-bit"):
        merge_adapter(base_dir, adapter_dir, preset, tmp_path / "x", dtype="nf4")
    with pytest.raises(MergeError, match="no adapter_config.json"):
        merge_adapter(base_dir, tmp_path, preset, tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full/file").write_text("x")
    with pytest.raises(MergeError, match="not empty"):
        merge_adapter(base_dir, adapter_dir, preset, tmp_path / "full")


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_merge_default_model(tmp_path, dtype):
    """The pipeline's own base and trained adapter (after `dvc repro train`)."""
    from pathlib import Path

    from qwen_qlora.config import load_params

    root = Path(__file__).resolve().parents[1]
    params = load_params(root / "params.yaml")
    base, adapter = root / "models/base" / params.model.preset, root / "models/adapter"
    if not (adapter / "adapter_config.json").is_file() or not (base / "config.json").is_file():
        pytest.skip("needs models/base/<preset> and models/adapter (dvc repro train)")
    res = merge_adapter(base, adapter, params.model.selected, tmp_path / "merged", dtype=dtype)
    print(f"{params.model.preset} {dtype}: max |logit difference| {res.max_abs_diff:.3g}, KL {res.max_kl:.2g}, "
          f"top-1 {res.top1_agreement:.1%}")
    assert res.max_kl <= TOLERANCE[dtype] and res.top1_agreement >= 0.95
