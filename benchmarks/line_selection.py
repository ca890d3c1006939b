"""Cost and effect of line-level selection (`qwen_qlora.generation.line_selection`) on the trained
adapter: each verse line sampled K times, the one that scans in the requested meter and
rhymes with its partner kept. K = 1 is the control (the same line-by-line writing, no
choice). Side by side in one run: seconds per poem, compliance with the requested form
(meter, feet, scheme, stanzas), rhyme rate, meter regularity, p_author (the poetics
stage's judging attributor) and copied lines against every known text, with 95%
intervals (Wilson for shares of poems, bootstrap over poems for means). Lines are sampled
as the generate stage samples (its settings and `generate.vocab`).

Usage (after `dvc repro`): PYTHONPATH=src python benchmarks/line_selection.py [--k 1 4 8] [--per-theme 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from qwen_qlora.config import QuantParams, load_params
from qwen_qlora.generation.line_selection import write_by_lines
from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.form_annotation import annotate_forms, assign_requests, common_forms, compliance, describe_form
from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.metrics.quoting import known_texts, sample_quoting
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.metrics.style import load_attributor
from qwen_qlora.model.adapted import load_adapted
from qwen_qlora.model.head import records_vocab
from qwen_qlora.model.prompts import make_prompt
from qwen_qlora.stats import mean_ci, share_ci


def fmt(summary: dict) -> str:
    return f"{summary['value']:.2f} [{summary['ci_low']:.2f}, {summary['ci_high']:.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 4, 8], help="candidates per line")
    ap.add_argument("--per-theme", type=int, default=2, help="poems per theme (themes: generate.themes)")
    ap.add_argument("--adapter", type=Path, default=Path("models/adapter"))
    args = ap.parse_args()
    params = load_params(args.params)
    g, ev = params.generate, params.evaluate
    data = Path("data/processed")
    splits = {n: read_jsonl(data / f"{n}.jsonl") for n in ("train", "val", "test")}
    requests = common_forms([e["form"] for e in splits["train"]], g.forms)
    jobs = [(theme, request) for theme, _, request in assign_requests(g.themes, args.per_theme, requests)]
    prompts = [make_prompt(params.split, theme, r) for theme, r in jobs]
    model, tok = load_adapted(Path("models/base") / params.model.preset, args.adapter, params.model.selected,
                              QuantParams(load_in_4bit=False))
    preset = params.model.selected
    vocab = records_vocab(preset, tok, splits["train"]) if g.vocab == "corpus" else None  # as the generate stage
    stresser = load_stresser()
    judge = load_attributor("models/attributor/attributor.joblib")
    raw = [r for path in sorted(Path("data/raw").glob("*.jsonl")) for r in read_jsonl(path)]
    texts, labels = known_texts(splits, read_jsonl(data / "reference.jsonl"), raw)
    index = CorpusIndex.build(texts, doc_ids=labels)
    print(f"{len(prompts)} poems ({args.per_theme} per theme), requests: "
          + "; ".join(describe_form(r) for r in requests), flush=True)

    header = ("| K | s per poem | all parts followed | meter | feet | scheme | stanzas | rhyme rate | "
              "regularity | p_author | poems with a copied line |")
    table = [header, "|---" * (header.count("|") - 1) + "|"]
    for k in args.k:
        started = time.perf_counter()
        poems = write_by_lines(model, tok, params.model.selected, prompts, [r for _, r in jobs], stresser, k=k,
                               seed=g.seed, temperature=g.temperature, top_p=g.top_p,
                               repetition_penalty=g.repetition_penalty, vocab=vocab)
        per_poem = (time.perf_counter() - started) / len(poems)
        forms = annotate_forms([p["text"] for p in poems], stresser, params.annotate.min_regularity)
        comp = [compliance(f, r) for f, (_, r) in zip(forms, jobs, strict=True)]
        copied = [bool(sample_quoting(index, p["text"], ev.min_line_words, ev.near_line_similarity)["copied_lines"])
                  for p in poems]
        p_author = judge.p_author([p["text"] for p in poems])
        table.append(f"| {k} | {per_poem:.1f} | " + " | ".join(fmt(share_ci([c[part] for c in comp]))
                                                         for part in ("all", "meter", "feet", "scheme", "stanzas"))
                     + f" | {fmt(mean_ci([f['rhyme_rate'] for f in forms], ev.seed))}"
                     + f" | {fmt(mean_ci([f['regularity'] for f in forms], ev.seed))}"
                     + f" | {fmt(mean_ci(p_author, ev.seed))} | {fmt(share_ci(copied))} |")
        print(table[-1], flush=True)
        best = max(range(len(poems)), key=lambda i: (comp[i]["all"], forms[i]["rhyme_rate"]))
        print(f"K={k}, example ({jobs[best][0]}; {describe_form(jobs[best][1])}):\n{poems[best]['text']}\n", flush=True)
        print(f"  mean line score {statistics.fmean(s for p in poems for s in p['line_scores']):.2f} of 2", flush=True)
    print("\n" + "\n".join(table))


if __name__ == "__main__":
    main()
