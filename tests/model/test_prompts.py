import pytest
from fixtures.tiny_models import char_tokenizer, gemma_preset, qwen_preset, toy_records

from qwen_qlora.model.prompts import (
    CONTINUATION,
    IGNORE,
    LineTooLong,
    continuation_prompt,
    encode_example,
    encode_pieces,
    encode_records,
    fewshot_shots,
    format_prompt,
    line_prefixes,
    poem_pieces,
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


# Three stanzas of two lines (toy verse written for the tests)
LONG = "Снег идёт.\nТихо, тихо.\n\nНочь светла.\nСпит река.\n\nУтро, свет.\nВсё пришло."


def learned(ex):
    return [t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab != IGNORE]


def test_a_poem_that_fits_stays_whole_and_ends_with_eos():
    tok, preset = char_tokenizer(), gemma_preset()
    [piece] = poem_pieces(preset, tok, "Тема", LONG, max_len=200)
    whole = encode_example(preset, tok, "Тема", LONG)
    assert (piece["input_ids"], piece["labels"]) == (whole["input_ids"], whole["labels"])
    assert piece["final"] and piece["text"] == LONG and learned(piece)[-1] == tok.eos_token_id


def test_a_long_poem_becomes_pieces_at_stanza_breaks_only_the_last_learns_to_stop():
    tok, preset = char_tokenizer(), gemma_preset()
    # One token per character: whole 7 prompt + 68 poem + EOS; two stanzas with the prompt 53;
    # the last stanza with the continuation prompt (21) and EOS 44
    pieces = poem_pieces(preset, tok, "Тема", LONG, max_len=56)
    assert [p["text"] for p in pieces] == ["Снег идёт.\nТихо, тихо.\n\nНочь светла.\nСпит река.",
                                           "Утро, свет.\nВсё пришло."]
    assert all(len(p["input_ids"]) <= 56 for p in pieces)
    assert [p["final"] for p in pieces] == [False, True]
    assert [learned(p)[-1] == tok.eos_token_id for p in pieces] == [False, True]
    assert tok.eos_token_id not in learned(pieces[0])
    assert show_mask(tok, pieces[0]).startswith("[[<bos>Тема\n\n]]Снег")
    assert show_mask(tok, pieces[1]) == f"[[<bos>{continuation_prompt('Тема')}\n\n]]Утро, свет.\nВсё пришло.<eos>"
    assert continuation_prompt("Тема") == "Тема" + CONTINUATION


def test_a_stanza_too_long_for_a_piece_is_cut_between_lines():
    tok, preset = char_tokenizer(), gemma_preset()
    poem = "Раз, два, три.\nЧетыре, пять.\nШесть и семь.\nВосемь, девять.\n\nДесять."
    pieces = poem_pieces(preset, tok, "Тема", poem, max_len=50)
    texts = [p["text"] for p in pieces]
    # The first stanza (58 characters) fits no piece: cut after its third line, and its last
    # line shares a piece with the stanza after it
    assert texts == ["Раз, два, три.\nЧетыре, пять.\nШесть и семь.", "Восемь, девять.\n\nДесять."]
    assert all(len(p["input_ids"]) <= 50 for p in pieces) and [p["final"] for p in pieces] == [False, True]
    # Every line of the poem is in exactly one piece, whole and in order
    assert [ln for t in texts for ln in t.split("\n") if ln] == [ln for ln in poem.split("\n") if ln]


def test_chat_pieces_learn_the_end_of_turn_only_at_the_end():
    tok, preset = char_tokenizer(chat=True), qwen_preset()
    pieces = poem_pieces(preset, tok, "Тема", LONG, max_len=60)
    assert len(pieces) > 1 and all(len(p["input_ids"]) <= 60 for p in pieces)
    assert [tok.eos_token_id in learned(p) for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert "Тема (продолжение)" in tok.decode(pieces[1]["input_ids"])


def test_a_line_longer_than_any_piece_leaves_its_poem_out_counted():
    tok, preset = char_tokenizer(), gemma_preset()
    records = [{"id": "short", "prompt": "Тема", "completion": "Стих."},
               {"id": "long", "prompt": "Тема", "completion": LONG},
               {"id": "wide", "prompt": "Тема", "completion": "Короткая.\n" + "Очень длинная строка " * 3}]
    with pytest.raises(LineTooLong, match="line 2"):
        poem_pieces(preset, tok, "Тема", records[2]["completion"], max_len=56)
    examples, counts, left_out = encode_pieces(preset, tok, records, max_len=56)
    assert [e["id"] for e in examples] == ["short", "long#1/2", "long#2/2"]
    assert counts == {"poems": 3, "pieces": 3, "poems_split": 1, "poems_left_out_line_too_long": 1}
    assert left_out == ["wide"]
