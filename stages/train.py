"""DVC stage `train`: a LoRA adapter (QLoRA on a 4-bit base by default) on the target poet.

Reads data/processed/{train,val}.jsonl and the prepared base folder; writes the best
adapter by val loss (safetensors + tokenizer + resolved config), metrics/train.json and
DVCLive series by step. Checkpoints go to CKPT_DIR; a re-run of an interrupted run with the
same params, encoded examples and code resumes from the last one (train.resume: auto); a
finished run is never resumed. With train.num_processes > 1 the
stage re-runs itself under `accelerate launch` (DDP; gloo on CPU).

Usage: python stages/train.py DATA_DIR BASE_DIR CKPT_DIR ADAPTER_DIR METRICS_JSON LIVE_DIR
       [--params params.yaml]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import torch
from dvclive import Live
from transformers import set_seed

from qwen_qlora.config import load_params, to_dict
from qwen_qlora.io import read_jsonl, write_json, write_metrics
from qwen_qlora.model.load import ModelLoadError, load_base, resolve_precision
from qwen_qlora.model.lora import LoraTargetError, attach_lora, lora_config, lora_modules
from qwen_qlora.model.prompts import encode_pieces, encode_records
from qwen_qlora.training.health import HealthError, check_examples, check_lora_targets
from qwen_qlora.training.launch import accelerate_command, device_map, is_main, launched
from qwen_qlora.training.trainer import (
    best_eval,
    build_trainer,
    check_packing,
    checkpoint_step,
    fingerprint,
    mark_run,
    peak_memory_mb,
    preflight_report,
    project_code,
    resume_checkpoint,
    sft_config,
    summarize,
    trim_series,
)

PATHS = ("data_dir", "base_dir", "ckpt_dir", "adapter_dir", "metrics", "live_dir")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in PATHS:
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    cfg, preset = params.train, params.model.selected
    if cfg.num_processes > 1 and not launched():
        os.execvp("accelerate", accelerate_command(cfg.num_processes, sys.argv, cfg.accelerate_config))
    set_seed(cfg.seed)
    started = time.perf_counter()

    # Base model (4-bit when quant.load_in_4bit) and the examples, tokenized with their mask:
    # a train poem longer than train.max_length in stanza-aligned pieces (only the last ends
    # with EOS), val poems whole
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = resolve_precision(cfg.precision, preset, device)
    check_packing(cfg, preset)
    model, tokenizer = load_base(args.base_dir, preset, params.quant, precision, device_map())
    train, pieces, left_out = encode_pieces(preset, tokenizer, read_jsonl(args.data_dir / "train.jsonl"),
                                            cfg.max_length)
    val, val_too_long = encode_records(preset, tokenizer, read_jsonl(args.data_dir / "val.jsonl"), cfg.max_length)
    splits = {"train": train, "val": val}
    for examples in splits.values():
        check_examples(examples, tokenizer.eos_token_id)
    print(f"train: train: {pieces['poems']} poems as {pieces['pieces']} examples, {pieces['poems_split']} "
          f"in pieces of <= train.max_length={cfg.max_length} tokens; {len(left_out)} left out with a "
          f"line that fits no piece {left_out[:5]}")
    print(f"train: val: {len(val)} poems, {len(val_too_long)} longer than train.max_length={cfg.max_length} "
          f"left out of the trainer's val loss {val_too_long[:5]}")

    # Preflight: what exactly is learned ([[masked]] prompt, then completion + EOS)
    print(preflight_report(tokenizer, splits["train"], cfg.preflight_examples))

    # LoRA, attached only where intended
    model = attach_lora(model, lora_config(params.lora, preset), cfg.activation_checkpointing, cfg.upcast_frozen)
    modules = lora_modules(model)
    check_lora_targets(modules, params.lora.target_modules, preset.lora_scope)
    print(f"train: LoRA on {len(modules)} modules: {modules[0]} ... {modules[-1]}")
    model.print_trainable_parameters()

    # Trainer; resume only an interrupted run with the same params, examples and code
    resolved = {**to_dict(params), "precision": precision}
    run_id = fingerprint({k: resolved[k] for k in ("model", "quant", "lora", "train", "precision")},
                         splits, project_code(__file__))
    resume = resume_checkpoint(args.ckpt_dir, run_id, cfg.resume)
    if resume is None and is_main():
        shutil.rmtree(args.ckpt_dir, ignore_errors=True)
        mark_run(args.ckpt_dir, run_id, finished=False)
    live = None
    if is_main():
        live = Live(dir=str(args.live_dir), resume=resume is not None, dvcyaml=None, save_dvc_exp=False)
        if resume is not None:
            trim_series(live.plots_dir, checkpoint_step(resume))
    trainer = build_trainer(model, tokenizer, splits["train"], splits["val"],
                            sft_config(cfg, args.ckpt_dir, precision, device), cfg, live,
                            checkpoint_step(resume))

    # Step 0: the base model's val loss (LoRA B starts at zero, so this is the base)
    base = trainer.evaluate()
    print(f"train: base trainer eval loss {base['eval_loss']:.4f}; {precision}; resume from {resume}")

    # Train; the best checkpoint by val loss is reloaded at the end
    out = trainer.train(resume_from_checkpoint=resume)
    best = best_eval(trainer.state.log_history, trainer.state.best_global_step)

    # Outputs: adapter + tokenizer + resolved config, metrics (saving is collective under FSDP)
    trainer.save_model(str(args.adapter_dir))
    if not is_main():
        return
    mark_run(args.ckpt_dir, run_id, finished=True)
    tokenizer.save_pretrained(args.adapter_dir)
    write_json(args.adapter_dir / "training_config.json",
               {**resolved, "lora_modules": modules, "run_id": run_id})
    metrics = summarize(base, best, trainer.state.log_history, {
        "tokens_per_second": trainer.tokens_per_second,
        "peak_memory_mb": peak_memory_mb(device),
        "runtime_s": time.perf_counter() - started,
        "train_runtime_s": out.metrics["train_runtime"],
        "optimizer_steps": trainer.state.global_step,
        "processes": trainer.args.world_size,
        **{f"train_{key}": value for key, value in pieces.items()},
        "val_poems": len(val) + len(val_too_long),
        "val_poems_left_out_too_long": len(val_too_long),
    })
    write_metrics(args.metrics, metrics)
    live.end()
    print(f"train: trainer eval loss {metrics['trainer_eval_loss']:.4f} (base "
          f"{metrics['trainer_base_eval_loss']:.4f}) at step {metrics['best_step']}; "
          f"{metrics['tokens_per_second']:.0f} tok/s; {metrics['runtime_s']:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except (HealthError, LoraTargetError) as err:
        raise SystemExit(f"train: health check failed: {err}") from err
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"train: {err}") from err
