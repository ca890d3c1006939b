"""Seeded, batched sampling on a tiny model (the cached decoding loop against `generate`,
branches off one key-value cache); memorisation probes that can fire."""

import pytest
import torch
from fixtures.tiny_models import (
    char_tokenizer,
    overfit,
    tiny_gemma,
    tiny_qwen,
    toy_records,
)
from transformers import AutoModelForCausalLM, AutoTokenizer

from qwen_qlora.config import LoraParams
from qwen_qlora.config import Params
from qwen_qlora.evaluation.probe import (
    complete_verse_lines,
    line_batches,
    probe_continuations,
    probe_hits,
    probe_summary,
    recite_lines,
)
from qwen_qlora.generation.decode import Sampling, decode, sample
from qwen_qlora.model.head import corpus_vocab
from qwen_qlora.model.load import configure_tokenizer
from qwen_qlora.model.lora import attach_lora, lora_config
from qwen_qlora.report.samples import samples_markdown

def settings(**overrides):
    """A `config.Decoding` as every writer builds it: params' generate section with overrides."""
    values = dict(temperature=1.0, top_p=0.95, repetition_penalty=1.1, max_new_tokens=12, vocab="full")
    return Params().generate.decoding(**{**values, **overrides})


DECODE = settings()


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
    a = sample(peft, tok, preset, prompts, 3, seed=5, decoding=DECODE)
    b = sample(peft, tok, preset, prompts, 3, seed=5, decoding=DECODE)
    c = sample(peft, tok, preset, prompts, 3, seed=6, decoding=DECODE)
    assert a == b
    assert [x["text"] for x in a[0]] != [x["text"] for x in c[0]]
    assert [len(x) for x in a] == [3, 3] and all(0 <= x["new_tokens"] <= 12 for x in a[0] + a[1])


def test_sampling_reports_each_finished_poem_and_changes_no_poem(model):
    peft, tok, preset = model
    prompts = ["тема: зима", "тема: долгая дорога", "тема: море"]
    done: list[int] = []
    shown = sample(peft, tok, preset, prompts, 2, seed=5, decoding=DECODE, batch_size=4, progress=done.append)
    assert sum(done) == 6 and len(done) >= 2  # every poem, as its batch's rows finish
    assert shown == sample(peft, tok, preset, prompts, 2, seed=5, decoding=DECODE, batch_size=4)


def test_left_padding_does_not_change_greedy_output(model):
    peft, tok, preset = model
    greedy = settings(temperature=1e-4, top_p=1.0, repetition_penalty=1.0)
    alone = sample(peft, tok, preset, ["тема: зима"], 1, seed=0, decoding=greedy)
    padded = sample(peft, tok, preset, ["тема: зима", "тема: очень долгая дорога домой"], 1, seed=0, decoding=greedy)
    assert alone[0][0]["text"] == padded[0][0]["text"]


def prompt_rows(tok, texts):
    return [tok(t)["input_ids"] for t in texts]


def reference(model, tok, text, max_new_tokens, **kwargs):
    """`transformers`' `generate` on one row alone: no padding, no batch."""
    ids = torch.tensor([tok(text)["input_ids"]])
    out = model.generate(ids, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id, **kwargs)
    return out[0, ids.shape[1]:].tolist()


# the last prompt is longer than the tiny Gemma-3's sliding window (64): its local layers drop keys
TEXTS = ["тема: зима", "тема: очень долгая дорога домой", "мост",
         "долгая зимняя дорога через поле и лес к дальнему дому у реки, где горит свет в окне"]


@pytest.mark.parametrize("family", ["gemma", "qwen"])
def test_greedy_decoding_is_what_generate_gives_row_by_row(family):
    tok = char_tokenizer(chat=family == "qwen")
    model = (tiny_qwen if family == "qwen" else tiny_gemma)(len(tok)).float().eval()
    assert family == "qwen" or len(tok(TEXTS[-1])["input_ids"]) + 16 > model.config.sliding_window
    free = [reference(model, tok, t, 16, do_sample=False, eos_token_id=tok.eos_token_id) for t in TEXTS]
    # a stop token that ends row 0 early and no other row, so rows leave the batch at different steps
    stop_token = next(t for t in free[0][1:10] if all(t not in other for other in free[1:]))
    stop = [tok.eos_token_id, stop_token]
    got = decode(model, prompt_rows(tok, TEXTS), pad_id=tok.pad_token_id, stop_ids=stop, max_new_tokens=16)
    for text, new in zip(TEXTS, got, strict=True):
        assert new == reference(model, tok, text, 16, do_sample=False, eos_token_id=stop)
    assert len(got[0]) < 10 and any(len(new) == 16 for new in got[1:])


