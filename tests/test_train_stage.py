"""The train stage end to end on a tiny model (slow: each run starts a fresh Python)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fixtures.tiny_models import toy_records

from qwen_qlora.io import write_jsonl

ROOT = Path(__file__).resolve().parents[1]
TINY = {"source": "tiny", "eos_token": "<eos>", "pad_token": "<pad>",
        "attn_implementation": "eager", "fp16_safe": False}


def stage(tmp: Path, base: Path, **train) -> list[str]:
    params = {"model": {"preset": "tiny", "presets": {"tiny": TINY}}, "verse": {"enabled": False},
              "train": {"eval_steps": 2, "logging_steps": 1, "per_device_train_batch_size": 2,
                        "early_stopping_patience": 0, **train}}
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    if not (tmp / "data").is_dir():
        write_jsonl(tmp / "data" / "train.jsonl", toy_records(6) * 4)
        write_jsonl(tmp / "data" / "val.jsonl", toy_records(2, start=4))
    return [sys.executable, str(ROOT / "stages" / "train.py"), str(tmp / "data"), str(base),
            str(tmp / "ckpt"), str(tmp / "adapter"), str(tmp / "train.json"), str(tmp / "live"),
            "--params", str(tmp / "params.yaml")]


@pytest.mark.slow
def test_killed_stage_resumes_from_its_last_checkpoint(gemma_base, tmp_path):
    cmd = stage(tmp_path, gemma_base[0], max_steps=40)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (tmp_path / "ckpt" / "checkpoint-4").is_dir():
        assert proc.poll() is None and time.time() < deadline, "the stage ended before checkpoint-4"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "train.json").exists()

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resume from " + str(tmp_path / "ckpt" / "checkpoint-") in done.stdout
    metrics = json.loads((tmp_path / "train.json").read_text())
    assert metrics["optimizer_steps"] == 40 and metrics["trainer_eval_loss"] > 0
    for split, first in (("train", 1), ("eval", 0)):
        tsv = tmp_path / "live" / "plots" / "metrics" / split / "loss.tsv"
        steps = [int(line.split("\t")[0]) for line in tsv.read_text().splitlines()[1:]]
        assert steps == sorted(set(steps)) and steps[0] == first and steps[-1] == 40  # none twice


PATCHED_PROMPT = """
import runpy, sys
import qwen_qlora.model.prompts as prompts
plain = prompts.format_prompt
prompts.format_prompt = lambda *args: "Тема. " + plain(*args)  # a new prompt format in code
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow
def test_a_new_prompt_format_after_a_finished_run_trains_from_step_0(gemma_base, tmp_path):
    cmd = stage(tmp_path, gemma_base[0], max_steps=4, learning_rate=1e-3, warmup_steps=0.0)
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    old_adapter = (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes()
    old_run = json.loads((tmp_path / "ckpt" / "run_fingerprint.json").read_text())
    assert old_run["finished"]

    again = subprocess.run([cmd[0], "-c", PATCHED_PROMPT, *cmd[1:]], cwd=ROOT, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resume from None" in again.stdout and "Тема. Напиши" in again.stdout
    new_run = json.loads((tmp_path / "ckpt" / "run_fingerprint.json").read_text())
    assert new_run["fingerprint"] != old_run["fingerprint"] and new_run["finished"]
    assert json.loads((tmp_path / "train.json").read_text())["optimizer_steps"] == 4
    assert (tmp_path / "adapter" / "adapter_model.safetensors").read_bytes() != old_adapter
    tsv = tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv"
    steps = [int(line.split("\t")[0]) for line in tsv.read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4]  # trained from step 0, the old series replaced


@pytest.mark.slow
def test_two_processes_train_with_ddp_on_cpu(gemma_base, tmp_path):
    done = subprocess.run(stage(tmp_path, gemma_base[0], max_steps=4, num_processes=2), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "train.json").read_text())
    assert metrics["processes"] == 2
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_long_train_poems_train_in_pieces_and_are_counted(gemma_base, tmp_path):
    # Every toy poem (107-135 tokens with its prompt) is longer than max_length=100
    write_jsonl(tmp_path / "data" / "train.jsonl", toy_records(6) * 2)
    write_jsonl(tmp_path / "data" / "val.jsonl", [{**r, "completion": r["completion"].split("\n\n")[0]}
                                                  for r in toy_records(2, start=4)])
    done = subprocess.run(stage(tmp_path, gemma_base[0], max_steps=2, max_length=100), cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "train.json").read_text())
    assert {k: metrics[k] for k in ("train_poems", "train_pieces", "train_poems_split",
                                    "train_poems_left_out_line_too_long", "val_poems",
                                    "val_poems_left_out_too_long")} == {
        "train_poems": 12, "train_pieces": 26, "train_poems_split": 12,
        "train_poems_left_out_line_too_long": 0, "val_poems": 2, "val_poems_left_out_too_long": 0}
    assert "example toy-0#2/2" in done.stdout and "(продолжение)\n\n]]" in done.stdout
