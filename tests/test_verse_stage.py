"""The verse stage end to end on a tiny model, and the train stage continuing its adapter
(slow: each run starts a fresh Python)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fixtures.other_poets import other_poem
from fixtures.tiny_models import toy_records

from qwen_qlora.corpus.reference import partition_reference
from qwen_qlora.io import read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
TINY = {"source": "tiny", "eos_token": "<eos>", "pad_token": "<pad>",
        "attn_implementation": "eager", "fp16_safe": False}
AUTHORS = ["blok", "fet", "tyutchev"]


@pytest.fixture(scope="module")
def workspace(gemma_base, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verse")
    data = tmp / "data"
    write_jsonl(data / "train.jsonl", toy_records(4))
    write_jsonl(data / "val.jsonl", toy_records(1, start=4))
    write_jsonl(data / "test.jsonl", toy_records(1, start=5))
    write_jsonl(data / "reference.jsonl", [{"id": f"{AUTHORS[i % 3]}-{i}", "author": AUTHORS[i % 3], "title": None,
                                            "text": other_poem(i), "variants": []} for i in range(30)])
    return tmp, gemma_base[0]


def run(tmp: Path, base: Path, script: str, verse: dict, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    params = {"model": {"preset": "tiny", "presets": {"tiny": TINY}},
              "train": {"eval_steps": 2, "logging_steps": 1, "per_device_train_batch_size": 2,
                        "early_stopping_patience": 0, "max_steps": 2, "learning_rate": 1e-3, "warmup_steps": 0.0},
              "verse": {"authors": ["fet", "blok"], "max_poems": 8, "max_per_author": 5, "val_poems": 2,
                        "max_steps": 4, "eval_steps": 2, **verse},
              "evaluate": {"retention_poems": 3}}
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    outs = {"verse": [tmp / "verse_ckpt", tmp / "verse", tmp / "verse.json"],
            "train": [tmp / "ckpt", tmp / "adapter", tmp / "train.json", tmp / "live"]}[script]
    return subprocess.run([sys.executable, str(ROOT / "stages" / f"{script}.py"), str(tmp / "data"), str(base),
                           *map(str, outs), *extra, "--params", str(tmp / "params.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_verse_stage_trains_on_other_poets_and_train_continues_it(workspace):
    tmp, base = workspace
    done = run(tmp, base, "verse", {})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp / "verse" / "adapter_model.safetensors").is_file()
    m = json.loads((tmp / "verse.json").read_text())
    assert m["enabled"] and m["optimizer_steps"] == 4 and m["train_examples"] == 8 and m["val_examples"] == 2
    assert m["poems_by_author"] == {"fet": 5, "blok": 3}  # poets in the listed order, capped
    assert m["trainer_eval_loss"] > 0 and m["train_tokens"] > 0 and m["runtime_s"] > 0
    assert m["heldout_poems"] == 3 and m["refused_poems"] == 0
    assert m["val_poems_scored"] == 2 and m["val_poem_loss_start"] == m["val_poem_loss_base"]
    learned = json.loads((tmp / "verse" / "verse_poems.json").read_text())
    target = [r for s in ("train", "val", "test") for r in read_jsonl(tmp / "data" / f"{s}.jsonl")]
    heldout = partition_reference(read_jsonl(tmp / "data" / "reference.jsonl"), target, "akhmatova", 3).heldout
    assert not {r["id"] for r in heldout} & set(learned["train"] + learned["val"])  # evaluate's set never learned
    assert not set(learned["train"]) & set(learned["val"])

    # verse.enabled without the verse folder is refused; with it, train continues the adapter
    missing = run(tmp, base, "train", {})
    assert missing.returncode != 0 and "--verse" in missing.stderr
    cont = run(tmp, base, "train", {}, ("--verse", str(tmp / "verse")))
    assert cont.returncode == 0, cont.stderr[-3000:]
    assert "continuing " + str(tmp / "verse") in cont.stdout
    t = json.loads((tmp / "train.json").read_text())
    assert t["from_verse_adapter"] is True and t["optimizer_steps"] == 2
    # her val poems' own tokens against the verse adapter it continued, and the base
    assert t["val_poems_scored"] == t["val_poems"] and t["val_poem_loss_start"] != t["val_poem_loss_base"]
    config = json.loads((tmp / "adapter" / "training_config.json").read_text())
    assert config["init_from"] == str(tmp / "verse")

    # verse.enabled false: the stage writes only a note, train starts a fresh LoRA
    off = run(tmp, base, "verse", {"enabled": False})
    assert off.returncode == 0, off.stderr[-3000:]
    assert json.loads((tmp / "verse.json").read_text()) == {"enabled": False}
    assert not (tmp / "verse" / "adapter_model.safetensors").exists()
    fresh = run(tmp, base, "train", {"enabled": False}, ("--verse", str(tmp / "verse")))
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    t2 = json.loads((tmp / "train.json").read_text())
    assert t2["from_verse_adapter"] is False
    assert t2["val_poem_loss_start"] == t2["val_poem_loss_base"] == t["val_poem_loss_base"]
    # a fresh LoRA starts at the base: its step-0 loss differs from the continued adapter's
    assert t2["trainer_base_eval_loss"] != t["trainer_base_eval_loss"]