def test_a_token_subset_is_the_full_vocabulary_with_every_other_token_suppressed(model):
    """Deterministic sampling (top-k 1) with a strong repetition penalty: the subset's
    column space must penalise the same tokens `generate` penalises in token space."""
    peft, tok, preset = model
    subset = corpus_vocab([{"input_ids": tok("зима море тема дорога домой")["input_ids"]}], tok)
    outside = sorted(set(range(len(tok))) - set(subset.tolist()))
    texts = ["тема: зима", "тема: долгая дорога"]
    sampling = Sampling(temperature=1.0, top_p=1.0, repetition_penalty=3.0, top_k=1)
    got = decode(peft, prompt_rows(tok, texts), pad_id=tok.pad_token_id, stop_ids=[tok.eos_token_id],
                 max_new_tokens=20, sampling=sampling, vocab=subset)
    for text, new in zip(texts, got, strict=True):
        want = reference(peft, tok, text, 20, do_sample=True, top_k=1, repetition_penalty=3.0,
                         suppress_tokens=outside, eos_token_id=tok.eos_token_id)
        assert new == want and set(new) <= set(subset.tolist())
    unpenalised = decode(peft, prompt_rows(tok, texts), pad_id=tok.pad_token_id, stop_ids=[tok.eos_token_id],
                         max_new_tokens=20, sampling=Sampling(1.0, 1.0, 1.0, 1), vocab=subset)
    assert unpenalised != got  # the penalty changes the tokens, so the comparison above tests it


def test_a_token_subset_samples_only_its_tokens_and_the_whole_vocabulary_changes_nothing(model):
    peft, tok, preset = model
    rows = prompt_rows(tok, ["тема: зима", "тема: море"])
    subset = corpus_vocab([{"input_ids": tok("зима море тема")["input_ids"]}], tok)
    settings = dict(pad_id=tok.pad_token_id, stop_ids=[tok.eos_token_id], max_new_tokens=20,
                    sampling=Sampling(temperature=1.0, top_p=1.0, repetition_penalty=1.1, top_k=0))
    runs = {}
    for name, vocab in (("full", None), ("subset", subset), ("everything", torch.arange(len(tok)))):
        torch.manual_seed(0)
        runs[name] = decode(peft, rows, vocab=vocab, **settings)
    assert all(set(new) <= set(subset.tolist()) for new in runs["subset"])
    assert not all(set(new) <= set(subset.tolist()) for new in runs["full"])  # the untrained model strays
    assert runs["everything"] == runs["full"]


def test_a_stopped_row_leaves_the_batch_without_changing_the_others(model):
    peft, tok, preset = model
    rows = prompt_rows(tok, ["тема: зима", "тема: очень долгая дорога домой", "мост"])
    settings = dict(pad_id=tok.pad_token_id, stop_ids=[tok.eos_token_id], max_new_tokens=20)
    whole = decode(peft, rows, **settings)
    cut = decode(peft, rows, done=lambda i, new: i == 1 and len(new) == 3, **settings)
    assert cut[1] == whole[1][:3]
    assert cut[0] == whole[0] and cut[2] == whole[2]


def test_the_model_end_chance_stops_with_the_models_own_probability():
    tok = char_tokenizer()
    model = tiny_gemma(len(tok)).float().eval()
    row = tok("тема: зима")["input_ids"]
    with torch.no_grad():  # a sharper distribution, so the likeliest token has a middling probability
        for _ in range(5):
            probs = torch.softmax(model(torch.tensor([row])).logits[0, -1].float(), -1)
            if probs.max() >= 0.25:
                break
            model.get_output_embeddings().weight.mul_(2.0)
    stop, p = int(probs.argmax()), float(probs.max())
    assert 0.25 <= p <= 0.9
    n = 2000
    share = {}
    for mode in ("model", "processed"):
        torch.manual_seed(0)
        sampling = Sampling(temperature=0.5, top_p=0.9, repetition_penalty=1.0, top_k=5, end_chance=mode)
        news = decode(model, [row] * n, pad_id=tok.pad_token_id, stop_ids=[stop], max_new_tokens=1,
                      sampling=sampling)
        share[mode] = sum(new == [stop] for new in news) / n
    assert abs(share["model"] - p) < 4 * (p * (1 - p) / n) ** 0.5  # the model's own chance
    assert share["processed"] > p + 0.1  # temperature 0.5 sharpens the likeliest token


def test_adapter_switch_changes_samples(model):
    peft, tok, preset = model
    on = sample(peft, tok, preset, ["тема: море"], 2, seed=1, decoding=DECODE)
    off = sample(peft, tok, preset, ["тема: море"], 2, seed=1, adapter=False, decoding=DECODE)
    assert on != off


