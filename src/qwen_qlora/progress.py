"""Progress of a long task for the person waiting on it: units done of the total, time so
far and an estimate of the time left.

In a terminal (stderr is one) a task is a tqdm bar on stderr that clears itself when done;
elsewhere (DVC's logs, CI, a file) it is one plain line per group of steps, at most `lines`
lines a task (every 10% by default), with no carriage returns:

    evaluate: adapted: test poems 40/120 (33%); 12 s elapsed, ~24 s left

The estimate is the time per unit so far times the units left, as the training lines give
it (`training.trainer.ProgressLineCallback`, which formats its lines here). A `Progress` is
called with the units just done, so library loops take a plain callable (`progress=`) and
stay free of printing; the stage or the command decides where the lines go.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


def duration(seconds: float) -> str:
    """`42 s`, `3 m 05 s`, `1 h 02 m`."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} m {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds // 60 % 60:02d} m"


def timing(elapsed: float, done: int, left: int) -> str:
    """`30 s elapsed, ~1 m 30 s left`: the time per unit so far (`done` units in `elapsed`
    seconds) times the `left` units; the estimate only once a unit is done and some are left."""
    estimate = f", ~{duration(elapsed / done * left)} left" if done > 0 and left > 0 else ""
    return f"{duration(elapsed)} elapsed{estimate}"


def progress_line(label: str, unit: str, done: int, total: int, note: str, elapsed: float,
                  done_here: int | None = None) -> str:
    """`label: unit done/total (pct): note; elapsed, ~left`. `done_here`: the units this run
    did, when it did not start from zero (a resumed training), for the estimate."""
    counted = f"{unit} {done}/{total}" if unit else f"{done}/{total}"
    what = f": {note}" if note else ""
    return (f"{label}: {counted} ({done / max(total, 1):.0%}){what}; "
            f"{timing(elapsed, done if done_here is None else done_here, total - done)}")


class Progress:
    """`total` units of one task: call it with the units just done (`progress(4)`, or
    `advance(4, note)`). In a terminal a bar on stderr; else a line to `out` (stdout by
    default, beside the stage's other lines) each time another 1/`lines` of the total is
    done, and at the end. `lines=0`: silent, for a caller that shows `line()` itself.
    `bar`: None decides by whether stderr is a terminal."""

    def __init__(self, label: str, total: int, unit: str = "", *, lines: int = 10, out: TextIO | None = None,
                 bar: bool | None = None, clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.unit, self.lines, self.out, self.clock = label, total, unit, lines, out, clock
        self.done, self.started, self._group = 0, clock(), 0
        self._bar: Any = None
        self.terminal = bool(lines) and total > 0 and (sys.stderr.isatty() if bar is None else bar)
        if self.terminal:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit=f" {unit}" if unit else "it", leave=False,
                             file=sys.stderr, dynamic_ncols=True)

    def __call__(self, n: int = 1) -> None:
        self.advance(n)

    def advance(self, n: int = 1, note: str = "") -> None:
        """`n` more units done; `note` (what the last unit gave) joins the line, and in a
        terminal is written above the bar so that it stays."""
        self.done += n
        if self.terminal:
            if self._bar is not None:
                if note:
                    self._bar.write(self.line(note), file=sys.stderr)
                self._bar.update(n)
            if self.done >= self.total:
                self.close()
            return
        group = self.done * self.lines // max(self.total, 1)
        if self.lines and group > self._group:
            self._group = group
            print(self.line(note), file=self.out or sys.stdout, flush=True)

    def line(self, note: str = "") -> str:
        return progress_line(self.label, self.unit, self.done, self.total, note, self.clock() - self.started)

    def timing(self) -> str:
        """`12 s elapsed, ~20 s left`, for a caller's own status line."""
        return timing(self.clock() - self.started, self.done, self.total - self.done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
