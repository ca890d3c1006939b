"""Where a formed poem's time goes: the model's forward passes against the form
decoder's own work (the meter automaton, the rhyme plan, the token tries, sampling), and
what backing off costs.

Writes the generate stage's formed requests (the first `--poems` of them, its seed and
decoding) for each formed row (base, base few-shot, adapted) through the product's path
(`formed.sample_formed`), timing every forward pass the decoder makes, and prints per
row: seconds a poem, forward passes a poem and milliseconds each, the share of the
poem's time spent inside them, the tokens a poem encodes and how many of them are
encoded again after backing off (the decoder rebuilds its cache from the prompt and the
kept tokens), back-offs a poem (words and lines), the scanner's form compliance; then
the CPU.

Usage: PYTHONPATH=src python benchmarks/formed_time.py [--poems 8] [--rows base base_fewshot adapted]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import torch

from qwen_qlora.config import load_params
from qwen_qlora.generation.form import decoder
from qwen_qlora.generation.form.formed import FormKit, sample_formed
from qwen_qlora.generation.form.words import load_table
from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.form_annotation import annotate_forms, assign_requests, common_forms, compliance
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.model.adapted import models_for_rows
from qwen_qlora.model.prompts import fewshot_shots, make_prompt
from qwen_qlora.rows import ROWS


MODEL = decoder._Model


class Timed(MODEL):
    """The decoder's model, timing its forward passes and counting the tokens they encode
    (a rebuild after backing off encodes the prompt and the kept tokens again)."""

    seconds = 0.0
    encoded = 0
    again = 0

    def _run(self, ids, positions, cache) -> None:
        t0 = time.perf_counter()
        super()._run(ids, positions, cache)
        Timed.seconds += time.perf_counter() - t0
        Timed.encoded += ids.shape[1]

    def reset(self, tokens: list[int]) -> None:
        if hasattr(self, "cache"):  # not the first encoding of the prompt (from __init__): a rebuild
            Timed.again += len(self.prompt) + len(tokens)
        super().reset(tokens)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poems", type=int, default=8, help="formed requests a row (the stage's first ones)")
    ap.add_argument("--rows", nargs="+", default=["base", "base_fewshot", "adapted"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params("params.yaml")
    g, preset = params.generate, params.model.selected
    train = read_jsonl(Path("data/processed/train.jsonl"))
    requests = common_forms([e["form"] for e in train if e["form"]], g.forms)
    jobs = [j for j in assign_requests(g.themes, g.samples_per_theme, requests) if j[1] < g.formed_per_theme]
    jobs = jobs[:args.poems]
    prompts = [make_prompt(params.split, theme, request) for theme, _, request in jobs]
    forms = [request for _, _, request in jobs]
    shots = fewshot_shots(train, params.evaluate.fewshot_shots)
    table, stresser = load_table("models/word_table.json"), load_stresser()
    print(f"{len(prompts)} formed requests a row (the generate stage's first), seed {g.seed}")
    print("| row | s a poem | forward passes a poem | ms a pass | share of the time in them | tokens encoded a poem "
          "| of them again after backing off | back-offs a poem | form followed |")
    print("|---|---|---|---|---|---|---|---|---|")
    decoder._Model = Timed
    try:
        for rows, model, tok in models_for_rows("models/base/" + params.model.preset, "models/adapter", preset,
                                                params.quant, params.train.precision, args.rows):
            kit = FormKit.of(table, tok, params.words.rhyme_min_count)
            for name in rows:
                row = ROWS[name]
                Timed.seconds, Timed.encoded, Timed.again = 0.0, 0, 0
                t0 = time.perf_counter()
                poems = sample_formed(model, tok, preset, prompts, forms, g.seed, g.decoding(), kit,
                                      adapter=row.adapter, shots=shots if row.fewshot else ())
                total, n = time.perf_counter() - t0, len(poems)
                passes = sum(p["formed"]["forwards"] for p in poems)
                backs = sum(p["formed"]["word_dead_ends"] + p["formed"]["line_dead_ends"] for p in poems)
                ok = [compliance(a, r)["all"] for a, r in
                      zip(annotate_forms([p["text"] for p in poems], stresser, params.annotate.min_regularity),
                          forms, strict=True)]
                print(f"| {name} | {total / n:.2f} | {passes / n:.1f} | {1000 * Timed.seconds / passes:.0f} | "
                      f"{Timed.seconds / total:.2f} | {Timed.encoded / n:.0f} | {Timed.again / n:.1f} | "
                      f"{backs / n:.2f} | {sum(ok)}/{n} |", flush=True)
    finally:
        decoder._Model = MODEL
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True,
                         check=False).stdout.strip()
    print(f"\n{cpu}; torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
