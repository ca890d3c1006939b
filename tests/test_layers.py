"""The library's floors (docs/architecture.md): a package imports only from its own floor or
the floors below it, the package graph has no cycle, and the top level holds only packages
and the bottom-layer modules. Lazy imports inside functions count too."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "qwen_qlora"

FLOORS = {
    "config": 0, "io": 0, "text": 0, "stats": 0, "rows": 0,   # the bottom layer
    "progress": 0,
    "metrics": 1,                                              # pure functions of texts
    "model": 2,                                                # load, lora, head, prompts
    "corpus": 3, "training": 3, "generation": 3,
    "evaluation": 4,                                           # scores rows, probes decoding
    "report": 5, "app": 5,                                     # what people read and run
}


def imports() -> dict[str, set[str]]:
    """Top-level part (package or bottom module) -> the parts it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in SRC.rglob("*.py"):
        part = path.relative_to(SRC).parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            graph[part].update(n.split(".")[1] for n in names
                               if n.startswith("qwen_qlora.") and n.split(".")[1] != part)
    return graph


def test_top_level_holds_packages_and_the_bottom_layer_only():
    loose = sorted(p.stem for p in SRC.glob("*.py") if p.stem != "__init__")
    packages = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())
    assert [m for m in loose if FLOORS.get(m) != 0] == []
    assert sorted(set(loose) | set(packages)) == sorted(FLOORS)


@pytest.mark.parametrize("part", sorted(FLOORS))
def test_no_import_runs_up_a_floor(part):
    up = {dst: FLOORS[dst] for dst in imports().get(part, ()) if FLOORS[dst] > FLOORS[part]}
    assert up == {}, f"{part} (floor {FLOORS[part]}) imports from higher floors {up}"


def test_package_graph_has_no_cycle():
    graph = imports()
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle {' -> '.join((*path, node))}"
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, (*path, node))
        done.add(node)

    for part in sorted(FLOORS):
        visit(part, ())
