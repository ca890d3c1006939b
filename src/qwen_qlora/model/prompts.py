"""The prompt wording (a request for a poem on a theme, optionally in a form), its
formatting per model family, and prompt/completion pairs as training tokens.

The same `prompt_ids` serve training and generation, so the model is trained on exactly
the context it later sees. The completion is tokenized on its own and followed by the
preset's EOS (for chat models the end-of-turn token, e.g. Qwen's `<|im_end|>`), so the
model learns to stop; every prompt token is masked with -100 and never learned. A train
poem longer than `train.max_length` is trained as stanza-aligned pieces (`poem_pieces`):
the pieces after the opening are asked for with the continuation wording below, and only
the last one ends with EOS, so the model learns to stop where the poem stops.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from qwen_qlora.config import PresetParams, SplitParams
from qwen_qlora.text import is_verse_line, lines

IGNORE = -100

# Appended to a poem's prompt for a training piece that is not the poem's opening.
CONTINUATION = " (продолжение)"


Shot = tuple[str, str]  # (prompt, poem): a worked example for few-shot prompting


def make_prompt(p: SplitParams, theme: str, form: dict | None = None) -> str:
    """The request for a poem on `theme`: `prompt_template` when `prompt_form` is none;
    else `form_template` with the form in words when `form` is a confident annotation
    or request, and `theme_template` (no form named) when it is not."""
    if p.prompt_form == "none":
        return p.prompt_template.format(theme=theme)
    if form is not None and form.get("confident"):
        # The form's words come from the annotation's vocabulary; imported here so that
        # training and scoring, which never name a form, do not load the poetics analysers.
        from qwen_qlora.metrics.form_annotation import describe_form
        return p.form_template.format(theme=theme, form=describe_form(form))
    return p.theme_template.format(theme=theme)


def prompt_prefix(p: SplitParams) -> str:
    """The fixed text every prompt starts with ("Напиши стихотворение"): where a
    few-shot sample that starts writing the next request is cut."""
    heads = [t.split("{theme}")[0] for t in (p.prompt_template, p.form_template, p.theme_template)]
    return os.path.commonprefix(heads).strip()


def format_prompt(preset: PresetParams, tokenizer: Any, prompt: str, shots: Sequence[Shot] = ()) -> str:
    """The text a model sees before the poem: a plain template, or a chat turn. `shots`
    put worked examples first (few-shot prompting, the alternative to fine-tuning). Each
    worked poem ends the way a training completion ends, with the stop token the model is
    scored on: plain prompts as `poem<eos>` and a blank line; chat prompts as turns (whose
    end-of-turn token is the preset's EOS)."""
    if preset.prompt_format == "plain":
        stop = tokenizer.eos_token
        worked = "".join(preset.plain_template.format(prompt=p) + poem + stop + "\n\n" for p, poem in shots)
        return worked + preset.plain_template.format(prompt=prompt)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"preset prompt_format is 'chat' but {type(tokenizer).__name__} has no "
                         "chat template; use prompt_format: plain for base models")
    messages = [m for p, poem in shots for m in ({"role": "user", "content": p},
                                                  {"role": "assistant", "content": poem})]
    messages.append({"role": "user", "content": prompt})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prompt_ids(preset: PresetParams, tokenizer: Any, prompt: str, shots: Sequence[Shot] = ()) -> list[int]:
    """Token ids of the formatted prompt (a chat template brings its own BOS)."""
    text = format_prompt(preset, tokenizer, prompt, shots)
    return tokenizer(text, add_special_tokens=preset.prompt_format == "plain")["input_ids"]


def continuation_prompt(prompt: str) -> str:
    """The request for a piece of a poem after its opening."""
    return prompt + CONTINUATION


def encode_example(preset: PresetParams, tokenizer: Any, prompt: str, completion: str,
                   shots: Sequence[Shot] = (), stop: bool = True) -> dict[str, list[int]]:
    """`input_ids` and `labels` for one pair: prompt masked, completion + EOS learned
    (without EOS when `stop` is false: a piece the poem goes on after)."""
    head = prompt_ids(preset, tokenizer, prompt, shots)
    body = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] * stop
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


class LineTooLong(ValueError):
    """A verse line that does not fit the length limit with its prompt: no piece can hold it."""


def line_spans(completion: str) -> list[tuple[int, int, int]]:
    """(start, end, stanza number) of every non-blank line; blank lines separate stanzas."""
    spans: list[tuple[int, int, int]] = []
    offset, stanza, gap = 0, 0, False
    for raw in completion.split("\n"):
        if raw.strip():
            if gap and spans:
                stanza += 1
            spans.append((offset, offset + len(raw), stanza))
        gap = not raw.strip()
        offset += len(raw) + 1
    return spans


def _longest_fit(preset: PresetParams, tokenizer: Any, prompt: str, completion: str,
                 spans: list[tuple[int, int, int]], start: int, ends: Sequence[int],
                 max_len: int) -> dict[str, Any] | None:
    """The piece from line `start` to the furthest of `ends` (ascending) that fits, or None."""
    best = None
    for end in ends:
        text = completion[spans[start][0]:spans[end][1]]
        enc = encode_example(preset, tokenizer, prompt, text, stop=end == len(spans) - 1)
        if len(enc["input_ids"]) > max_len:
            break
        best = {**enc, "final": end == len(spans) - 1, "text": text, "last_line": end}
    return best


