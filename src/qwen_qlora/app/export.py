"""The merged model as GGUF, for llama.cpp and Ollama users: one file per weight type,
the tokenizer embedded, each file checked by loading it back.

Written with the `gguf` package (llama.cpp's own Python library: GGUFWriter, the tensor
name tables, the quantizers) rather than llama.cpp's `convert_hf_to_gguf.py`, which is not
published as an installable module and would have to be vendored with its whole source
tree. The price is that only the architectures below are supported; others are refused.

Supported: Gemma 3 text models (`Gemma3ForCausalLM`, e.g. gemma-3-270m) in the standard
Gemma 3 layout: every sixth layer global, local RoPE base 10000, query scale
1/sqrt(head_dim) with head_dim 256, no soft-capping or RoPE scaling, and a
SentencePiece-style BPE tokenizer (Gemma's). These are what llama.cpp assumes for gemma3
and what transformers' GGUF loader rebuilds, so neither reads them from the file.

Types: f16 and bf16 (all matrices 16-bit), q8_0 (matrices in 8-bit blocks, written by the
`gguf` package in Python), q4_k_m (llama.cpp's own quantizer, through llama-cpp-python if it
is installed: the `gguf` package cannot write k-quants). Norms stay float32 in every type.

Each file is loaded back with transformers' GGUF loader and its next-token distributions
compared with the merged model's on probe texts (KL per position, tolerance per type);
the tokenizer rebuilt from the file must encode the probes to the same ids.
Run as `qwen-qlora export --gguf OUT`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qwen_qlora.app.merge import PROBES, compare_logits

TYPES = ("f16", "bf16", "q8_0", "q4_k_m")
# Accepted max KL (nats, per position) of a GGUF's next-token distributions from the fp32
# merged model's, on the probe texts (merge.PROBES, 62 tokens). Measured on gemma-3-270m +
# the trained adapter (benchmarks/gguf_export.py), read back by transformers / run by llama.cpp:
# f16 1.6e-5 / 1.6e-5, bf16 4.4e-4 / 7.7e-4, q8_0 0.004 / 0.024 (llama.cpp also rounds the
# activations to 8 bits), q4_k_m 0.16 / 0.14 (same top token at 74% of positions).
TOLERANCE = {"f16": 0.005, "bf16": 0.01, "q8_0": 0.05, "q4_k_m": 0.5}
# Gemma's RMSNorm scales by (1 + weight); llama.cpp multiplies by the stored weight, so its
# converter stores weight + 1 and transformers' loader subtracts the 1 again.
NORM_SHIFT = 1.0
# Config values llama.cpp's gemma3 graph and transformers' GGUF loader both assume (neither
# reads them from the file): a model with other values would load as a different model.
GEMMA3_FIXED = {"query_pre_attn_scalar": 256, "head_dim": 256, "final_logit_softcapping": None,
                "attn_logit_softcapping": None, "hidden_activation": "gelu_pytorch_tanh",
                "attention_bias": False, "use_bidirectional_attention": False}
SWA_PATTERN = 6  # every sixth layer attends globally
LOCAL_ROPE_THETA = 10000.0
# token types, as llama.cpp numbers them
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6


class ExportError(RuntimeError):
    """The export could not be done or a file did not check out; the message says why."""


@dataclass
class GgufFile:
    path: Path
    qtype: str
    size_bytes: int
    max_kl: float  # max KL(merged || GGUF) per position, nats, on the probe texts
    mean_kl: float
    top1_agreement: float  # share of positions where both pick the same most likely token
    max_abs_diff: float  # max |logit difference|
    tolerance: float  # on max_kl
    probe_tokens: int


@dataclass
class GgufVocab:
    tokens: list[str]
    scores: list[float]
    types: list[int]
    special_ids: dict[str, int]  # bos, eos, unk, pad
    add_bos: bool
    add_space_prefix: bool
    chat_template: str | None


def check_architecture(config: Any) -> None:
    """Raise ExportError unless the model is a Gemma 3 text model in the standard layout."""
    model_type = getattr(config, "model_type", None)
    if model_type != "gemma3_text":
        hint = (" (a multimodal Gemma 3: its text part is not exported yet)" if model_type == "gemma3" else "")
        raise ExportError(f"GGUF export supports Gemma 3 text models (model_type gemma3_text) only; this model is "
                          f"{model_type!r}{hint}. Use `qwen-qlora merge` for a safetensors copy, or llama.cpp's "
                          "convert_hf_to_gguf.py on that folder")
    wrong = [f"{key}={getattr(config, key, None)!r} (needs {want!r})" for key, want in GEMMA3_FIXED.items()
             if getattr(config, key, None) != want]
    n = config.num_hidden_layers
    layout = ["full_attention" if (i + 1) % SWA_PATTERN == 0 else "sliding_attention" for i in range(n)]
    if list(config.layer_types) != layout:
        wrong.append(f"layer_types={list(config.layer_types)} (needs every {SWA_PATTERN}th layer global)")
    rope = getattr(config, "rope_parameters", None) or {}
    local, full = rope.get("sliding_attention", {}), rope.get("full_attention", {})
    if local.get("rope_theta") != LOCAL_ROPE_THETA:
        wrong.append(f"sliding-attention rope_theta={local.get('rope_theta')} (needs {LOCAL_ROPE_THETA})")
    if any(r.get("rope_type", "default") != "default" for r in (local, full)):
        wrong.append(f"rope_type={full.get('rope_type')}/{local.get('rope_type')} (needs default, no scaling)")
    if wrong:
        raise ExportError("this Gemma 3 differs from the layout llama.cpp and transformers' GGUF loader assume, "
                          "so the GGUF would load as another model: " + "; ".join(wrong))


def sentencepiece_vocab(tokenizer: Any, vocab_size: int) -> GgufVocab:
    """The tokenizer as llama.cpp's SentencePiece ("llama") vocabulary: tokens in id order,
    scores (higher merges first: the token order, as Gemma's own GGUF has it) and types."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    model = spec["model"]
    normalizer = json.dumps(spec.get("normalizer"), ensure_ascii=False)
    if model.get("type") != "BPE" or not model.get("byte_fallback") or "\u2581" not in normalizer:
        raise ExportError(f"tokenizer: a {model.get('type')} model (byte_fallback {model.get('byte_fallback')}); "
                          "GGUF export writes SentencePiece-style BPE vocabularies (Gemma's: '▁' for spaces, "
                          "byte fallback) only")
    vocab = tokenizer.get_vocab()
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ExportError(f"tokenizer: token ids are not 0..{len(vocab) - 1} without gaps; cannot write them in order")
    if len(vocab) > vocab_size:
        raise ExportError(f"tokenizer has {len(vocab)} tokens but the model's embedding only {vocab_size} rows")
    tokens = [""] * len(vocab)
    for tok, i in vocab.items():
        tokens[i] = tok
    added = tokenizer.added_tokens_decoder
    types, scores = [], []
    for i, tok in enumerate(tokens):
        if i == tokenizer.unk_token_id:
            kind = UNKNOWN
        elif i in added:
            kind = CONTROL if added[i].special else USER_DEFINED
        elif len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
            kind = BYTE
        else:
            kind = NORMAL
        types.append(kind)
        scores.append(-float(i) if kind == NORMAL else 0.0 if kind == BYTE else -1000.0)
    for i in range(len(tokens), vocab_size):  # embedding rows past the vocabulary, as llama.cpp pads them
        tokens.append(f"[PAD{i}]")
        types.append(5)  # UNUSED
        scores.append(-1000.0)
    ids = {role: getattr(tokenizer, f"{role}_token_id") for role in ("bos", "eos", "unk", "pad")}
    probe = tokenizer("a").input_ids
    template = tokenizer.chat_template if isinstance(getattr(tokenizer, "chat_template", None), str) else None
    return GgufVocab(tokens, scores, types, {k: v for k, v in ids.items() if v is not None},
                     add_bos=bool(probe) and probe[0] == tokenizer.bos_token_id,
                     add_space_prefix="Prepend" in normalizer, chat_template=template)


def _tensor_data(name: str, weight: np.ndarray, qtype: str) -> tuple[np.ndarray, Any]:
    """(data, raw ggml type or None) for one weight in the file's type: norms and vectors
    float32, matrices 16-bit or in 8-bit blocks (16-bit where a row does not fill blocks)."""
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import quantize

    if weight.ndim == 1:
        return weight.astype(np.float32), None
    if qtype == "bf16":
        return quantize(weight, Q.BF16), Q.BF16
    if qtype == "q8_0" and weight.shape[-1] % 32 == 0:
        return quantize(weight, Q.Q8_0), Q.Q8_0
    return weight.astype(np.float16), None


def write_gguf(model: Any, tokenizer: Any, path: str | Path, qtype: str, name: str) -> Path:
    """Write `model` (a Gemma3ForCausalLM) with its tokenizer as one GGUF file of type
    f16, bf16 or q8_0."""
    import gguf

    if qtype not in ("f16", "bf16", "q8_0"):
        raise ExportError(f"write_gguf writes f16, bf16 or q8_0, not {qtype!r}")
    cfg = model.config
    check_architecture(cfg)
    vocab = sentencepiece_vocab(tokenizer, cfg.vocab_size)
    arch = gguf.MODEL_ARCH.GEMMA3
    names = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    path = Path(path)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])

    writer.add_name(name)
    writer.add_file_type({"f16": gguf.LlamaFileType.MOSTLY_F16, "bf16": gguf.LlamaFileType.MOSTLY_BF16,
                          "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[qtype])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_key_length(cfg.head_dim)
    writer.add_value_length(cfg.head_dim)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(cfg.rope_parameters["full_attention"]["rope_theta"])
    writer.add_rope_freq_base_swa(LOCAL_ROPE_THETA)
    writer.add_sliding_window(cfg.sliding_window)

    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.types)
    for role, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                      ("unk", writer.add_unk_token_id), ("pad", writer.add_pad_token_id)):
        if role in vocab.special_ids:
            add(vocab.special_ids[role])
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(vocab.add_space_prefix)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)

    tied = bool(getattr(cfg, "tie_word_embeddings", True))
    for hf_name, param in model.state_dict().items():
        if hf_name == "lm_head.weight" and tied:
            continue  # llama.cpp reuses token_embd when there is no output.weight
        base, _, suffix = hf_name.rpartition(".")
        gguf_name = names.get_name(base)
        if gguf_name is None:
            raise ExportError(f"no GGUF name for the weight {hf_name!r} (gemma3 tensor table of gguf "
                              f"{getattr(gguf, '__version__', '?')}); this model has parts llama.cpp's gemma3 lacks")
        weight = param.detach().float().cpu().numpy()
        if base.endswith("norm"):
            weight = weight + NORM_SHIFT
        data, raw = _tensor_data(gguf_name, weight, qtype)
        writer.add_tensor(f"{gguf_name}.{suffix}", data, raw_dtype=raw)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def llama_cpp_quantize(src: Path, dst: Path, qtype: str = "q4_k_m") -> Path:
    """llama.cpp's own quantizer (`llama-quantize`'s library call), from an f16 GGUF."""
    try:
        import llama_cpp
    except ImportError as err:
        raise ExportError(f"{qtype}: k-quants are written by llama.cpp's quantizer, which needs llama-cpp-python "
                          "(`pip install llama-cpp-python`, builds llama.cpp from source); the gguf package "
                          "writes f16, bf16 and q8_0 only") from err
    ftype = {"q4_k_m": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M}[qtype]
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0 or not dst.is_file():
        raise ExportError(f"llama.cpp's quantizer failed on {src} (return code {rc}); see its log above")
    return dst


