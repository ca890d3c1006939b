"""The verbatim-quoting gate: the mission is original poems, so an adapted model that
recites its training poems fails the pipeline (or warns, by choice) with the evidence."""

from __future__ import annotations

from typing import Any

from qwen_qlora.metrics.overlap import CorpusIndex, copied_samples, quoting_metrics


def quoting_gate(index: CorpusIndex, samples: list[dict[str, Any]], max_share: float,
                 min_line_words: int = 3) -> str | None:
    """None when the samples' pooled copied-line share is within `max_share`; else a
    message naming the share, the threshold and the offending samples (theme, index and
    the copied lines)."""
    texts = [s["text"] for s in samples]
    share = quoting_metrics(index, texts, min_line_words)["copied_line_share"] or 0.0
    if share <= max_share:
        return None
    offenders = copied_samples(index, texts, max_share, min_line_words)
    listing = "\n".join(
        f"  - {samples[o['sample']].get('theme', '?')} #{samples[o['sample']].get('sample', o['sample'])}: "
        f"copied {o['copied_lines'][:2]}" for o in offenders[:10])
    return (f"the adapted model copies {share:.1%} of its lines verbatim from the training poems "
            f"(evaluate.max_copied_line_share = {max_share:.1%}); offending samples:\n{listing}\n"
            "Train for fewer steps or at a lower train.learning_rate, or raise the threshold knowingly.")
