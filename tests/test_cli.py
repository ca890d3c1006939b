"""The `qwen-qlora` command on a tiny model: write, compare and merge work; every command
has --help with an example; bad input fails with one readable line."""

from __future__ import annotations

import pytest
from fixtures.adapters import tiny_project
from typer.testing import CliRunner

from qwen_qlora.app.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def project(gemma_base, tmp_path_factory):
    return tiny_project(tmp_path_factory.mktemp("project"), gemma_base[0], ["зима", "море"])


def invoke(project, monkeypatch, *args):
    monkeypatch.chdir(project)
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("command", ["scan", "write", "compare", "serve", "merge", "export"])
def test_help_has_an_example(command):
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0 and "Example: qwen-qlora " + command in " ".join(res.output.split())


def test_write_is_seeded_and_takes_sampling_options(project, monkeypatch):
    args = ("write", "зима", "-n", "2", "--seed", "3", "--temperature", "0.9", "--top-p", "0.9",
            "--max-new-tokens", "12", "--base")
    first, again = invoke(project, monkeypatch, *args), invoke(project, monkeypatch, *args)
    assert first.exit_code == 0, first.output
    assert first.stdout.count("зима · base") == 2 and first.stdout == again.stdout
    assert first.stdout.count("quoting gate: checked against 6 known texts: passed") == 2
    other = invoke(project, monkeypatch, *args[:4], "4", *args[5:])
    assert other.stdout != first.stdout


def test_write_writes_the_requested_form_and_free_poems_one_switch_away(project, monkeypatch):
    args = ("write", "зима", "-n", "1", "--max-new-tokens", "8")
    formed = invoke(project, monkeypatch, *args, "--form", "trochee 4 ABAB x2")
    assert formed.exit_code == 0, formed.output
    assert "зима · adapted · 1 · хореем, 4 стопы, рифмовка ABAB, 2 строфы по 4 строки" in " ".join(formed.stdout.split())
    parts = invoke(project, monkeypatch, *args, "--meter", "trochee", "--feet", "4", "--stanzas", "2")
    assert parts.stdout == formed.stdout  # the same form in parts
    auto = invoke(project, monkeypatch, *args)  # params.yaml's generate.form: auto, the train poems' form
    assert "зима · adapted · 1 · ямбом, 4 стопы, рифмовка ABAB, 2 строфы по 4 строки" in " ".join(auto.stdout.split())
    free = invoke(project, monkeypatch, *args, "--free")
    assert free.exit_code == 0 and "зима · adapted · 1 ─" in free.stdout.splitlines()[0]  # no form named
    assert free.stdout != auto.stdout


def test_write_shows_each_poem_on_stderr_and_stdout_keeps_only_the_poems(project, monkeypatch):
    args = ("write", "зима", "-n", "2", "--max-new-tokens", "8")
    for how in (("--form", "trochee 4 ABAB x2"), ("--free",)):
        res = invoke(project, monkeypatch, *args, *how)
        assert res.exit_code == 0, res.output
        shown = [ln for ln in res.stderr.splitlines() if ln.startswith("write: poem")]
        assert shown[-1].startswith("write: poem 2/2 (100%); ") and shown[-1].endswith(" elapsed")
        if how[0] == "--form":  # one after another: a line per poem, with the time left
            assert shown[0].startswith("write: poem 1/2 (50%); ") and shown[0].endswith(" left")
        assert "write:" not in res.stdout and "loading" not in res.stdout
        assert res.stdout.count("зима · adapted") == 2 and res.stdout.startswith("─")


def test_compare_prints_base_and_adapted_side_by_side(project, monkeypatch):
    res = invoke(project, monkeypatch, "compare", "море", "--no-scan", "--max-new-tokens", "10", "--free")
    assert res.exit_code == 0, res.output
    header = next(line for line in res.stdout.splitlines() if "base" in line)
    assert "adapted" in header  # one row, two columns
    assert "temperature 0.8, top-p 0.95, free, max 10 new tokens" in " ".join(res.stdout.split())  # params.yaml + option


