"""DVC stage `poetics`: meter, rhyme and style attribution for the corpus and every model row.

Trains the judging style attributor (char n-gram TF-IDF + calibrated logistic regression)
on the target poet's train poems vs the reference poems of the poets the generate stage's
selection attributor never saw (`selection.selection_poets`: two disjoint halves, so the
selector is never graded by its own judge), judges it on the val poems and held-out
reference poems it never saw (ROC-AUC, average precision), then scores the generated
samples (whole poems, as delivered). Baselines for p_author: the poet's
own test poems (what the poet scores) and held-out poems of other poets (what "not the
poet" scores). Burrows' Delta (fit on the same half) is a second, independent opinion.

Meter and rhyme profiles come from stored form annotations, not a second scan: the
corpus's from the annotate stage (carried by the split's examples), each sample's from
the generate stage (`form`, the whole poem). Every share carries a 95% interval over poems. Writes
metrics/poetics.json ({"corpus", <row>..., "baselines", "attributor", "distance"}) and the
attributor for `qwen-qlora scan`.

Usage: python stages/poetics.py DATA_DIR SAMPLES_JSONL ATTRIBUTOR_DIR METRICS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from pathlib import Path

from qwen_qlora.config import load_params
from qwen_qlora.generation.selection import selection_poets
from qwen_qlora.io import atomic_open, read_jsonl, write_metrics
from qwen_qlora.metrics.poetics import profile_distance, profile_from_forms, profile_intervals
from qwen_qlora.metrics.style import evaluate_attributor, fit_delta, save_attributor, train_attributor
from qwen_qlora.stats import flat, mean_ci


def held_out(poem_id: str, fraction: float, seed: int) -> bool:
    """A stable, seeded choice of reference poems kept out of the attributor's training."""
    h = int(hashlib.sha1(f"{seed}:{poem_id}".encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "samples", "attributor_dir", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    p = params.poetics
    started = time.perf_counter()

    # Texts: target train/val/test, reference train/held-out, and the generated poems
    splits = {name: read_jsonl(args.data_dir / f"{name}.jsonl") for name in ("train", "val", "test")}
    train, val, test = ([r["completion"] for r in splits[name]] for name in ("train", "val", "test"))
    reference = read_jsonl(args.data_dir / "reference.jsonl")
    ref_train = [r["text"] for r in reference
                 if not held_out(r["id"], p.reference_val_fraction, p.seed) and not selection_poets(r["author"])]
    ref_val = [r["text"] for r in reference if held_out(r["id"], p.reference_val_fraction, p.seed)]
    samples = read_jsonl(args.samples)
    rows = list(dict.fromkeys(s["model"] for s in samples))
    generated = {m: [s["text"] for s in samples if s["model"] == m] for m in rows}
    forms = {"corpus": [r["form"] for name in ("train", "val", "test") for r in splits[name]],
             **{m: [s["form"] for s in samples if s["model"] == m] for m in rows}}
    missing = [name for name, fs in forms.items() if any(f is None for f in fs)]
    if missing:
        raise ValueError(f"no form annotation for some poems of {missing}; re-run `dvc repro annotate split generate`")

    # Style attribution: trained on train vs the judging half of the poets, judged on poems it never saw
    attributor = train_attributor(train, ref_train, p.seed, calibration_folds=p.calibration_folds)
    attr_metrics = evaluate_attributor(attributor, val, ref_val)
    delta = fit_delta(train, ref_train)

    # Meter and rhyme profiles from the stored annotations, one code path for all
    result = {}
    for name, fs in forms.items():
        result[name] = {**profile_from_forms(fs), **profile_intervals(fs, p.seed)}
        if name != "corpus":
            texts = generated[name]
            result[name].update(flat("p_author_mean", mean_ci(attributor.p_author(texts), p.seed)))
            result[name]["delta_to_target_mean"] = round(statistics.fmean(
                d["delta_target"] for d in delta.scores(texts)), 4)
    result["baselines"] = {
        **flat("p_author_mean_test", mean_ci(attributor.p_author(test), p.seed)),
        **flat("p_author_mean_other_poets", mean_ci(attributor.p_author(ref_val), p.seed)),
        "n_test": len(test), "n_other_poets": len(ref_val),
        "delta_to_target_mean_test": round(statistics.fmean(d["delta_target"] for d in delta.scores(test)), 4),
    }
    result["attributor"] = attr_metrics
    result["distance"] = {f"{m}_to_corpus": profile_distance(result["corpus"], result[m]) for m in rows}
    result["runtime_s"] = time.perf_counter() - started

    args.attributor_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.attributor_dir / "attributor.joblib", "wb") as fh:
        save_attributor(attributor, fh)
    write_metrics(args.metrics, result)
    print(f"poetics: attributor val ROC-AUC {attr_metrics['roc_auc']}, AP {attr_metrics['average_precision']}; "
          + ", ".join(f"p_author {m} {result[m]['p_author_mean']:.3f}" for m in rows)
          + f"; test poems {result['baselines']['p_author_mean_test']:.3f}, other poets "
          f"{result['baselines']['p_author_mean_other_poets']:.3f}; {result['runtime_s']:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except ValueError as err:
        raise SystemExit(f"poetics: {err}") from err
