"""Checks that a converted base folder is the same model as its source.

The prepare_model stage saves the (dequantized) GGUF or hub model as a plain HF folder;
`compare` reloads nothing itself: it takes both models and tokenizers and reports how far
they disagree on a probe text, which must be not at all.
"""

from __future__ import annotations

from typing import Any

import torch

PROBE = "Шумит листва над тихою рекою.\nКуда ты смотришь, милый мой?"


@torch.no_grad()
def compare(source: Any, source_tok: Any, converted: Any, converted_tok: Any,
            text: str = PROBE) -> dict[str, Any]:
    """Token ids equal? Max absolute logit difference on `text`."""
    ids_a = source_tok(text, return_tensors="pt").input_ids
    ids_b = converted_tok(text, return_tensors="pt").input_ids
    same_tokens = torch.equal(ids_a, ids_b)
    logits_a = source.eval()(ids_a).logits.float()
    logits_b = converted.eval()(ids_a).logits.float()
    return {"same_tokens": same_tokens, "max_logit_diff": float((logits_a - logits_b).abs().max()),
            "probe_tokens": int(ids_a.shape[1])}
