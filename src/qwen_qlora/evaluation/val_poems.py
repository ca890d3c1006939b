"""A training run's val poems scored as evaluate scores the test poems: whole (a poem
longer than train.max_length included), on their own tokens (the stop token apart), on
the base as shipped (the deployed model, not the 4-bit one QLoRA trains on), against the
run's starting point and the base. The verse and train stages write these figures beside
the trainer's val loss, which counts the stop token (a run can gain on it alone), so the
figure a sweep is chosen by is in `dvc exp show`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qwen_qlora.config import PresetParams
from qwen_qlora.evaluation.scoring import perplexity_ratio, score_deployed


def score_val_poems(base_dir: str | Path, adapter_dir: str | Path, start_dir: str | Path | None,
                    preset: PresetParams, precision: str, poems: list[dict[str, Any]], batch_size: int,
                    seed: int) -> dict[str, float]:
    """The val poems (encoded whole) under the new adapter on the base as shipped, against
    its start (`start_dir`'s adapter; the base when None) and the base (`val_poem_figures`)."""
    adapters = {"end": adapter_dir, **({"start": start_dir} if start_dir is not None else {})}
    scores = score_deployed(base_dir, adapters, preset, precision, {"val": poems}, batch_size)["val"]
    figures = val_poem_figures(scores["end"], scores.get("start", scores["base"]), scores["base"], seed)
    print(f"val poems' own tokens ({figures['val_poems_scored']} poems, base as shipped): loss "
          f"{figures['val_poem_loss']:.4f}, perplexity x{figures['val_poem_ppl_ratio_start']:.4f} "
          f"[{figures['val_poem_ppl_ratio_start_ci_low']:.4f}, {figures['val_poem_ppl_ratio_start_ci_high']:.4f}] "
          f"of the start, x{figures['val_poem_ppl_ratio_base']:.4f} of the base")
    return figures


def val_poem_figures(end: list[dict[str, float]], start: list[dict[str, float]],
                     base: list[dict[str, float]], seed: int) -> dict[str, float]:
    """A run's val poems (`scoring.poem_tokens` scores) after training against the starting
    point (the adapter continued, or the base) and the base: the token-weighted loss of each
    and the perplexity ratios with paired 95% bootstrap intervals over poems. The trainer's
    val loss counts the stop token, which a run can gain on alone; these do not."""
    tokens = sum(s["tokens"] for s in end)
    figures: dict[str, float] = {"val_poems_scored": len(end), "val_poem_tokens": tokens,
                                 "val_poem_loss": sum(s["nll"] for s in end) / tokens,
                                 "val_poem_loss_start": sum(s["nll"] for s in start) / tokens,
                                 "val_poem_loss_base": sum(s["nll"] for s in base) / tokens}
    for name, reference in (("start", start), ("base", base)):
        ratio = perplexity_ratio(end, reference, seed)
        figures.update({f"val_poem_ppl_ratio_{name}{suffix}": ratio[f"test_perplexity_ratio{suffix}"]
                        for suffix in ("", "_ci_low", "_ci_high")})
    return figures
