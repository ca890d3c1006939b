"""The `qwen-qlora` command for people.

    qwen-qlora scan poem.txt               stresses, meter, rhyme scheme (and p_author)
    qwen-qlora write "тема" -n 2           poems from the trained adapter on a theme, in the
                                           poet's commonest form (--form "iamb 4 ABAB x3", --free)
    qwen-qlora compare "тема"              base and adapted poems side by side
    qwen-qlora serve                       a local demo page on http://127.0.0.1:7860
    qwen-qlora merge --out merged/         the adapter merged into a bf16 copy of the base
    qwen-qlora export --gguf gguf/         the merged model as GGUF for llama.cpp / Ollama
    qwen-qlora figures [eval poetics]      the pipeline's key figures, one a line, with intervals

Every command runs from the project root (params.yaml, models/) and fails with one
readable line (QWEN_QLORA_DEBUG=1 shows the traceback); `--help` shows an example.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0],
                  pretty_exceptions_enable=False, rich_markup_mode="rich")
console = Console()
err_console = Console(stderr=True)

DEFAULT_ATTRIBUTOR = Path("models/attributor/attributor.joblib")
PARAMS = typer.Option(Path("params.yaml"), help="Pipeline parameters (preset, quantization, prompt).")
ADAPTER = typer.Option(Path("models/adapter"), help="The trained adapter folder.")


OUR_ERRORS = [("qwen_qlora.model.load", "ModelLoadError"), ("qwen_qlora.app.merge", "MergeError"),
              ("qwen_qlora.app.export", "ExportError")]


def readable_errors(fn: Callable) -> Callable:
    """Turn an expected failure into one line on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            # Our error types live in heavy modules; one not yet imported cannot have raised.
            ours = tuple(getattr(sys.modules[m], name) for m, name in OUR_ERRORS if m in sys.modules)
            expected = isinstance(err, (ValueError, OSError, *ours))
            if os.environ.get("QWEN_QLORA_DEBUG"):
                raise
            message = (str(err).splitlines() or [""])[0]
            if not expected:  # a bug, not a bad input: name the type and how to see the traceback
                message = f"{type(err).__name__}: {message} (QWEN_QLORA_DEBUG=1 shows the traceback)"
            err_console.print(f"[bold red]error:[/bold red] {escape(message or type(err).__name__)}",
                              highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _decoding(params: Any, temperature: float | None, top_p: float | None, max_new_tokens: int | None,
              repetition_penalty: float | None, vocab: str | None = None) -> Any:
    """The generate stage's decoding (params.yaml `generate`) with the options given."""
    return params.generate.decoding(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                                    repetition_penalty=repetition_penalty, vocab=vocab)


def _load_poet(params: Any, adapter: Path, scansion: bool) -> Any:
    from qwen_qlora.app.poet import Poet

    with err_console.status(f"loading {params.model.preset} with the adapter from {adapter} ..."):
        return Poet.load(params, adapter, attributor_path=DEFAULT_ATTRIBUTOR, scansion=scansion)


@contextmanager
def _writing(n: int, form: dict | None) -> Iterator[Callable[[int], None]]:
    """Which poem is being written, on stderr so that stdout keeps only the poems: a status
    line in a terminal (the poem, the time so far and left), else one short line per poem
    (`write: poem 3/8 (38%); 12 s elapsed, ~20 s left`). Free poems are sampled side by side,
    formed ones one after another."""
    from qwen_qlora.progress import Progress

    if not err_console.is_terminal:
        yield Progress("write", n, "poem", lines=n, out=sys.stderr, bar=False)
        return
    done = Progress("write", n, "poem", lines=0)

    def message() -> str:
        if done.done >= n:
            return "checking the poems against every known text ..."
        if form is None and n > 1:
            return f"writing {n} poems (sampled side by side): {done.done} done · {done.timing()}"
        return f"writing poem {done.done + 1} of {n} · {done.timing()}"

    with err_console.status(message()) as status:
        def advance(k: int) -> None:
            done(k)
            status.update(message())

        yield advance


def check_theme(theme: str) -> str:
    from qwen_qlora.app.poet import check_theme as check

    return check(theme)


def check_request(seed: int, n: int) -> None:
    from qwen_qlora.app.poet import check_request as check

    check(seed, n)


def _params(path: Path) -> Any:
    from qwen_qlora.config import load_params

    return load_params(path)


def _gate_line(gate: dict[str, Any], known: int) -> str:
    """The quoting gate's verdict on a delivered poem, in one line."""
    checked = f"quoting gate: checked against {known:,} known texts"
    again = f", written again {gate['resampled']}x" if gate["resampled"] else ""
    if gate["passed"]:
        near = f"; nearest: {gate['evidence']}" if gate["evidence"] else ""
        return f"{checked}: passed{again}{near}"
    return f"{checked}: withheld{again}: {'; '.join(gate['reasons'])}" + (f" ({gate['evidence']})" if gate["evidence"]
                                                                          else "")


def _scan_line(scan: dict[str, Any]) -> str:
    feet = f" {scan['feet']}-foot" if scan.get("feet") else ""
    parts = [f"{scan['meter']}{feet}", f"rhyme {scan['rhyme_rate']:.0%}",
             "quatrains " + (", ".join(scan["quatrain_schemes"]) or "none")]
    if "p_author" in scan:
        parts.append(f"p_author {scan['p_author']:.2f}")
    elif "p_author_refused" in scan:
        parts.append(f"no p_author (not verse: {scan['p_author_refused'].replace('_', ' ')})")
    return " · ".join(parts)


# Shared sampling options; unset ones come from params.yaml `generate`.
TEMPERATURE = typer.Option(None, help="Sampling temperature, (0, 2]: higher is more surprising. (default: params.yaml generate)")
TOP_P = typer.Option(None, "--top-p", help="Nucleus sampling, (0, 1]: sample from the smallest set of tokens with this "
                     "total probability. (default: params.yaml generate)")
MAX_NEW = typer.Option(None, "--max-new-tokens", help="Stop a poem after this many tokens (8-512). (default: params.yaml generate)")
SEED = typer.Option(0, help="Sampling seed: the same seed and settings give the same poems.")
REP = typer.Option(None, "--repetition-penalty", help="Penalty on repeated tokens, [1, 2]. (default: params.yaml generate)")
VOCAB = typer.Option(None, "--vocab", help="corpus: sample only the train poems' tokens, as the generate stage does by "
                     "default; full: the whole vocabulary. (default: params.yaml generate)")


FORM = typer.Option(None, "--form", help="The form the form decoder writes: '<meter> <feet> <scheme> x<stanzas>' such "
                   "as 'iamb 4 ABAB x3', 'auto' (the poet's commonest form) or 'free'. (default: params.yaml "
                   "generate.form)")
FREE = typer.Option(False, "--free", help="Sample freely, without the form decoder.")


def _form_spec(p: Any, form: str | None, free: bool, meter: str | None = None, feet: int | None = None,
               scheme: str = "ABAB", stanzas: int = 3) -> Any:
    """The form asked for (`config.parse_form`): --free, --form, --meter/--feet/--scheme/--stanzas
    (the same form in parts), else params.yaml's generate.form. Checked before the model loads."""
    from qwen_qlora.config import parse_form

    asked = [name for name, given in (("--free", free), ("--form", form is not None), ("--meter", meter is not None))
             if given]
    if len(asked) > 1:
        raise ValueError(f"{' and '.join(asked)} ask for different things; give one of them")
    if free:
        return "free"
    if form is not None:
        return p.generate.form_spec(form)
    if meter is not None:
        if feet is None:
            raise ValueError("--feet is needed with --meter: the form decoder writes a fixed number of feet per line")
        return parse_form(f"{meter} {feet} {scheme} x{stanzas}", "--meter/--feet/--scheme/--stanzas")
    return p.generate.form_spec()


@app.command()
@readable_errors
def scan(
    poem: Path = typer.Argument(..., help="A UTF-8 text file with one poem."),
    attributor: Path = typer.Option(DEFAULT_ATTRIBUTOR, help="A style attributor saved by the poetics stage."),
) -> None:
    """Print the poem with stresses marked, its meter, rhyme schemes and p_author.

    Example: [bold]qwen-qlora scan poem.txt[/bold]
    """
    from qwen_qlora.metrics.poetics import format_scan, scan_poem
    from qwen_qlora.metrics.stress import load_stresser
    from qwen_qlora.metrics.style import load_attributor

    if not poem.is_file():
        raise ValueError(f"{poem}: no such file; give a UTF-8 text file with one poem")
    text = poem.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"{poem} is empty; give a file with one poem")
    attr = load_attributor(attributor) if attributor.exists() else None
    if attr is None:
        console.print(f"[dim]no attributor at {attributor} (run `dvc repro poetics`): p_author not shown[/dim]")
    console.print(format_scan(scan_poem(text, load_stresser(), attr)), markup=False, highlight=False)


