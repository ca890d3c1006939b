"""The verbatim-quoting gate: the mission is original poems, so an adapted model that
recites known poems fails the pipeline (or warns, by choice) with the evidence.

Each sample is judged on its own (`metrics.quoting.gate_reasons`): empty, too many
copied lines (exact or near), a long copied word run, too many lines matching one known
poem (lightly reworded lines and short lines included), two lines copied from one poem,
or a cento of verbatim lines."""

from __future__ import annotations

from typing import Any

from qwen_qlora.metrics.quoting import gate_reasons


def _evidence(quoting: dict[str, Any]) -> str:
    """'copies LINE from SOURCES': the first copied line and the known poems it comes from."""
    sources = sorted({str(m["doc_id"]) for m in quoting["copied_lines"]})
    line = quoting["copied_lines"][0]["line"] if quoting["copied_lines"] else None
    poem = quoting.get("lines_from_one_poem_source")
    if poem is not None and quoting["lines_from_one_poem_matches"]:
        sources = [str(poem)] + [s for s in sources if s != str(poem)]
        line = line or quoting["lines_from_one_poem_matches"][0]["line"]
    return f"; copies {line!r} from {', '.join(sources[:3])}" if line else ""


def quoting_gate(samples: list[dict[str, Any]], max_share: float, max_run: int,
                 max_poem_lines: int = 2) -> str | None:
    """None when every sample passes; else a message listing each failing sample (model,
    theme, index), why it fails and the source poems it copies."""
    failing = [(s, reasons) for s in samples
               if (reasons := gate_reasons(s["quoting"], max_share, max_run, max_poem_lines))]
    if not failing:
        return None
    listing = [f"  - {s.get('model', '?')} / {s.get('theme', '?')} #{s.get('sample', '?')}: "
               + "; ".join(reasons) + _evidence(s["quoting"]) for s, reasons in failing]
    return (f"{len(failing)} of {len(samples)} samples fail the quoting gate "
            f"(evaluate.max_copied_line_share = {max_share:.0%}, evaluate.max_copied_run_words = {max_run}, "
            f"evaluate.max_lines_from_one_poem = {max_poem_lines}, empty samples fail too):\n" + "\n".join(listing) +
            "\nTrain for fewer steps or at a lower train.learning_rate, or set evaluate.on_copy: warn knowingly.")
