import tempfile

import pytest
import torch
from fixtures.tiny_models import char_tokenizer, tiny_gemma
from transformers import AutoModelForCausalLM, AutoTokenizer

from qwen_qlora.config import default_presets
from qwen_qlora.model.convert import compare
from qwen_qlora.model.load import load_source


def test_compare_sees_identical_and_perturbed_copies(tmp_path):
    tok = char_tokenizer()
    model = tiny_gemma(len(tok))
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    copy = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32)
    report = compare(model, tok, copy, AutoTokenizer.from_pretrained(tmp_path))
    assert report["same_tokens"] and report["max_logit_diff"] == 0.0
    with torch.no_grad():
        copy.model.layers[0].mlp.up_proj.weight[0, 0] += 0.5
    assert compare(model, tok, copy, tok)["max_logit_diff"] > 0


@pytest.mark.slow
def test_gguf_conversion_reproduces_logits_exactly(tmp_path):
    """The real default model: GGUF -> plain HF folder -> same tokens, same logits."""
    with tempfile.TemporaryDirectory() as cache:
        model, tok = load_source(default_presets()["gemma-3-270m"], cache)
    assert not getattr(model, "is_quantized", False)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    copy = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=model.dtype)
    report = compare(model, tok, copy, AutoTokenizer.from_pretrained(tmp_path))
    assert report == {"same_tokens": True, "max_logit_diff": 0.0, "probe_tokens": report["probe_tokens"]}