@app.command()
@readable_errors
def write(
    theme: str = typer.Argument(..., help="The theme, e.g. 'разлука'."),
    n: int = typer.Option(2, "-n", help="How many poems (1-8)."),
    temperature: float | None = TEMPERATURE,
    top_p: float | None = TOP_P,
    max_new_tokens: int | None = MAX_NEW,
    seed: int = SEED,
    repetition_penalty: float | None = REP,
    vocab: str | None = VOCAB,
    base_only: bool = typer.Option(False, "--base", help="Use the base model (adapter off)."),
    scansion: bool = typer.Option(False, "--scan", help="Show meter, rhyme and p_author under each poem."),
    form: str | None = FORM,
    free: bool = FREE,
    meter: str | None = typer.Option(None, "--meter", help="The form in parts: a meter (iamb, trochee, dactyl, "
                                     "amphibrach, anapest or dolnik), with --feet, --scheme, --stanzas."),
    feet: int | None = typer.Option(None, "--feet", help="Feet (stresses for the dolnik) per line, with --meter."),
    scheme: str = typer.Option("ABAB", "--scheme", help="Quatrain rhyme scheme with --meter: ABAB, AABB, ABBA, ABCB."),
    stanzas: int = typer.Option(3, "--stanzas", help="Quatrains, with --meter."),
    params: Path = PARAMS,
    adapter: Path = ADAPTER,
) -> None:
    """Write poems on a theme with the trained adapter (or the base model). The form
    decoder writes them in params.yaml's generate.form (auto: the poet's commonest form),
    or the form you ask for; --free samples without it.

    Example: [bold]qwen-qlora write "разлука" -n 2 --form "iamb 4 ABAB x3"[/bold]
    """
    from qwen_qlora.metrics.form_annotation import describe_form

    check_theme(theme)  # before the model loads
    p = _params(params)
    spec = _form_spec(p, form, free, meter, feet, scheme, stanzas)
    decoding = _decoding(p, temperature, top_p, max_new_tokens, repetition_penalty, vocab)
    check_request(seed, n)
    poet = _load_poet(p, adapter, scansion)
    form = poet.form_request(spec)
    model = "base" if base_only else "adapted"
    with _writing(n, form) as progress:
        poems = poet.write(theme, decoding, seed, n, (model,), form, progress)[model]
    for i, poem in enumerate(poems, 1):
        console.rule(f"{theme} · {model} · {i}" + (f" · {describe_form(form)}" if form else ""))
        console.print(poem["text"] or "(empty)", markup=False, highlight=False)
        if "scan" in poem:
            console.print(_scan_line(poem["scan"]), style="dim", markup=False, highlight=False)
        console.print(_gate_line(poem["gate"], poet.gate.index.n_docs), style="dim", markup=False, highlight=False)


