"""Running a stage on several processes with `accelerate launch`, and knowing who we are.

`accelerate launch --cpu --num_processes 2` silently starts a single process, so the
command uses `--multi_gpu` (torchrun underneath); on a machine without GPUs the Trainer
then runs DDP over gloo on CPU. A config file (`train.accelerate_config`) replaces the
flags, e.g. for FSDP or DeepSpeed on GPUs (see the docstring of `qwen_qlora.training.trainer`).
"""

from __future__ import annotations

import os

import torch


def launched() -> bool:
    """True inside a process started by accelerate/torchrun."""
    return "WORLD_SIZE" in os.environ


def is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def accelerate_command(num_processes: int, argv: list[str], config_file: str | None = None) -> list[str]:
    """`accelerate launch` re-running this same script (argv) on `num_processes` processes."""
    flags = (["--config_file", config_file] if config_file
             else ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"])
    return ["accelerate", "launch", *flags, "--num_processes", str(num_processes), *argv]


def device_map() -> dict[str, int] | None:
    """Each process's whole model on its own GPU (needed by 4-bit loading); None on CPU."""
    if not torch.cuda.is_available():
        return None
    return {"": int(os.environ.get("LOCAL_RANK", "0"))}
