"""The one formed-poem path (`generation.form.formed`): requests from params' words, the
word table loaded with its tokenizer checked, poems seeded per prompt, logs summarised."""

from __future__ import annotations

import pytest

from qwen_qlora.config import FormSpec, params_from_dict
from qwen_qlora.generation.form.formed import FormKit, form_request, formed_summary, sample_formed
from qwen_qlora.generation.form.words import save_table
from qwen_qlora.metrics.form_annotation import request_form


@pytest.fixture(scope="module")
def tiny(char_tok):
    from fixtures.tiny_models import gemma_preset, tiny_gemma

    return tiny_gemma(len(char_tok)), gemma_preset()


def test_form_request_auto_free_and_a_named_form():
    trochee = {**request_form("trochee", 4, "ABAB", stanzas=3)}
    iamb = {**request_form("iamb", 5, "AABB", stanzas=2)}
    assert form_request("free", [trochee]) is None
    auto = form_request("auto", [iamb, trochee, trochee])
    assert (auto["meter"], auto["feet"], auto["scheme"], auto["n_stanzas"]) == ("trochee", 4, "ABAB", 3)
    assert form_request(FormSpec("dolnik", 3, "ABCB", 2), []) == request_form("dolnik", 3, "ABCB", stanzas=2)


def test_kit_load_says_what_to_run(tmp_path, char_tok, toy_table):
    with pytest.raises(ValueError, match="dvc repro words"):
        FormKit.load(tmp_path / "word_table.json", char_tok, 1)
    save_table(toy_table, tmp_path / "word_table.json")
    assert len(FormKit.load(tmp_path / "word_table.json", char_tok, 1).table) == len(toy_table)


def test_sample_formed_seeds_each_poem_and_logs_it(tiny, char_tok, toy_table):
    model, preset = tiny
    kit = FormKit.of(toy_table, char_tok, 1)
    decoding = params_from_dict({}).generate.decoding()
    form = request_form("iamb", 4, "ABAB", stanzas=1)
    poems = sample_formed(model, char_tok, preset, ["Тема", "Тема"], [form, form], 3, decoding, kit)
    assert [p["seed"] for p in poems] == [3, 4]
    alone = sample_formed(model, char_tok, preset, ["Тема"], [form], 4, decoding, kit)
    assert alone[0]["text"] == poems[1]["text"]  # poem i is seeded seed + i, whatever the batch
    assert all(p["stopped_at_eos"] and p["formed"]["gave_up_seeds"] == [] for p in poems)
    summary = formed_summary([p["formed"] for p in poems])
    assert summary["formed_poems"] == 2 and summary["formed_seconds_per_poem"] > 0