@app.command()
@readable_errors
def compare(
    theme: str = typer.Argument(..., help="The theme, e.g. 'разлука'."),
    n: int = typer.Option(1, "-n", help="How many pairs (1-8)."),
    temperature: float | None = TEMPERATURE,
    top_p: float | None = TOP_P,
    max_new_tokens: int | None = MAX_NEW,
    seed: int = SEED,
    repetition_penalty: float | None = REP,
    vocab: str | None = VOCAB,
    scansion: bool = typer.Option(True, "--scan/--no-scan", help="Meter, rhyme and p_author under each poem."),
    form: str | None = FORM,
    free: bool = FREE,
    params: Path = PARAMS,
    adapter: Path = ADAPTER,
) -> None:
    """Print base and adapted poems on one theme side by side (same prompt, seed and form).

    Example: [bold]qwen-qlora compare "море" --seed 7 --form "trochee 4 ABAB x2"[/bold]
    """
    from qwen_qlora.metrics.form_annotation import describe_form

    check_theme(theme)  # before the model loads
    p = _params(params)
    spec = _form_spec(p, form, free)
    decoding = _decoding(p, temperature, top_p, max_new_tokens, repetition_penalty, vocab)
    check_request(seed, n)
    poet = _load_poet(p, adapter, scansion)
    asked = poet.form_request(spec)
    with _writing(2 * n, asked) as progress:
        result = poet.write(theme, decoding, seed, n, form=asked, progress=progress)
    how = (f"form decoder: {describe_form(asked)}" if asked else
           f"free, max {decoding.max_new_tokens} new tokens, {decoding.vocab} vocabulary")
    table = Table(title=f"{theme} (seed {seed}, temperature {decoding.temperature}, top-p {decoding.top_p}, {how})",
                  show_lines=True)
    table.add_column("base", overflow="fold")
    table.add_column("adapted", overflow="fold")
    for base, adapted in zip(result["base"], result["adapted"], strict=True):
        cells = []
        for poem in (base, adapted):
            text = poem["text"] or "(empty)"
            cells.append(text + (f"\n\n{_scan_line(poem['scan'])}" if "scan" in poem else "")
                         + f"\n{_gate_line(poem['gate'], poet.gate.index.n_docs)}")
        table.add_row(*cells)
    console.print(table, markup=False, highlight=False)


