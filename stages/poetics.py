"""DVC stage `poetics`: meter, rhyme and style attribution for the corpus, base and adapted poems.

Trains the style attributor (char n-gram TF-IDF + calibrated logistic regression) on the
target poet's train poems vs most reference poems, validates it on the val poems and the
held-out reference poems it never saw, then scores the generated samples. Writes
metrics/poetics.json ({"corpus", "base", "adapted", "attributor", "distance"}) and the
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
from qwen_qlora.io import atomic_open, read_jsonl, write_json
from qwen_qlora.metrics.poetics import poetics_profile, profile_distance
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.metrics.style import evaluate_attributor, fit_delta, save_attributor, train_attributor

MODELS = ("base", "adapted")


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

    # Texts: target train/val, reference train/held-out, and the generated poems
    train = [r["completion"] for r in read_jsonl(args.data_dir / "train.jsonl")]
    val = [r["completion"] for r in read_jsonl(args.data_dir / "val.jsonl")]
    reference = read_jsonl(args.data_dir / "reference.jsonl")
    ref_train = [r["text"] for r in reference if not held_out(r["id"], p.reference_val_fraction, p.seed)]
    ref_val = [r["text"] for r in reference if held_out(r["id"], p.reference_val_fraction, p.seed)]
    samples = read_jsonl(args.samples)
    generated = {m: [s["text"] for s in samples if s["model"] == m] for m in MODELS}

    # Style attribution: trained on train, judged on poems it never saw
    attributor = train_attributor(train, ref_train, p.seed, calibration_folds=p.calibration_folds)
    attr_metrics = evaluate_attributor(attributor, val, ref_val)
    delta = fit_delta(train, ref_train)

    # Meter and rhyme profiles, one code path for corpus and models
    stresser = load_stresser()
    result = {"corpus": poetics_profile(train + val, stresser)}
    for m in MODELS:
        result[m] = poetics_profile(generated[m], stresser)
        result[m]["p_author_mean"] = statistics.fmean(attributor.p_author(generated[m]))
        result[m]["delta_to_target_mean"] = statistics.fmean(d["delta_target"] for d in delta.scores(generated[m]))
    result["corpus"]["p_author_mean_val"] = statistics.fmean(attributor.p_author(val))
    result["attributor"] = attr_metrics
    result["distance"] = {f"{m}_to_corpus": profile_distance(result["corpus"], result[m]) for m in MODELS}
    result["runtime_s"] = time.perf_counter() - started

    args.attributor_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.attributor_dir / "attributor.joblib", "wb") as fh:
        save_attributor(attributor, fh)
    write_json(args.metrics, result)
    print(f"poetics: attributor val ROC-AUC {attr_metrics['roc_auc']}; p_author base "
          f"{result['base']['p_author_mean']:.3f} adapted {result['adapted']['p_author_mean']:.3f}; "
          f"{result['runtime_s']:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except ValueError as err:
        raise SystemExit(f"poetics: {err}") from err
