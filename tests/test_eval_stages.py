"""The evaluate and generate stages end to end on a tiny model: every model row, intervals,
the probe, quoting against every known text, and the gate that fails the stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fixtures.adapters import save_adapter
from fixtures.tiny_models import toy_records

from qwen_qlora.io import read_jsonl, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
TINY = {"source": "tiny", "eos_token": "<eos>", "pad_token": "<pad>",
        "attn_implementation": "eager", "fp16_safe": False}
ROWS = ["base", "base_4bit", "base_fewshot", "adapted_4bit", "adapted"]


@pytest.fixture(scope="module")
def workspace(gemma_base, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stages")
    base, _ = gemma_base
    save_adapter(base, tmp / "adapter")
    data = tmp / "data"
    write_jsonl(data / "train.jsonl", toy_records(4))
    write_jsonl(data / "val.jsonl", toy_records(1, start=4))
    write_jsonl(data / "test.jsonl", toy_records(2, start=4))
    write_jsonl(data / "reference.jsonl", [{"id": "blok-1", "author": "blok", "title": None,
                                            "text": "Ночь, улица, фонарь, аптека,\nбессмысленный и тусклый свет."}])
    write_jsonl(tmp / "raw" / "toy.jsonl", [{"source": "toy", "locator": "toy.txt#0", "text": "строка"}])
    return tmp, base


def run(tmp: Path, base: Path, script: str, outs: list[str], **params) -> subprocess.CompletedProcess:
    doc = {"model": {"preset": "tiny", "presets": {"tiny": TINY}},
           "split": {"prompt_template": "Напиши стихотворение на тему: {theme}"},
           "evaluate": {"batch_size": 2, "fewshot_shots": 1, "probe_max_new_tokens": 8},
           "generate": {"themes": ["зима", "море"], "samples_per_theme": 2, "max_new_tokens": 12}}
    for section, values in params.items():
        doc.setdefault(section, {}).update(values)
    (tmp / "params.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True))
    args = {"evaluate": [tmp / "data", base, tmp / "adapter"],
            "generate": [tmp / "data", tmp / "raw", base, tmp / "adapter"]}[script]
    return subprocess.run([sys.executable, str(ROOT / "stages" / f"{script}.py"), *map(str, args),
                           *[str(tmp / o) for o in outs], "--params", str(tmp / "params.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_evaluate_scores_every_row_with_intervals_and_the_probe(workspace):
    tmp, base = workspace
    done = run(tmp, base, "evaluate", ["eval.json", "per_poem.jsonl"])
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp / "eval.json").read_text())
    for row in ROWS:
        r = result[row]
        assert r["test_poems"] == 2 and r["test_perplexity_ci_low"] <= r["test_perplexity"] <= r["test_perplexity_ci_high"]
    assert result["base"]["test_tokens"] == result["adapted"]["test_tokens"]
    assert result["base_fewshot"]["test_perplexity"] != result["base"]["test_perplexity"]
    assert result["base_4bit"]["test_perplexity"] != result["base"]["test_perplexity"]
    h = result["headline"]
    assert (h["numerator"], h["denominator"]) == ("adapted", "base")
    assert h["test_perplexity_ratio"] == pytest.approx(
        result["adapted"]["test_perplexity"] / result["base"]["test_perplexity"], rel=1e-6)
    assert h["test_perplexity_ratio_ci_low"] <= h["test_perplexity_ratio"] <= h["test_perplexity_ratio_ci_high"]
    for key in ("probe_train_rate", "probe_test_rate", "probe_rate_gap"):
        assert key in result["adapted"] and f"{key}_ci_high" in result["adapted"]
    assert result["adapted"]["probe_train_poems"] == 4
    assert "probe_train_rate" not in result["base_4bit"]
    per_poem = read_jsonl(tmp / "per_poem.jsonl")
    assert len(per_poem) == 2 and all(f"{row}_perplexity" in per_poem[0] for row in ROWS)


def test_generate_writes_every_row_and_the_gate_fails_on_a_copying_sample(workspace):
    tmp, base = workspace
    outs = ["samples.jsonl", "samples.md", "generation.json"]
    done = run(tmp, base, "generate", outs, evaluate={"on_copy": "warn"})
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp / "generation.json").read_text())
    samples = read_jsonl(tmp / "samples.jsonl")
    assert {s["model"] for s in samples} == set(ROWS) and len(samples) == 5 * 2 * 2
    assert metrics["known_texts"] == 4 + 1 + 2 + 1 + 1
    for row in ROWS:
        m = metrics[row]
        assert m["n_generations"] == 4
        assert m["quatrain_compliance_share_ci_low"] <= m["quatrain_compliance_share"] <= m["quatrain_compliance_share_ci_high"]
        assert "uncut_lines_mean" in m and "gate_failure_share" in m
    assert all("text_cut" in s and "quoting" in s for s in samples)
    # Make the adapted samples known texts: the same seed writes them again, and the gate
    # must now fail the stage, naming the sample and the known text it copies.
    adapted = [s for s in samples if s["model"] == "adapted"]
    write_jsonl(tmp / "raw" / "copies.jsonl", [{"source": "copies", "locator": f"c.txt#{i}", "text": s["text"]}
                                               for i, s in enumerate(adapted)])
    try:
        strict = run(tmp, base, "generate", outs, evaluate={"on_copy": "fail", "min_line_words": 1})
    finally:
        (tmp / "raw" / "copies.jsonl").unlink()
    assert strict.returncode != 0
    assert "samples fail the quoting gate" in strict.stderr and "adapted / зима #0" in strict.stderr
    assert "raw:copies:c.txt#0" in strict.stderr or "empty" in strict.stderr