@app.command()
@readable_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (keep 127.0.0.1: the page has no login)."),
    port: int = typer.Option(7860, help="Port."),
    params: Path = PARAMS,
    adapter: Path = ADAPTER,
) -> None:
    """Start the demo page: type or pick a theme, get base and adapted poems side by side.

    Example: [bold]qwen-qlora serve --port 7860[/bold], then open http://127.0.0.1:7860
    """
    from qwen_qlora.app.serve import create_app
    from qwen_qlora.app.serve import serve as run

    p = _params(params)
    poet = _load_poet(p, adapter, scansion=True)
    console.print(f"demo page on http://{host}:{port} (Ctrl+C stops it)")
    run(create_app(poet, list(p.generate.themes), p.generate, _offered_forms()), host, port)


def _offered_forms() -> dict[str, dict]:
    """The poet's commonest rhymed quatrain forms (train poems), by their words, for the
    demo page's form picker; none when the split is not there."""
    from qwen_qlora.io import read_jsonl
    from qwen_qlora.metrics.form_annotation import common_forms, describe_form

    train = Path("data/processed/train.jsonl")
    if not train.exists():
        return {}
    forms = [r["form"] for r in read_jsonl(train) if r.get("form")]
    return {describe_form(f): {k: v for k, v in f.items() if k != "count"} for f in common_forms(forms, 6)} \
        if forms else {}


@app.command()
@readable_errors
def merge(
    out: Path = typer.Option(..., "--out", help="A new folder for the merged model."),
    dtype: str = typer.Option("bf16", help="Weights of the merged model: bf16 or fp32 (never 4-bit)."),
    params: Path = PARAMS,
    adapter: Path = ADAPTER,
    metrics_dir: Path = typer.Option(Path("metrics"), help="Where the pipeline's metrics are (for the model card)."),
) -> None:
    """Merge the adapter into a dense copy of the base and save a plain transformers model.

    Checks the merged logits against base+adapter and prints the max difference.

    Example: [bold]qwen-qlora merge --out merged/ --dtype bf16[/bold]
    """
    from qwen_qlora.app.merge import merge_adapter, run_card

    p = _params(params)
    card = run_card(p, metrics_dir, dtype)
    with console.status(f"merging {adapter} into a {dtype} copy of {p.model.preset} ..."):
        res = merge_adapter(Path("models/base") / p.model.preset, adapter, p.model.selected, out, dtype, card)
    console.print(f"merged model: {res.out_dir} ({dtype}, safetensors + tokenizer + README.md)")
    console.print(f"merged vs base+adapter on {res.probe_tokens} probe tokens: max |logit difference| "
                  f"{res.max_abs_diff:.3g}, max KL {res.max_kl:.2g} nats (tolerance {res.tolerance}), "
                  f"same top token at {res.top1_agreement:.1%} of positions")
    console.print(f"reloaded with plain transformers: max |logit difference| {res.reload_max_abs_diff:.3g}, "
                  f"max KL {res.reload_max_kl:.2g} nats")



