"""Scoring on a tiny model: one code path for base and adapted, padding-independent; the
membership test, which tells a memorised poem from unseen ones."""

import math

import pytest
import torch
from fixtures.tiny_models import overfit, tiny_gemma, toy_records
from transformers import AutoModelForCausalLM, AutoTokenizer

from qwen_qlora.config import LoraParams
from qwen_qlora.evaluation.membership import (
    fixed_sample,
    membership_figures,
    poem_losses,
)
from qwen_qlora.evaluation.scoring import (
    aggregate,
    length_batches,
    perplexity_ratio,
    poem_tokens,
    poems_better,
    score_examples,
    stop_term,
)
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


def test_scoring_reports_progress_per_batch(setup):
    base, _, tok, examples = setup
    done: list[int] = []
    score_examples(base, examples, tok.pad_token_id, batch_size=2, progress=done.append)
    assert done == [2, 2, 1]  # 5 poems in batches of 2


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


def test_fixed_sample_is_deterministic_and_nested():
    records = toy_records(6)
    assert fixed_sample(records, 3, seed=0) == fixed_sample(list(reversed(records)), 3, seed=0)
    assert fixed_sample(records, 2, seed=0) == fixed_sample(records, 4, seed=0)[:2]
    assert fixed_sample(records, 3, seed=0) != fixed_sample(records, 3, seed=1)
    assert len(fixed_sample(records, 60, seed=0)) == 6


def test_membership_tells_memorised_poems_from_unseen_ones():
    """A tiny model trained on a few toy poems for a few steps (the 'adapted' row) against
    the same model untrained (the 'base'): the loss it removed picks out every poem it saw."""
    seen, unseen = toy_records(3), toy_records(3, start=3)
    memoriser, tok, preset = overfit(seen, steps=30)
    untrained = tiny_gemma(len(tok), seed=1).eval()

    def scores(model, recs):
        return score_examples(model, [encode_example(preset, tok, r["prompt"], r["completion"]) for r in recs],
                              tok.pad_token_id, batch_size=2)

    train = {"base": scores(untrained, seen), "adapted": scores(memoriser, seen)}
    test = {"base": scores(untrained, unseen), "adapted": scores(memoriser, unseen)}
    result = membership_figures(train, test, seed=0)
    assert result["auc"] == result["auc_ci_low"] == 1.0 and (result["n_train"], result["n_test"]) == (3, 3)
    assert result["loss_removed_train_nats_per_token"] > result["loss_removed_test_nats_per_token"] + 0.5
    assert result["adapted_auc"] == 1.0 and 0.0 <= result["base_auc"] <= 1.0
    # the losses are over the poems' own tokens: the stop token's term is left out
    own = poem_losses(train["adapted"])
    assert own == pytest.approx([(s["nll"] - s["stop_nll"]) / (s["tokens"] - 1) for s in train["adapted"]])
    with pytest.raises(ValueError, match="evaluate.rows must include"):
        membership_figures({"adapted": train["adapted"]}, test)


def test_membership_finds_no_trace_where_the_adapter_changes_nothing(setup):
    """The base against itself: the AUC of the (zero) removed loss is chance, ties all round."""
    base, _, tok, examples = setup
    scores = score_examples(base, examples, tok.pad_token_id, batch_size=2)
    result = membership_figures({"base": scores[:3], "adapted": scores[:3]},
                                {"base": scores[3:], "adapted": scores[3:]})
    assert result["auc"] == 0.5 and result["loss_removed_train_nats_per_token"] == 0.0
