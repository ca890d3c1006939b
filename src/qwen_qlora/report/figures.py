"""The pipeline's key figures (metrics/*.json) as lines a person reads in a terminal: one
figure a line, its 95% interval beside it (the `_ci_low` / `_ci_high` companions folded in).

`dvc metrics show` lays every file's keys out as the columns of one table (thousands of
characters wide); `qwen-qlora figures` prints the same numbers down the page, and
`dvc metrics diff` already prints one line per figure that changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CI_ENDS = ("_ci_low", "_ci_high")


def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{dotted.path: value} of a nested metrics dict (lists kept whole)."""
    out: dict[str, Any] = {}
    for name, value in node.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _number(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "-" if v is None else str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def figure_lines(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted key, value with its interval) for every figure of one metrics file."""
    flat = flatten(figures)
    lines = []
    for key, value in flat.items():
        if key.endswith(CI_ENDS) and key.removesuffix("_ci_low").removesuffix("_ci_high") in flat:
            continue
        lo, hi = flat.get(f"{key}_ci_low"), flat.get(f"{key}_ci_high")
        interval = f" [{_number(lo)}, {_number(hi)}]" if lo is not None and hi is not None else ""
        lines.append((key, _number(value) + interval))
    return lines


def render(metrics_dir: Path, names: list[str] | None = None) -> str:
    """Every (or each named) metrics file's figures, a header line per file."""
    paths = sorted(metrics_dir.glob("*.json")) if not names else [metrics_dir / f"{n.removesuffix('.json')}.json"
                                                                   for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise FileNotFoundError(f"{', '.join(missing) or metrics_dir}: no metrics file; run `dvc repro` "
                                "(or `dvc pull`) first, or name one of metrics/*.json")
    out = []
    for path in paths:
        lines = figure_lines(json.loads(path.read_text(encoding="utf-8")))
        width = max((len(k) for k, _ in lines), default=0)
        out.append(f"{path}")
        out += [f"  {key:<{width}}  {value}" for key, value in lines]
    return "\n".join(out)