def load_gguf(path: str | Path, tokenizer: bool = True) -> tuple[Any, Any]:
    """A GGUF file through transformers' GGUF loader (dequantized to float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name) if tokenizer else None
    return model, tok


def _logits(model: Any, batch: list[list[int]]) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(input_ids=torch.tensor([ids])).logits[0].float() for ids in batch])


def check_tokenizer(reference: Any, rebuilt: Any, texts: list[str]) -> None:
    """The tokenizer rebuilt from the GGUF must encode the texts to the same ids."""
    for text in texts:
        a, b = reference(text).input_ids, rebuilt(text).input_ids
        if a != b:
            first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            raise ExportError(f"the tokenizer read back from the GGUF encodes {text[:40]!r}... differently from the "
                              f"model's (first difference at token {first}: {a[first:first + 3]} vs "
                              f"{b[first:first + 3]}); the file would feed llama.cpp other tokens")


def check_gguf(reference_logits: torch.Tensor, batch: list[list[int]], path: Path, qtype: str) -> GgufFile:
    """Load the file back and compare its next-token distributions with the reference's."""
    model, _ = load_gguf(path, tokenizer=False)
    logits = _logits(model, batch)
    diff, max_kl, top1 = compare_logits(reference_logits, logits)
    log_ref, log_new = reference_logits.double().log_softmax(-1), logits.double().log_softmax(-1)
    mean_kl = float((log_ref.exp() * (log_ref - log_new)).sum(-1).mean().clamp(min=0))
    return GgufFile(path, qtype, path.stat().st_size, max_kl, mean_kl, top1, diff, TOLERANCE[qtype],
                    sum(map(len, batch)))


