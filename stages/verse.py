"""DVC stage `verse`: the same LoRA (QLoRA on a 4-bit base by default) trained first on
Russian verse by other poets, which the train stage then continues on the target poet.

Reads data/processed/reference.jsonl (every other poet's poem) and the target poet's
train/val/test poems, only to refuse any reference poem that shares text with one of hers
(`corpus.reference.partition_reference`, the same function that holds out evaluate's
"language kept" poems, which are never learned here). Poems are worded as her prompts
are, poets taken in the order of verse.authors; the trainer is the train stage's
(`training.run`) with verse.num_train_epochs, max_steps, eval_steps and seed. Writes the
best adapter by val loss (other poets' held-out poems) to VERSE_DIR, with the ids of the
poems it learned (verse_poems.json), and metrics/verse.json (with the val poems' own tokens
on the base as shipped, against the base: `val_poem_*`).
With verse.enabled false it writes only a note that the stage is off, and train starts
from a fresh LoRA.

Usage: python stages/verse.py DATA_DIR BASE_DIR CKPT_DIR VERSE_DIR METRICS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

from transformers import set_seed

from qwen_qlora.config import load_params
from qwen_qlora.corpus.reference import partition_reference, reference_example, select_verse
from qwen_qlora.evaluation.val_poems import score_val_poems
from qwen_qlora.io import read_jsonl, write_json, write_metrics
from qwen_qlora.model.load import ModelLoadError
from qwen_qlora.model.lora import LoraTargetError
from qwen_qlora.model.prompts import encode_example
from qwen_qlora.training.health import HealthError, check_examples
from qwen_qlora.training.launch import accelerate_command, is_main, launched
from qwen_qlora.training.run import fit_adapter, load_for_training


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "base_dir", "ckpt_dir", "verse_dir", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    verse, preset = params.verse, params.model.selected
    cfg = params.verse.trainer(params.train)  # train's settings, less those verse replaces
    if not verse.enabled:  # DVC needs its outputs; train then starts from a fresh LoRA
        shutil.rmtree(args.verse_dir, ignore_errors=True)
        write_json(args.verse_dir / "DISABLED.json", {"enabled": False})
        write_metrics(args.metrics, {"enabled": False})
        print("verse: verse.enabled is false; no verse adapter")
        return
    if cfg.num_processes > 1 and not launched():
        os.execvp("accelerate", accelerate_command(cfg.num_processes, sys.argv, cfg.accelerate_config))
    set_seed(cfg.seed)

    # Other poets' poems: refuse any that shares text with hers, hold out evaluate's set
    target = [r for split in ("train", "val", "test") for r in read_jsonl(args.data_dir / f"{split}.jsonl")]
    part = partition_reference(read_jsonl(args.data_dir / "reference.jsonl"), target, params.author,
                               params.evaluate.retention_poems)
    for rid, why in sorted(part.refused.items()):
        print(f"verse: refused {rid}: {why}")

    # The base, then poems worded as her prompts, poets in verse.authors' order, that fit
    model, tokenizer, precision, device = load_for_training(args.base_dir, params, cfg)
    encoded: dict[str, dict] = {}

    def fits(poem: dict) -> bool:
        ex = reference_example(poem, params.split)
        encoded[poem["id"]] = {"id": poem["id"], **encode_example(preset, tokenizer, ex["prompt"], ex["completion"])}
        return len(encoded[poem["id"]]["input_ids"]) <= cfg.max_length

    val, train, too_long = select_verse(part.learnable, verse.authors, fits, verse.val_poems,
                                        verse.max_poems, verse.max_per_author)
    splits = {"train": [encoded[r["id"]] for r in train], "val": [encoded[r["id"]] for r in val]}
    for split in splits.values():
        check_examples(split, tokenizer.eos_token_id)
    per_author = Counter(r["author"] for r in train)
    print(f"verse: {len(train)} train poems ({dict(per_author)}), {len(val)} val poems; "
          f"{len(part.refused)} refused, {len(part.heldout)} held out for evaluate")

    # The training body shared with the train stage
    metrics = fit_adapter(model, tokenizer, splits, params, cfg, precision, device,
                          {"ckpt": args.ckpt_dir, "adapter": args.verse_dir}, __file__, name="verse")
    if is_main():  # which poems were learned: for the memorisation checks and the quoting gate
        metrics.update(score_val_poems(args.base_dir, args.verse_dir, None, preset, precision, splits["val"],
                                       cfg.per_device_eval_batch_size, cfg.seed))
        write_json(args.verse_dir / "verse_poems.json", {"train": [r["id"] for r in train],
                                                         "val": [r["id"] for r in val]})
        write_metrics(args.metrics, {
            "enabled": True, **metrics,
            "poems_by_author": {a: per_author.get(a, 0) for a in verse.authors},
            "too_long_by_author": {a: too_long.get(a, 0) for a in verse.authors},
            "val_poems_by_author": dict(Counter(r["author"] for r in val)),
            "refused_poems": len(part.refused), "heldout_poems": len(part.heldout)})


if __name__ == "__main__":
    try:
        main()
    except (HealthError, LoraTargetError) as err:
        raise SystemExit(f"verse: health check failed: {err}") from err
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"verse: {err}") from err
