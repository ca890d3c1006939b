"""DVC stage `generate`: poems from every model row, and what they say about quoting,
diversity and form.

For each theme and row: generate.samples_per_theme poems with one seed and decoding for
every row. Each poem is asked for one of the poet's `generate.forms` most common forms
(rhymed quatrain forms of the train poems, `form_annotation.common_forms`), in turn; the
prompt names it when split.prompt_form is annotated, and every row is checked against it
either way (compliance: meter, feet, scheme, stanza shape, with intervals), so a model
trained without forms in its prompts shows how often it lands on the form by itself.
With generate.vocab: corpus every row samples only the tokens of the encoded train
poems (`model.head.records_vocab`, `generate.decode`), a stated restriction that makes
decoding cheaper; with generate.end_chance: model a poem ends with the model's own EOS
probability, untouched by temperature and truncation (`generation.decode.Sampling`).
With generate.candidates > 1 an adapter row samples that many candidates per poem and
keeps the first as its row and the best by `selection.SELECTION_SCORE` as
`<row>_selected`.

Quoting is checked per sample against every known text (target train, val and test
poems, the reference poets and every raw record as scraped) with exact and near-verbatim
line matching and line-by-line alignment with the most similar known poems; the gate
fails the stage when any adapted sample (an adapter row's first candidates, which are
what `qwen-qlora write` and the demo page deliver, and its selected ones) is empty,
copies too many lines, a long word run or too many (even reworded) lines of one poem
(evaluate.on_copy: warn only warns), listing each failing sample with the poem it copies.
Form and compliance are judged on the whole poem; the first-N-lines figures (N = the
median line count of the train poems) are kept beside as `cut_*`, and diversity is scored
on those first N lines, so a row that never stops is not compared on longer texts. Each
sample keeps its form annotations (`form`, `form_cut`); the poetics stage profiles `form`.
Fluency (words known to pymorphy3's dictionary, adjective-noun agreement) is scored per
sample and per row, and for her val and test poems as the floor to read it against.

Formed rows (`generate.formed_rows`, as `<row>_formed`): the row written again by the
form decoder (`generation.form.formed.sample_formed`, the words stage's table) for the
first `generate.formed_per_theme` requests of each theme, with the same prompts and
seed; `generate.form` auto asks each poem's request (as the free rows), a named form asks
it of every poem. They are judged as the free rows are (the scanner's own stress pass,
compliance to the request, quoting, fluency), plus the decoder's log (dead ends,
backtracks, seconds). Every row's samples are also scored by the base model as shipped
(adapter off: a judge that wrote none of the adapted poems): perplexity per row with an
interval, and each formed row's ratio to its free row on the same requests.

Usage: python stages/generate.py DATA_DIR RAW_DIR BASE_DIR ADAPTER_DIR SAMPLES_JSONL
       SAMPLES_MD METRICS_JSON [--index QUOTING_INDEX] [--table WORD_TABLE] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from transformers import set_seed

from qwen_qlora.config import load_params
from qwen_qlora.evaluation.judge import judge_scores, perplexity_ci, perplexity_ratio_ci
from qwen_qlora.generation.decode import sample
from qwen_qlora.generation.form.formed import FormKit, form_request, formed_summary, sample_formed
from qwen_qlora.generation.selection import SELECTION_SCORE, candidate_score, selected_sample, selector_training_texts
from qwen_qlora.io import read_jsonl, write_figures, write_jsonl, write_text
from qwen_qlora.metrics.diversity import diversity_metrics
from qwen_qlora.metrics.form import form_summary
from qwen_qlora.metrics.form_annotation import annotate_forms, assign_requests, common_forms, compliance, describe_form
from qwen_qlora.metrics.fluency import fluency_summary, load_morph, text_fluency, top_unknown_words
from qwen_qlora.metrics.gate import quoting_gate, save_index
from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.metrics.quoting import gate_reasons, known_texts, quoting_summary, sample_quoting
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.metrics.style import train_attributor
from qwen_qlora.model.adapted import active_rows, models_for_rows
from qwen_qlora.model.head import records_vocab
from qwen_qlora.model.load import ModelLoadError
from qwen_qlora.model.prompts import fewshot_shots, make_prompt, prompt_prefix
from qwen_qlora.progress import Progress
from qwen_qlora.report.samples import samples_markdown
from qwen_qlora.rows import FORMED_SUFFIX, FULL_VOCAB_SUFFIX, ROWS, is_formed, row_of
from qwen_qlora.stats import flat, share_ci
from qwen_qlora.text import first_lines, lines

COMPLIANCE = ("meter", "feet", "scheme", "stanzas", "all")

# What metrics/generation.json keeps for `dvc metrics diff` / `dvc exp show` (io.key_figures
# patterns; "+ci": with its interval); every figure goes to the --detail file the report reads.
KEY_FIGURES = (
    "*.copied_line_share", "*.gate_failure_share", "*.quatrain_compliance_share", "*.request_all_share",
    "*.known_word_share", "*.base_judge_perplexity", "*.base_judge_perplexity_ratio_to_free+ci", "*.sampling_s",
    "runtime_s",
)

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "raw_dir", "base_dir", "adapter_dir", "samples", "samples_md", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--index", type=Path, default=None, help="write the quoting index here (for write / serve)")
    ap.add_argument("--table", type=Path, default=None, help="the words stage's table (for the formed rows)")
    ap.add_argument("--detail", type=Path, required=True,
                    help="every figure, for the report (METRICS keeps the key figures)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    g, ev, preset = params.generate, params.evaluate, params.model.selected
    set_seed(g.seed)
    started = time.perf_counter()
    splits = {name: read_jsonl(args.data_dir / f"{name}.jsonl") for name in ("train", "val", "test")}
    shots = fewshot_shots(splits["train"], ev.fewshot_shots)
    if any("form" not in e for e in splits["train"]):
        raise ValueError(f"{args.data_dir / 'train.jsonl'} has no form annotations; re-run "
                         "`dvc repro annotate split`")
    requests = common_forms([e["form"] for e in splits["train"] if e["form"]], g.forms)
    jobs = assign_requests(g.themes, g.samples_per_theme, requests)
    prompts = [make_prompt(params.split, theme, request) for theme, _, request in jobs]
    cut_at = prompt_prefix(params.split)
    # Formed rows: the first formed_per_theme requests of each theme, the same prompts
    spec = g.form_spec()
    formed_jobs = [k for k, (_, j, _) in enumerate(jobs) if j < g.formed_per_theme]
    formed_forms = [jobs[k][2] if spec == "auto" else form_request(spec, []) for k in formed_jobs]
    if g.formed_rows and args.table is None:
        raise ValueError("generate.formed_rows needs the words stage's table: pass --table (dvc.yaml does)")

    # Samples: every theme and row, the same seed and decoding; candidates for adapter rows.
    # Progress: a line per row (free, full-vocabulary and formed), within a row per tenth of its poems
    samples, candidates = [], []
    sampling_s: dict[str, float] = {}
    vocab = kit = judge = None
    active = active_rows(g.rows, params.quant)
    n_rows = len(active) + sum(r in g.formed_rows for r in active) + (
        sum(r in g.full_vocab_rows for r in active) if g.vocab == "corpus" else 0)
    rows_done = Progress("generate", n_rows, "row", lines=n_rows)
    for rows, model, tokenizer in models_for_rows(args.base_dir, args.adapter_dir, preset, params.quant,
                                                  params.train.precision, g.rows):
        for name in rows:
            row = ROWS[name]
            n = g.candidates if row.adapter else 1
            row_started = time.perf_counter()
            if g.vocab == "corpus" and vocab is None:
                vocab = records_vocab(preset, tokenizer, splits["train"])
            outs = sample(model, tokenizer, preset, prompts, n, g.seed, g.decoding(),
                          adapter=row.adapter, shots=shots if row.fewshot else (),
                          cut_at=cut_at if row.fewshot else None, batch_size=g.batch_size, vocab=vocab,
                          progress=Progress(f"generate: {name}", len(prompts) * n, "poems"))
            sampling_s[name] = round(time.perf_counter() - row_started, 1)
            for (theme, j, request), prompt, per_prompt in zip(jobs, prompts, outs, strict=True):
                made = [{"model": name, "theme": theme, "seed": g.seed, "sample": j, "prompt": prompt,
                         "request": describe_form(request), "requested_form": request, **o} for o in per_prompt]
                samples.append(made[0])
                if n > 1:
                    candidates.append(made)
            rows_done.advance(note=f"{name}: {len(prompts)} poems x {n} in {sampling_s[name]:.0f} s")
            if name in g.full_vocab_rows and g.vocab == "corpus":  # what the vocabulary restriction does
                free = name + FULL_VOCAB_SUFFIX
                row_started = time.perf_counter()
                outs = sample(model, tokenizer, preset, prompts, 1, g.seed, g.decoding(vocab="full"),
                              adapter=row.adapter, shots=shots if row.fewshot else (),
                              cut_at=cut_at if row.fewshot else None, batch_size=g.batch_size,
                              progress=Progress(f"generate: {free}", len(prompts), "poems"))
                sampling_s[free] = round(time.perf_counter() - row_started, 1)
                samples.extend({"model": free, "theme": theme, "seed": g.seed, "sample": j, "prompt": prompt,
                                "request": describe_form(request), "requested_form": request, **per[0]}
                               for (theme, j, request), prompt, per in zip(jobs, prompts, outs, strict=True))
                rows_done.advance(note=f"{free}: {len(prompts)} poems in {sampling_s[free]:.0f} s")
            if name in g.formed_rows:  # the same requests, written by the form decoder
                formed = name + FORMED_SUFFIX
                kit = kit or FormKit.load(args.table, tokenizer, params.words.rhyme_min_count,
                                          [r["completion"] for r in splits["train"]], g.poet_word_prior)
                row_started = time.perf_counter()
                outs = sample_formed(model, tokenizer, preset, [prompts[k] for k in formed_jobs], formed_forms,
                                     g.seed, g.decoding(), kit, adapter=row.adapter,
                                     shots=shots if row.fewshot else (),
                                     progress=Progress(f"generate: {formed}", len(formed_jobs), "poems"))
                sampling_s[formed] = round(time.perf_counter() - row_started, 1)
                samples.extend({"model": formed, "theme": jobs[k][0], "sample": jobs[k][1], "prompt": prompts[k],
                                "request": describe_form(form), "requested_form": form, **o}
                               for k, form, o in zip(formed_jobs, formed_forms, outs, strict=True))
                rows_done.advance(note=f"{formed}: {len(outs)} poems in {sampling_s[formed]:.0f} s")
        if not any(ROWS[r].quantized for r in rows):
            judge = (model, tokenizer)  # the base as shipped judges every row's fluency
    generation_s = time.perf_counter() - started

    # Quoting against every known text, per sample; form on a common length budget and
    # against the request
    raw = [r for path in sorted(args.raw_dir.glob("*.jsonl")) for r in read_jsonl(path)]
    reference = read_jsonl(args.data_dir / "reference.jsonl")
    texts, labels = known_texts(splits, reference, raw)
    index = CorpusIndex.build(texts, doc_ids=labels)
    if args.index:  # the same index for every poem `write` and the demo page deliver
        save_index(index, args.index)
    # The secondary first-N-lines figures: N is the train poems' median length (test is read to report)
    cut_n = int(statistics.median(len(lines(r["completion"])) for r in splits["train"]))
    stresser = load_stresser()
    scored = samples + [c for per in candidates for c in per[1:]]
    for s in scored:
        s["quoting"] = sample_quoting(index, s["text"], ev.min_line_words, ev.near_line_similarity)
        s["text_cut"] = first_lines(s["text"], cut_n)
    morph = load_morph()
    for s in scored:  # are the words Russian: known to pymorphy3's dictionary, adjectives agreeing
        s["fluency"] = text_fluency(s["text"], morph)
    forms = annotate_forms([s["text"] for s in scored], stresser, params.annotate.min_regularity)
    forms_cut = annotate_forms([s["text_cut"] for s in scored], stresser, params.annotate.min_regularity)
    for s, form, form_cut in zip(scored, forms, forms_cut, strict=True):
        s["form"], s["form_cut"] = form, form_cut
        s["compliance"] = compliance(form, s["requested_form"])

    # Selection among an adapter row's candidates, judged by its own attributor
    selection: dict = {}
    if candidates:
        select_started = time.perf_counter()
        selector = train_attributor(*selector_training_texts(splits["train"], reference), g.seed)
        for per in candidates:
            p_author = selector.p_author([c["text"] for c in per])
            scores = [candidate_score(c["form"], c["requested_form"], p) for c, p in zip(per, p_author, strict=True)]
            ok = [not gate_reasons(c["quoting"], ev.max_copied_line_share, ev.max_copied_run_words,
                                   ev.max_lines_from_one_poem) for c in per]
            samples.append(selected_sample(per, scores, ok))
        chosen = [s for s in samples if "chosen" in s]
        selection = {
            "candidates": g.candidates, "score": SELECTION_SCORE,
            "chosen_not_first_share": round(sum(s["chosen"] not in (0, None) for s in chosen) / len(chosen), 4),
            "none_passed_gate": sum(s["chosen"] is None for s in chosen),
            "scoring_s": round(time.perf_counter() - select_started, 1),
        }

    # Fluency judged by the base model as shipped, for every row's delivered samples
    judge_started = time.perf_counter()
    judged = judge_scores(judge[0], judge[1], preset, [s["prompt"] for s in samples], [s["text"] for s in samples],
                          ev.batch_size, progress=Progress("generate: fluency judge", len(samples), "poems"))
    for s, score in zip(samples, judged, strict=True):
        s["judge_nll"], s["judge_tokens"] = score["nll"], score["tokens"]
    judge_s = time.perf_counter() - judge_started

    metrics: dict = {"cut_lines": cut_n, "known_texts": len(texts),
                     "vocab": g.vocab, "vocab_tokens": None if vocab is None else len(vocab), "end_chance": g.end_chance,
                     "requests": [{"form": describe_form(r), "train_poems": r["count"]} for r in requests]}
    for name in dict.fromkeys(s["model"] for s in samples):
        mine = [s for s in samples if s["model"] == name]
        by_theme: dict[str, list[str]] = {}
        for s in mine:
            by_theme.setdefault(s["theme"], []).append(s["text_cut"])
        metrics[name] = {
            **quoting_summary([s["quoting"] for s in mine], ev.max_copied_line_share, ev.max_copied_run_words, ev.seed,
                              ev.max_lines_from_one_poem),
            **diversity_metrics(by_theme),
            **form_summary([s["text"] for s in mine], seed=ev.seed),
            **{f"cut_{k}": v for k, v in form_summary([s["text_cut"] for s in mine], seed=ev.seed).items()
               if not k.startswith("n_")},
            **{k: v for c in COMPLIANCE
               for k, v in flat(f"request_{c}_share", share_ci([s["compliance"][c] for s in mine])).items()},
            **fluency_keys(fluency_summary([s["fluency"] for s in mine], ev.seed)),
            "unknown_words_top": top_unknown_words([s["fluency"] for s in mine], 10),
            "stopped_at_eos_share": round(sum(s["stopped_at_eos"] for s in mine) / len(mine), 4),
            "mean_new_tokens": round(sum(s["new_tokens"] for s in mine) / len(mine), 1),
            "sampling_s": sampling_s.get(name, sampling_s.get(row_of(name))),
            **flat("base_judge_perplexity", perplexity_ci(_judged(mine), ev.seed)),
        }
        if is_formed(name):  # the decoder's own log, and fluency against the free row on the same requests
            by_request = {(s["theme"], s["sample"]): s for s in samples if s["model"] == row_of(name)}
            metrics[name].update(formed_summary([s["formed"] for s in mine]))
            metrics[name].update(flat("base_judge_perplexity_ratio_to_free", perplexity_ratio_ci(
                _judged(mine), _judged([by_request[(s["theme"], s["sample"])] for s in mine]), ev.seed)))
    # Her own poems set the floor a row is read against (rare words, names, archaisms)
    for split in ("val", "test"):
        metrics[f"poet_{split}"] = fluency_keys(fluency_summary([text_fluency(r["completion"], morph)
                                                                 for r in splits[split]], ev.seed))
    if selection:
        metrics["selection"] = selection
    metrics["generation_s"] = generation_s
    metrics["judge_s"] = round(judge_s, 1)
    metrics["runtime_s"] = time.perf_counter() - started

    # Outputs first (people need the samples to see why the gate failed), then the gate
    write_jsonl(args.samples, samples)
    write_text(args.samples_md, samples_markdown(samples, params.model.preset))
    message = quoting_gate([s for s in samples if ROWS[row_of(s["model"])].adapter],
                           ev.max_copied_line_share, ev.max_copied_run_words, ev.max_lines_from_one_poem)
    if message and ev.on_copy == "fail":
        raise SystemExit(f"generate: {message}")
    if message:
        print(f"generate: WARNING {message}")
    write_figures(args.metrics, args.detail, metrics, KEY_FIGURES)
    print(f"generate: {len(samples)} poems in {generation_s:.0f} s; copied-line share base "
          f"{metrics['base'].get('copied_line_share')}, adapted {metrics['adapted'].get('copied_line_share')}")


def _judged(samples: list[dict]) -> list[dict]:
    return [{"nll": s["judge_nll"], "tokens": s["judge_tokens"]} for s in samples]


def fluency_keys(summary: dict) -> dict:
    """The fluency figures generation.json keeps: the shares with intervals, words judged."""
    return {k: v for k, v in summary.items() if k.startswith(("known_word_share", "disagreeing_pair_share"))
            or k in ("n_words", "n_adj_noun_pairs")}


if __name__ == "__main__":
    try:
        main()
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"generate: {err}") from err
