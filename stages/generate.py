"""DVC stage `generate`: poems from base and adapted models, and what they say about quoting,
diversity and form.

For each theme and model: generate.samples_per_theme poems with a fixed seed (the same
for both models). Writes reports/samples.jsonl, reports/samples.md and metrics/generation.json.
The verbatim-quoting gate (evaluate.max_copied_line_share) fails the stage, listing the
offending samples, when the adapted model copies too many lines of the training poems
(or only warns, with evaluate.on_copy: warn).

Usage: python stages/generate.py DATA_DIR BASE_DIR ADAPTER_DIR SAMPLES_JSONL SAMPLES_MD
       METRICS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from transformers import set_seed

from qwen_qlora.config import load_params
from qwen_qlora.generate import continue_first_lines, sample
from qwen_qlora.io import read_jsonl, write_json, write_jsonl, write_text
from qwen_qlora.metrics.diversity import diversity_metrics
from qwen_qlora.metrics.form import form_summary
from qwen_qlora.gate import quoting_gate
from qwen_qlora.metrics.overlap import CorpusIndex, probe_match_rate, quoting_metrics
from qwen_qlora.metrics.text import lines as verse_lines
from qwen_qlora.model.adapted import load_adapted
from qwen_qlora.model.load import ModelLoadError
from qwen_qlora.samples import samples_markdown

MODELS = ("base", "adapted")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "base_dir", "adapter_dir", "samples", "samples_md", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    g, ev, preset = params.generate, params.evaluate, params.model.selected
    set_seed(g.seed)
    started = time.perf_counter()
    model, tokenizer = load_adapted(args.base_dir, args.adapter_dir, preset, params.quant, params.train.precision)

    # Samples: every theme, both models, the same seed and batch
    prompts = [params.split.prompt_template.format(theme=t) for t in g.themes]
    samples = []
    for name in MODELS:
        outs = sample(model, tokenizer, preset, prompts, g.samples_per_theme, g.seed,
                      temperature=g.temperature, top_p=g.top_p, repetition_penalty=g.repetition_penalty,
                      max_new_tokens=g.max_new_tokens, adapter=(name == "adapted"))
        samples += [{"model": name, "theme": theme, "seed": g.seed, "sample": i, **o}
                    for theme, per_theme in zip(g.themes, outs, strict=True) for i, o in enumerate(per_theme)]
        print(f"generate: {name}: {len(prompts) * g.samples_per_theme} poems "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    generation_s = time.perf_counter() - started

    # Memorization probe: the first line of training poems; is the real next line recited?
    train = read_jsonl(args.data_dir / "train.jsonl")
    probe = [r for r in train if len(verse_lines(r["completion"])) >= 2][: ev.probe_poems]
    expected = [verse_lines(r["completion"])[1] for r in probe]
    firsts = [verse_lines(r["completion"])[0] for r in probe]

    # Metrics per model: quoting (against the training poems), diversity, form
    index = CorpusIndex.build([r["completion"] for r in train], doc_ids=[r["id"] for r in train])
    metrics: dict = {}
    for name in MODELS:
        texts = [s["text"] for s in samples if s["model"] == name]
        by_theme: dict[str, list[str]] = {}
        for s in samples:
            if s["model"] == name:
                by_theme.setdefault(s["theme"], []).append(s["text"])
        continued = continue_first_lines(model, tokenizer, preset, probe, ev.probe_max_new_tokens,
                                         adapter=(name == "adapted")) if probe else []
        metrics[name] = {
            **quoting_metrics(index, texts, ev.min_line_words),
            **diversity_metrics(by_theme),
            **form_summary(texts),
            "stopped_at_eos_share": sum(s["stopped_at_eos"] for s in samples if s["model"] == name) / len(texts),
            "mean_new_tokens": sum(s["new_tokens"] for s in samples if s["model"] == name) / len(texts),
            "probe_next_line_rate": probe_match_rate(expected, continued, firsts) if probe else None,
            "probe_poems": len(probe),
        }
    metrics["generation_s"] = generation_s
    metrics["runtime_s"] = time.perf_counter() - started

    # Outputs first (people need the samples to see why the gate failed), then the gate
    write_jsonl(args.samples, samples)
    write_text(args.samples_md, samples_markdown(samples, params.split.prompt_template, params.model.preset))
    message = quoting_gate(index, [s for s in samples if s["model"] == "adapted"],
                           ev.max_copied_line_share, ev.min_line_words)
    if message and ev.on_copy == "fail":
        raise SystemExit(f"generate: {message}")
    if message:
        print(f"generate: WARNING {message}")
    write_json(args.metrics, metrics)
    print(f"generate: {len(samples)} poems in {generation_s:.0f} s; copied-line share base "
          f"{metrics['base']['copied_line_share']}, adapted {metrics['adapted']['copied_line_share']}")


if __name__ == "__main__":
    try:
        main()
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"generate: {err}") from err
