"""Atomic file writing and line-numbered JSONL reading, shared by every stage.

Every output is written to a temporary file beside its destination and renamed into
place, so a crash halfway leaves the old file (or none), never half of a new one.
"""

from __future__ import annotations

import fnmatch
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[TextIO]:
    """Open a temp file next to `path`; on success rename it over `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any, ascii_only: bool = False) -> None:
    """Write pretty UTF-8 JSON atomically (`ascii_only`: non-ASCII characters escaped)."""
    with atomic_open(path) as fh:
        json.dump(data, fh, ensure_ascii=ascii_only, indent=2, sort_keys=False)
        fh.write("\n")


def write_metrics(path: str | Path, data: Any) -> None:
    """A DVC metrics file: JSON with non-ASCII characters escaped. DVC refuses a metrics
    file as binary when over 30% of its first 512 bytes are not ASCII text, which a few
    Russian form descriptions near the top are enough for."""
    write_json(path, data, ascii_only=True)


def key_figures(full: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The entries of `full` whose dotted path matches one of `keys`, nested as in `full`.

    A key is an fnmatch pattern over dotted paths ("headline.*", "*.rhyme_rate"); one
    ending in "+ci" also keeps the path's `_ci_low` / `_ci_high` companions. A pattern may
    match nothing (a row a run left out); `unmatched_keys` lists those, for tests.
    """
    patterns: list[tuple[str, bool]] = [(k[:-3], True) if k.endswith("+ci") else (k, False) for k in keys]
    kept: dict[str, Any] = {}

    def wanted(path: str) -> bool:
        for pattern, with_ci in patterns:
            names = [path]
            if with_ci:
                names += [path[: -len(end)] for end in ("_ci_low", "_ci_high") if path.endswith(end)]
            if any(fnmatch.fnmatchcase(n, pattern) for n in names):
                return True
        return False

    def walk(node: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
        for name, value in node.items():
            path = f"{prefix}{name}"
            if isinstance(value, dict):
                inner: dict[str, Any] = {}
                walk(value, path + ".", inner)
                if inner:
                    out[name] = inner
            elif wanted(path):
                out[name] = value

    walk(full, "", kept)
    return kept


def unmatched_keys(full: dict[str, Any], keys: Iterable[str]) -> list[str]:
    """The key-figure patterns that keep nothing of `full`."""
    return [k for k in keys if not key_figures(full, [k])]


def write_figures(metrics_path: str | Path, detail_path: str | Path, full: dict[str, Any],
                  keys: Iterable[str]) -> None:
    """Every figure to `detail_path` (a data output the report reads) and the key figures
    people compare across runs (`dvc metrics diff`) to the DVC metrics file."""
    figures = key_figures(full, keys)
    write_json(detail_path, full)
    write_metrics(metrics_path, figures)


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line atomically; return the number of records."""
    n = 0
    with atomic_open(path) as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL file; a bad line raises ValueError naming the file and line."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg}); "
                                 f"delete the file and re-run the stage that writes it") from err
            if not isinstance(rec, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object per line")
            out.append(rec)
    return out


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_open(path) as fh:
        fh.write(text)
