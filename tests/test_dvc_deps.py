"""Every module a DVC stage imports, and every params section it reads, is declared in
dvc.yaml, so DVC's cache is right: a code or params change re-runs the stages it affects
and no others."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from qwen_qlora.config import Decoding, TrainParams, VerseParams

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]

# Run in a fresh interpreter: load the stage script as a module (main() is not called)
# and list the project's modules that came with it.
PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("stage_under_test", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items()
                        if n.startswith("qwen_qlora") and getattr(m, "__file__", None))))
"""


def _script(stage: dict) -> Path:
    return ROOT / stage["cmd"].split()[1]


def _imported(script: Path) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, str(script)], capture_output=True, text=True,
                         cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    files = {Path(f).resolve().relative_to(ROOT).as_posix() for f in json.loads(out.stdout)}
    return {f for f in files if not f.endswith("__init__.py")}


def _declared_code(stage: dict) -> set[str]:
    return {d for d in stage["deps"] if d.startswith("src/") and d.endswith(".py")}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_exactly_the_modules_it_imports(name):
    stage = STAGES[name]
    imported = _imported(_script(stage))
    declared = _declared_code(stage)
    assert _script(stage).relative_to(ROOT).as_posix() in stage["deps"]
    assert imported - declared == set(), f"{name}: imported but not in dvc.yaml deps"


def test_package_inits_hold_no_code():
    """__init__ files are left out of the deps: they may hold a docstring and a version only."""
    for init in (ROOT / "src").rglob("__init__.py"):
        body = ast.parse(init.read_text(encoding="utf-8")).body
        kinds = {type(n).__name__ for n in body}
        assert kinds <= {"Expr", "Assign"}, f"{init}: code in a package __init__ ({kinds})"


def _params_read(script: Path) -> set[str]:
    """Dotted `params.<section>[.<key>]` chains the stage script reads."""
    found = set()
    tree = ast.parse(script.read_text(encoding="utf-8"))
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:  # whole chains only
            chain = []
            cur = node
            while isinstance(cur, ast.Attribute):
                chain.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id == "params":
                found.add(".".join(reversed(chain)))
    return found


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_every_param_it_reads(name):
    stage = STAGES[name]
    declared = {p for p in stage.get("params", []) if isinstance(p, str)}
    for chain in _params_read(_script(stage)):
        parts = chain.split(".")
        if parts[-1] == "decoding":  # GenerateParams.decoding(): each Decoding field it copies
            fields = [f"generate.{f}" for f in Decoding.model_fields]
            missing = [f for f in fields if f not in declared and "generate" not in declared]
            assert not missing, f"{name}: reads params.{chain}, so dvc.yaml must declare {missing}"
            continue
        if chain == "train" and "verse.trainer" in _params_read(_script(stage)):
            # the train fields VerseParams.trainer keeps, each declared (or the whole section)
            fields = [f"train.{f}" for f in TrainParams.model_fields if f not in VerseParams.OWN_TRAIN_FIELDS]
            missing = [f for f in fields if f not in declared and "train" not in declared]
            assert not missing, f"{name}: reads params.train through verse.trainer, so dvc.yaml must declare {missing}"
            continue
        if "selected" in parts:  # a property of model: model.preset + model.presets
            parts = parts[:parts.index("selected")]
        covered = any(".".join(parts[:k]) in declared for k in range(1, len(parts) + 1))
        if parts[0] == "model" and len(parts) == 1:
            covered = {"model.preset", "model.presets"} <= declared or "model" in declared
        assert covered, f"{name}: reads params.{chain} but dvc.yaml declares only {sorted(declared)}"
