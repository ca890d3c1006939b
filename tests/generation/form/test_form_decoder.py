"""A tiny random model writes in the requested form by construction, as the project's
scanner (not the decoder's own state) judges the final text."""

from __future__ import annotations

import numpy as np
import pytest

from qwen_qlora.generation.decode import Sampling
from qwen_qlora.generation.form.decoder import write_formed
from qwen_qlora.generation.form.lexicon import Lexicon
from qwen_qlora.generation.form.rhyme import RhymeIndex
from qwen_qlora.metrics.form_annotation import annotate_form, compliance, request_form


@pytest.fixture(scope="module")
def tiny(char_tok):
    from fixtures.tiny_models import gemma_preset, tiny_gemma

    return tiny_gemma(len(char_tok)), gemma_preset()


@pytest.fixture(scope="module")
def parts(toy_table, char_tok):
    return Lexicon(toy_table, char_tok), RhymeIndex(toy_table)


@pytest.mark.parametrize("meter,feet,scheme,seed", [("iamb", 4, "ABAB", 0), ("iamb", 4, "AABB", 1),
                                                    ("trochee", 4, "ABAB", 2), ("iamb", 5, "ABBA", 3)])
def test_formed_poem_follows_the_request_by_the_scanner(tiny, char_tok, toy_table, parts, stresser,
                                                        meter, feet, scheme, seed):
    model, preset = tiny
    form = request_form(meter, feet, scheme, stanzas=2)
    out = write_formed(model, char_tok, preset, "Напиши стихотворение", form, toy_table,
                       Sampling(0.9, 0.95, 1.1), seed, lexicon=parts[0], index=parts[1])
    judged = annotate_form(out["text"], stresser)
    assert compliance(judged, form)["all"], (out["text"], judged)
    lines = [ln for ln in out["text"].split("\n") if ln.strip()]
    assert len(lines) == 8 and out["text"].count("\n\n") == 1
    words = {w.strip(",.!?;:—…").lower() for ln in out["text"].split() for w in [ln]} - {""}
    assert all(toy_table.get(w) is not None for w in words), words
    ends = [e["end"] for e in out["log"]["lines"]]
    assert len(ends) == 8 and len(set(ends)) == 8


def test_same_seed_same_poem_and_other_seed_other_poem(tiny, char_tok, toy_table, parts):
    model, preset = tiny
    form = request_form("iamb", 4, "ABAB", stanzas=1)
    write = lambda seed: write_formed(model, char_tok, preset, "Тема: ночь", form, toy_table,
                                      Sampling(1.0, 1.0, 1.0, top_k=0), seed, lexicon=parts[0], index=parts[1])
    first = write(5)
    assert write(5)["text"] == first["text"]
    assert any(write(s)["text"] != first["text"] for s in (6, 7, 8))
    log = first["log"]
    assert log["tokens"] > 0 and log["forwards"] >= log["tokens"]
    assert 0 < log["allowed_mass_mean"] <= 1
    assert log["line_dead_ends"] == len(log["backtracks"])


def test_dactyl_and_dolnik_requests(tiny, char_tok, toy_table, parts, stresser):
    """Every meter the decoder writes; the toy table is too small for ternary and dolnik
    lines with rhymes, so these are unrhymed (scheme None)."""
    model, preset = tiny
    for meter, feet in (("dolnik", 3), ("amphibrach", 3)):
        form = request_form(meter, feet, None, stanzas=2)
        out = write_formed(model, char_tok, preset, "Тема", form, toy_table, Sampling(0.9, 0.95, 1.1), 11,
                           lexicon=parts[0], index=parts[1])
        judged = annotate_form(out["text"], stresser)
        assert judged["meter"] == meter and judged["feet"] == feet, (out["text"], judged)


def test_a_request_without_feet_is_refused(tiny, char_tok, toy_table):
    model, preset = tiny
    with pytest.raises(ValueError, match="feet"):
        write_formed(model, char_tok, preset, "x", request_form("iamb", None, "ABAB"), toy_table,
                     Sampling(1.0, 1.0, 1.0), 0)


def test_a_partner_without_rhyme_sends_the_decoder_back(tiny, char_tok, toy_table, parts):
    """With a seed whose first pass runs into a dead end (found by trying seeds), the log
    shows the backtrack and the poem keeps one line per planned line."""
    model, preset = tiny
    form = request_form("iamb", 4, "ABAB", stanzas=2)
    for seed in range(12):
        out = write_formed(model, char_tok, preset, "Напиши стихотворение", form, toy_table,
                           Sampling(0.9, 0.95, 1.1), seed, lexicon=parts[0], index=parts[1])
        if out["log"]["backtracks"]:
            break
    log = out["log"]
    assert log["backtracks"], "no seed ran into a dead end"
    assert log["line_dead_ends"] == len(log["backtracks"])
    assert [ln["line"] for ln in log["lines"]] == list(range(8))
    back = log["backtracks"][0]
    assert back["to"] < back["line"] and back["gave_up"]


