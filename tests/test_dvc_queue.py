"""`dvc exp run --queue` + `dvc queue start` + `dvc exp show`, on a tiny DVC project.

The project here is a toy one built in the test (a one-stage gradient descent with a
learning-rate param and a loss metric) rather than this repository's pipeline: the
queue's mechanics (variants staged with -S, run by a background worker in temporary
copies, results compared by `dvc exp show`) do not depend on what the stage computes, and
a toy stage keeps the test at ~20 s instead of minutes per variant.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from fixtures.toy_project import dvc, git, make_project

TRAIN = textwrap.dedent("""\
    import json
    import yaml

    p = yaml.safe_load(open("params.yaml"))["train"]
    w = 0.0                                  # fit y = 3x on x = 1..4 by gradient descent
    xs = [1.0, 2.0, 3.0, 4.0]
    for _ in range(p["steps"]):
        grad = sum(2 * (w * x - 3 * x) * x for x in xs) / len(xs)
        w -= p["lr"] * grad
    loss = sum((w * x - 3 * x) ** 2 for x in xs) / len(xs)
    json.dump({"w": w}, open("model.json", "w"))
    json.dump({"loss": loss}, open("metrics.json", "w"))
""")
DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [train]
        outs: [model.json]
        metrics:
          - metrics.json:
              cache: false
""")


def expected_loss(lr: float, steps: int = 10) -> float:
    w, xs = 0.0, [1.0, 2.0, 3.0, 4.0]
    for _ in range(steps):
        w -= lr * sum(2 * (w * x - 3 * x) * x for x in xs) / len(xs)
    return sum((w * x - 3 * x) ** 2 for x in xs) / len(xs)


def run_queue(repo: Path, timeout_s: float = 300) -> str:
    """`dvc queue start`, then wait until nothing is queued or running; the final status."""
    dvc(repo, "queue", "start")
    deadline = time.monotonic() + timeout_s
    while True:
        status = dvc(repo, "queue", "status").stdout
        if not any(s in status for s in ("Queued", "Running")) or time.monotonic() > deadline:
            return status
        time.sleep(1)


def exp_rows(repo: Path) -> dict[str, dict[str, str]]:
    """`dvc exp show --csv` as {experiment name: {column: value}}."""
    shown = dvc(repo, "exp", "show", "--csv").stdout
    return {r["Experiment"]: r for r in csv.DictReader(io.StringIO(shown)) if r["Experiment"]}


def test_queue_two_variants_and_compare(tmp_path):
    repo = tmp_path / "toy"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("train:\n  lr: 0.001\n  steps: 10\n")
    git(repo, "init", "-q", "-b", "main")
    dvc(repo, "init", "-q")
    dvc(repo, "repro")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")

    for name, lr in (("slow-lr", "0.005"), ("fast-lr", "0.02")):
        queued = dvc(repo, "exp", "run", "--queue", "-n", name, "-S", f"train.lr={lr}")
        assert f"Queued experiment '{name}'" in queued.stdout, queued.stdout
    status = run_queue(repo)
    assert status.count("Success") == 2, status + dvc(repo, "queue", "logs", "slow-lr", check=False).stdout

    rows = exp_rows(repo)
    assert {"slow-lr", "fast-lr"} <= set(rows), rows
    for name, lr in (("slow-lr", 0.005), ("fast-lr", 0.02)):
        assert float(rows[name]["train.lr"]) == lr
        assert abs(float(rows[name]["loss"]) - expected_loss(lr)) < 1e-6 * max(1.0, expected_loss(lr))
    assert float(rows["fast-lr"]["loss"]) < float(rows["slow-lr"]["loss"])
    # the workspace is untouched: the variants ran in temporary copies
    assert "lr: 0.001" in (repo / "params.yaml").read_text()
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True).stdout.strip() == ""


@pytest.mark.slow
def test_queue_on_the_project_pipeline_with_the_shared_link(tmp_path):
    """The README's recipe on this repository's corpus stages: queued variants run in
    .dvc/tmp/exps/<tmp>/, where `../shared` is not beside them; the README's link fixes
    that, and without it the scrape stage fails on the missing corpus."""
    repo = make_project(tmp_path)
    dvc(repo, "repro", "split")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "corpus stages run")
    (repo / ".dvc" / "tmp" / "exps").mkdir(parents=True)
    os.symlink("../../../../shared", repo / ".dvc" / "tmp" / "exps" / "shared")
    for name, fraction in (("val10", "0.1"), ("val25", "0.25")):
        dvc(repo, "exp", "run", "--queue", "-n", name, "-S", f"split.val_fraction={fraction}", "split")
    status = run_queue(repo)
    assert status.count("Success") == 2, status + dvc(repo, "queue", "logs", "val10", check=False).stdout
    rows = exp_rows(repo)
    assert int(rows["val25"]["val_poems"]) > int(rows["val10"]["val_poems"]) > 0
