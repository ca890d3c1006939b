"""Supervised fine-tuning of a LoRA adapter on TRL's SFTTrainer, with health checks.

Why SFTTrainer: it brings completion-only loss over prompt/completion data, packing,
`entropy` and `mean_token_accuracy` logging and PEFT handling, on transformers' Trainer
(cosine schedule, clipping, eval every N steps, checkpoints, resume, best-model reload,
accelerate for DDP/FSDP/DeepSpeed). Our part is small: the examples come already
tokenized with their label mask (`model.prompts`), so the preflight can show exactly
what is learned; a trainer subclass checks every batch and loss; a callback checks
grad norms and that the LoRA weights move; another writes DVCLive series by step.

Beyond one machine: the stage runs itself under `accelerate launch` when
`train.num_processes > 1` (plain DDP; on CPUs over gloo). QLoRA with FSDP or DeepSpeed
ZeRO-3 (GPUs only) needs the 4-bit weights stored in a float dtype so they can be
sharded: set `quant.quant_storage: bfloat16`, and point `train.accelerate_config` at an
accelerate config such as

    distributed_type: FSDP
    fsdp_config:
      fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
      fsdp_cpu_ram_efficient_loading: true
      fsdp_use_orig_params: false
      fsdp_sharding_strategy: FULL_SHARD
      fsdp_state_dict_type: SHARDED_STATE_DICT

or `distributed_type: DEEPSPEED` with `deepspeed_config: {zero_stage: 3,
zero3_init_flag: true}`; TRL's `trl/accelerate_configs/` has complete files.
"""

from __future__ import annotations

import hashlib
import json
import math
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from torch.utils.data import Sampler, SequentialSampler
from transformers import EarlyStoppingCallback, TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.trainer_utils import get_last_checkpoint, has_length
from trl import SFTConfig, SFTTrainer
from trl.trainer.callbacks import RichProgressCallback

from qwen_qlora.config import PresetParams, TrainParams
from qwen_qlora.model.head import SupervisedHead, corpus_vocab
from qwen_qlora.model.load import Precision
from qwen_qlora.model.lora import lora_b_weights
from qwen_qlora.model.prompts import IGNORE, show_mask
from qwen_qlora.progress import progress_line
from qwen_qlora.training.health import HealthCallback, check_batch, check_finite

FINGERPRINT = "run_fingerprint.json"


def check_packing(train: TrainParams, preset: PresetParams) -> None:
    """Padding-free packing keeps poems apart only with flash attention; with eager or sdpa
    attention the poems packed into one row would attend to each other (measured: logits of
    the second poem changed by 0.7)."""
    if train.packing and preset.attn_implementation != "flash_attention_2":
        raise ValueError(
            f"train.packing: with attn_implementation {preset.attn_implementation!r} packed poems "
            "would attend to each other; set train.packing: false (train.group_by_length keeps "
            "padding low) or use a preset with attn_implementation: flash_attention_2 on a GPU")


# TrainParams fields that are SFTConfig's, under SFTConfig's own names: passed unchanged.
SFT_FIELDS = ("seed", "num_train_epochs", "max_steps", "learning_rate", "lr_scheduler_type",
              "warmup_steps", "weight_decay", "max_grad_norm", "per_device_train_batch_size",
              "per_device_eval_batch_size", "gradient_accumulation_steps", "max_length", "packing",
              "activation_checkpointing", "eval_steps", "logging_steps", "save_total_limit")


def sft_config(train: TrainParams, output_dir: str | Path, precision: Precision,
               device: str = "cpu", report_to: str = "none") -> SFTConfig:
    """The trainer's arguments: the `train` fields that are SFTConfig's as they are, plus
    what this project fixes (eval and save every `eval_steps`, the best checkpoint kept)."""
    return SFTConfig(
        output_dir=str(output_dir),
        **train.model_dump(include=set(SFT_FIELDS)),
        data_seed=train.seed,
        use_cpu=device == "cpu",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        train_sampling_strategy="group_by_length" if train.group_by_length and not train.packing else "random",
        eval_strategy="steps",
        save_strategy="steps",
        save_steps=train.eval_steps,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_first_step=True,
        logging_nan_inf_filter=False,  # a NaN loss must reach the health check, not be averaged away
        report_to=report_to,
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=True,
        ddp_find_unused_parameters=False,
    )


