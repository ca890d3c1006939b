"""Seeded, batched sampling on a tiny model; the memorization probe's plumbing."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from fixtures.tiny_models import toy_records
from qwen_qlora.config import LoraParams
from qwen_qlora.generate import continue_first_lines, sample
from qwen_qlora.model.load import configure_tokenizer
from qwen_qlora.model.lora import attach_lora, lora_config
from qwen_qlora.samples import samples_markdown

DECODE = dict(temperature=1.0, top_p=0.95, repetition_penalty=1.1, max_new_tokens=12)


@pytest.fixture(scope="module")
def model(gemma_base):
    path, preset = gemma_base
    tok = configure_tokenizer(AutoTokenizer.from_pretrained(path), preset)
    peft = attach_lora(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
                       lora_config(LoraParams(r=4, alpha=8, dropout=0.0), preset))
    torch.manual_seed(0)
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 1.0)
    return peft, tok, preset


def test_same_seed_same_poems_other_seed_other_poems(model):
    peft, tok, preset = model
    prompts = ["тема: зима", "тема: долгая дорога"]
    a = sample(peft, tok, preset, prompts, 3, seed=5, **DECODE)
    b = sample(peft, tok, preset, prompts, 3, seed=5, **DECODE)
    c = sample(peft, tok, preset, prompts, 3, seed=6, **DECODE)
    assert a == b
    assert [x["text"] for x in a[0]] != [x["text"] for x in c[0]]
    assert [len(x) for x in a] == [3, 3] and all(0 <= x["new_tokens"] <= 12 for x in a[0] + a[1])


def test_left_padding_does_not_change_greedy_output(model):
    peft, tok, preset = model
    greedy = dict(DECODE, temperature=1e-4, top_p=1.0, repetition_penalty=1.0)
    alone = sample(peft, tok, preset, ["тема: зима"], 1, seed=0, **greedy)
    padded = sample(peft, tok, preset, ["тема: зима", "тема: очень долгая дорога домой"], 1, seed=0, **greedy)
    assert alone[0][0]["text"] == padded[0][0]["text"]


def test_adapter_switch_changes_samples(model):
    peft, tok, preset = model
    on = sample(peft, tok, preset, ["тема: море"], 2, seed=1, **DECODE)
    off = sample(peft, tok, preset, ["тема: море"], 2, seed=1, adapter=False, **DECODE)
    assert on != off


def test_probe_continues_each_record(model):
    peft, tok, preset = model
    outs = continue_first_lines(peft, tok, preset, toy_records(3), max_new_tokens=8, batch_size=2)
    assert len(outs) == 3 and all(isinstance(o, str) for o in outs)


def test_samples_markdown_pairs_base_and_adapted():
    samples = [{"model": m, "theme": t, "text": f"{m} {t} <строка>"} for t in ("любовь", "память")
               for m in ("base", "adapted")]
    md = samples_markdown(samples, "тема: {theme}", "tiny")
    assert md.count("<tr><td>") == 2 and "## память" in md and "&lt;строка&gt;" in md
