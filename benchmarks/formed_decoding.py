"""Speed and form of the form decoder (`qwen_qlora.generation.form`) on a run's model:
a few formed poems (by default iamb, 4 feet, ABAB, 3 stanzas), each judged by the
project's scanner (`form_annotation.annotate_form` / `compliance`), not by the
decoder's own state. Prints per poem: wall seconds, compliance (meter, feet, scheme,
stanzas), rhyme rate, dead ends and backtracks, and the model's own mass on the
allowed word starts; then the CPU.

The word table is built once from the run's cleaned poems (all poets) and cached at
--table. Uses the adapter when the run has one, else the base model (said in the output).

Usage: PYTHONPATH=src python benchmarks/formed_decoding.py --root ../baseline [--poems 3] [--min-count 2]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from qwen_qlora.config import QuantParams, load_params
from qwen_qlora.model.prompts import make_prompt
from qwen_qlora.generation.decode import Sampling
from qwen_qlora.generation.form.decoder import write_formed
from qwen_qlora.generation.form.lexicon import Lexicon
from qwen_qlora.generation.form.rhyme import RhymeIndex
from qwen_qlora.generation.form.words import build_word_table, load_table, save_table
from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.form_annotation import annotate_form, compliance, request_form
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.model.adapted import load_adapted
from qwen_qlora.model.load import load_base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."), help="the run's project folder")
    ap.add_argument("--table", type=Path, default=Path("/tmp/form_word_table.json"))
    ap.add_argument("--min-count", type=int, default=2, help="word forms seen fewer times are left out")
    ap.add_argument("--poems", type=int, default=3)
    ap.add_argument("--meter", default="iamb")
    ap.add_argument("--feet", type=int, default=4)
    ap.add_argument("--scheme", default="ABAB")
    ap.add_argument("--stanzas", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(args.root / "params.yaml")
    preset, g = params.model.selected, params.generate
    base = args.root / "models/base" / params.model.preset
    adapter = args.root / "models/adapter"
    stresser = load_stresser()
    if args.table.is_file():
        table = load_table(args.table)
    else:
        t0 = time.perf_counter()
        poems = read_jsonl(args.root / "data/interim/poems.jsonl")
        table = build_word_table([p["text"] for p in poems], stresser, AutoTokenizer.from_pretrained(base),
                                 min_count=args.min_count)
        save_table(table, args.table)
        print(f"word table: {len(table)} forms (min count {args.min_count}) in {time.perf_counter() - t0:.0f} s")
    if (adapter / "adapter_config.json").is_file():
        model, tok = load_adapted(base, adapter, preset, QuantParams(load_in_4bit=False), "fp32")
        which = "adapted (base + models/adapter)"
    else:
        model, tok = load_base(base, preset, QuantParams(load_in_4bit=False), "fp32")
        which = "base only (the run has no adapter yet)"
    t0 = time.perf_counter()
    lexicon, index = Lexicon(table, tok), RhymeIndex(table)
    print(f"model: {which}; table {len(table)} forms; lexicon {len(lexicon.vocab)} tokens, "
          f"built in {time.perf_counter() - t0:.1f} s")
    form = request_form(args.meter, args.feet, args.scheme, stanzas=args.stanzas)
    sampling = Sampling.of(g.decoding())
    for n, theme in enumerate(g.themes[:args.poems]):
        prompt = make_prompt(params.split, theme, form)
        t0 = time.perf_counter()
        out = write_formed(model, tok, preset, prompt, form, table, sampling, g.seed + n,
                           lexicon=lexicon, index=index)
        seconds = time.perf_counter() - t0
        judged = annotate_form(out["text"], stresser)
        ok = compliance(judged, form)
        log = out["log"]
        print(f"\n--- poem {n + 1} ({theme}): {seconds:.1f} s, {log['tokens']} tokens, {log['forwards']} forwards")
        print(out["text"])
        print(f"compliance {ok}; scanned {judged['meter']} {judged['feet']} {judged['quatrain_schemes']}; "
              f"rhyme rate {judged['rhyme_rate']:.2f}; dead ends: line {log['line_dead_ends']}, "
              f"word {log['word_dead_ends']}; allowed mass {log['allowed_mass_mean']:.2f}")
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True, check=False).stdout.strip()
    print(f"\n{cpu}; torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
