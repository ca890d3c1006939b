"""The poet stage's sweep through DVC's own queue, chosen on val only.

`--queue` stages one experiment per arm (`dvc exp run --queue train -S ...`: the train
stage and what it needs; the verse adapter comes from the cache unless an arm changes
what the verse stage reads) and starts a worker; `--table` prints every experiment's val
figures from `dvc exp show -A --json`, best first on her val poems' own tokens (the stop
token apart, `val_poem_loss` in metrics/train.json: the figure the choice is made by).
Test is not read here: once an arm is chosen, `dvc repro` scores it on test, and
`benchmarks/val_choice.py --test` sets it against the old default's adapter, paired.

    PYTHONPATH=src .venv/bin/python benchmarks/sweep.py --queue            # all arms
    PYTHONPATH=src .venv/bin/python benchmarks/sweep.py --queue lr1e-3 ep4 # some arms
    .venv/bin/dvc queue status
    PYTHONPATH=src .venv/bin/python benchmarks/sweep.py --table

Queued runs live in .dvc/tmp/exps/<tmp>/; the README's "A queue of variants" link puts
the corpus beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from qwen_qlora.report.figures import flatten

# arm name -> the params it sets (each against the default in params.yaml). The first
# group leaves the verse adapter as it is (cached); the second re-trains it (the verse
# stage: ~18 min on an AVX2-only 2-core CPU, ~7 min with AMX bf16).
ARMS: dict[str, list[str]] = {
    "seed7": ["train.seed=7"],
    "vocab-corpus": ["train.vocab=corpus"],
    "vocab-corpus-seed7": ["train.vocab=corpus", "train.seed=7"],
    "lr6e-4": ["train.learning_rate=6e-4"],
    "lr1e-3": ["train.learning_rate=1e-3"],
    "lr1e-3-seed7": ["train.learning_rate=1e-3", "train.seed=7"],
    "ep4": ["train.num_train_epochs=4"],
    "no-verse": ["verse.enabled=false"],
    "r16": ["lora.r=16", "lora.alpha=32"],   # the default before the third round chose r 32
    "dropout0.1": ["lora.dropout=0.1"],
    "all-linear": ["lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]"],
}
FIGURES = ("trainer_eval_loss", "trainer_base_eval_loss", "best_step", "optimizer_steps", "runtime_s")
DVC = str(Path(".venv/bin/dvc")) if Path(".venv/bin/dvc").exists() else "dvc"


def queue(arms: list[str], no_start: bool = False) -> None:
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        sys.exit(f"sweep: unknown arms {unknown}; choose from {sorted(ARMS)}")
    link = Path(".dvc/tmp/exps/shared")
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("../../../../shared", link)
    # the verse stage's checkpoints are kept out of the cache (persist, cache: false): a
    # temporary copy without them would re-train the verse adapter, so they travel along
    copy = ["-C", "models/verse_checkpoints"] if Path("models/verse_checkpoints").exists() else []
    for arm in arms:
        sets = [a for s in ARMS[arm] for a in ("-S", s)]
        subprocess.run([DVC, "exp", "run", "--queue", "-n", arm, *copy, *sets, "train"], check=True)
    if not no_start:
        subprocess.run([DVC, "queue", "start"], check=True)


def _changed(params: dict, base: dict) -> list[str]:
    """`key=value` for every dotted param of `params` that differs from `base`."""
    flat_base = flatten(base)
    return [f"{key}={value}" for key, value in flatten(params).items() if flat_base.get(key) != value]


def table() -> None:
    """Every experiment of any commit (`dvc exp show -A`), with the commit it branched from
    as the default row, best val loss first."""
    shown = json.loads(subprocess.run([DVC, "exp", "show", "-A", "--json"], check=True,
                                      capture_output=True, text=True).stdout)
    rows = []
    for commit in shown:
        exps = [e for group in commit.get("experiments") or [] for e in group["revs"]]
        if not exps:
            continue
        base_params = (commit["data"].get("params") or {}).get("params.yaml", {}).get("data", {})
        for exp in [commit] + exps:
            data = exp["data"]
            metrics = (data.get("metrics") or {}).get("metrics/train.json", {}).get("data", {})
            if "trainer_eval_loss" not in metrics:
                continue
            params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
            name = exp.get("name") or data.get("name") or f"default@{data['rev'][:7]}"
            rows.append((metrics["trainer_eval_loss"], name, metrics, " ".join(_changed(params, base_params)) or "(default)"))
    # the choice is made on her val poems' own tokens (the stop token apart: `val_poem_loss`);
    # an experiment from before that figure was in metrics/train.json sorts last
    rows.sort(key=lambda r: (r[2].get("val_poem_loss", math.inf), r[0]))
    print("| arm | val poem tokens: loss | / base | / start | trainer val loss (stop token in) "
          "| start loss | best step / steps | train s | params |")
    print("|---|---|---|---|---|---|---|---|---|")
    for loss, name, m, changed in rows:
        print(f"| {name} | {m.get('val_poem_loss', math.nan):.4f} | {_ratio(m, 'base')} | {_ratio(m, 'start')} "
              f"| {loss:.4f} | {m.get('trainer_base_eval_loss', math.nan):.4f} "
              f"| {m.get('best_step')} / {m.get('optimizer_steps')} | {m.get('runtime_s', 0):.0f} | {changed} |")


def _ratio(metrics: dict, against: str) -> str:
    """`x [low, high]` of a val poem-token perplexity ratio, or "" where the run has none."""
    key = f"val_poem_ppl_ratio_{against}"
    if key not in metrics:
        return ""
    return f"{metrics[key]:.3f} [{metrics[key + '_ci_low']:.3f}, {metrics[key + '_ci_high']:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queue", nargs="*", metavar="ARM", help=f"queue these arms (none named: all of {list(ARMS)})")
    ap.add_argument("--no-start", action="store_true", help="queue only (a worker is already running)")
    ap.add_argument("--table", action="store_true", help="print the val table of every experiment")
    args = ap.parse_args()
    if args.queue is not None:
        queue(args.queue or list(ARMS), args.no_start)
    if args.table:
        table()


if __name__ == "__main__":
    main()
