"""Time to the first poem: where `qwen-qlora write` spends its time, cold and warm.

Cold: `qwen-qlora write THEME -n 1` as a new process, wall time from process start to the
printed poem, free (`--free`) and in the default form, each `--repeat` times (the first
run also pays the page cache). Breakdown: one process timing each step in the order
`write` takes them (the imports, the quoting index, the model with its adapter, the stress
model and attributor that `--scan` adds, the form decoder's word table), then a first and
a second poem on the loaded model (the demo page's case), free and formed. Prints the CPU
and torch's thread count beside the figures. The console script starts `write` without
importing bitsandbytes (`app.cli.main`); the breakdown does the same unless
`--with-bitsandbytes`, and the cold runs are also timed through the bare app, which
imports it (the before, side by side).

Needs a finished run in the working directory (models/adapter, models/quoting_index.pkl,
models/word_table.json, models/attributor).

Usage: PYTHONPATH=src python benchmarks/first_poem.py [--theme разлука] [--repeat 2]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def lap(label: str, since: float, rows: list[tuple[str, float]]) -> float:
    now = time.perf_counter()
    rows.append((label, now - since))
    return now


BARE_APP = [sys.executable, "-c", "from qwen_qlora.app.cli import app; app()"]  # no main(): imports bitsandbytes


def cold(theme: str, extra: list[str], repeat: int, command: list[str] | None = None) -> list[float]:
    """Wall seconds of `qwen-qlora write THEME -n 1 EXTRA` as new processes (`command`:
    another way to start the CLI)."""
    cli = command or [str(Path(sys.executable).parent / "qwen-qlora")]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([*cli, "write", theme, "-n", "1", *extra], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--theme", default="разлука")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--with-bitsandbytes", action="store_true", help="the breakdown imports it (as before)")
    args = ap.parse_args()
    if not args.with_bitsandbytes:  # as the console script starts write
        sys.modules["bitsandbytes"] = None  # type: ignore[assignment]

    rows: list[tuple[str, float]] = []
    t = STARTED
    import torch  # noqa: F401  (timed: what every command pays first)
    t = lap("import torch", t, rows)
    import transformers  # noqa: F401
    t = lap("import transformers", t, rows)
    from qwen_qlora.app import cli, poet  # noqa: F401
    from qwen_qlora.config import load_params
    t = lap("import the CLI and Poet", t, rows)
    params = load_params(args.params)
    from qwen_qlora.metrics.gate import QuotingGate, load_index
    gate = QuotingGate.from_params(load_index(poet.QUOTING_INDEX), params.evaluate)
    t = lap("quoting index", t, rows)
    from qwen_qlora.config import QuantParams
    from qwen_qlora.model.adapted import load_adapted
    model, tokenizer = load_adapted(Path("models/base") / params.model.preset, Path("models/adapter"),
                                    params.model.selected, QuantParams(load_in_4bit=False))
    t = lap("model + adapter", t, rows)
    from qwen_qlora.metrics.stress import load_stresser
    stresser = load_stresser()
    t = lap("stress model (--scan)", t, rows)
    from qwen_qlora.metrics.style import load_attributor
    attributor = load_attributor(cli.DEFAULT_ATTRIBUTOR)
    t = lap("attributor (--scan)", t, rows)
    writer = poet.Poet(model, tokenizer, params.model.selected, params.split, gate, None, None)
    decoding = params.generate.decoding()
    form = writer.form_request(params.generate.form)
    t = lap("word table (formed)", t, rows)
    loaded = t - STARTED
    poems = []
    for label, asked in (("free", None), ("formed", form)):
        for k, seed in enumerate((0, 1)):
            s = time.perf_counter()
            poem = writer.write(args.theme, decoding, seed, 1, ("adapted",), asked)["adapted"][0]
            rows.append((f"{label} poem {'first' if k == 0 else 'second (warm)'}: {len(poem['text'].splitlines())} "
                         "lines", time.perf_counter() - s))
            poems.append(poem)
    del stresser, attributor

    print(f"CPU: {cpu_name()}, torch threads {torch.get_num_threads()}; "
          f"theme {args.theme!r}")
    print("\n| step (one process, in write's order) | seconds |\n|---|---|")
    for label, secs in rows:
        print(f"| {label} | {secs:.2f} |")
    print(f"| everything before the first poem | {loaded:.2f} |")
    print("\n| cold `qwen-qlora write` (new process, -n 1) | seconds per run |\n|---|---|")
    for label, extra, command in (("--free", ["--free"], None),
                                  ("--free, bitsandbytes imported (the bare app)", ["--free"], BARE_APP),
                                  (f"default form ({params.generate.form})", [], None)):
        print(f"| {label} | {', '.join(f'{x:.1f}' for x in cold(args.theme, extra, args.repeat, command))} |")


if __name__ == "__main__":
    main()
