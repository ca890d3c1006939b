"""The model rows every comparison reports, and loading the bases they need.

A user's real question is "is this better than what I had?", so the rows are:

| row            | base weights                    | adapter | prompt                  |
|----------------|---------------------------------|---------|-------------------------|
| `base`         | as shipped (16/32-bit)          | off     | the task prompt         |
| `base_4bit`    | re-quantized to 4-bit (NF4)     | off     | the task prompt         |
| `base_fewshot` | as shipped                      | off     | 3 train poems, then it  |
| `adapted_4bit` | 4-bit (the training base)       | on      | the task prompt         |
| `adapted`      | as shipped                      | on      | the task prompt         |

`adapted` is what `merge` exports and `write` uses; the headline compares it with
`base`. QLoRA trains on the 4-bit base, so `base_4bit` and `adapted_4bit` show what
quantization costs and what the adapter recovers of it. Without `quant.load_in_4bit`
the 4-bit rows do not exist.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen_qlora.config import PresetParams, QuantParams
from qwen_qlora.model.adapted import load_adapted


@dataclass(frozen=True)
class Row:
    quantized: bool
    adapter: bool
    fewshot: bool
    description: str


ROWS: dict[str, Row] = {
    "base": Row(False, False, False, "base model as shipped (16/32-bit), task prompt"),
    "base_4bit": Row(True, False, False, "base re-quantized to 4-bit (the QLoRA training base)"),
    "base_fewshot": Row(False, False, True, "base as shipped, train poems as worked examples in the prompt"),
    "adapted_4bit": Row(True, True, False, "adapter on the 4-bit base (as trained)"),
    "adapted": Row(False, True, False, "adapter on the base as shipped (what merge exports)"),
}


def active_rows(names: Sequence[str], quant: QuantParams) -> list[str]:
    """The requested rows that exist for this quantization setting, in `ROWS` order."""
    unknown = sorted(set(names) - set(ROWS))
    if unknown:
        raise ValueError(f"unknown model rows {unknown}; choose from {list(ROWS)}")
    return [n for n in ROWS if n in names and (quant.load_in_4bit or not ROWS[n].quantized)]


def models_for_rows(base_dir: str | Path, adapter_dir: str | Path, preset: PresetParams,
                    quant: QuantParams, precision: str, names: Sequence[str]
                    ) -> Iterator[tuple[list[str], Any, Any]]:
    """(rows, model, tokenizer) for each base the rows need (as shipped, then 4-bit), one
    loaded at a time; each model carries the adapter, switched off for base rows."""
    for quantized in (False, True):
        rows = [n for n in active_rows(names, quant) if ROWS[n].quantized == quantized]
        if not rows:
            continue
        q = quant if quantized else quant.model_copy(update={"load_in_4bit": False})
        model, tokenizer = load_adapted(base_dir, adapter_dir, preset, q, precision)
        yield rows, model, tokenizer
        del model
        gc.collect()
