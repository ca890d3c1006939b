"""The adapted model for evaluation and generation: the prepared base (4-bit when
`quant.load_in_4bit`, as in training) with the trained LoRA adapter on top.

The base model is this same object with the adapter disabled, so base and adapted are
scored and sampled by one code path.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from qwen_qlora.config import PresetParams, QuantParams
from qwen_qlora.model.load import ModelLoadError, load_base, resolve_precision
from qwen_qlora.rows import ROWS


def load_adapted(base_dir: str | Path, adapter_dir: str | Path, preset: PresetParams,
                 quant: QuantParams, precision: str = "auto") -> tuple[Any, Any]:
    """(PeftModel, tokenizer) ready for inference."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ModelLoadError(f"{adapter_dir}: no adapter_config.json; run `dvc repro train` first")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, tokenizer = load_base(base_dir, preset, quant, resolve_precision(precision, preset, device),
                                 device_map={"": 0} if device == "cuda" else None)
    model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    return model, tokenizer


def adapter_switch(model: Any, enabled: bool) -> AbstractContextManager:
    """A context in which `model` runs with its adapter on (`enabled`) or off (the base).
    A model without adapters is the base either way."""
    if enabled or not hasattr(model, "disable_adapter"):
        return nullcontext()
    return model.disable_adapter()


def active_rows(names: Sequence[str], quant: QuantParams, verse: bool = False) -> list[str]:
    """The requested rows that exist for this quantization setting (and, for the verse
    row, when a verse adapter is given), in `ROWS` order."""
    unknown = sorted(set(names) - set(ROWS))
    if unknown:
        raise ValueError(f"unknown model rows {unknown}; choose from {list(ROWS)}")
    return [n for n in ROWS if n in names and (quant.load_in_4bit or not ROWS[n].quantized)
            and (verse or ROWS[n].adapter_name != "verse")]


@contextmanager
def row_adapter(model: Any, name: str) -> Iterator[None]:
    """Within it, `model` runs row `name`'s adapter (peft's active adapter); the poet's
    adapter ("default") is active again after it. Base rows switch adapters off themselves
    (`adapter_switch`)."""
    wanted = ROWS[name].adapter_name
    if wanted == "default" or not ROWS[name].adapter:
        yield
        return
    model.set_adapter(wanted)
    try:
        yield
    finally:
        model.set_adapter("default")


def models_for_rows(base_dir: str | Path, adapter_dir: str | Path, preset: PresetParams,
                    quant: QuantParams, precision: str, names: Sequence[str],
                    verse_dir: str | Path | None = None) -> Iterator[tuple[list[str], Any, Any]]:
    """(rows, model, tokenizer) for each base the rows need (as shipped, then 4-bit), one
    loaded at a time; each model carries the adapter, switched off for base rows, and the
    verse adapter (`verse_dir`) beside it, named "verse", where a verse row is asked for."""
    for quantized in (False, True):
        rows = [n for n in active_rows(names, quant, verse_dir is not None) if ROWS[n].quantized == quantized]
        if not rows:
            continue
        q = quant if quantized else quant.model_copy(update={"load_in_4bit": False})
        model, tokenizer = load_adapted(base_dir, adapter_dir, preset, q, precision)
        if any(ROWS[n].adapter_name == "verse" for n in rows):
            if not (Path(verse_dir) / "adapter_config.json").is_file():
                raise ModelLoadError(f"{verse_dir}: no adapter_config.json for the verse row; run "
                                     "`dvc repro verse` (verse.enabled: true)")
            model.load_adapter(str(verse_dir), adapter_name="verse")
            model.set_adapter("default")
            model.eval()
        yield rows, model, tokenizer
        del model
        gc.collect()
