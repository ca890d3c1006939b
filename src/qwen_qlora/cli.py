"""The `qwen-qlora` command for people.

    qwen-qlora scan poem.txt            stresses, meter, rhyme scheme (and p_author)
    qwen-qlora write "тема" -n 2        poems from the trained adapter on a theme
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console()

DEFAULT_ATTRIBUTOR = Path("models/attributor/attributor.joblib")


@app.command()
def scan(
    poem: Path = typer.Argument(..., exists=True, dir_okay=False, help="A UTF-8 text file with one poem."),
    attributor: Path = typer.Option(DEFAULT_ATTRIBUTOR, help="A style attributor saved by the poetics stage."),
) -> None:
    """Print the poem with stresses marked, its meter, rhyme schemes and p_author."""
    from qwen_qlora.metrics.poetics import format_scan, scan_poem
    from qwen_qlora.metrics.stress import load_stresser
    from qwen_qlora.metrics.style import load_attributor

    text = poem.read_text(encoding="utf-8")
    if not text.strip():
        raise typer.BadParameter(f"{poem} is empty", param_hint="POEM")
    attr = load_attributor(attributor) if attributor.exists() else None
    if attr is None:
        console.print(f"[dim]no attributor at {attributor} (run `dvc repro poetics`): "
                      "p_author not shown[/dim]")
    console.print(format_scan(scan_poem(text, load_stresser(), attr)), markup=False, highlight=False)


@app.command()
def write(
    theme: str = typer.Argument(..., help="The theme, e.g. 'разлука'."),
    n: int = typer.Option(2, "-n", help="How many poems."),
    seed: int = typer.Option(0, help="Sampling seed: the same seed gives the same poems."),
    base_only: bool = typer.Option(False, "--base", help="Use the base model (adapter off)."),
    params: Path = typer.Option(Path("params.yaml"), help="Pipeline parameters (preset, decoding)."),
    adapter: Path = typer.Option(Path("models/adapter"), help="The trained adapter folder."),
) -> None:
    """Write poems on a theme with the trained adapter (or the base model)."""
    from qwen_qlora.config import load_params
    from qwen_qlora.generate import sample
    from qwen_qlora.model.adapted import load_adapted

    p = load_params(params)
    model, tokenizer = load_adapted(Path("models/base") / p.model.preset, adapter, p.model.selected, p.quant)
    prompt = p.split.prompt_template.format(theme=theme)
    g = p.generate
    (poems,) = sample(model, tokenizer, p.model.selected, [prompt], n, seed, temperature=g.temperature,
                      top_p=g.top_p, repetition_penalty=g.repetition_penalty,
                      max_new_tokens=g.max_new_tokens, adapter=not base_only)
    for i, poem in enumerate(poems, 1):
        console.rule(f"{theme} · {i}")
        console.print(poem["text"], markup=False, highlight=False)


if __name__ == "__main__":
    app()
