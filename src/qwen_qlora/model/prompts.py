"""Prompt formatting per model family, and prompt/completion pairs as training tokens.

The same `prompt_ids` serve training and generation, so the model is trained on exactly
the context it later sees. The completion is tokenized on its own and followed by the
preset's EOS (for chat models the end-of-turn token, e.g. Qwen's `<|im_end|>`), so the
model learns to stop; every prompt token is masked with -100 and never learned.
"""

from __future__ import annotations

from typing import Any

from qwen_qlora.config import PresetParams

IGNORE = -100


def format_prompt(preset: PresetParams, tokenizer: Any, prompt: str) -> str:
    """The text a model sees before the poem: a plain template, or a chat turn."""
    if preset.prompt_format == "plain":
        return preset.plain_template.format(prompt=prompt)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"preset prompt_format is 'chat' but {type(tokenizer).__name__} has no "
                         "chat template; use prompt_format: plain for base models")
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prompt_ids(preset: PresetParams, tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of the formatted prompt (a chat template brings its own BOS)."""
    text = format_prompt(preset, tokenizer, prompt)
    return tokenizer(text, add_special_tokens=preset.prompt_format == "plain")["input_ids"]


def encode_example(preset: PresetParams, tokenizer: Any, prompt: str, completion: str) -> dict[str, list[int]]:
    """`input_ids` and `labels` for one pair: prompt masked, completion + EOS learned."""
    head = prompt_ids(preset, tokenizer, prompt)
    body = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return {"input_ids": head + body, "labels": [IGNORE] * len(head) + body}


def encode_records(preset: PresetParams, tokenizer: Any, records: list[dict[str, Any]],
                   max_len: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Encode records; those longer than `max_len` tokens are left out (ids returned),
    since cutting them would also cut the EOS the model must learn."""
    kept, too_long = [], []
    for rec in records:
        enc = encode_example(preset, tokenizer, rec["prompt"], rec["completion"])
        if len(enc["input_ids"]) > max_len:
            too_long.append(str(rec.get("id", "?")))
            continue
        kept.append({"id": str(rec.get("id", "?")), **enc})
    return kept, too_long


def show_mask(tokenizer: Any, example: dict[str, list[int]]) -> str:
    """The example as text with the masked (not learned) part in [[...]]: what is learned."""
    out, masked_run, learned_run = [], [], []
    for tok, lab in zip(example["input_ids"], example["labels"], strict=True):
        if lab == IGNORE:
            if learned_run:
                out.append(tokenizer.decode(learned_run))
                learned_run = []
            masked_run.append(tok)
        else:
            if masked_run:
                out.append("[[" + tokenizer.decode(masked_run) + "]]")
                masked_run = []
            learned_run.append(tok)
    if masked_run:
        out.append("[[" + tokenizer.decode(masked_run) + "]]")
    if learned_run:
        out.append(tokenizer.decode(learned_run))
    return "".join(out)
