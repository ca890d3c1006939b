"""GGUF export: files that transformers' GGUF loader reads back as the same model (KL of
next-token distributions per type), the tokenizer embedded, unsupported models refused,
and a model card; llama.cpp itself in a slow test when llama-cpp-python is installed."""

from __future__ import annotations

import pytest
import torch
from fixtures.tiny_models import sentencepiece_tokenizer, tiny_gemma_for_export, tiny_qwen

import qwen_qlora.app.export as export
from qwen_qlora.app.export import TOLERANCE, ExportError, check_architecture, export_gguf, load_gguf
from qwen_qlora.app.merge import model_card

PROBES = ["Напиши стихотворение на тему: зима\n\nБелый снег ложится тихо,\nспит у речки старый мост.",
          "Шепчет  море у причала,\nветер гонит облака. 1917 — «Ω»"]  # double space, digits, a byte-fallback char


@pytest.fixture(scope="module")
def tiny():
    tok = sentencepiece_tokenizer()
    return tiny_gemma_for_export(len(tok)), tok


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory):
    model, tok = tiny
    out = tmp_path_factory.mktemp("gguf") / "out"
    return out, export_gguf(model, tok, out, ["f16", "bf16", "q8_0"], "tiny", card="# card\n", probes=PROBES)


def test_each_type_reads_back_as_the_same_model(exported):
    out, files = exported
    for f in files:
        print(f"{f.qtype}: {f.size_bytes} bytes, max KL {f.max_kl:.2g} (tolerance {f.tolerance}), mean KL "
              f"{f.mean_kl:.2g}, max |logit difference| {f.max_abs_diff:.3g}, top-1 {f.top1_agreement:.0%}")
        assert f.path == out / f"tiny-{f.qtype}.gguf" and f.path.is_file()
        assert f.max_kl <= TOLERANCE[f.qtype] and f.top1_agreement >= 0.95
    by_type = {f.qtype: f for f in files}
    assert by_type["f16"].max_kl < by_type["bf16"].max_kl  # bf16 keeps 8 mantissa bits, f16 11
    assert by_type["q8_0"].size_bytes < 0.6 * by_type["f16"].size_bytes
    assert (out / "README.md").read_text() == "# card\n"


def test_file_holds_what_llama_cpp_reads(exported):
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFReader

    out, _ = exported
    reader = GGUFReader(out / "tiny-q8_0.gguf")
    kinds = {t.name: t.tensor_type for t in reader.tensors}
    assert kinds["blk.0.attn_q.weight"] == Q.Q8_0 and kinds["token_embd.weight"] == Q.Q8_0
    assert kinds["blk.0.attn_norm.weight"] == Q.F32 and "output.weight" not in kinds  # tied: llama.cpp reuses token_embd
    fields = reader.fields
    assert fields["general.architecture"].contents() == "gemma3"
    assert fields["gemma3.attention.key_length"].contents() == 256
    assert fields["gemma3.rope.freq_base_swa"].contents() == 10000.0
    assert fields["tokenizer.ggml.model"].contents() == "llama"
    types = fields["tokenizer.ggml.token_type"].contents()
    assert types[2] == 3 and types[3] == 2 and types[4 + 0x41] == 6  # <bos> control, <unk> unknown, <0x41> byte


def test_norms_are_stored_plus_one(tiny, exported):
    """llama.cpp multiplies by the stored norm weight; Gemma's HF weight is that minus 1."""
    from gguf import GGUFReader

    model, _ = tiny
    out, _ = exported
    stored = {t.name: t.data for t in GGUFReader(out / "tiny-f16.gguf").tensors}
    hf = model.model.layers[1].self_attn.q_norm.weight.detach().numpy()
    assert abs(stored["blk.1.attn_q_norm.weight"] - (hf + 1)).max() < 1e-6


def test_tokenizer_is_embedded(tiny, exported):
    _, tok = tiny
    out, _ = exported
    model, rebuilt = load_gguf(out / "tiny-q8_0.gguf")
    for text in PROBES:
        assert rebuilt(text).input_ids == tok(text).input_ids
    assert rebuilt.decode(tok(PROBES[1]).input_ids, skip_special_tokens=True) == PROBES[1]
    assert model.config.model_type == "gemma3_text" and model.config.tie_word_embeddings


