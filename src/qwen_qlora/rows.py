"""The model rows every comparison reports: one table, read by params validation, the
stages, the report and the loaders (`model.adapted.models_for_rows`); it imports no torch.

A user's real question is "is this better than what I had?", so the rows are:

| row            | base weights                    | adapter | prompt                  |
|----------------|---------------------------------|---------|-------------------------|
| `base`         | as shipped (16/32-bit)          | off     | the task prompt         |
| `base_4bit`    | re-quantized to 4-bit (NF4)     | off     | the task prompt         |
| `base_fewshot` | as shipped                      | off     | 3 train poems, then it  |
| `verse`        | as shipped                      | verse   | the task prompt         |
| `adapted_4bit` | 4-bit (the training base)       | on      | the task prompt         |
| `adapted`      | as shipped                      | on      | the task prompt         |

`adapted` is what `merge` exports and `write` uses; the headline compares it with
`base`. QLoRA trains on the 4-bit base, so `base_4bit` and `adapted_4bit` show what
quantization costs and what the adapter recovers of it. Without `quant.load_in_4bit`
the 4-bit rows do not exist. `verse` is the verse stage's adapter alone (Russian verse by
other poets, never hers), so the reader sees what comes from verse and what from the
poet; without `verse.enabled` it does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    quantized: bool
    adapter: bool
    fewshot: bool
    description: str
    label: str  # how the report names the row for people
    adapter_name: str = "default"  # which adapter an adapter row runs (peft's name)


ROWS: dict[str, Row] = {
    "base": Row(False, False, False, "base model as shipped (16/32-bit), task prompt",
                "base (as shipped, 16/32-bit)"),
    "base_4bit": Row(True, False, False, "base re-quantized to 4-bit (the QLoRA training base)",
                     "base, NF4 (the training base)"),
    "base_fewshot": Row(False, False, True, "base as shipped, train poems as worked examples in the prompt",
                        "base, few-shot (3 train poems in the prompt)"),
    "verse": Row(False, True, False, "verse adapter alone (other poets' verse) on the base as shipped",
                 "verse, the verse-stage adapter alone (other poets, never hers)", adapter_name="verse"),
    "adapted_4bit": Row(True, True, False, "adapter on the 4-bit base (as trained)",
                        "adapted, adapter on the NF4 base"),
    "adapted": Row(False, True, False, "adapter on the base as shipped (what merge exports)",
                   "adapted, adapter on the 16/32-bit base (deployed)"),
}

# Rows the generate stage derives from a model row: by choosing among its candidates, or by
# sampling it again from the whole vocabulary (`generate.full_vocab_rows`) where the other
# rows sample only the train poems' tokens, so the restriction's effect is seen.
# A formed row (`generate.formed_rows`) is the model row written again by the form decoder
# (`generation.form`: every line in the requested meter, rhymed under the requested scheme).
SELECTED_SUFFIX = "_selected"
FULL_VOCAB_SUFFIX = "_full_vocab"
FORMED_SUFFIX = "_formed"
SELECTED_LABELS = {"adapted_selected": "adapted, best of N candidates by form and style (selection, not learning)",
                   "base_full_vocab": "base, sampled from the whole vocabulary (the other rows: train poems' tokens)",
                   "base_formed": "base, written by the form decoder (meter and rhyme by construction)",
                   "base_fewshot_formed": "base, few-shot, written by the form decoder",
                   "adapted_formed": "adapted, written by the form decoder (meter and rhyme by construction)"}


def row_of(name: str) -> str:
    """The model row a sample row comes from: "adapted_selected" -> "adapted",
    "base_full_vocab" -> "base", "adapted_formed" -> "adapted"."""
    return name.removesuffix(SELECTED_SUFFIX).removesuffix(FULL_VOCAB_SUFFIX).removesuffix(FORMED_SUFFIX)


def is_formed(name: str) -> bool:
    """Was this sample row written by the form decoder?"""
    return name.endswith(FORMED_SUFFIX)
