"""What people get is what we measured: `Poet.write` (behind `write`, `compare` and the demo
page) samples exactly as the generate stage's sampler does for the same prompt, seed and
decoding settings, corpus vocabulary included."""

from __future__ import annotations

import pytest
from fixtures.adapters import tiny_project

from qwen_qlora.app.poet import Poet
from qwen_qlora.config import load_params
from qwen_qlora.generation.decode import sample
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.head import records_vocab
from qwen_qlora.model.prompts import make_prompt


@pytest.fixture(scope="module")
def project(gemma_base, tmp_path_factory):
    root = tiny_project(tmp_path_factory.mktemp("project"), gemma_base[0], ["зима"])
    params = load_params(root / "params.yaml")
    poet = Poet.load(params, root / "models/adapter", base_dir=root / "models/base/tiny", scansion=False,
                     train_poems=root / "data/processed/train.jsonl", index=root / "models/quoting_index.pkl",
                     word_table=root / "models/word_table.json")
    return root, params, poet


@pytest.mark.parametrize("overrides", [{}, {"temperature": 1.3, "top_p": 0.8, "vocab": "full"}])
def test_write_gives_the_generate_stages_poem(project, overrides):
    root, params, poet = project
    decoding = params.generate.decoding(**overrides)
    assert params.generate.vocab == "corpus"  # the stage's default, which write must keep
    got = poet.write("зима", decoding, seed=7, n=2, models=("adapted", "base"))
    vocab = (records_vocab(poet.preset, poet.tokenizer, read_jsonl(root / "data/processed/train.jsonl"))
             if decoding.vocab == "corpus" else None)
    for name in ("adapted", "base"):
        (want,) = sample(poet.model, poet.tokenizer, poet.preset, [make_prompt(params.split, "зима")], 2, 7,
                         decoding, adapter=name == "adapted", vocab=vocab)
        assert [p["text"] for p in got[name]] == [p["text"] for p in want]


def test_corpus_vocabulary_restricts_what_write_samples(project):
    root, params, poet = project
    corpus, full = (poet.write("зима", params.generate.decoding(vocab=v, temperature=2.0), seed=1, n=4,
                               models=("base",))["base"] for v in ("corpus", "full"))
    letters = set("".join(r["prompt"] + r["completion"] for r in read_jsonl(root / "data/processed/train.jsonl")))
    assert all(set(p["text"]) <= letters | set(" \n") for p in corpus)
    assert [p["text"] for p in corpus] != [p["text"] for p in full]


def test_sampler_refuses_a_vocabulary_mismatch(project):
    _, params, poet = project
    with pytest.raises(ValueError, match="generate.vocab is 'corpus' but the token subset was not given"):
        sample(poet.model, poet.tokenizer, poet.preset, ["x"], 1, 0, params.generate.decoding())