def poem_pieces(preset: PresetParams, tokenizer: Any, prompt: str, completion: str,
                max_len: int) -> list[dict[str, Any]]:
    """A train poem as examples of at most `max_len` tokens each, its prompt included.

    A poem that fits is one example ending with EOS (`encode_example`). A longer one is cut
    at stanza breaks, each piece taking as many whole stanzas as fit; a stanza too long for
    a piece of its own is cut between lines (never inside one), and its last lines may share
    a piece with the stanzas after it. The opening piece keeps the poem's prompt, the others
    are asked for with `continuation_prompt`; only the last ends with EOS. Each example has
    `final` (it ends the poem) and `text` (its part of the poem). Raises `LineTooLong` when
    one line with its prompt is longer than `max_len`.
    """
    whole = encode_example(preset, tokenizer, prompt, completion)
    if len(whole["input_ids"]) <= max_len:
        return [{**whole, "final": True, "text": completion}]
    spans = line_spans(completion)
    stanza_ends = [j for j in range(len(spans)) if j == len(spans) - 1 or spans[j + 1][2] != spans[j][2]]
    pieces: list[dict[str, Any]] = []
    start = 0
    while start < len(spans):
        ask = continuation_prompt(prompt) if pieces else prompt
        ends = [j for j in stanza_ends if j >= start]
        piece = (_longest_fit(preset, tokenizer, ask, completion, spans, start, ends, max_len)
                 or _longest_fit(preset, tokenizer, ask, completion, spans, start, range(start, ends[0]), max_len))
        if piece is None:
            line = completion[spans[start][0]:spans[start][1]]
            raise LineTooLong(f"line {start + 1} ({line[:60]!r}) does not fit max_length={max_len} tokens "
                              "with its prompt")
        start = piece.pop("last_line") + 1
        pieces.append(piece)
    return pieces


def encode_pieces(preset: PresetParams, tokenizer: Any, records: list[dict[str, Any]],
                  max_len: int) -> tuple[list[dict[str, Any]], dict[str, int], list[str]]:
    """Train records as examples, every poem whole or in `poem_pieces` (ids `id#k/n`).

    Returns the examples, counts (poems, pieces, poems_split, poems_left_out_line_too_long)
    and the ids of the poems left out because one of their lines fits no piece.
    """
    examples: list[dict[str, Any]] = []
    left_out: list[str] = []
    split = 0
    for rec in records:
        rid = str(rec.get("id", "?"))
        try:
            pieces = poem_pieces(preset, tokenizer, rec["prompt"], rec["completion"], max_len)
        except LineTooLong:
            left_out.append(rid)
            continue
        split += len(pieces) > 1
        for k, piece in enumerate(pieces, 1):
            examples.append({"id": rid if len(pieces) == 1 else f"{rid}#{k}/{len(pieces)}", **piece})
    counts = {"poems": len(records), "pieces": len(examples), "poems_split": split,
              "poems_left_out_line_too_long": len(left_out)}
    return examples, counts, left_out


def fewshot_shots(records: Sequence[dict[str, Any]], n: int, max_lines: int = 12) -> list[Shot]:
    """`n` worked examples for few-shot prompts: the first `n` records (in id order) of at
    most `max_lines` verse lines, so the context stays short. Deterministic."""
    pool = sorted((r for r in records if len(lines(r["completion"])) <= max_lines), key=lambda r: r["id"])
    if len(pool) < n:
        raise ValueError(f"few-shot: only {len(pool)} train poems of <= {max_lines} lines for {n} shots")
    return [(r["prompt"], r["completion"]) for r in pool[:n]]


def probe_parts(preset: PresetParams, tokenizer: Any, prompt: str, completion: str) -> tuple[list[int], list[int]]:
    """The memorisation probe's input, tokenised exactly as in training (`encode_example`):
    (the prompt's ids, the completion's ids up to the end of its first verse line)."""
    first = next((ln for ln in completion.split("\n") if ln.strip()), "")
    end = completion.index(first) + len(first)
    enc = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
    keep = [t for t, (_, stop) in zip(enc["input_ids"], enc["offset_mapping"], strict=True) if stop <= end]
    return prompt_ids(preset, tokenizer, prompt), keep


def line_prefixes(preset: PresetParams, tokenizer: Any, prompt: str, completion: str
                  ) -> tuple[list[int], list[int], list[tuple[int, str]]]:
    """The every-line probe's inputs, tokenised exactly as in training (`encode_example`):
    (prompt ids, completion ids, [(how many completion ids come before verse line k,
    line k)] for every verse line). Line k's context is the prompt and the completion's
    tokens that end at or before the end of line k-1 (none for the first line), so every
    context is a prefix of the one training token sequence."""
    enc = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
    ends = [stop for _, stop in enc["offset_mapping"]]
    out, cursor, previous_end = [], 0, 0
    for raw in completion.split("\n"):
        start, cursor = cursor, cursor + len(raw) + 1
        if not is_verse_line(raw):
            continue
        out.append((sum(1 for e in ends if e <= previous_end), raw.strip()))
        previous_end = start + len(raw.rstrip())
    return prompt_ids(preset, tokenizer, prompt), enc["input_ids"], out


def probe_prefix(preset: PresetParams, tokenizer: Any, prompt: str, completion: str) -> list[int]:
    """`probe_parts` joined: the ids the probe continues."""
    head, first_line = probe_parts(preset, tokenizer, prompt, completion)
    return head + first_line


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
