"""End to end: `dvc repro split` in a temporary copy of the repository."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.toy_project import copy_checkout

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "corpus" / "sources"


@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/corpus beside the checkout")
def test_dvc_repro_split_in_a_copy(tmp_path):
    repo = copy_checkout(tmp_path / "main")
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc = [sys.executable, "-m", "dvc"]
    # the stages' `python` must be this interpreter, whatever PATH the tests started with
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run([*dvc, "repro", "split"], cwd=repo, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr

    corpus = json.loads((repo / "metrics/corpus.json").read_text())
    split = json.loads((repo / "metrics/split.json").read_text())
    assert 200 <= corpus["author"]["final"] <= 240
    assert sum(len(v) for v in corpus.values()) < 40  # headline figures only
    stats = json.loads((repo / "data/interim/corpus_stats.json").read_text())
    assert stats["by_author"]["akhmatova"] == corpus["author"]
    assert split["train_poems"] + split["val_poems"] + split["test_poems"] == split["target_poems"]
    assert split["test_poems"] >= 25 and split["theme_neutral_share"] + split["theme_lexicon_share"] \
        + split["theme_wide_lexicon_share"] == pytest.approx(1.0, abs=1e-3)
    for name in ("train", "val", "test"):
        for line in (repo / f"data/processed/{name}.jsonl").read_text().splitlines():
            poem = json.loads(line)["completion"]
            assert not re.search(r"https?://|www\.|\u0301|^[ \t]|Приятного чтения", poem, re.M), poem[:80]
    again = subprocess.run([*dvc, "repro", "split"], cwd=repo, capture_output=True, text=True, env=env)
    assert "didn't change" in again.stdout or "is cached" in again.stdout, again.stdout
