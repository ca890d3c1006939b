"""The form decoder's poet-word prior (generate.poet_word_prior), chosen on train and val.

The table the decoder writes with holds every poet's words, and a meter and a rhyme narrow
the choice to words the model would not pick by itself: the formed poems' line-final words
are words her train poems use less often than the free poems' are. This writes the
adapted formed row under each prior weight (`--weights`) for the generate stage's formed
requests, on a seed other than the stage's (`--seed`), and prints per weight: the share
of words, and of line-final words, that her train poems use; the same shares in her val
poems (which the adapter never learnt); the scanner's form compliance; words known to
pymorphy3; the base model's perplexity of the poems (a judge that wrote none of them);
and seconds a poem. The free adapted row of the same requests and seed is written too.

The rule, fixed before the run: weights are tried in the order given (ascending) until one
brings the line-final share to her val poems' or past it; the chosen weight is the tried
one whose share is closest to hers (write with her words as often as her unseen poems do,
no more).
Only then are the two style judges read, for every row, to report and not to choose: the
poetics stage's p_author (its judge trained here as the stage trains it, on her val and
test poems against the judging poets) on the requests where the free poem scans as verse
too, paired, and Burrows' Delta to her (the stage's, over the 150 commonest words, which
the prior hardly touches: they are words every poet uses).

Usage: PYTHONPATH=src python benchmarks/poet_words.py [--weights 0 1 2 3] [--seed 99]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from qwen_qlora.config import load_params
from qwen_qlora.evaluation.judge import judge_scores, perplexity_ci
from qwen_qlora.generation.decode import sample
from qwen_qlora.generation.form.formed import FormKit, sample_formed
from qwen_qlora.generation.form.words import load_table
from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.fluency import fluency_summary, load_morph, text_fluency
from qwen_qlora.metrics.form_annotation import annotate_forms, assign_requests, common_forms, compliance
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.metrics.style import fit_delta, train_attributor
from qwen_qlora.metrics.verse import VerseRule
from qwen_qlora.model.adapted import models_for_rows
from qwen_qlora.model.head import records_vocab
from qwen_qlora.model.prompts import make_prompt
from qwen_qlora.stats import mean_ci, share_ci
from qwen_qlora.text import lines, words

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from poetics import judge_training  # noqa: E402  (the poetics stage's judge, trained as the stage does)


def shares(text: str, vocabulary: set[str]) -> tuple[float, float] | None:
    """(share of words, share of line-final words) of a text that `vocabulary` holds."""
    line_words = [ws for ws in (words(line) for line in lines(text)) if ws]
    if not line_words:
        return None
    every = [w for ws in line_words for w in ws]
    return (sum(w in vocabulary for w in every) / len(every),
            sum(ws[-1] in vocabulary for ws in line_words) / len(line_words))


def _ci(values: list[float], seed: int) -> str:
    f = mean_ci(values, seed)
    return f"{f['value']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0, 4.0])
    ap.add_argument("--seed", type=int, default=99, help="not the generate stage's seed, whose samples are reported")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = load_params("params.yaml")
    g, preset = params.generate, params.model.selected
    train, val = (read_jsonl(Path(f"data/processed/{s}.jsonl")) for s in ("train", "val"))
    hers = {w for r in train for w in words(r["completion"])}
    her_val = [s for s in (shares(r["completion"], hers) for r in val) if s]
    print(f"CPU: {platform.processor() or platform.machine()}; torch threads {args.threads}")
    print(f"her val poems ({len(her_val)}): words in her train poems {_ci([s[0] for s in her_val], 0)}, "
          f"line-final words {_ci([s[1] for s in her_val], 0)}")

    requests = common_forms([e["form"] for e in train if e["form"]], g.forms)
    jobs = [j for j in assign_requests(g.themes, g.samples_per_theme, requests) if j[1] < g.formed_per_theme]
    prompts = [make_prompt(params.split, theme, request) for theme, _, request in jobs]
    forms = [request for _, _, request in jobs]
    target = statistics.fmean(s[1] for s in her_val)
    table = load_table("models/word_table.json")
    stresser, morph = load_stresser(), load_morph()
    texts = [r["completion"] for r in train]
    rows = {}
    for _, model, tok in models_for_rows("models/base/" + params.model.preset, "models/adapter", preset,
                                         params.quant, params.train.precision, ["adapted"]):
        for weight in args.weights:
            kit = FormKit.of(table, tok, params.words.rhyme_min_count, poet_texts=texts, poet_weight=weight)
            t0 = time.perf_counter()
            poems = sample_formed(model, tok, preset, prompts, forms, args.seed, g.decoding(), kit, adapter=True)
            seconds = (time.perf_counter() - t0) / len(poems)
            poem_texts = [p["text"] for p in poems]
            rows[weight] = {"texts": poem_texts, "seconds": seconds,
                            "judge": perplexity_ci(judge_scores(model, tok, preset, prompts, poem_texts)),
                            "line_final": statistics.fmean(shares(t, hers)[1] for t in poem_texts)}
            print(f"weight {weight:g}: line-final share {rows[weight]['line_final']:.3f} ({seconds:.1f} s a poem)",
                  flush=True)
            if rows[weight]["line_final"] >= target:  # past her val poems' share: heavier weights go further
                break
        t0 = time.perf_counter()
        free = [per[0]["text"] for per in sample(model, tok, preset, prompts, 1, args.seed, g.decoding(),
                                                 adapter=True, vocab=records_vocab(preset, tok, train))]
        free_s = (time.perf_counter() - t0) / len(free)
        free_judge = perplexity_ci(judge_scores(model, tok, preset, prompts, free))
    print(f"\nadapted formed, {len(prompts)} requests (the generate stage's formed requests), seed {args.seed}:")
    print("| weight | words in her train poems | line-final words in them | form followed | rhyme rate "
          "| known words | base-judge perplexity | s a poem |")
    print("|---|---|---|---|---|---|---|---|")
    for weight, row in rows.items():
        sh = [shares(t, hers) for t in row["texts"]]
        annotated = annotate_forms(row["texts"], stresser, params.annotate.min_regularity)
        ok = share_ci([compliance(a, f)["all"] for a, f in zip(annotated, forms, strict=True)])
        known = fluency_summary([text_fluency(t, morph) for t in row["texts"]])
        j = row["judge"]
        print(f"| {weight:g} | {_ci([s[0] for s in sh], 0)} | {_ci([s[1] for s in sh], 0)} | "
              f"{ok['value']:.2f} [{ok['ci_low']:.2f}, {ok['ci_high']:.2f}] | "
              f"{statistics.fmean(a['rhyme_rate'] for a in annotated):.2f} | {known['known_word_share']:.3f} | "
              f"{j['value']:.1f} [{j['ci_low']:.1f}, {j['ci_high']:.1f}] | {row['seconds']:.1f} |")
    sh = [shares(t, hers) for t in free]
    print(f"| free | {_ci([s[0] for s in sh], 0)} | {_ci([s[1] for s in sh], 0)} | | | | "
          f"{free_judge['value']:.1f} [{free_judge['ci_low']:.1f}, {free_judge['ci_high']:.1f}] | {free_s:.1f} |")
    chosen = min(rows, key=lambda w: (abs(rows[w]["line_final"] - target), w))
    print(f"\nchosen (line-final share closest to her val poems' {target:.3f}): poet_word_prior {chosen:g}")
    _style_judges(params, train, val, rows, free, stresser)


def _style_judges(params, train: list[dict], val: list[dict], rows: dict, free: list[str], stresser) -> None:
    """p_author (paired with the free row where its poem scans as verse) and Delta, per row."""
    p, c = params.poetics, params.clean
    splits = {"train": train, "val": val, "test": read_jsonl(Path("data/processed/test.jsonl"))}
    her, negatives, _ = judge_training(splits, read_jsonl(Path("data/processed/reference.jsonl")), p)
    her = [r["completion"] for r in her]
    judge = train_attributor(her, negatives, p.seed, calibration_folds=p.calibration_folds)
    judge.verse_rule = VerseRule(c.min_lines, c.max_mean_line_chars, c.max_line_chars, p.verse_max_marker_share,
                                 p.verse_min_rhyme_rate, params.annotate.min_regularity, p.verse_min_unrhymed_lines)
    delta = fit_delta(her, negatives)
    free_p = judge.judge(free, annotate_forms(free, stresser, params.annotate.min_regularity))
    paired = [k for k, x in enumerate(free_p) if x is not None]
    print(f"\nread after the choice (not deciding): p_author on the {len(paired)} requests where the free poem scans "
          "as verse too; Delta to her (lower is closer), all requests")
    print("| row | p_author | formed - free, paired | Delta to her |")
    print("|---|---|---|---|")
    free_delta = [d["delta_target"] for d in delta.scores(free)]
    print(f"| free | {_ci([free_p[k] for k in paired], 0)} | | {_ci(free_delta, 0)} |")
    for weight, row in rows.items():
        formed_p = judge.p_author(row["texts"])
        diff = _ci([formed_p[k] - free_p[k] for k in paired], 0) if paired else ""
        print(f"| formed, weight {weight:g} | {_ci([formed_p[k] for k in paired], 0)} | {diff} | "
              f"{_ci([d['delta_target'] for d in delta.scores(row['texts'])], 0)} |")


if __name__ == "__main__":
    main()
