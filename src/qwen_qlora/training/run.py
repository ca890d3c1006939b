"""Train a LoRA on these examples: the one training body of the `verse` and `train` stages.

A stage loads the base (`load_for_training`), encodes its own examples with the returned
tokenizer, and calls `fit_adapter`: preflight, LoRA attached (fresh, or continuing a saved
adapter's weights), resume of an interrupted run with the same fingerprint, the step-0
eval, training with the health checks, the best checkpoint by val loss saved with its
tokenizer and resolved config. It returns the run's metrics (`trainer.summarize`); the
stage adds its own and writes them.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import torch
from dvclive import Live

from qwen_qlora.config import Params, TrainParams, to_dict
from qwen_qlora.io import write_json
from qwen_qlora.model.load import load_base, resolve_precision
from qwen_qlora.model.lora import attach_lora, lora_config, lora_modules
from qwen_qlora.training.health import check_lora_targets
from qwen_qlora.training.launch import device_map, is_main
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


def load_for_training(base_dir: str | Path, params: Params, cfg: TrainParams) -> tuple[Any, Any, str, str]:
    """(model, tokenizer, precision, device): the prepared base, 4-bit when quant.load_in_4bit."""
    preset = params.model.selected
    device = "cuda" if torch.cuda.is_available() else "cpu"
    precision = resolve_precision(cfg.precision, preset, device)
    check_packing(cfg, preset)
    model, tokenizer = load_base(base_dir, preset, params.quant, precision, device_map())
    return model, tokenizer, precision, device


def fit_adapter(model: Any, tokenizer: Any, splits: dict[str, list[dict[str, Any]]], params: Params,
                cfg: TrainParams, precision: str, device: str, dirs: dict[str, Path], main_file: str,
                init_from: Path | None = None, name: str = "train") -> dict[str, Any]:
    """Train a LoRA (the `lora` section) on splits["train"], choosing the checkpoint on
    splits["val"], with the trainer settings `cfg`; `dirs`: ckpt, adapter and optionally
    live (DVCLive series). `init_from`: an adapter whose weights training continues.
    Returns the metrics; writes the adapter, its tokenizer and training_config.json."""
    started = time.perf_counter()
    preset = params.model.selected
    # Preflight: what exactly is learned ([[masked]] prompt, then completion + EOS)
    print(preflight_report(tokenizer, splits["train"], cfg.preflight_examples))

    # LoRA, attached only where intended: fresh (B = 0) or the saved adapter's weights
    model = attach_lora(model, lora_config(params.lora, preset), cfg.activation_checkpointing,
                        cfg.upcast_frozen, init_from)
    modules = lora_modules(model)
    check_lora_targets(modules, params.lora.target_modules, preset.lora_scope)
    print(f"{name}: LoRA on {len(modules)} modules: {modules[0]} ... {modules[-1]}"
          + (f"; continuing {init_from}" if init_from else ""))
    model.print_trainable_parameters()

    # Trainer; resume only an interrupted run with the same params, examples, code and start
    resolved = {**to_dict(params), "train": to_dict(cfg), "precision": precision,
                "init_from": str(init_from) if init_from else None}
    start_weights = [init_from / "adapter_model.safetensors"] if init_from else []
    run_id = fingerprint({k: resolved[k] for k in ("model", "quant", "lora", "train", "precision")},
                         splits, project_code(main_file) + start_weights)
    resume = resume_checkpoint(dirs["ckpt"], run_id, cfg.resume)
    if resume is None and is_main():
        shutil.rmtree(dirs["ckpt"], ignore_errors=True)
        mark_run(dirs["ckpt"], run_id, finished=False)
    live = None
    if is_main() and dirs.get("live") is not None:
        live = Live(dir=str(dirs["live"]), resume=resume is not None, dvcyaml=None, save_dvc_exp=False)
        if resume is not None:
            trim_series(live.plots_dir, checkpoint_step(resume))
    trainer = build_trainer(model, tokenizer, splits["train"], splits["val"],
                            sft_config(cfg, dirs["ckpt"], precision, device), cfg, live,
                            checkpoint_step(resume), label=name)

    # Step 0: the starting point's val loss (the base, or the adapter continued)
    base = trainer.evaluate()
    print(f"{name}: step-0 trainer eval loss {base['eval_loss']:.4f}; {precision}; resume from {resume}")

    # Train; the best checkpoint by val loss is reloaded at the end
    out = trainer.train(resume_from_checkpoint=resume)
    best = best_eval(trainer.state.log_history, trainer.state.best_global_step)

    # Outputs: adapter + tokenizer + resolved config (saving is collective under FSDP)
    trainer.save_model(str(dirs["adapter"]))
    if not is_main():
        return {}
    mark_run(dirs["ckpt"], run_id, finished=True)
    tokenizer.save_pretrained(dirs["adapter"])
    write_json(dirs["adapter"] / "training_config.json", {**resolved, "lora_modules": modules, "run_id": run_id})
    metrics = summarize(base, best, trainer.state.log_history, {
        "tokens_per_second": trainer.tokens_per_second,
        "peak_memory_mb": peak_memory_mb(device),
        "runtime_s": time.perf_counter() - started,
        "train_runtime_s": out.metrics["train_runtime"],
        "optimizer_steps": trainer.state.global_step,
        "processes": trainer.args.world_size,
        "train_examples": len(splits["train"]),
        "train_tokens": sum(len(e["input_ids"]) for e in splits["train"]),
        "val_examples": len(splits["val"]),
    })
    if live is not None:
        live.end()
    print(f"{name}: trainer eval loss {metrics['trainer_eval_loss']:.4f} (step 0 "
          f"{metrics['trainer_base_eval_loss']:.4f}) at step {metrics['best_step']}; "
          f"{metrics['tokens_per_second']:.0f} tok/s; {metrics['runtime_s']:.0f} s")
    return metrics
