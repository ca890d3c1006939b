"""DVC stage `train`: a LoRA adapter (QLoRA on a 4-bit base by default) on the target poet.

Reads data/processed/{train,val}.jsonl and the prepared base folder; with verse.enabled
it continues the verse stage's adapter (the same LoRA weights, trained further on her
poems), else it starts a fresh LoRA. Writes the best adapter by val loss (safetensors +
tokenizer + resolved config), metrics/train.json (with every val poem's own tokens scored
whole on the base as shipped, against the verse adapter and the base: `val_poem_*`) and
DVCLive series by step. Checkpoints go to CKPT_DIR; a re-run of an interrupted run with
the same params, encoded examples, code and starting adapter resumes from the last one
(train.resume: auto); a finished run is never resumed. With train.num_processes > 1 the stage re-runs itself under
`accelerate launch` (DDP; gloo on CPU). The training body is `training.run`, shared with
the verse stage.

Usage: python stages/train.py DATA_DIR BASE_DIR CKPT_DIR ADAPTER_DIR METRICS_JSON LIVE_DIR
       [--verse VERSE_ADAPTER_DIR] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from transformers import set_seed

from qwen_qlora.config import load_params
from qwen_qlora.evaluation.val_poems import score_val_poems
from qwen_qlora.io import read_jsonl, write_metrics
from qwen_qlora.model.load import ModelLoadError
from qwen_qlora.model.lora import LoraTargetError
from qwen_qlora.model.prompts import encode_example, encode_pieces, encode_records
from qwen_qlora.training.health import HealthError, check_examples
from qwen_qlora.training.launch import accelerate_command, is_main, launched
from qwen_qlora.training.run import fit_adapter, load_for_training

PATHS = ("data_dir", "base_dir", "ckpt_dir", "adapter_dir", "metrics", "live_dir")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in PATHS:
        ap.add_argument(name, type=Path)
    ap.add_argument("--verse", type=Path, default=None, help="the verse stage's adapter, continued")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    cfg, preset = params.train, params.model.selected
    if cfg.num_processes > 1 and not launched():
        os.execvp("accelerate", accelerate_command(cfg.num_processes, sys.argv, cfg.accelerate_config))
    set_seed(cfg.seed)
    if params.verse.enabled and args.verse is None:
        raise ValueError("verse.enabled is true but no --verse adapter folder was given; pass "
                         "--verse models/verse_adapter (dvc.yaml does) or set verse.enabled: false")

    # Base model (4-bit when quant.load_in_4bit) and her poems, tokenized with their mask: a
    # train poem longer than train.max_length in stanza-aligned pieces (only the last ends
    # with EOS), val poems whole
    model, tokenizer, precision, device = load_for_training(args.base_dir, params, cfg)
    train, pieces, left_out = encode_pieces(preset, tokenizer, read_jsonl(args.data_dir / "train.jsonl"),
                                            cfg.max_length)
    val_records = read_jsonl(args.data_dir / "val.jsonl")
    val, val_too_long = encode_records(preset, tokenizer, val_records, cfg.max_length)
    splits = {"train": train, "val": val}
    for examples in splits.values():
        check_examples(examples, tokenizer.eos_token_id)
    print(f"train: train: {pieces['poems']} poems as {pieces['pieces']} examples, {pieces['poems_split']} "
          f"in pieces of <= train.max_length={cfg.max_length} tokens; {len(left_out)} left out with a "
          f"line that fits no piece {left_out[:5]}")
    print(f"train: val: {len(val)} poems, {len(val_too_long)} longer than train.max_length={cfg.max_length} "
          f"left out of the trainer's val loss {val_too_long[:5]}")

    # Train: from the verse adapter's weights when verse.enabled, else a fresh LoRA
    init = args.verse if params.verse.enabled else None
    metrics = fit_adapter(model, tokenizer, splits, params, cfg, precision, device,
                          {"ckpt": args.ckpt_dir, "adapter": args.adapter_dir, "live": args.live_dir},
                          __file__, init_from=init, name="train")
    if is_main():
        # every val poem scored whole on its own tokens, as evaluate scores the test poems
        poems = [encode_example(preset, tokenizer, r["prompt"], r["completion"]) for r in val_records]
        metrics.update(score_val_poems(args.base_dir, args.adapter_dir, init, preset, precision, poems,
                                       cfg.per_device_eval_batch_size, cfg.seed))
        write_metrics(args.metrics, {**metrics, "from_verse_adapter": init is not None,
                                     **{f"train_{key}": value for key, value in pieces.items()},
                                     "val_poems": len(val) + len(val_too_long),
                                     "val_poems_left_out_too_long": len(val_too_long)})


if __name__ == "__main__":
    try:
        main()
    except (HealthError, LoraTargetError) as err:
        raise SystemExit(f"train: health check failed: {err}") from err
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"train: {err}") from err
