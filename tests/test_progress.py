"""Progress lines: units of the total, time so far and left; one line per group of steps
outside a terminal, nothing from a silent one."""

from __future__ import annotations

import io

from qwen_qlora.progress import Progress, duration, progress_line, timing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (0.4, 42, 185, 3725)] == ["0 s", "42 s", "3 m 05 s", "1 h 02 m"]


def test_time_left_is_the_time_per_unit_so_far_times_the_units_left():
    assert timing(30.0, 10, 30) == "30 s elapsed, ~1 m 30 s left"
    assert timing(5.0, 0, 8) == "5 s elapsed"  # nothing done: no estimate yet
    assert timing(65.0, 8, 0) == "1 m 05 s elapsed"  # nothing left: no estimate
    # a resumed run: the estimate counts only what this run did
    assert progress_line("train", "step", 30, 40, "loss 1.0000", 20.0, done_here=10) == (
        "train: step 30/40 (75%): loss 1.0000; 20 s elapsed, ~20 s left")


def test_a_task_outside_a_terminal_prints_one_line_per_tenth_and_the_last():
    clock, out = Clock(), io.StringIO()
    progress = Progress("evaluate: adapted", 40, "test poems", out=out, bar=False, clock=clock)
    for _ in range(20):  # batches of 2 poems, 3 s each
        clock.now += 3.0
        progress(2)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in out.getvalue()
    assert lines[0] == "evaluate: adapted: test poems 4/40 (10%); 6 s elapsed, ~54 s left"
    assert lines[-1] == "evaluate: adapted: test poems 40/40 (100%); 1 m 00 s elapsed"


def test_a_short_task_prints_a_line_per_unit_and_notes_join_the_line():
    clock, out = Clock(), io.StringIO()
    rows = Progress("generate", 3, "row", lines=3, out=out, bar=False, clock=clock)
    clock.now += 40.0
    rows.advance(note="base: 8 poems x 1 in 40 s")
    assert out.getvalue() == "generate: row 1/3 (33%): base: 8 poems x 1 in 40 s; 40 s elapsed, ~1 m 20 s left\n"


def test_a_silent_task_keeps_time_for_its_caller():
    clock, out = Clock(), io.StringIO()
    progress = Progress("write", 8, "poem", lines=0, out=out, bar=True, clock=clock)  # no bar either
    clock.now += 10.0
    progress(2)
    assert out.getvalue() == "" and progress.timing() == "10 s elapsed, ~30 s left"
    assert progress.line() == "write: poem 2/8 (25%); 10 s elapsed, ~30 s left"


def test_in_a_terminal_a_bar_on_stderr_and_no_lines(monkeypatch, capsys):
    out = io.StringIO()
    with_bar = Progress("evaluate: base", 4, "test poems", out=out, bar=True)
    for _ in range(4):
        with_bar(1)
    assert out.getvalue() == "" and with_bar._bar is None  # closed at the total
    assert "evaluate: base" in capsys.readouterr().err


def test_an_empty_task_says_nothing():
    out = io.StringIO()
    Progress("evaluate: base: membership", 0, "train poems", out=out, bar=False)(0)
    assert out.getvalue() == ""