def test_a_wrong_conversion_fails_the_check(tiny, tmp_path, monkeypatch):
    """Without Gemma's +1 on the norms the file is another model: the KL check refuses it."""
    model, tok = tiny
    monkeypatch.setattr(export, "NORM_SHIFT", 0.0)
    with pytest.raises(ExportError, match=r"KL .* > tolerance .*rejected"):
        export_gguf(model, tok, tmp_path / "bad", ["f16"], "tiny", probes=PROBES)
    assert (tmp_path / "bad/tiny-f16.gguf.rejected").is_file() and not (tmp_path / "bad/tiny-f16.gguf").exists()


def test_refuses_unsupported_models(tiny, tmp_path):
    model, tok = tiny
    qwen = tiny_qwen(len(tok))
    with pytest.raises(ExportError, match="Gemma 3 text models .* 'qwen2'"):
        export_gguf(qwen, tok, tmp_path / "q", ["f16"], "q")
    odd = tiny_gemma_for_export(len(tok))
    odd.config.query_pre_attn_scalar = 64
    odd.config.layer_types = ["full_attention", "full_attention"]
    with pytest.raises(ExportError, match=r"query_pre_attn_scalar=64 \(needs 256\).*layer_types"):
        check_architecture(odd.config)
    from fixtures.tiny_models import char_tokenizer

    with pytest.raises(ExportError, match="WordLevel model"):
        export_gguf(model, char_tokenizer(), tmp_path / "w", ["f16"], "w")


def test_refuses_bad_requests(tiny, tmp_path):
    model, tok = tiny
    with pytest.raises(ExportError, match="choose among f16, bf16, q8_0, q4_k_m"):
        export_gguf(model, tok, tmp_path / "x", ["q3"], "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full/file").write_text("x")
    with pytest.raises(ExportError, match="not empty"):
        export_gguf(model, tok, tmp_path / "full", ["f16"], "x")


def test_card_of_the_export_names_the_files_and_the_split():
    card = model_card(preset="p", source="s", author="a", lora={}, train={}, dtype="fp32", metrics={},
                      split={"train_poems": 160, "val_poems": 22, "test_poems": 33},
                      gguf_files=["p-a-f16.gguf", "p-a-q8_0.gguf"])
    assert "library_name: gguf" in card and "`p-a-f16.gguf`, `p-a-q8_0.gguf`" in card
    assert "llama-cli -m p-a-q8_0.gguf" in card and "train 160, validation 22, test 33 poems" in card
    with pytest.raises(ValueError, match="val_poems are missing"):
        model_card(preset="p", source="s", author="a", lora={}, train={}, dtype="fp32", metrics={},
                   split={"train_poems": 160})


@pytest.mark.slow
def test_llama_cpp_runs_the_files(tiny, exported, tmp_path):
    """llama.cpp itself (llama-cpp-python, built from source) loads each file, tokenizes as
    transformers does, and its next-token logits match the f32 model's; its quantizer
    writes q4_k_m from the f16 file."""
    llama = pytest.importorskip("llama_cpp")
    model, tok = tiny
    out, files = exported
    ids = tok(PROBES[0]).input_ids
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([ids])).logits[0].double().log_softmax(-1)
    q4 = export.llama_cpp_quantize(out / "tiny-f16.gguf", tmp_path / "tiny-q4_k_m.gguf")
    for path, tol in [(f.path, TOLERANCE[f.qtype]) for f in files] + [(q4, TOLERANCE["q4_k_m"])]:
        llm = llama.Llama(model_path=str(path), n_ctx=128, logits_all=True, verbose=False, n_threads=1)
        assert llm.tokenize(PROBES[0].encode(), add_bos=True, special=False) == ids
        llm.eval(ids)
        got = torch.tensor(llm.scores[: len(ids)]).double().log_softmax(-1)
        kl = float((ref.exp() * (ref - got)).sum(-1).max())
        print(f"llama.cpp {path.name}: max KL {kl:.2g} (tolerance {tol})")
        assert kl <= tol
        done = llm(PROBES[0][:40], max_tokens=8, temperature=0)
        assert done["usage"]["completion_tokens"] >= 1
