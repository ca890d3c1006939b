"""Scoring on a tiny model: one code path for base and adapted, padding-independent."""

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from fixtures.tiny_models import toy_records
from qwen_qlora.config import LoraParams
from qwen_qlora.evaluate import aggregate, compare, length_batches, score_examples
from qwen_qlora.model.load import configure_tokenizer
from qwen_qlora.model.lora import attach_lora, lora_config
from qwen_qlora.model.prompts import encode_example


@pytest.fixture(scope="module")
def setup(gemma_base):
    path, preset = gemma_base
    tok = configure_tokenizer(AutoTokenizer.from_pretrained(path), preset)
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    peft = attach_lora(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
                       lora_config(LoraParams(r=4, alpha=8, dropout=0.0), preset))
    torch.manual_seed(0)
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 0.5)  # a trained-looking adapter, so base and adapted differ
    examples = [encode_example(preset, tok, r["prompt"], r["completion"]) for r in toy_records(5)]
    return base, peft, tok, examples


def test_adapter_off_scores_exactly_the_base(setup):
    base, peft, tok, examples = setup
    plain = score_examples(base, examples, tok.pad_token_id, batch_size=2)
    off = score_examples(peft, examples, tok.pad_token_id, batch_size=2, adapter=False)
    on = score_examples(peft, examples, tok.pad_token_id, batch_size=2, adapter=True)
    for a, b in zip(plain, off):
        assert a["nll"] == pytest.approx(b["nll"], rel=1e-5)
    assert aggregate(on)["val_loss"] != pytest.approx(aggregate(off)["val_loss"], rel=1e-3)


def test_padding_does_not_change_scores(setup):
    base, _, tok, examples = setup
    one = score_examples(base, examples, tok.pad_token_id, batch_size=1)
    many = score_examples(base, examples, tok.pad_token_id, batch_size=5)
    for a, b in zip(one, many):
        assert a["tokens"] == b["tokens"] and a["correct"] == b["correct"]
        assert a["nll"] == pytest.approx(b["nll"], rel=1e-4)


def test_only_completion_tokens_are_scored(setup):
    base, _, tok, examples = setup
    scores = score_examples(base, examples, tok.pad_token_id)
    assert [s["tokens"] for s in scores] == [sum(t != -100 for t in ex["labels"]) for ex in examples]


def test_aggregate_known_values():
    agg = aggregate([{"nll": 2.0, "tokens": 2, "correct": 1, "entropy": 1.0},
                     {"nll": 4.0, "tokens": 2, "correct": 2, "entropy": 3.0}])
    assert agg["val_loss"] == pytest.approx(1.5)
    assert agg["val_perplexity"] == pytest.approx(math.exp(1.5))
    assert agg["token_accuracy"] == pytest.approx(0.75)
    assert agg["mean_entropy_nats"] == pytest.approx(1.0)
    assert agg["mean_entropy_bits"] == pytest.approx(1.0 / math.log(2))
    d = compare({"val_loss": 2.0, "val_perplexity": math.exp(2), "token_accuracy": 0.3, "mean_entropy_nats": 2},
                {"val_loss": 1.0, "val_perplexity": math.exp(1), "token_accuracy": 0.5, "mean_entropy_nats": 1})
    assert d["val_perplexity_ratio"] == pytest.approx(math.exp(-1)) and d["val_loss"] == -1.0
    with pytest.raises(ValueError, match="no supervised tokens"):
        aggregate([{"nll": 0.0, "tokens": 0, "correct": 0, "entropy": 0.0}])


def test_length_batches_sort_longest_first():
    ex = [{"input_ids": [0] * n} for n in (3, 9, 1, 5)]
    assert length_batches(ex, 2) == [[1, 3], [0, 2]]
