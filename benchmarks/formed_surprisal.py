"""Where the form decoder loses fluency: the base model's surprisal (as shipped, adapter
off: the generate stage's fluency judge, `evaluation.judge`) of each token of a run's
samples (reports/samples.jsonl), by the token's place in its line:

    rhyme word   a token of the line's last word (the word the rhyme plan chose)
    first word   a token of the line's first word
    inner word   a token of any other word
    marks        punctuation, line and stanza breaks (no letter in the token)

Per row: each place's share of the poem tokens, its mean surprisal (nats a token), and
the row's log-perplexity as the sum of share x mean; then, for each formed row against
its free row (same requests), how much of the gap in log-perplexity each place makes up.
Reads what the generate stage wrote; decides nothing.

Usage: PYTHONPATH=src python benchmarks/formed_surprisal.py [--rows adapted adapted_formed base base_formed]
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import torch

from qwen_qlora.config import QuantParams, load_params
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.load import load_base
from qwen_qlora.model.prompts import prompt_ids

PLACES = ("rhyme word", "first word", "inner word", "marks")
WORD = re.compile(r"\w+(?:-\w+)*")


def places(text: str) -> list[str]:
    """The place (one of PLACES) of every character of `text` ("marks" outside words)."""
    out = ["marks"] * len(text)
    offset = 0
    for line in text.split("\n"):
        words = list(WORD.finditer(line))
        for n, w in enumerate(words):
            place = "rhyme word" if n == len(words) - 1 else "first word" if n == 0 else "inner word"
            for i in range(offset + w.start(), offset + w.end()):
                out[i] = place
        offset += len(line) + 1
    return out


def token_places(text: str, offsets: list[tuple[int, int]]) -> list[str]:
    """Each token's place: the place of its first letter, "marks" when it has none."""
    chars = places(text)
    out = []
    for start, end in offsets:
        letter = next((i for i in range(start, end) if text[i].isalpha() or text[i].isdigit()), None)
        out.append("marks" if letter is None else chars[letter])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--rows", nargs="*", default=["adapted", "adapted_formed", "base", "base_formed"])
    args = ap.parse_args()
    params = load_params(args.root / "params.yaml")
    preset = params.model.selected
    model, tok = load_base(args.root / "models/base" / params.model.preset, preset, QuantParams(load_in_4bit=False),
                           "fp32")
    model.eval()
    samples = [s for s in read_jsonl(args.root / "reports/samples.jsonl") if s["model"] in args.rows]
    nats: dict[str, dict[str, list[float]]] = {r: defaultdict(list) for r in args.rows}
    for s in samples:
        enc = tok(s["text"], add_special_tokens=False, return_offsets_mapping=True)
        head = prompt_ids(preset, tok, s["prompt"])
        ids = torch.tensor([head + enc["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(head) - 1:-1].float()
        nll = torch.nn.functional.cross_entropy(logits, ids[0, len(head):], reduction="none").tolist()
        for place, value in zip(token_places(s["text"], enc["offset_mapping"]), nll, strict=True):
            nats[s["model"]][place].append(value)

    def log_ppl(row: str) -> float:
        total = sum(len(v) for v in nats[row].values())
        return sum(sum(v) for v in nats[row].values()) / total

    print(f"{'row':16} {'poems':>5} {'ppl':>6} " + " ".join(f"{p + ' share/nats':>22}" for p in PLACES))
    for row in args.rows:
        total = sum(len(v) for v in nats[row].values())
        n = sum(s["model"] == row for s in samples)
        cells = [f"{len(nats[row][p]) / total:>10.3f} {sum(nats[row][p]) / max(len(nats[row][p]), 1):>11.2f}"
                 for p in PLACES]
        print(f"{row:16} {n:>5} {math.exp(log_ppl(row)):>6.1f} " + " ".join(cells))
    for formed in [r for r in args.rows if r.endswith("_formed")]:
        free = formed.removesuffix("_formed")
        if free not in args.rows:
            continue
        gap = log_ppl(formed) - log_ppl(free)
        tf, tr = (sum(len(v) for v in nats[r].values()) for r in (formed, free))
        parts = {p: sum(nats[formed][p]) / tf - sum(nats[free][p]) / tr for p in PLACES}
        print(f"\n{formed} / {free}: log-perplexity gap {gap:+.3f} nats a token (x{math.exp(gap):.2f}); "
              "each place's part (share x mean, formed minus free):")
        for p in PLACES:
            print(f"  {p:11} {parts[p]:+.3f}  ({parts[p] / gap:.0%} of the gap)")
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True,
                         check=False).stdout.strip()
    print(f"\n{cpu}; samples from {args.root / 'reports/samples.jsonl'}")


if __name__ == "__main__":
    main()
