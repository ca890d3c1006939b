"""Form and fluency of the form decoder (`qwen_qlora.generation.form`) on a run's model:
a few formed poems (by default iamb, 4 feet, ABAB, 3 stanzas) and the free poems of the
same prompts and seed, written through the product's paths (`formed.sample_formed`,
`decode.sample`), each judged by the project's scanner (`form_annotation.annotate_form` /
`compliance`), not by the decoder's own state. Prints per poem: wall seconds,
compliance, rhyme rate, dead ends and backtracks; then per kind (formed, free, and
line-level selection among K samples a line, `--line-k`, K = 32 by default): the
share of compliant poems, mean rhyme rate, words known to pymorphy3, the perplexity
under the base model as shipped (adapter off: a judge that wrote neither), with the
formed/free ratio, and the style judge's p_author where it applies (verse only; the
poetics stage's attributor); then the CPU. `--rare-weight 1 2 3` writes a formed row
under each rare-word prior weight; `--seed` takes other seeds than the generate stage's.

The word table is the words stage's (--table; built from the run's cleaned poems of all
poets and cached there when missing). Uses the adapter when the run has one, else the
base model (said in the output).

Usage: PYTHONPATH=src python benchmarks/formed_decoding.py --root ../baseline [--poems 4] [--table T.json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer

from qwen_qlora.config import QuantParams, load_params
from qwen_qlora.evaluation.judge import judge_scores, perplexity_ci, perplexity_ratio_ci
from qwen_qlora.generation.decode import sample
from qwen_qlora.generation.form import lexicon
from qwen_qlora.generation.form.formed import FormKit, sample_formed
from qwen_qlora.generation.form.words import build_word_table, load_table, save_table
from qwen_qlora.generation.line_selection import write_by_lines
from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.fluency import fluency_summary, load_morph, text_fluency
from qwen_qlora.metrics.form_annotation import annotate_form, compliance, request_form
from qwen_qlora.metrics.poetics import scan_poem
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.metrics.style import load_attributor
from qwen_qlora.model.adapted import load_adapted
from qwen_qlora.model.head import records_vocab
from qwen_qlora.model.load import load_base
from qwen_qlora.model.prompts import make_prompt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."), help="the run's project folder")
    ap.add_argument("--table", type=Path, default=None, help="default: the run's models/word_table.json")
    ap.add_argument("--min-count", type=int, default=2, help="when the table is built here: rarer forms left out")
    ap.add_argument("--poems", type=int, default=4)
    ap.add_argument("--form", default="iamb 4 ABAB x3", help="meter feet scheme xstanzas")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=None, help="default: params.yaml generate (both kinds)")
    ap.add_argument("--line-k", type=int, default=32, help="line-level selection: candidates a line (0: left out)")
    ap.add_argument("--seed", type=int, default=None, help="default: params.yaml generate.seed (choose a rule on "
                    "other seeds than the generate stage's, whose samples are reported)")
    ap.add_argument("--rare-weight", type=float, nargs="*", default=None,
                    help="form decoder rows under these rare-word prior weights (the lexicon's rare_weight; default: "
                         "the code's)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(args.root / "params.yaml")
    preset, g = params.model.selected, params.generate
    base = args.root / "models/base" / params.model.preset
    adapter = args.root / "models/adapter"
    table_path = args.table or args.root / "models/word_table.json"
    stresser = load_stresser()
    if table_path.is_file():
        table = load_table(table_path)
    else:
        t0 = time.perf_counter()
        poems = read_jsonl(args.root / "data/interim/poems.jsonl")
        table = build_word_table([p["text"] for p in poems], stresser, AutoTokenizer.from_pretrained(base),
                                 min_count=args.min_count)
        save_table(table, table_path)
        print(f"word table: {len(table)} forms (min count {args.min_count}) in {time.perf_counter() - t0:.0f} s")
    if (adapter / "adapter_config.json").is_file():
        model, tok = load_adapted(base, adapter, preset, QuantParams(load_in_4bit=False), "fp32")
        which, adapted = "adapted (base + models/adapter)", True
    else:
        model, tok = load_base(base, preset, QuantParams(load_in_4bit=False), "fp32")
        which, adapted = "base only (the run has no adapter yet)", False
    weights = args.rare_weight or [lexicon.RARE_WEIGHT]
    kits = {}
    for weight in weights:
        t0 = time.perf_counter()
        kits[weight] = FormKit.of(table, tok, params.words.rhyme_min_count, rare_weight=weight)
        print(f"model: {which}; table {len(table)} forms; lexicon {len(kits[weight].lexicon.vocab)} tokens, "
              f"rare-word weight {weight:g}, built in {time.perf_counter() - t0:.1f} s")
    seed = g.seed if args.seed is None else args.seed
    spec = g.form_spec(args.form)
    form = request_form(spec.meter, spec.feet, spec.scheme, stanzas=spec.stanzas)
    themes = (g.themes * args.poems)[:args.poems]
    prompts = [make_prompt(params.split, theme, form) for theme in themes]

    kinds = []
    for weight, kit in kits.items():
        t0 = time.perf_counter()
        formed = sample_formed(model, tok, preset, prompts, [form] * len(prompts), seed,
                               g.decoding(temperature=args.temperature), kit, adapter=adapted)
        kinds.append(("formed" if len(kits) == 1 else f"formed w={weight:g}", formed, time.perf_counter() - t0))
    vocab = records_vocab(preset, tok, read_jsonl(args.root / "data/processed/train.jsonl")) \
        if g.vocab == "corpus" else None
    t0 = time.perf_counter()
    free = [per[0] for per in sample(model, tok, preset, prompts, 1, seed, g.decoding(temperature=args.temperature),
                                     adapter=adapted,
                                     vocab=vocab)]
    free_s = time.perf_counter() - t0
    kinds.append(("free", free, free_s))
    if args.line_k:  # the earlier way to form: the best of K sampled lines, judged after writing
        d = g.decoding(temperature=args.temperature)
        t0 = time.perf_counter()
        by_lines = write_by_lines(model, tok, preset, prompts, [form] * len(prompts), stresser, k=args.line_k,
                                  seed=seed, temperature=d.temperature, top_p=d.top_p,
                                  repetition_penalty=d.repetition_penalty, adapter=adapted, vocab=vocab)
        kinds.append((f"lines K={args.line_k}", by_lines, time.perf_counter() - t0))

    morph, rows = load_morph(), {}
    attributor_path = args.root / "models/attributor/attributor.joblib"
    attributor = load_attributor(attributor_path) if attributor_path.is_file() else None
    for kind, poems, _ in kinds:
        judged = [annotate_form(p["text"], stresser) for p in poems]
        ok = [compliance(j, form) for j in judged]
        scans = [scan_poem(p["text"], stresser, attributor) for p in poems] if attributor else []
        rows[kind] = {"poems": poems, "judged": judged, "ok": ok,
                      "p_author": [sc["p_author"] for sc in scans if "p_author" in sc],
                      "judge": judge_scores(model, tok, preset, prompts, [p["text"] for p in poems]),
                      "fluency": fluency_summary([text_fluency(p["text"], morph) for p in poems])}
    first = kinds[0][0]
    for n, (theme, poem, judged, ok) in enumerate(zip(themes, kinds[0][1], rows[first]["judged"], rows[first]["ok"],
                                                      strict=True)):
        log = poem["formed"]
        print(f"\n--- formed poem {n + 1} ({theme}): {log['seconds']:.1f} s, {log['tokens']} tokens, "
              f"{log['forwards']} forwards")
        print(poem["text"])
        print(f"compliance {ok}; scanned {judged['meter']} {judged['feet']} {judged['quatrain_schemes']}; "
              f"rhyme rate {judged['rhyme_rate']:.2f}; dead ends: line {log['line_dead_ends']}, "
              f"word {log['word_dead_ends']}; allowed mass {log['allowed_mass_mean']:.2f}")
    print(f"\n{'kind':12} {'all ok':>7} {'meter':>6} {'rhyme':>6} {'known':>6} {'base ppl [95%]':>22} {'s/poem':>7} "
          f"{'p_author (n)':>14}")
    for kind, _, seconds in kinds:
        r, ppl = rows[kind], perplexity_ci(rows[kind]["judge"])
        print(f"{kind:12} {sum(o['all'] for o in r['ok']):>4}/{len(r['ok']):<2} "
              f"{sum(o['meter'] for o in r['ok']):>3}/{len(r['ok']):<2} "
              f"{statistics.fmean(j['rhyme_rate'] for j in r['judged']):>6.2f} {r['fluency']['known_word_share']:>6.3f} "
              f"{ppl['value']:>7.1f} [{ppl['ci_low']:.1f}, {ppl['ci_high']:.1f}] {seconds / len(prompts):>7.1f} "
              + (f"{statistics.fmean(r['p_author']):>9.2f} ({len(r['p_author'])})" if r["p_author"] else "   -"))
    for kind, _, _ in kinds:
        if kind.startswith("formed"):
            ratio = perplexity_ratio_ci(rows[kind]["judge"], rows["free"]["judge"])
            print(f"base-model perplexity {kind} / free: x{ratio['value']:.2f} "
                  f"[{ratio['ci_low']:.2f}, {ratio['ci_high']:.2f}]")
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True, check=False).stdout.strip()
    print(f"\n{cpu}; torch threads {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