@app.command()
@readable_errors
def export(
    gguf: Path = typer.Option(..., "--gguf", help="A new folder for the GGUF files and their README.md."),
    types: str = typer.Option("f16,q8_0", "--types", help="Comma-separated: f16, bf16, q8_0, q4_k_m "
                              "(q4_k_m needs llama-cpp-python)."),
    merged: Path | None = typer.Option(None, "--from", help="A folder written by `qwen-qlora merge --dtype fp32` "
                                       "(default: merge the adapter now, in fp32)."),
    params: Path = PARAMS,
    adapter: Path = ADAPTER,
    metrics_dir: Path = typer.Option(Path("metrics"), help="Where the pipeline's metrics are (for the model card)."),
) -> None:
    """Write the merged model as GGUF for llama.cpp and Ollama, one file per type, each
    loaded back and checked against the merged model (KL of next-token distributions).

    Example: [bold]qwen-qlora export --gguf gguf/ --types f16,q8_0[/bold]
    """
    from qwen_qlora.app.export import export_run
    from qwen_qlora.app.merge import run_card

    p = _params(params)
    kinds = [t.strip() for t in types.split(",") if t.strip()]
    name = f"{p.model.preset}-{p.author}"
    card = run_card(p, metrics_dir, "fp32", gguf_files=[f"{name}-{t}.gguf" for t in kinds])
    with console.status(f"writing {', '.join(kinds)} GGUF files of {p.model.preset} + {adapter} ..."):
        files = export_run(Path("models/base") / p.model.preset, adapter, p.model.selected, gguf, kinds, name,
                           card, merged)
    console.print(f"{gguf}: each file read back with transformers' GGUF loader vs the fp32 merged model "
                  f"({files[0].probe_tokens} probe tokens):")
    for f in files:
        console.print(f"  {f.path.name}: {f.size_bytes / 2**20:.1f} MiB, max KL {f.max_kl:.2g} nats (tolerance "
                      f"{f.tolerance}), mean KL {f.mean_kl:.2g}, same top token at {f.top1_agreement:.1%} of positions",
                      highlight=False)
    console.print(f"model card: {gguf / 'README.md'}")


@app.command()
@readable_errors
def figures(
    files: list[str] = typer.Argument(None, help="Metrics files by name (eval, generation, poetics, ...); "
                                      "default: every file in --metrics-dir."),
    metrics_dir: Path = typer.Option(Path("metrics"), help="Where the pipeline's metrics are."),
) -> None:
    """Print the pipeline's key figures (metrics/*.json) one a line, each with its 95%
    interval: what `dvc metrics show` lays out as one very wide table.

    Example: [bold]qwen-qlora figures eval poetics[/bold]
    """
    from qwen_qlora.report.figures import render

    print(render(metrics_dir, files or None))


# Commands that load the model for inference only (16/32-bit, never 4-bit)
INFERENCE_ONLY = {"write", "compare", "serve"}


SPINCOUNT = "10000"  # libgomp's default is 300,000 spins before a waiting thread sleeps


def short_spins() -> None:
    """OpenMP threads that spin briefly before they sleep (`GOMP_SPINCOUNT`), unless the user
    chose a wait policy or spin count. By default torch's OpenMP threads (libgomp) spin long;
    beside another busy process on a 2-core machine two spinning threads fight for the one
    free core and decoding took x10.6 its quiet time, training x4.1. With 10,000 spins:
    x1.9 and x1.7 busy, x1.05 quiet (PASSIVE: x1.4-1.6 busy but x1.14-1.21 quiet);
    benchmarks/busy_neighbour.py. libgomp reads it once, when torch is first imported, so this
    runs before anything imports it. `.venv/bin/dvc` (tools/dvc) does the same for the stages."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPINCOUNT)


def main() -> None:
    """The `qwen-qlora` console script: the app, and for an inference-only command
    bitsandbytes marked absent before anything imports it. peft imports bitsandbytes
    whenever it is installed (for LoRA on 4-bit bases), and bitsandbytes' import compiles
    its CPU kernels with torch.compile: about a quarter of `write`'s import time on 2 CPU
    cores (benchmarks/first_poem.py). Those commands never load a 4-bit model; if one
    ever did, transformers would refuse it as "bitsandbytes not installed", loudly."""
    short_spins()
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command in INFERENCE_ONLY and "bitsandbytes" not in sys.modules:
        sys.modules["bitsandbytes"] = None  # type: ignore[assignment]  # import raises ImportError
    app()


if __name__ == "__main__":
    main()
