"""Line-level selection: write a requested form one verse line at a time, sampling each
line K times and keeping a candidate that fits the requested meter and rhymes with its
partner line under the requested scheme.

Whole-poem selection (`selection.py`) needs one candidate in which every line happens to
scan and rhyme, so its odds shrink with the poem's length; choosing per line multiplies
the odds only line by line. The judges are the project's own: the stress model, the
meter fit of one line (`meter.fit_line`) and the rhyme of two line endings
(`rhyme.endings_rhyme`). Like any selection it is a decoding strategy, not learning.

    poems = write_by_lines(model, tokenizer, preset, prompts, requests, stresser, k=8, seed=0, ...)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from qwen_qlora.generation.decode import Sampling, decode
from qwen_qlora.metrics.meter import fit_line
from qwen_qlora.metrics.rhyme import endings_rhyme, line_ending
from qwen_qlora.metrics.stress import StressedLine, Stresser
from qwen_qlora.model.adapted import adapter_switch
from qwen_qlora.model.prompts import prompt_ids

# within a quatrain: the earlier line each line must rhyme with (None: opens a pair)
PARTNERS: dict[str | None, tuple[int | None, ...]] = {
    "ABAB": (None, None, 0, 1),
    "AABB": (None, 0, None, 2),
    "ABBA": (None, None, 1, 0),
    "ABCB": (None, None, None, 1),
    None: (None, None, None, None),
}


def line_fits(line: StressedLine, meter: str, feet: int | None) -> bool:
    """Does one stressed line scan in the requested meter (and foot count)?"""
    fit = fit_line(line, meter)
    return fit.fits and (feet is None or fit.feet == feet)


def line_score(line: StressedLine, partner: StressedLine | None, meter: str, feet: int | None) -> int:
    """2 = scans and rhymes with its partner (or has none), 1 = one of the two, 0 = neither;
    an empty line scores -1."""
    if not line.words:
        return -1
    rhymes = partner is None or endings_rhyme(line_ending(partner), line_ending(line))
    return int(line_fits(line, meter, feet)) + int(rhymes)


@torch.no_grad()
def write_by_lines(model: Any, tokenizer: Any, preset: Any, prompts: Sequence[str], requests: Sequence[dict],
                   stresser: Stresser, *, k: int, seed: int, temperature: float, top_p: float,
                   repetition_penalty: float, max_line_tokens: int = 24, adapter: bool = True,
                   vocab: torch.Tensor | None = None) -> list[dict]:
    """One poem per (prompt, request), written line by line with `k` candidates a line, all
    poems and candidates in one batch per line. Returns per poem {text, line_scores}: the
    chosen line's score (see `line_score`) for each line. With k = 1 it is plain sampling
    that stops at the requested number of lines. `vocab`: sample only these tokens
    (`generate.decode`)."""
    sampling = Sampling(temperature, top_p, repetition_penalty)
    heads = [prompt_ids(preset, tokenizer, p) for p in prompts]
    shapes = [r["stanza_lines"] for r in requests]
    texts = [""] * len(prompts)
    chosen_lines: list[list[StressedLine]] = [[] for _ in prompts]
    scores: list[list[int]] = [[] for _ in prompts]
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    torch.manual_seed(seed)
    for step in range(max(sum(s) for s in shapes)):
        active = [i for i, s in enumerate(shapes) if step < sum(s)]
        rows = [heads[i] + tokenizer(texts[i], add_special_tokens=False)["input_ids"] if texts[i] else heads[i]
                for i in active for _ in range(k)]
        with adapter_switch(model, adapter):
            news = decode(model, rows, pad_id=tokenizer.pad_token_id, stop_ids=[tokenizer.eos_token_id, *newline],
                          max_new_tokens=max_line_tokens, sampling=sampling, vocab=vocab)
        lines = [tokenizer.decode(new, skip_special_tokens=True).strip("\n").split("\n")[0].strip() for new in news]
        stressed = stresser.stress_texts([ln or "-" for ln in lines])
        for n, i in enumerate(active):
            request = requests[i]
            stanza_start, pos, size = _position(shapes[i], step)
            partner_pos = PARTNERS.get(request["scheme"], PARTNERS[None])[pos] if size == 4 else None
            partner = chosen_lines[i][stanza_start + partner_pos] if partner_pos is not None else None
            cands = [(stressed[n * k + c][0] if lines[n * k + c] else StressedLine("", ()), lines[n * k + c])
                     for c in range(k)]
            judged = [line_score(line, partner, request["meter"], request["feet"]) for line, _ in cands]
            best = max(range(k), key=lambda c: (judged[c], -c))
            chosen_lines[i].append(cands[best][0])
            scores[i].append(judged[best])
            texts[i] += cands[best][1] + ("\n\n" if pos == size - 1 else "\n")
    return [{"text": t.strip(), "line_scores": s} for t, s in zip(texts, scores, strict=True)]


def _position(shape: Sequence[int], step: int) -> tuple[int, int, int]:
    """(index of the stanza's first line, position in the stanza, stanza size) of line `step`."""
    start = 0
    for size in shape:
        if step < start + size:
            return start, step - start, size
        start += size
    raise IndexError(f"line {step} is past the requested {sum(shape)} lines")
