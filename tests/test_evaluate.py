"""Scoring on a tiny model: one code path for base and adapted, padding-independent."""

import math

import pytest
import torch
from fixtures.tiny_models import toy_records
from transformers import AutoModelForCausalLM, AutoTokenizer

from qwen_qlora.config import LoraParams
from qwen_qlora.evaluation.scoring import (aggregate, length_batches, perplexity_ratio, poem_tokens, poems_better,
                                           score_examples, stop_term)
from qwen_qlora.model.load import configure_tokenizer
from qwen_qlora.model.lora import attach_lora, lora_config
from qwen_qlora.model.prompts import encode_example


@pytest.fixture(scope="module")
def setup(gemma_base):
    path, preset = gemma_base
    tok = configure_tokenizer(AutoTokenizer.from_pretrained(path), preset)
    torch.manual_seed(0)  # LoRA A's initialisation draws from the global generator
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
    assert max(abs(a["nll"] - b["nll"]) for a, b in zip(on, off)) > 1e-2


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


def test_only_predicting_positions_reach_the_output_layer(setup):
    """Scores with logits at completion positions only equal those from full logits."""
    base, _, tok, examples = setup
    fast = score_examples(base, examples, tok.pad_token_id, batch_size=2)
    for ex, s in zip(examples, fast):
        ids = torch.tensor([ex["input_ids"]])
        logp = torch.log_softmax(base(input_ids=ids).logits[0, :-1].float(), -1)
        target = torch.tensor(ex["labels"][1:])
        keep = target != -100
        assert s["nll"] == pytest.approx(float(-logp[keep].gather(-1, target[keep, None]).sum()), rel=1e-4)


def test_the_stop_token_is_scored_apart(setup):
    """stop_nll is the NLL of the last learned token, the EOS; poem_tokens leaves it out."""
    base, _, tok, examples = setup
    scores = score_examples(base, examples, tok.pad_token_id, batch_size=2)
    for ex, s in zip(examples, scores):
        assert ex["labels"][-1] == tok.eos_token_id
        logp = torch.log_softmax(base(input_ids=torch.tensor([ex["input_ids"]])).logits[0, -2].float(), -1)
        assert s["stop_nll"] == pytest.approx(float(-logp[tok.eos_token_id]), rel=1e-4)
        assert s["stop_correct"] == int(logp.argmax() == tok.eos_token_id)
    poem = poem_tokens(scores)
    assert [p["tokens"] for p in poem] == [s["tokens"] - 1 for s in scores]
    assert [p["nll"] for p in poem] == pytest.approx([s["nll"] - s["stop_nll"] for s in scores])
    term = stop_term(scores)
    assert term["stop_nats_per_poem"] == pytest.approx(sum(s["stop_nll"] for s in scores) / len(scores), abs=1e-4)
    assert term["stop_nats_per_poem_ci_low"] <= term["stop_nats_per_poem"] <= term["stop_nats_per_poem_ci_high"]


def test_aggregate_known_values():
    scores = [{"nll": 2.0, "tokens": 2, "correct": 1, "entropy": 1.0},
              {"nll": 4.0, "tokens": 2, "correct": 2, "entropy": 3.0}]
    agg = aggregate(scores)
    assert agg["test_loss"] == pytest.approx(1.5)
    assert agg["test_perplexity"] == pytest.approx(math.exp(1.5))
    assert agg["test_perplexity_ci_low"] <= agg["test_perplexity"] <= agg["test_perplexity_ci_high"]
    assert agg["token_accuracy"] == pytest.approx(0.75)
    assert agg["mean_entropy_nats"] == pytest.approx(1.0)
    assert agg["mean_entropy_bits"] == pytest.approx(1.0 / math.log(2))
    assert (agg["test_tokens"], agg["test_poems"]) == (4, 2)
    with pytest.raises(ValueError, match="no supervised tokens"):
        aggregate([{"nll": 0.0, "tokens": 0, "correct": 0, "entropy": 0.0}])


def test_perplexity_ratio_is_paired_and_refuses_unlike_rows():
    base = [{"nll": 4.0, "tokens": 2}, {"nll": 6.0, "tokens": 3}, {"nll": 5.0, "tokens": 2}]
    better = [{"nll": 3.0, "tokens": 2}, {"nll": 5.0, "tokens": 3}, {"nll": 4.5, "tokens": 2}]
    r = perplexity_ratio(better, base)
    assert r["test_perplexity_ratio"] == pytest.approx(math.exp(-2.5 / 7))
    assert r["test_perplexity_ratio_ci_low"] <= r["test_perplexity_ratio"] <= r["test_perplexity_ratio_ci_high"] < 1
    with pytest.raises(ValueError, match="different tokens"):
        perplexity_ratio(better[:2], base)


def test_poems_better_counts_lower_per_token_loss():
    base = [{"nll": 4.0, "tokens": 2}, {"nll": 6.0, "tokens": 3}, {"nll": 5.0, "tokens": 2}]
    mixed = [{"nll": 3.0, "tokens": 2}, {"nll": 6.0, "tokens": 3}, {"nll": 5.5, "tokens": 2}]
    assert poems_better(mixed, base) == 1  # a tie is not better
    assert poems_better(base, mixed) == 1


def test_length_batches_sort_longest_first():
    ex = [{"input_ids": [0] * n} for n in (3, 9, 1, 5)]
    assert length_batches(ex, 2) == [[1, 3], [0, 2]]