class CheckedSFTTrainer(SFTTrainer):
    """SFTTrainer that refuses batches with no supervised token and non-finite losses,
    and counts the (non-padding) tokens it trains on.

    With a `head` (`model.head.SupervisedHead`) the loss is computed at supervised positions
    only, and in training over the head's trimmed vocabulary when `trim_vocab`; evaluation
    always uses the full vocabulary. Under DDP/FSDP (a wrapped model) TRL's own fused head
    runs instead, since the wrapper's forward must run for gradients to be synchronised.
    """

    tokens_seen = 0
    step_seconds = 0.0
    head: SupervisedHead | None = None
    trim_vocab = False

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # The supervised head's own log figures (TRL's compute_loss keeps its own when it runs)
        self.head_metrics: dict[str, dict[str, list[float]]] = {"train": defaultdict(list),
                                                                "eval": defaultdict(list)}
        self.head_train_tokens = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.head is None or return_outputs or self.accelerator.unwrap_model(model) is not model:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if model.training else "eval"
        out = self.head(model, inputs, trimmed=model.training and self.trim_vocab)
        valid = out["log_probs"].numel()
        denominator = valid if num_items_in_batch is None else num_items_in_batch
        loss = -out["log_probs"].sum() / torch.as_tensor(denominator).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        # The same logged figures as TRL's compute_loss (entropy, accuracy, tokens seen)
        metrics = self.head_metrics[mode]
        if valid:
            metrics["entropy"].append(float(out["entropy"].detach().mean()))
            metrics["mean_token_accuracy"].append(float(out["is_top1"].float().mean()))
        if mode == "train":
            self.head_train_tokens += int(inputs["attention_mask"].sum())
        metrics["num_tokens"] = [self.head_train_tokens]
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the supervised head's means since the last log (eval keys prefixed as TRL's)."""
        mode = "train" if self.model.training else "eval"
        prefix = "eval_" if mode == "eval" else ""
        logs.update({f"{prefix}{key}": sum(values) / len(values)
                     for key, values in self.head_metrics[mode].items() if values})
        self.head_metrics[mode].clear()
        super().log(logs, start_time)

    def training_step(self, model, inputs, num_items_in_batch=None):
        check_batch(inputs["labels"], self.state.global_step)
        mask = inputs.get("attention_mask")
        self.tokens_seen += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        started = time.perf_counter()
        loss = super().training_step(model, inputs, num_items_in_batch)
        self.step_seconds += time.perf_counter() - started
        check_finite(self.state.global_step, loss=float(loss))
        return loss

    def _get_eval_sampler(self, eval_dataset: Any) -> Sampler | None:
        """Val batches in the val set's own order (`to_dataset` sorts it by length), whatever
        the training batches do. transformers' `group_by_length` also groups eval batches,
        with a sampler seeded by `train.seed`; the val loss, a mean over batches, then moved
        by up to 0.013 nats between seeds on one and the same model, and arms with another
        seed could not be compared."""
        if eval_dataset is None or not has_length(eval_dataset):
            return None
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    @property
    def tokens_per_second(self) -> float:
        """Non-padding tokens per second of forward+backward, over all processes."""
        return self.tokens_seen * self.args.world_size / max(self.step_seconds, 1e-9)


class LiveCallback(TrainerCallback):
    """Log every Trainer log to DVCLive with the optimizer step as x (train and eval overlay).

    A resumed run skips logs up to the checkpoint's step (the step-0 base eval included),
    which the interrupted run already wrote; `trim_series` drops what came after it.
    """

    SKIP = ("total_flos", "model_preparation_time", "train_loss", "epoch")

    def __init__(self, live: Any, resumed_step: int = -1):
        self.live = live
        self.resumed_step = resumed_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or state.global_step <= self.resumed_step:
            return
        for key, value in (logs or {}).items():
            name = key.removeprefix("eval_")
            if isinstance(value, (int, float)) and name not in self.SKIP and not name.endswith(
                    ("runtime", "per_second")):
                self.live.step = state.global_step
                self.live.log_metric(f"{'eval' if key.startswith('eval_') else 'train'}/{name}", value)
        self.live.make_summary()



class ProgressLineCallback(TrainerCallback):
    """One plain line per log (every `logging_steps` optimizer steps) and per evaluation:
    the step of the total, the loss, the time so far and an estimate of the time left (time
    per step of this run so far, evaluations included, times the steps left), in the line
    format every long stage shares (`qwen_qlora.progress`). For logs that are not a terminal
    (DVC, CI, a file), where a progress bar is quiet or garbled; the DVCLive series keep
    every logged figure."""

    def __init__(self, label: str = "train", clock: Any = time.monotonic, out: Any = None):
        self.label, self.clock, self.out = label, clock, out
        self.started: float | None = None
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started, self.first_step = self.clock(), state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            print(self.line(state.global_step, state.max_steps, logs), file=self.out or sys.stdout, flush=True)

    def line(self, step: int, total: int, logs: dict[str, float]) -> str:
        if "eval_loss" in logs:
            what = f"val loss {logs['eval_loss']:.4f}"
        elif "loss" in logs:
            what = f"loss {logs['loss']:.4f}, grad norm {logs.get('grad_norm', float('nan')):.3f}"
        else:
            what = "done"
        if self.started is None:  # an evaluation before training starts
            return f"{self.label}: step {step}: {what}"
        return progress_line(self.label, "step", step, total, what, self.clock() - self.started,
                             done_here=step - self.first_step)


def checkpoint_step(checkpoint: str | None) -> int:
    """The optimizer step of a `checkpoint-N` folder; -1 for none."""
    return int(Path(checkpoint).name.rsplit("-", 1)[1]) if checkpoint else -1


def trim_series(plots_dir: str | Path, last_step: int) -> None:
    """Drop DVCLive rows after `last_step` (written by a run interrupted after its checkpoint)."""
    for tsv in Path(plots_dir).rglob("*.tsv"):
        header, *rows = tsv.read_text(encoding="utf-8").splitlines()
        kept = [r for r in rows if int(r.split("\t", 1)[0]) <= last_step]
        tsv.write_text("\n".join([header, *kept]) + "\n", encoding="utf-8")


def to_dataset(examples: list[dict[str, Any]], by_length: bool = False) -> Dataset:
    """Tokenized examples as a Dataset; `by_length` sorts them so eval batches need little
    padding (on CPU every padded position still goes through the 262k-wide LM head)."""
    if by_length:
        examples = sorted(examples, key=lambda e: len(e["input_ids"]))
    return Dataset.from_list([{"input_ids": e["input_ids"], "labels": e["labels"]} for e in examples])


def output_head(model: Any, tokenizer: Any, examples: list[dict[str, Any]],
                train: TrainParams) -> tuple[SupervisedHead | None, bool]:
    """`train.supervised_head` / `train.vocab` translated: the head and whether it trims."""
    if not train.supervised_head:
        return None, False
    trim = train.vocab == "corpus"
    return SupervisedHead(model, corpus_vocab(examples, tokenizer) if trim else None), trim


def build_trainer(model: Any, tokenizer: Any, train_examples: list[dict[str, Any]],
                  val_examples: list[dict[str, Any]], args: SFTConfig, train: TrainParams,
                  live: Any = None, resumed_step: int = -1, label: str = "train") -> CheckedSFTTrainer:
    """The trainer with health, early-stopping, progress (a rich panel in a terminal, else
    `ProgressLineCallback` lines starting with `label`) and (optionally) DVCLive callbacks,
    and the output head chosen by `train.supervised_head` and `train.vocab`."""
    callbacks: list[TrainerCallback] = [HealthCallback(lora_b_weights, train.lora_move_steps)]
    if train.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=train.early_stopping_patience))
    if live is not None:
        callbacks.append(LiveCallback(live, resumed_step))
    callbacks.append(RichProgressCallback() if sys.stderr.isatty() else ProgressLineCallback(label))
    trainer = CheckedSFTTrainer(model=model, args=args, train_dataset=to_dataset(train_examples),
                                eval_dataset=to_dataset(val_examples, by_length=True), processing_class=tokenizer,
                                callbacks=callbacks)
    trainer.head, trainer.trim_vocab = output_head(model, tokenizer, train_examples, train)
    # A rich panel in a terminal; in files and CI one plain line per log instead of raw dicts
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def preflight_report(tokenizer: Any, examples: list[dict[str, Any]], n: int) -> str:
    """The first `n` examples as the model sees them, [[masked]] prompt then what is learned."""
    return "\n".join(f"example {ex['id']} (learned: {sum(t != IGNORE for t in ex['labels'])} of "
                     f"{len(ex['labels'])} tokens):\n{show_mask(tokenizer, ex)}\n" for ex in examples[:n])


def project_code(main_file: str | Path) -> list[Path]:
    """The stage script and every project module loaded so far: the code that encodes the
    examples and trains on them."""
    loaded = [Path(m.__file__) for name, m in sorted(sys.modules.items())
              if name.split(".")[0] == "qwen_qlora" and getattr(m, "__file__", None)]
    return [Path(main_file), *loaded]


def fingerprint(config: dict[str, Any], examples: dict[str, list[dict[str, Any]]],
                code: list[str | Path]) -> str:
    """A hash of the resolved config, the encoded examples (token ids and labels, so a new
    prompt format or tokenizer counts) and the code: a checkpoint resumes only a run with
    the same fingerprint."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for split in sorted(examples):
        digest.update(split.encode())
        for ex in examples[split]:
            digest.update(json.dumps([ex["input_ids"], ex["labels"]]).encode())
    for path in code:
        digest.update(Path(path).name.encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def mark_run(ckpt_dir: str | Path, run_id: str, finished: bool) -> None:
    """Record which run the checkpoints belong to, and whether it ran to the end."""
    path = Path(ckpt_dir) / FINGERPRINT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": run_id, "finished": finished}))


def resume_checkpoint(ckpt_dir: str | Path, run_id: str, mode: str) -> str | None:
    """The last checkpoint of an interrupted run with this fingerprint, or None.

    Checkpoints of a run with other params, examples or code are not resumed (they would
    silently mix two experiments), nor those of a finished run (resuming it trains zero steps
    and republishes the old adapter); the Trainer overwrites them as it saves new ones.
    """
    ckpt_dir = Path(ckpt_dir)
    if mode != "auto" or not ckpt_dir.is_dir():
        return None
    marker = ckpt_dir / FINGERPRINT
    if not marker.is_file():
        return None
    run = json.loads(marker.read_text())
    if run.get("fingerprint") != run_id or run.get("finished", False):
        return None
    return get_last_checkpoint(str(ckpt_dir))


def best_eval(log_history: list[dict[str, Any]], best_step: int | None) -> dict[str, float]:
    """The eval log at the best step (by val loss), or the last eval when none is marked."""
    evals = [h for h in log_history if "eval_loss" in h]
    if not evals:
        raise ValueError("no evaluation ran during training; lower train.eval_steps below the "
                         "number of optimizer steps")
    chosen = [h for h in evals if h.get("step") == best_step] or [min(evals, key=lambda h: h["eval_loss"])]
    return chosen[-1]


def last_logged(log_history: list[dict[str, Any]], key: str) -> float | None:
    values = [h[key] for h in log_history if key in h]
    return values[-1] if values else None


def peak_memory_mb(device: str) -> float:
    """Peak GPU memory on CUDA, else the process's peak resident set size (Linux: KiB)."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summarize(base: dict[str, float], best: dict[str, float], log_history: list[dict[str, Any]],
              run: dict[str, float]) -> dict[str, Any]:
    """metrics/train.json: flat scalars with units, checked to be finite and non-zero.

    The Trainer's eval figures are means over eval batches (each batch a mean over its
    tokens), used to pick the checkpoint; they carry a `trainer_` prefix so that they are
    never read as the evaluate stage's token-weighted val loss and perplexity.
    """
    metrics = {
        "trainer_base_eval_loss": base["eval_loss"],
        "trainer_eval_loss": best["eval_loss"],
        "trainer_eval_loss_ratio": best["eval_loss"] / base["eval_loss"],
        "trainer_eval_mean_token_accuracy": best.get("eval_mean_token_accuracy"),
        "trainer_eval_entropy": best.get("eval_entropy"),
        "train_loss": last_logged(log_history, "loss"),
        "grad_norm": last_logged(log_history, "grad_norm"),
        "best_step": best.get("step"),
        **run,
    }
    # Zero is a symptom for these (a loss of 0 means nothing was learned), not a value
    never_zero = ("trainer_base_eval_loss", "trainer_eval_loss", "train_loss", "trainer_eval_entropy",
                  "grad_norm", "tokens_per_second", "runtime_s")
    bad = {k: v for k, v in metrics.items()
           if v is None or not math.isfinite(float(v)) or (k in never_zero and float(v) == 0.0)}
    if bad:
        raise ValueError(f"training produced unusable metrics {bad}; see the log above for the step "
                         "where it went wrong")
    return metrics
