"""The supervised-position output head on a tiny Gemma3: same numbers as the full logits,
a trimmed vocabulary that is exactly a restricted softmax, and the scorer."""

from __future__ import annotations

import pytest
import torch
from fixtures.tiny_models import char_tokenizer, gemma_preset, tiny_gemma, toy_records

from qwen_qlora.evaluation.scoring import collate, score_examples
from qwen_qlora.model.head import SupervisedHead, corpus_vocab, score_batch
from qwen_qlora.model.prompts import IGNORE, encode_records


@pytest.fixture(scope="module")
def tiny():
    tok = char_tokenizer()
    model = tiny_gemma(len(tok)).float()
    examples, _ = encode_records(gemma_preset(), tok, toy_records(4), 256)
    return model, tok, examples


def full_logprobs(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    target = batch["labels"][:, 1:]
    keep = target != IGNORE
    logp = torch.log_softmax(logits[:, :-1].float(), -1)[keep]
    return logp, target[keep]


def test_supervised_head_matches_the_full_logits_and_their_gradient(tiny):
    model, tok, examples = tiny
    batch = collate(examples, tok.pad_token_id)
    logp, target = full_logprobs(model, batch)
    want = logp.gather(-1, target[:, None]).squeeze(-1)
    model.zero_grad()
    (-want.sum()).backward()
    want_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    model.zero_grad()
    out = SupervisedHead(model)(model, batch)
    torch.testing.assert_close(out["log_probs"], want, atol=1e-5, rtol=1e-5)
    entropy = -(logp.exp() * logp).sum(-1)
    torch.testing.assert_close(out["entropy"], entropy, atol=1e-4, rtol=1e-4)
    assert torch.equal(out["is_top1"], logp.argmax(-1) == target)
    (-out["log_probs"].sum()).backward()
    for name, grad in want_grads.items():
        if "embed_tokens" not in name:  # the head's (tied) weight gets no gradient here: frozen in LoRA
            torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, atol=1e-4, rtol=1e-3)
    model.zero_grad()


def test_trimmed_vocabulary_is_the_softmax_over_the_corpus_tokens(tiny):
    model, tok, examples = tiny
    vocab = corpus_vocab(examples, tok)
    assert tok.eos_token_id in vocab and tok.pad_token_id in vocab
    assert len(vocab) < len(tok)  # the toy poems use only part of the alphabet
    batch = collate(examples, tok.pad_token_id)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    target = batch["labels"][:, 1:]
    keep = target != IGNORE
    restricted = torch.log_softmax(logits[:, :-1][keep][:, vocab].float(), -1)
    position = torch.searchsorted(vocab, target[keep])
    want = restricted.gather(-1, position[:, None]).squeeze(-1)
    head = SupervisedHead(model, vocab)
    with torch.no_grad():
        trimmed = head(model, batch, trimmed=True)["log_probs"]
        full = head(model, batch)["log_probs"]
    torch.testing.assert_close(trimmed, want, atol=1e-5, rtol=1e-5)
    assert bool((trimmed > full).all())  # a smaller denominator: every target is likelier


def test_trimmed_training_refuses_targets_outside_its_vocabulary(tiny):
    model, tok, examples = tiny
    head = SupervisedHead(model, corpus_vocab(examples[:1], tok))
    other = collate(examples[1:], tok.pad_token_id)
    with pytest.raises(ValueError, match="outside the trimmed vocabulary"):
        head(model, other, trimmed=True)


def test_score_batch_gives_the_evaluate_stage_numbers(tiny):
    model, tok, examples = tiny
    want = score_examples(model, examples, tok.pad_token_id, batch_size=len(examples))
    got = score_batch(model, collate(examples, tok.pad_token_id))
    assert [g["tokens"] for g in got] == [w["tokens"] for w in want]
    assert [g["correct"] for g in got] == [w["correct"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g["nll"] == pytest.approx(w["nll"], rel=1e-5)
        assert g["entropy"] == pytest.approx(w["entropy"], rel=1e-4)