def test_probe_fires_on_a_reciting_model_and_not_on_an_untrained_one():
    seen, unseen = toy_records(3), toy_records(2, start=3)
    reciter, tok, preset = overfit(seen)
    untrained = tiny_gemma(len(tok), seed=1).eval()
    expected = {name: [r["completion"].split("\n")[1] for r in recs] for name, recs in
                (("seen", seen), ("unseen", unseen))}
    hits = {}
    for label, model in (("reciter", reciter), ("untrained", untrained)):
        for name, recs in (("seen", seen), ("unseen", unseen)):
            got = probe_continuations(model, tok, preset, recs, max_new_tokens=40, batch_size=2)
            hits[label, name] = probe_hits(expected[name], got, threshold=0.8)
    assert all(hits["reciter", "seen"])
    assert not any(hits["untrained", "seen"]) and not any(hits["untrained", "unseen"])
    assert not any(hits["reciter", "unseen"])


def test_per_row_stopping_keeps_the_same_probe_lines():
    seen = toy_records(3)
    for model, tok, preset in (overfit(seen), overfit(seen, steps=3)):
        stopped = probe_continuations(model, tok, preset, seen, max_new_tokens=40, batch_size=2)
        full = probe_continuations(model, tok, preset, seen, max_new_tokens=40, batch_size=2, stop_per_row=False)
        assert stopped == full


def test_complete_verse_lines_counts_lines_closed_by_a_break():
    assert complete_verse_lines("Спит мост.\nИ река") == 1
    assert complete_verse_lines("Спит мост.\nИ река.\n") == 2
    assert complete_verse_lines("Спит мост.\n\n1912\n") == 1  # a date is not a verse line
    assert complete_verse_lines("") == 0


def test_probe_hits_uses_the_similarity_threshold():
    expected = ["спит у речки старый мост."]
    assert probe_hits(expected, ["Спит у речки старый мост!"], 0.8) == [True]
    assert probe_hits(expected, ["спит у речки новый мост"], 0.8) == [True]  # one word off
    assert probe_hits(expected, ["спит у речки новый мост"], 0.95) == [False]
    assert probe_hits(expected, [""], 0.5) == [False]
    with pytest.raises(ValueError, match="1 expected lines for 2"):
        probe_hits(expected, ["а", "б"], 0.8)


def test_fewshot_samples_are_cut_where_the_next_prompt_starts(model):
    peft, tok, preset = model
    out = sample(peft, tok, preset, ["тема: зима"], 4, seed=3, adapter=False,
                 shots=[("тема: море", "Шумит волна.")], cut_at="е", decoding=DECODE)
    assert all("е" not in x["text"] for x in out[0])


def test_samples_markdown_puts_every_row_side_by_side():
    samples = [{"model": m, "theme": t, "text": f"{m} {t} <строка>"} for t in ("любовь", "память")
               for m in ("base", "base_fewshot", "adapted")]
    samples[0]["quoting"] = {"copied_lines": [{"line": "<строка>", "doc_id": "test:x", "kind": "exact"}]}
    for s in samples:
        s["prompt"] = f"тема: {s['theme']}. Форма: ямбом"
    samples[2]["compliance"] = {"meter": True, "feet": False, "scheme": False, "stanzas": True, "all": False}
    md = samples_markdown(samples, "tiny")
    assert md.count("<tr><td>") == 2 and "## память" in md and "&lt;строка&gt;" in md
    assert "<th>base_fewshot</th>" in md and "← test:x (exact)" in md
    assert md.count("<i>тема: любовь. Форма: ямбом</i>") == 1
    assert "form: meter yes, feet no, scheme no, stanzas yes" in md


