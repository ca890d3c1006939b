"""The verbatim-quoting gate: the mission is original poems, so an adapted model that
recites known poems fails the pipeline (or warns, by choice) with the evidence.

Each sample is judged on its own (`metrics.quoting.gate_reasons`): empty, too many
copied lines (exact or near), or a long copied word run."""

from __future__ import annotations

from typing import Any

from qwen_qlora.metrics.quoting import gate_reasons


def quoting_gate(samples: list[dict[str, Any]], max_share: float, max_run: int) -> str | None:
    """None when every sample passes; else a message listing each failing sample (model,
    theme, index), why it fails and the source poems it copies."""
    failing = [(s, reasons) for s in samples if (reasons := gate_reasons(s["quoting"], max_share, max_run))]
    if not failing:
        return None
    listing = []
    for s, reasons in failing:
        sources = sorted({m["doc_id"] for m in s["quoting"]["copied_lines"]})
        listing.append(f"  - {s.get('model', '?')} / {s.get('theme', '?')} #{s.get('sample', '?')}: "
                       + "; ".join(reasons)
                       + (f"; copies {s['quoting']['copied_lines'][0]['line']!r} from {', '.join(sources[:3])}"
                          if sources else ""))
    return (f"{len(failing)} of {len(samples)} samples fail the quoting gate "
            f"(evaluate.max_copied_line_share = {max_share:.0%}, evaluate.max_copied_run_words = {max_run}, "
            "empty samples fail too):\n" + "\n".join(listing) +
            "\nTrain for fewer steps or at a lower train.learning_rate, or set evaluate.on_copy: warn knowingly.")
