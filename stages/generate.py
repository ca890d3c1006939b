"""DVC stage `generate`: poems from every model row, and what they say about quoting,
diversity and form.

For each theme and row: generate.samples_per_theme poems with one seed and decoding for
every row. Quoting is checked per sample against every known text (target train, val and
test poems, the reference poets and every raw record as scraped) with exact and
near-verbatim line matching; the gate fails the stage when any adapted sample is empty,
copies too many lines or a long word run (evaluate.on_copy: warn only warns), listing
each failing sample with the poem it copies. Form and diversity are scored on every
sample cut to its first N verse lines (N = the median line count of the test poems), so
a row that never stops is not compared on longer texts; uncut figures are kept beside.

Usage: python stages/generate.py DATA_DIR RAW_DIR BASE_DIR ADAPTER_DIR SAMPLES_JSONL
       SAMPLES_MD METRICS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from transformers import set_seed

from qwen_qlora.config import load_params
from qwen_qlora.gate import quoting_gate
from qwen_qlora.generate import sample
from qwen_qlora.io import read_jsonl, write_json, write_jsonl, write_text
from qwen_qlora.metrics.diversity import diversity_metrics
from qwen_qlora.metrics.form import form_summary
from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.metrics.quoting import known_texts, quoting_summary, sample_quoting
from qwen_qlora.model.load import ModelLoadError
from qwen_qlora.model.prompts import fewshot_shots
from qwen_qlora.model.rows import ROWS, models_for_rows
from qwen_qlora.samples import samples_markdown
from qwen_qlora.text import first_lines, lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "raw_dir", "base_dir", "adapter_dir", "samples", "samples_md", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    g, ev, preset = params.generate, params.evaluate, params.model.selected
    set_seed(g.seed)
    started = time.perf_counter()
    splits = {name: read_jsonl(args.data_dir / f"{name}.jsonl") for name in ("train", "val", "test")}
    shots = fewshot_shots(splits["train"], ev.fewshot_shots)
    prompts = [params.split.prompt_template.format(theme=t) for t in g.themes]
    cut_at = params.split.prompt_template.split("{theme}")[0].strip()

    # Samples: every theme and row, the same seed and decoding
    samples = []
    for rows, model, tokenizer in models_for_rows(args.base_dir, args.adapter_dir, preset, params.quant,
                                                  params.train.precision, g.rows):
        for name in rows:
            row = ROWS[name]
            outs = sample(model, tokenizer, preset, prompts, g.samples_per_theme, g.seed,
                          temperature=g.temperature, top_p=g.top_p, repetition_penalty=g.repetition_penalty,
                          max_new_tokens=g.max_new_tokens, adapter=row.adapter,
                          shots=shots if row.fewshot else (), cut_at=cut_at if row.fewshot else None,
                          batch_size=g.batch_size)
            samples += [{"model": name, "theme": theme, "seed": g.seed, "sample": i, **o}
                        for theme, per_theme in zip(g.themes, outs, strict=True) for i, o in enumerate(per_theme)]
            print(f"generate: {name}: {len(prompts) * g.samples_per_theme} poems "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    generation_s = time.perf_counter() - started

    # Quoting against every known text, per sample; form on a common length budget
    raw = [r for path in sorted(args.raw_dir.glob("*.jsonl")) for r in read_jsonl(path)]
    texts, labels = known_texts(splits, read_jsonl(args.data_dir / "reference.jsonl"), raw)
    index = CorpusIndex.build(texts, doc_ids=labels)
    cut_n = int(statistics.median(len(lines(r["completion"])) for r in splits["test"]))
    for s in samples:
        s["quoting"] = sample_quoting(index, s["text"], ev.min_line_words, ev.near_line_similarity)
        s["text_cut"] = first_lines(s["text"], cut_n)

    metrics: dict = {"cut_lines": cut_n, "known_texts": len(texts)}
    for name in dict.fromkeys(s["model"] for s in samples):
        mine = [s for s in samples if s["model"] == name]
        by_theme: dict[str, list[str]] = {}
        for s in mine:
            by_theme.setdefault(s["theme"], []).append(s["text_cut"])
        metrics[name] = {
            **quoting_summary([s["quoting"] for s in mine], ev.max_copied_line_share, ev.max_copied_run_words, ev.seed),
            **diversity_metrics(by_theme),
            **form_summary([s["text_cut"] for s in mine], seed=ev.seed),
            **{f"uncut_{k}": v for k, v in form_summary([s["text"] for s in mine], seed=ev.seed).items()
               if not k.startswith("n_")},
            "stopped_at_eos_share": round(sum(s["stopped_at_eos"] for s in mine) / len(mine), 4),
            "mean_new_tokens": round(sum(s["new_tokens"] for s in mine) / len(mine), 1),
        }
    metrics["generation_s"] = generation_s
    metrics["runtime_s"] = time.perf_counter() - started

    # Outputs first (people need the samples to see why the gate failed), then the gate
    write_jsonl(args.samples, samples)
    write_text(args.samples_md, samples_markdown(samples, params.split.prompt_template, params.model.preset))
    message = quoting_gate([s for s in samples if ROWS[s["model"]].adapter],
                           ev.max_copied_line_share, ev.max_copied_run_words)
    if message and ev.on_copy == "fail":
        raise SystemExit(f"generate: {message}")
    if message:
        print(f"generate: WARNING {message}")
    write_json(args.metrics, metrics)
    print(f"generate: {len(samples)} poems in {generation_s:.0f} s; copied-line share base "
          f"{metrics['base'].get('copied_line_share')}, adapted {metrics['adapted'].get('copied_line_share')}")


if __name__ == "__main__":
    try:
        main()
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"generate: {err}") from err