@pytest.mark.parametrize("texts", [TEXTS[:3], TEXTS], ids=["shared-cache", "past-the-sliding-window"])
def test_branches_decode_what_their_prefixes_decode_alone(texts):
    """A branch (row, n) continues rows[row][:n] exactly as that prefix decoded on its own;
    past the sliding window (the last text) decode runs each prefix as its own row."""
    tok = char_tokenizer()
    model = tiny_gemma(len(tok)).float().eval()
    rows = prompt_rows(tok, texts)
    branches = [(r, n) for r, row in enumerate(rows) for n in (2, len(row) // 2, len(row))]
    got = decode(model, rows, pad_id=tok.pad_token_id, stop_ids=[tok.eos_token_id], max_new_tokens=12,
                 branches=branches)
    alone = decode(model, [rows[r][:n] for r, n in branches], pad_id=tok.pad_token_id,
                   stop_ids=[tok.eos_token_id], max_new_tokens=12)
    assert got == alone and len(got) == len(branches)
    sampling = Sampling(temperature=1.0, top_p=0.95, repetition_penalty=1.3)
    torch.manual_seed(3)
    a = decode(model, rows, pad_id=tok.pad_token_id, stop_ids=[tok.eos_token_id], max_new_tokens=12,
               sampling=sampling, branches=branches)
    torch.manual_seed(3)
    b = decode(model, [rows[r][:n] for r, n in branches], pad_id=tok.pad_token_id, stop_ids=[tok.eos_token_id],
               max_new_tokens=12, sampling=sampling)
    assert a == b  # the repetition penalty sees only the branch's own prefix


PROBE_SAMPLING = Sampling(temperature=0.8, top_p=0.95, repetition_penalty=1.1)  # generate's defaults


def test_every_line_probe_fires_on_a_reciting_model_and_not_on_an_untrained_one():
    seen, unseen = toy_records(3), toy_records(3, start=3)
    reciter, tok, preset = overfit(seen)
    untrained = tiny_gemma(len(tok), seed=1).eval()
    figures = {}
    for label, model in (("reciter", reciter), ("untrained", untrained)):
        pairs = {split: recite_lines(model, tok, preset, recs, PROBE_SAMPLING, seed=0, max_new_tokens=40, batch_size=5)
                 for split, recs in (("train", seen), ("test", unseen))}
        assert [[e for e, _ in p] for p in pairs["train"]] == [r["completion"].replace("\n\n", "\n").split("\n")
                                                              for r in seen]  # every line, in order
        figures[label] = probe_summary(pairs, threshold=0.8, seed=0)
    r, u = figures["reciter"], figures["untrained"]
    assert r["probe_train_lines"] == 12 and r["probe_train_poems"] == 3 and r["probe_test_lines"] == 12
    assert r["probe_train_rate"] >= 0.75 and r["probe_train_poem_share"] == 1.0  # sampled, and still recited
    assert r["probe_test_rate"] == 0 and r["probe_rate_gap_ci_low"] > 0.4
    assert r["probe_train_similarity"] > 0.9 and r["probe_test_similarity"] < 0.5
    assert u["probe_train_rate"] == u["probe_test_rate"] == 0 and u["probe_train_poem_share_ci_high"] > 0.5


def test_the_probe_reports_the_poems_of_each_batch():
    seen = toy_records(3)
    model, tok, preset = overfit(seen, steps=3)
    done: list[int] = []
    recite_lines(model, tok, preset, seen, None, max_lines=2, max_new_tokens=8, batch_size=4, progress=done.append)
    assert done == [2, 1]  # whole poems of 2 lines, about 4 lines a batch


def test_every_line_probe_greedy_second_line_is_the_old_probe():
    """Greedy, line 2 of `recite_lines` (a branch off the poem's cache) is what the greedy
    second-line probe generates from its own row; other seeds change sampled lines only."""
    seen = toy_records(3)
    for model, tok, preset in (overfit(seen), overfit(seen, steps=3)):
        every = recite_lines(model, tok, preset, seen, None, max_new_tokens=40, batch_size=4)
        second = probe_continuations(model, tok, preset, seen, max_new_tokens=40, batch_size=2)
        assert [lines[1][1] for lines in every] == second
        assert recite_lines(model, tok, preset, seen, None, max_lines=2, max_new_tokens=40) == [p[:2] for p in every]
    a, b = (recite_lines(model, tok, preset, seen, PROBE_SAMPLING, seed=s, max_lines=2) for s in (1, 2))
    assert a != b and [[e for e, _ in p] for p in a] == [[e for e, _ in p] for p in b]


def test_probe_summary_pools_lines_and_counts_poems():
    train = [[("спит мост", "спит мост"), ("и луна", "и луна")], [("шепчет море", "ветер"), ("строка", "")]]
    test = [[("сад", "ночь")], [("дорога вдаль", "дорога вдаль!")], [("огни", "")]]
    out = probe_summary({"train": train, "test": test}, threshold=0.8, seed=0)
    assert (out["probe_train_rate"], out["probe_train_lines"], out["probe_train_poems"]) == (0.5, 4, 2)
    assert out["probe_train_poem_share"] == 0.5 and out["probe_test_poem_share"] == round(1 / 3, 4)
    assert out["probe_rate_gap"] == round(0.5 - 1 / 3, 4)
    assert out["probe_rate_gap_ci_low"] <= out["probe_rate_gap"] <= out["probe_rate_gap_ci_high"]
    assert out["probe_test_similarity"] == round(1 / 3, 4) and out["probe_similarity_threshold"] == 0.8
    with pytest.raises(ValueError, match="no test poem"):
        probe_summary({"train": train, "test": [[]]}, threshold=0.8)


def test_line_batches_hold_whole_poems():
    assert line_batches([4, 4, 12, 3, 30, 2], 10) == [[0, 1], [2], [3], [4], [5]]
    assert line_batches([1, 1, 1], 48) == [[0, 1, 2]]
