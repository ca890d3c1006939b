"""Formed rows judged independently of the form decoder: the final texts stressed and
scanned again by the poetics analysers (not the decoder's internal state), compliance
with the form each poem REQUESTED (meter, feet, scheme, stanza count and shape, line
count), the words it rhymes with (`rhyme_words`), and the share of its words known to
pymorphy3's dictionary (`fluency`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qwen_qlora.metrics.fluency import fluency_summary, text_fluency
from qwen_qlora.metrics.form_annotation import annotate_forms, compliance
from qwen_qlora.metrics.poetics import analyse_poems
from qwen_qlora.metrics.rhyme_words import rhyme_word_figures
from qwen_qlora.stats import flat, share_ci

PARTS = ("meter", "feet", "scheme", "stanzas", "lines", "all")


def request_compliance(form: dict, requested: dict) -> dict[str, bool]:
    """`form_annotation.compliance` plus the line count; all: every part."""
    out = compliance(form, requested)
    out["lines"] = sum(form["stanza_lines"]) == sum(requested["stanza_lines"])
    out["all"] = out["all"] and out["lines"]
    return out


def formed_row_figures(samples: Sequence[dict], stresser: Any, morph: Any, min_regularity: float,
                       seed: int = 0) -> dict:
    """Flat figures of one row's samples ({text, requested_form}), with 95% intervals."""
    texts = [s["text"] for s in samples]
    forms = annotate_forms(texts, stresser, min_regularity)
    checks = [request_compliance(f, s["requested_form"]) for f, s in zip(forms, samples, strict=True)]
    fluency = fluency_summary([text_fluency(t, morph) for t in texts], seed)
    return {**{k: v for part in PARTS for k, v in flat(f"rescanned_request_{part}_share",
                                                        share_ci([c[part] for c in checks])).items()},
            **rhyme_word_figures(analyse_poems(texts, stresser), seed),
            **{k: v for k, v in fluency.items() if k.startswith("known_word_share")}}