def test_capitals_as_the_poet_writes_them_and_no_sentence_break_before_the_rhyme_word(tiny, char_tok, toy_table,
                                                                                   parts):
    """Lines open capitalised; a word inside a line is capitalised only after . ! ? …;
    a line's last word never follows a sentence break."""
    import re

    model, preset = tiny
    form = request_form("iamb", 4, "ABAB", stanzas=2)
    for seed in range(4):
        out = write_formed(model, char_tok, preset, "Тема", form, toy_table, Sampling(1.2, 1.0, 1.0, top_k=0), seed,
                           lexicon=parts[0], index=parts[1])
        for line in filter(None, out["text"].split("\n")):
            assert line[0].isupper(), line
            words = re.findall(r"[^\s]+", line)
            for before, word in zip(words, words[1:]):
                if word[0].isupper():
                    assert before[-1] in ".!?…", line
            last = re.findall(r"[а-яёА-ЯЁ]+", line)[-1]
            assert not re.search(r"[.!?…]\s*" + last + r"\W*$", line), line


def test_rare_words_carry_a_prior_and_common_ones_none():
    from qwen_qlora.generation.form.lexicon import RARE_COUNT, rare_prior

    assert rare_prior(RARE_COUNT) == rare_prior(10 * RARE_COUNT) == 0
    assert rare_prior(2) < rare_prior(5) < 0
    assert rare_prior(2, weight=3.0) == pytest.approx(3 * rare_prior(2))


def test_the_lexicon_takes_its_rare_word_weight_as_an_argument(toy_table, char_tok):
    plain, heavy, off = (Lexicon(toy_table, char_tok, rare_weight=w) for w in (1.0, 3.0, 0.0))
    rare = [i for i, e in enumerate(toy_table.entries) if e.count < 20]
    assert rare, "the toy table needs a rare word"
    assert np.allclose(heavy.word_bias, 3 * plain.word_bias) and not off.word_bias.any()
    for name in plain.bias:
        assert np.allclose(heavy.bias[name], 3 * plain.bias[name])


def test_the_poet_word_prior_favours_her_words_along_their_token_paths(toy_table, char_tok):
    hers = frozenset(e.text for e in toy_table.entries[::2])
    plain = Lexicon(toy_table, char_tok)
    favoured = Lexicon(toy_table, char_tok, poet_words=hers, poet_weight=2.0)
    for i, e in enumerate(toy_table.entries):
        assert favoured.word_bias[i] == pytest.approx(plain.word_bias[i] + (2.0 if e.text in hers else 0.0))
    for name, trie in favoured.tries.items():  # a node carries the largest prior of the words below it
        expected = np.full(len(trie.children), -np.inf)
        for node, entry in enumerate(trie.word):
            if entry >= 0:
                path = next(trie.walk(toks) for k in favoured.spell[name]
                            if (toks := toy_table.entries[entry].tokens[k]) and trie.walk(toks)[-1] == node)
                for n in [0, *path]:
                    expected[n] = max(expected[n], favoured.word_bias[entry])
        assert np.allclose(favoured.bias[name][1:], expected[1:])
    assert np.array_equal(Lexicon(toy_table, char_tok, poet_words=hers, poet_weight=0.0).word_bias, plain.word_bias)


def test_a_poet_word_prior_without_her_words_is_refused(toy_table, char_tok):
    from qwen_qlora.generation.form.formed import FormKit, poet_words

    with pytest.raises(ValueError, match="poet"):
        Lexicon(toy_table, char_tok, poet_weight=1.0)
    with pytest.raises(ValueError, match="poet_word_prior"):
        FormKit.of(toy_table, char_tok, 1, poet_texts=["1917", "..."], poet_weight=1.0)
    assert poet_words(["Сон и Ночь"]) == {"сон", "и", "ночь"}


def test_a_strong_poet_word_prior_writes_her_words(tiny, char_tok, toy_table, stresser):
    """Half the table is 'hers'; a large prior makes the formed poems use her words far more
    than no prior does, and the form still holds."""
    import re

    model, preset = tiny
    hers = frozenset(e.text for e in toy_table.entries[::2])
    form = request_form("iamb", 4, "ABAB", stanzas=1)
    index = RhymeIndex(toy_table)

    def share(weight):
        lex = Lexicon(toy_table, char_tok, poet_words=hers, poet_weight=weight)
        ws, ok = [], []
        for seed in range(3):
            out = write_formed(model, char_tok, preset, "Тема", form, toy_table, Sampling(1.0, 1.0, 1.0, top_k=0),
                               seed, lexicon=lex, index=index)
            ws += [w.lower() for w in re.findall(r"[а-яёА-ЯЁ]+", out["text"])]
            ok.append(compliance(annotate_form(out["text"], stresser), form)["all"])
        return sum(w in hers for w in ws) / len(ws), all(ok)

    (none, ok_none), (strong, ok_strong) = share(0.0), share(8.0)
    assert ok_none and ok_strong
    assert strong > none + 0.2 and strong >= 0.8, (none, strong)
