"""Fluency judged by a model that did not write the poems: each sample's perplexity under
the base model as shipped (the adapter switched off), the poem's tokens after the task
prompt, scored as the evaluate stage scores the test poems (`scoring.score_examples`,
the stop token left out). Token-weighted per row, with a 95% bootstrap interval over
poems, and a row's ratio to another row on the same requests (paired by request).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from qwen_qlora.evaluation.scoring import poem_tokens, score_examples
from qwen_qlora.model.prompts import encode_example
from qwen_qlora.stats import bootstrap_ci


def judge_scores(model: Any, tokenizer: Any, preset: Any, prompts: Sequence[str], texts: Sequence[str],
                 batch_size: int = 8, progress: Callable[[int], object] | None = None) -> list[dict[str, float]]:
    """Per sample: {nll, tokens, ...} of its poem tokens under the base model (adapter off).
    `progress`: called with the samples each batch scored."""
    examples = [encode_example(preset, tokenizer, p, t) for p, t in zip(prompts, texts, strict=True)]
    return poem_tokens(score_examples(model, examples, tokenizer.pad_token_id, batch_size, adapter=False,
                                      progress=progress))


def _ppl(nll, tokens) -> float:
    return math.exp(nll.sum() / tokens.sum()) if tokens.sum() else math.nan


def perplexity_ci(scores: Sequence[dict], seed: int = 0) -> dict[str, float]:
    """{value, ci_low, ci_high}: exp(summed NLL / tokens) over a row's poems."""
    nll, tok = [s["nll"] for s in scores], [s["tokens"] for s in scores]
    if sum(tok) == 0:
        raise ValueError("judge: the row's poems have no tokens to score")
    low, high = bootstrap_ci([nll, tok], lambda n, t: _ppl(n, t), seed)
    return {"value": math.exp(sum(nll) / sum(tok)), "ci_low": low, "ci_high": high}


def perplexity_ratio_ci(scores: Sequence[dict], reference: Sequence[dict], seed: int = 0) -> dict[str, float]:
    """{value, ci_low, ci_high} of perplexity(scores) / perplexity(reference), poem i of
    both written for the same request (resampled together)."""
    if len(scores) != len(reference):
        raise ValueError(f"judge: {len(scores)} poems against {len(reference)}; the ratio pairs them by request")
    arrays = [[s["nll"] for s in scores], [s["tokens"] for s in scores],
              [s["nll"] for s in reference], [s["tokens"] for s in reference]]
    low, high = bootstrap_ci(arrays, lambda a, b, c, d: _ppl(a, b) / _ppl(c, d), seed)
    value = math.exp(sum(arrays[0]) / sum(arrays[1])) / math.exp(sum(arrays[2]) / sum(arrays[3]))
    return {"value": value, "ci_low": low, "ci_high": high}