def check_types(types: list[str]) -> None:
    if not types or any(t not in TYPES for t in types):
        raise ExportError(f"--types {','.join(types)}: choose among {', '.join(TYPES)}")


def export_gguf(model: Any, tokenizer: Any, out_dir: str | Path, types: list[str], name: str,
                card: str | None = None, probes: list[str] | None = None) -> list[GgufFile]:
    """Write `<name>-<type>.gguf` for each type (and README.md from `card`) into a new
    folder, each checked against `model` (float32); raises ExportError when a file's KL
    exceeds TOLERANCE[type] or the embedded tokenizer encodes a probe differently."""
    check_types(types)
    check_architecture(model.config)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} exists and is not empty; choose a new --gguf folder")
    model = model.float().eval()
    texts = probes or PROBES
    batch = [tokenizer(t).input_ids for t in texts]
    reference = _logits(model, batch)
    out_dir.mkdir(parents=True, exist_ok=True)

    results, tokenizer_checked = [], False
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        for qtype in types:
            path = out_dir / f"{name}-{qtype}.gguf"
            if qtype == "q4_k_m":
                f16 = out_dir / f"{name}-f16.gguf"
                src = f16 if f16.is_file() else write_gguf(model, tokenizer, Path(tmp) / "f16.gguf", "f16", name)
                llama_cpp_quantize(src, path, qtype)
            else:
                write_gguf(model, tokenizer, path, qtype, name)
            if not tokenizer_checked:  # the same vocabulary in every file: rebuilding it once is enough
                check_tokenizer(tokenizer, load_gguf(path)[1], texts)
                tokenizer_checked = True
            res = check_gguf(reference, batch, path, qtype)
            if res.max_kl > res.tolerance:
                path.rename(path.with_suffix(".gguf.rejected"))
                raise ExportError(f"{path.name}: read back with transformers, its next-token distributions differ "
                                  f"from the merged model's by KL {res.max_kl:.3g} nats > tolerance {res.tolerance} "
                                  f"({qtype}); the file was renamed to *.rejected, do not use it")
            results.append(res)
    if card is not None:
        (out_dir / "README.md").write_text(card, encoding="utf-8")
    return results


def export_run(base_dir: str | Path, adapter_dir: str | Path, preset: Any, out_dir: str | Path, types: list[str],
               name: str, card: str | None = None, merged_dir: str | Path | None = None) -> list[GgufFile]:
    """The pipeline's adapter merged into the base in fp32 (checked by merge_adapter), or a
    merged folder given, exported with `export_gguf`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qwen_qlora.app.merge import merge_adapter

    check_types(types)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} exists and is not empty; choose a new --gguf folder")
    with tempfile.TemporaryDirectory() as tmp:
        if merged_dir is None:
            merged_dir = merge_adapter(base_dir, adapter_dir, preset, Path(tmp) / "merged", dtype="fp32").out_dir
        elif not (Path(merged_dir) / "config.json").is_file():
            raise ExportError(f"{merged_dir}: no config.json; give a folder written by `qwen-qlora merge`")
        model = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(merged_dir)
        return export_gguf(model, tokenizer, out_dir, types, name, card)
