import pytest
from fixtures.tiny_models import char_tokenizer, gemma_preset, qwen_preset, toy_records

from qwen_qlora.model.prompts import (
    IGNORE,
    encode_example,
    encode_records,
    fewshot_shots,
    format_prompt,
    line_prefixes,
    probe_prefix,
    prompt_ids,
    show_mask,
)
from qwen_qlora.text import lines


def test_plain_prompt_is_masked_and_completion_ends_with_eos():
    tok, preset = char_tokenizer(), gemma_preset()
    ex = encode_example(preset, tok, "Напиши о море", "Шумит волна.")
    head = prompt_ids(preset, tok, "Напиши о море")
    assert ex["input_ids"][: len(head)] == head
    assert ex["labels"][: len(head)] == [IGNORE] * len(head)
    assert ex["labels"][len(head):] == ex["input_ids"][len(head):]
    assert ex["input_ids"][-1] == tok.eos_token_id
    assert tok.decode(ex["input_ids"][len(head):-1]) == "Шумит волна."
    assert tok.decode(head) == "<bos>Напиши о море\n\n"


def test_chat_prompt_uses_template_and_end_of_turn():
    tok, preset = char_tokenizer(chat=True), qwen_preset()
    ex = encode_example(preset, tok, "Напиши о море", "Шумит волна.")
    learned = [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != IGNORE]
    assert tok.decode(learned) == "Шумит волна.<|im_end|>"
    masked = tok.decode([t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab == IGNORE])
    assert masked == "<|im_start|>user\nНапиши о море<|im_end|>\n<|im_start|>assistant\n"


def test_too_long_records_are_left_out_not_cut():
    tok, preset = char_tokenizer(), gemma_preset()
    records = toy_records(3)
    kept, too_long = encode_records(preset, tok, records, max_len=60)
    assert kept == [] and too_long == ["toy-0", "toy-1", "toy-2"]
    kept, too_long = encode_records(preset, tok, records, max_len=400)
    assert len(kept) == 3 and not too_long
    assert all(k["input_ids"][-1] == tok.eos_token_id for k in kept)


def test_show_mask_brackets_exactly_the_prompt():
    tok, preset = char_tokenizer(), gemma_preset()
    ex = encode_example(preset, tok, "Тема", "Стих.")
    assert show_mask(tok, ex) == "[[<bos>Тема\n\n]]Стих.<eos>"


def test_fewshot_prompt_puts_worked_examples_first():
    tok, preset = char_tokenizer(), gemma_preset()
    shots = fewshot_shots(toy_records(4), 2)
    assert [s[0] for s in shots] == [r["prompt"] for r in toy_records(2)]
    ex = encode_example(preset, tok, "Тема", "Стих.", shots)
    assert show_mask(tok, ex) == ("[[<bos>" + "".join(f"{p}\n\n{c}<eos>\n\n" for p, c in shots) + "Тема\n\n]]Стих.<eos>")
    # each worked poem ends with the stop token itself, as a scored completion does
    assert ex["input_ids"].count(tok.eos_token_id) == len(shots) + 1
    chat_tok = char_tokenizer(chat=True)
    text = format_prompt(qwen_preset(), chat_tok, "Тема", shots[:1])
    assert text.count("<|im_start|>user") == 2 and f"assistant\n{shots[0][1]}<|im_end|>" in text
    with pytest.raises(ValueError, match="only 0 train poems"):
        fewshot_shots(toy_records(2), 1, max_lines=1)


def test_probe_prefix_is_the_training_tokens_up_to_the_first_line():
    tok, preset = char_tokenizer(), gemma_preset()
    rec = toy_records(1)[0]
    ex = encode_example(preset, tok, rec["prompt"], rec["completion"])
    prefix = probe_prefix(preset, tok, rec["prompt"], rec["completion"])
    assert ex["input_ids"][: len(prefix)] == prefix
    head = prompt_ids(preset, tok, rec["prompt"])
    assert tok.decode(prefix[len(head):]) == rec["completion"].split("\n")[0]


def test_line_prefixes_are_the_training_tokens_before_each_verse_line():
    tok, preset = char_tokenizer(), gemma_preset()
    rec = toy_records(1)[0]
    ex = encode_example(preset, tok, rec["prompt"], rec["completion"])
    head, body, targets = line_prefixes(preset, tok, rec["prompt"], rec["completion"])
    assert head + body + [tok.eos_token_id] == ex["input_ids"]
    assert [line for _, line in targets] == lines(rec["completion"])  # every verse line, blank lines skipped
    assert targets[0][0] == 0
    for k, (n, _) in enumerate(targets[1:], start=1):
        before = tok.decode(body[:n])
        assert lines(before) == lines(rec["completion"])[:k] and not before.endswith("\n")