@pytest.mark.parametrize("args, message", [
    (("write", "зима", "--temperature", "0"), "generate.temperature: must be > 0, got 0.0"),
    (("write", "зима", "--vocab", "some"), "generate.vocab: 'some' is not allowed"),
    (("write", "зима", "-n", "9"), "n = 9 is out of range"),
    (("write", "  "), "the theme is empty"),
    (("write", "зима", "--adapter", "nowhere"), "nowhere: no adapter_config.json"),
    (("scan", "missing.txt"), "missing.txt: no such file"),
    (("merge", "--out", "merged", "--dtype", "nf4"), "never into 4-bit"),
    (("export", "--gguf", "gguf", "--types", "q3"), "choose among f16, bf16, q8_0, q4_k_m"),
    (("export", "--gguf", "gguf"), "head_dim=32 (needs 256)"),
    (("write", "зима", "--params", "nope.yaml"), "nope.yaml: file not found"),
    (("write", "зима", "--meter", "jamb", "--feet", "4"), "meter 'jamb' in 'jamb 4 ABAB x3' is not one of"),
    (("write", "зима", "--meter", "iamb", "--scheme", "ABC", "--feet", "4"), "scheme 'ABC' in 'iamb 4 ABC x3'"),
    (("write", "зима", "--meter", "iamb"), "--feet is needed with --meter"),
    (("write", "зима", "--form", "iamb 4"), "form: 'iamb 4' is not a form"),
    (("compare", "зима", "--form", "iamb 4 ABAB x3", "--free"), "--free and --form ask for different things"),
])
def test_bad_input_fails_with_one_line(project, monkeypatch, args, message):
    res = invoke(project, monkeypatch, *args)
    assert res.exit_code == 1
    lines = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], res.output
    assert "Traceback" not in res.output


def test_no_poem_without_the_quoting_index(project, monkeypatch):
    index = project / "models/quoting_index.pkl"
    index.rename(index.with_suffix(".away"))
    try:
        res = invoke(project, monkeypatch, "write", "зима", "-n", "1")
    finally:
        index.with_suffix(".away").rename(index)
    assert res.exit_code == 1 and "no quoting index" in res.output and "dvc repro generate" in res.output


def test_merge_command_reports_the_difference(project, monkeypatch):
    res = invoke(project, monkeypatch, "merge", "--out", "merged", "--dtype", "fp32")
    assert res.exit_code == 0, res.output
    assert "max |logit difference|" in res.stdout and "max KL" in res.stdout
    assert (project / "merged/model.safetensors").is_file() and (project / "merged/README.md").is_file()


def test_export_command_writes_checked_gguf_files(tmp_path, monkeypatch):
    from fixtures.tiny_models import sentencepiece_tokenizer, tiny_gemma_for_export

    tok = sentencepiece_tokenizer()
    tiny_gemma_for_export(len(tok)).save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    (tmp_path / "project").mkdir()
    project = tiny_project(tmp_path / "project", tmp_path / "base", ["зима"])
    res = invoke(project, monkeypatch, "export", "--gguf", "gguf", "--types", "f16,q8_0")
    assert res.exit_code == 0, res.output
    out = " ".join(res.stdout.split())
    assert "tiny-akhmatova-f16.gguf" in out and "tiny-akhmatova-q8_0.gguf" in out and "max KL" in out
    assert "train 6, validation 2, test 2 poems" in (project / "gguf/README.md").read_text()
    assert (project / "gguf/tiny-akhmatova-q8_0.gguf").stat().st_size < (project / "gguf/tiny-akhmatova-f16.gguf").stat().st_size


@pytest.mark.parametrize(("command", "blocked"), [("write", True), ("serve", True), ("scan", False), ("merge", False)])
def test_inference_commands_start_without_bitsandbytes(command, blocked):
    """The console script marks bitsandbytes absent for commands that never load a 4-bit
    model (its import compiles kernels: a quarter of write's import time), and only those."""
    import subprocess
    import sys

    code = (f"import sys; from qwen_qlora.app.cli import main; sys.argv = ['qwen-qlora', '{command}', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('BLOCKED' if 'bitsandbytes' in sys.modules and sys.modules['bitsandbytes'] is None else 'OPEN')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == ("BLOCKED" if blocked else "OPEN")
    assert "Usage" in done.stdout  # the command itself still runs


@pytest.mark.parametrize(("preset", "want"), [
    ({}, "None 10000"),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE None"),
    ({"GOMP_SPINCOUNT": "5"}, "None 5"),
])
def test_the_console_script_shortens_openmp_spinning_unless_told_otherwise(preset, want):
    """GOMP_SPINCOUNT defaults to 10,000 before torch is imported (long-spinning threads beside
    a busy process slowed decoding x10); a wait policy or spin count the user set is kept."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(preset)
    code = ("import os, sys; from qwen_qlora.app.cli import main; sys.argv = ['qwen-qlora', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"{want} False"  # set before torch loads


@pytest.mark.parametrize(("preset", "want"), [({}, "10000"), ({"OMP_WAIT_POLICY": "PASSIVE"}, "")])
def test_the_dvc_wrapper_shortens_openmp_spinning_unless_told_otherwise(tmp_path, preset, want):
    """tools/dvc exports the same default to the stages it runs."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    wrapper = Path(__file__).parents[1] / "tools" / "dvc"
    shutil.copy(wrapper, tmp_path / "dvc")
    (tmp_path / "python").write_text('#!/bin/sh\necho "${GOMP_SPINCOUNT:-}"\n')
    (tmp_path / "python").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(preset)
    done = subprocess.run(["sh", str(tmp_path / "dvc"), "status"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == want
