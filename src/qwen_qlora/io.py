"""Atomic file writing and line-numbered JSONL reading, shared by every stage.

Every output is written to a temporary file beside its destination and renamed into
place, so a crash halfway leaves the old file (or none), never half of a new one.
"""

from __future__ import annotations

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
