"""DVC stage `report`: one self-contained HTML page for people (reports/index.html).

Reads the metrics files, the per-poem test scores, the samples, the DVCLive loss series,
the detailed corpus tables and `dvc exp show --json`; every input may be missing (the
page then says so in its place).

Usage: python stages/report.py METRICS_DIR CORPUS_STATS PER_POEM SAMPLES OUT_HTML [--params params.yaml]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from qwen_qlora.config import load_params
from qwen_qlora.io import read_jsonl, write_text
from qwen_qlora.report.page import build_context, read_series, render_report

METRIC_FILES = ("train", "corpus", "split")  # metrics/<name>.json, whole
DETAIL_FILES = ("eval", "generation", "poetics")  # every figure, <detail_dir>/<name>_detail.json; metrics/ keeps the key ones


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def git_revision() -> str:
    """HEAD's short hash, with '+changes' when tracked files differ from it."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return rev + (" +changes" if dirty else "")


def data_revision(lock: Path) -> str:
    """The content hashes (md5, from dvc.lock) of the training and test data."""
    if not lock.is_file():
        return "unknown (no dvc.lock)"
    outs = yaml.safe_load(lock.read_text(encoding="utf-8")).get("stages", {}).get("split", {}).get("outs", [])
    return ", ".join(f"{Path(o['path']).name} {o.get('md5', '?')[:8]}" for o in outs) or "unknown"


def experiments() -> tuple[list | None, str | None]:
    """`dvc exp show --json` as parsed JSON, or (None, why not)."""
    try:
        proc = subprocess.run(["dvc", "exp", "show", "--json"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"`dvc exp show` could not run: {err}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return None, f"`dvc exp show` failed: {last[:300]}"
    try:
        return json.loads(proc.stdout or "[]"), None
    except json.JSONDecodeError as err:
        return None, f"`dvc exp show --json` printed no JSON ({err.msg})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("metrics_dir", "corpus_stats", "per_poem", "samples", "out"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--detail-dir", type=Path, required=True, help="where the stages put <name>_detail.json")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)

    # the run: model, quantization, adapter, schedule, data and code revisions
    q, lora, t = params.quant, params.lora, params.train
    run = {
        "author": params.author,
        "preset": f"{params.model.preset} ({params.model.selected.source})",
        "quantization": f"{q.quant_type.upper()} 4-bit, double quant {q.double_quant}" if q.load_in_4bit
        else "none (plain LoRA on the 16/32-bit base)",
        "LoRA": f"r={lora.r}, alpha={lora.alpha}, dropout={lora.dropout}, targets {', '.join(lora.target_modules)}",
        "training": f"{t.num_train_epochs:g} epochs" + (f" (max {t.max_steps} steps)" if t.max_steps > 0 else "")
        + f", lr {t.learning_rate}, batch {t.per_device_train_batch_size}x{t.gradient_accumulation_steps}, seed {t.seed}",
        "data": data_revision(Path("dvc.lock")),
        "git revision": git_revision(),
    }

    # inputs; each one may be missing
    metrics = {**{name: read_json(args.metrics_dir / f"{name}.json") for name in METRIC_FILES},
               **{name: read_json(args.detail_dir / f"{name}_detail.json") for name in DETAIL_FILES}}
    corpus_stats = read_json(args.corpus_stats) or None
    per_poem = read_jsonl(args.per_poem) if args.per_poem.is_file() else []
    samples = read_jsonl(args.samples) if args.samples.is_file() else []
    series_dir = args.metrics_dir / "plots/train/plots/metrics"
    loss = {name: s for name, s in (("train", read_series(series_dir / "train/loss.tsv")),
                                    ("validation", read_series(series_dir / "eval/loss.tsv"))) if s}
    exp_show, exp_error = experiments()

    # render and write
    html = render_report(build_context(run=run, metrics=metrics, corpus_stats=corpus_stats, per_poem=per_poem,
                                       samples=samples, loss=loss, exp_show=exp_show, exp_error=exp_error))
    write_text(args.out, html)
    print(f"report: {args.out} ({len(html) / 1024:.0f} KiB, {len(samples)} samples, {len(per_poem)} test poems)")


if __name__ == "__main__":
    main()