def test_every_delivered_poem_is_gated_and_a_planted_copy_is_written_again(project, monkeypatch):
    """A known poem forced through the sampler fails the gate; the poem people get is the
    next seed's, and the verdict says so."""
    import qwen_qlora.generation.decode as decode
    from fixtures.tiny_models import toy_records

    root, params, poet = project
    known = toy_records(1)[0]["completion"]
    real, calls = decode.sample, []

    def planted(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(args[5])  # the seed
        if len(calls) == 1:
            out[0][0]["text"] = known
        return out

    monkeypatch.setattr(decode, "sample", planted)
    poems = poet.write("зима", params.generate.decoding(), seed=3, n=2, models=("adapted",))["adapted"]
    assert poet.gate.check(known)["passed"] is False
    assert poems[0]["text"] != known and poems[0]["gate"]["passed"] and poems[0]["gate"]["resampled"] == 1
    assert poems[1]["gate"] == {"passed": True, "reasons": [], "evidence": poems[1]["gate"]["evidence"],
                                "resampled": 0}
    assert calls == [3, 3 + 2]  # the batch, then the first poem again with the next unused seed


def test_a_poem_that_keeps_failing_is_withheld(project, monkeypatch):
    import qwen_qlora.generation.decode as decode
    from fixtures.tiny_models import toy_records

    _, params, poet = project
    known = toy_records(1)[0]["completion"]
    real = decode.sample

    def always(*args, **kwargs):
        out = real(*args, **kwargs)
        for per in out:
            for s in per:
                s["text"] = known
        return out

    monkeypatch.setattr(decode, "sample", always)
    (poem,) = poet.write("зима", params.generate.decoding(), seed=0, n=1, models=("adapted",))["adapted"]
    assert poem["text"] == "" and not poem["gate"]["passed"] and poem["gate"]["resampled"] == 4
    assert poem["gate"]["reasons"] and "train:toy-0" in poem["gate"]["evidence"]


def test_a_poem_in_a_form_is_the_form_decoders_and_passes_the_gate(project):
    """write with a form goes through the generate stage's formed path: the same poems as
    `sample_formed` on that prompt and seed, each gated; "auto" is the train poems' form."""
    from qwen_qlora.config import FormSpec
    from qwen_qlora.generation.form.formed import sample_formed

    root, params, poet = project
    form = poet.form_request(FormSpec("iamb", 4, "AABB", 1))
    got = poet.write("зима", params.generate.decoding(), seed=5, n=2, models=("adapted", "base"), form=form)
    for name in ("adapted", "base"):
        want = sample_formed(poet.model, poet.tokenizer, poet.preset, [make_prompt(params.split, "зима")] * 2,
                             [form] * 2, 5, params.generate.decoding(), poet.kit(), adapter=name == "adapted")
        assert [p["text"] for p in got[name]] == [p["text"] for p in want]
        assert all(p["gate"]["passed"] and p["formed"]["tokens"] > 0 for p in got[name])
    auto = poet.form_request("auto")
    assert (auto["meter"], auto["feet"], auto["scheme"], auto["n_stanzas"]) == ("iamb", 4, "ABAB", 2)
    assert poet.form_request("free") is None


def test_a_formed_poem_that_fails_the_gate_is_written_again_by_the_form_decoder(project, monkeypatch):
    import qwen_qlora.generation.form.formed as formed
    from fixtures.tiny_models import toy_records

    _, params, poet = project
    known = toy_records(1)[0]["completion"]
    real, seeds = formed.sample_formed, []

    def planted(*args, **kwargs):
        out = real(*args, **kwargs)
        seeds.append(args[5])
        if len(seeds) == 1:
            out[0]["text"] = known
        return out

    monkeypatch.setattr(formed, "sample_formed", planted)
    form = poet.form_request("auto")
    (poem,) = poet.write("зима", params.generate.decoding(), seed=2, n=1, models=("adapted",), form=form)["adapted"]
    assert poem["gate"]["passed"] and poem["gate"]["resampled"] == 1 and poem["text"] != known
    assert seeds == [2, 3] and "formed" in poem


def test_the_train_poems_are_read_once_and_a_missing_split_names_the_setting(tmp_path):
    from qwen_qlora.config import parse_form
    from qwen_qlora.io import write_jsonl

    poet = Poet(None, None, None, None, None, train_poems=tmp_path / "train.jsonl", poet_word_prior=2.0)
    with pytest.raises(ValueError, match=r"train.jsonl: not found; generate.poet_word_prior .* set it to 0"):
        poet.kit()
    with pytest.raises(ValueError, match=r"not found; the form 'auto' .* name a form"):
        poet.form_request(parse_form("auto", "form"))
    write_jsonl(tmp_path / "train.jsonl", [{"completion": "Сон и ночь", "form": None}])
    first = poet.train_records("why", "instead")
    (tmp_path / "train.jsonl").unlink()
    assert poet.train_records("why", "instead") is first
