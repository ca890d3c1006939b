"""The README's `.venv/bin/dvc ...` commands work from a shell where the venv is not
activated: `make install` puts tools/dvc in as the venv's `dvc`, which runs the stages'
`python stages/...` in the same environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_DVC = Path(sys.executable).parent / "dvc"


def test_readme_calls_dvc_through_the_venv():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    runs = re.findall(r"^`?(\S*dvc) (?:repro|exp run|queue start)\b", readme, flags=re.M)
    assert runs and set(runs) == {".venv/bin/dvc"}, sorted(set(runs))


@pytest.mark.skipif(VENV_DVC.read_bytes() != (ROOT / "tools/dvc").read_bytes(),
                    reason="this environment was not made by `make install` (its dvc is not tools/dvc)")
def test_a_stage_runs_in_the_venv_from_a_shell_without_it(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "dvc.yaml").write_text(
        "stages:\n  which:\n    cmd: python -c \"import sys, qwen_qlora; print(sys.prefix)\" > prefix.txt\n"
        "    outs: [prefix.txt]\n", encoding="utf-8")
    bare = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": "/usr/bin:/bin"}
    subprocess.run([str(VENV_DVC), "init", "--no-scm", "-q"], cwd=project, env=bare, check=True)
    done = subprocess.run(f"{VENV_DVC} repro -q", shell=True, cwd=project, env=bare, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Path((project / "prefix.txt").read_text().strip()).resolve() == Path(sys.prefix).resolve()


def test_the_two_commands_and_the_results_table_open_the_readme():
    """A newcomer reads the two commands and the figures in the first 40 lines."""
    head = (ROOT / "README.md").read_text(encoding="utf-8").split("\n")[:40]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)
    assert any(line.startswith("| figure |") for line in head)
    linked = [d for d in ("docs/results.md", "docs/pipeline.md") if any(d in line for line in head)]
    assert linked == ["docs/results.md", "docs/pipeline.md"]
    for doc in linked:
        assert (ROOT / doc).is_file()
