"""Sharing pipeline outputs through DVC remotes: a shared directory and an S3 server.

Why this project and not a hand-made one: the test runs this repository's own dvc.yaml
and stage scripts (scrape -> clean -> split, the real readers, cleaning and leak-free
split) in a copy whose `corpus.sources` points at a toy corpus generated in the test, so
what is pushed and pulled are real DVC outputs with deps, params, outs and metrics, and
the check that `dvc repro` re-runs nothing covers exactly what a teammate would see. The
model stages are left out: they need a model download and minutes of CPU, and DVC moves
their outputs by the same code path as any other output. Each roundtrip takes ~15 s.

The S3 remote is moto's S3 server on 127.0.0.1 (any S3-compatible store speaks the same
protocol); the access keys are given the two ways the README tells people to use, DVC's
git-ignored `--local` config upstream and environment variables in the clone.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from fixtures.toy_project import dvc, git, make_project

OUTS = ["data/raw/toy.jsonl", "data/interim/poems.jsonl", "data/processed/train.jsonl",
        "data/processed/val.jsonl", "data/processed/reference.jsonl"]
# made at run time, so that finding them in a tracked file can only mean they leaked; hex, so
# that no value starts with "-" (which the dvc command line would read as an option)
KEY_ID, SECRET = "AKIA" + secrets.token_hex(8).upper(), secrets.token_hex(20)


def run_and_push(tmp: Path, configure) -> Path:
    """Upstream: run the corpus stages, configure a remote, commit, push."""
    repo = make_project(tmp)
    dvc(repo, "repro", "split")
    configure(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "corpus stages run; remote configured")
    push = dvc(repo, "push", "--with-deps", "split")
    assert "pushed" in push.stdout, push.stdout
    return repo


def pull_in_fresh_clone(tmp: Path, repo: Path, env: dict[str, str] | None = None) -> Path:
    """Downstream: a new clone (no cache, no outputs) pulls, is clean and re-runs nothing."""
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    assert not (clone / "data").exists() and not (clone / ".dvc" / "cache").exists()
    dvc(clone, "pull", "--with-deps", "split", env=env)
    for out in OUTS:
        assert (clone / out).read_bytes() == (repo / out).read_bytes(), out
    status = dvc(clone, "status", "--with-deps", "split", env=env)
    assert "up to date" in status.stdout, status.stdout
    repro = dvc(clone, "repro", "split", env=env)
    assert "Running stage" not in repro.stdout, repro.stdout
    for stage in ("scrape", "clean", "split"):
        assert f"Stage '{stage}' didn't change" in repro.stdout, repro.stdout
    return clone


def test_local_directory_remote_roundtrip(tmp_path):
    store = tmp_path / "team-store"

    def configure(repo):
        dvc(repo, "remote", "add", "-d", "shared", str(store))

    repo = run_and_push(tmp_path, configure)
    assert any((store / "files" / "md5").rglob("*")), "nothing landed in the remote"
    pull_in_fresh_clone(tmp_path, repo)


@pytest.fixture
def s3_server():
    """moto's S3 server on a free 127.0.0.1 port, with an empty bucket."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    pytest.importorskip("dvc_s3", reason="needs the s3 extra: pip install -e '.[s3]'")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    s3.create_bucket(Bucket="team-bucket")
    yield url, s3
    server.stop()


def test_s3_remote_roundtrip_and_no_credentials_in_git(tmp_path, s3_server):
    url, s3 = s3_server

    def configure(repo):
        dvc(repo, "remote", "add", "-d", "storage", "s3://team-bucket/qwen-qlora")
        dvc(repo, "remote", "modify", "storage", "endpointurl", url)
        dvc(repo, "remote", "modify", "storage", "region", "us-east-1")
        dvc(repo, "remote", "modify", "--local", "storage", "access_key_id", KEY_ID)
        dvc(repo, "remote", "modify", "--local", "storage", "secret_access_key", SECRET)

    repo = run_and_push(tmp_path, configure)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="team-bucket").get("Contents", [])]
    assert any(k.startswith("qwen-qlora/files/md5/") for k in keys), keys

    # the keys sit in the git-ignored .dvc/config.local, in no tracked file or commit
    assert SECRET in (repo / ".dvc" / "config.local").read_text()
    assert "config.local" in git(repo, "status", "--porcelain", "--ignored", ".dvc")
    for path in git(repo, "ls-files").splitlines():
        text = (repo / path).read_bytes()
        assert SECRET.encode() not in text and KEY_ID.encode() not in text, path
    history = git(repo, "log", "-p", "--all")
    assert SECRET not in history and KEY_ID not in history
    assert url in (repo / ".dvc" / "config").read_text()  # the endpoint is shared, not secret

    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    clone = pull_in_fresh_clone(tmp_path, repo, env=env)
    assert not (clone / ".dvc" / "config.local").exists()
