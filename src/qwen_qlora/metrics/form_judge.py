"""Formed rows judged independently of the form decoder: the final texts stressed and
scanned again by the poetics analysers (not the decoder's internal state), compliance
with the form each poem REQUESTED (meter, feet, scheme, stanza count and shape, line
count), the words it rhymes with (`rhyme_words`), and the share of its words known to
pymorphy3's dictionary (`fluency`).

`cross_check_figures` measures a row twice on the same texts with the same scansion code,
once per stress source: silero-stress (the primary, which the decoder also writes with)
and Wiktionary's dictionary (`dictionary_stress`, which nothing upstream uses), so a form
that holds only under silero's stresses shows as a gap between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from qwen_qlora.metrics.dictionary_stress import unknown_words
from qwen_qlora.metrics.fluency import fluency_summary, text_fluency
from qwen_qlora.metrics.form_annotation import annotate_forms, annotate_lines, compliance
from qwen_qlora.metrics.poetics import analyse_poems
from qwen_qlora.metrics.rhyme_words import rhyme_word_figures
from qwen_qlora.stats import bootstrap_ci, flat, mean_ci, ratio_ci, share_ci

PARTS = ("meter", "feet", "scheme", "stanzas", "lines", "all")
# the request parts that depend on stress, as the cross-check names them ("all": the whole form)
CHECKED_PARTS = {"meter": "meter_compliance", "scheme": "scheme_compliance", "all": "form_compliance"}
RHYME_KEYS = {"": "rhyme_rate_rescanned", "_check": "rhyme_rate_check"}
# the cross-check passes when every check figure is within this of its primary figure
CHECK_TOLERANCE = 0.1


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


def cross_check_figures(samples: Sequence[dict], primary: Any, check: Any, min_regularity: float,
                        seed: int = 0) -> dict:
    """One row's rhyme rate and request compliance under each stress source, on the same
    texts and scansion code, each with its 95% interval: the primary figure, `<figure>_check`
    and `<figure>_check_diff` (check minus primary, the interval paired over poems), for the
    rhyme rate (rhymed lines over verse lines: `rhyme_rate_rescanned`, `rhyme_rate_check`)
    and meter_, scheme_ and form_compliance (the share of poems following that part of the
    requested form, or all of it); check_unknown_word_share (polysyllables the dictionary
    lacks: stressed by the fallback, and free for the scansion pass to move),
    check_max_abs_diff, the largest gap, and the sources' word-level agreement
    (`stress_agreement`)."""
    texts = [s["text"] for s in samples]
    stressed = {"": primary.stress_texts(texts), "_check": check.stress_texts(texts)}
    forms = {k: [annotate_lines(poem, min_regularity) for poem in poems] for k, poems in stressed.items()}
    out: dict[str, Any] = stress_agreement(stressed[""], stressed["_check"])
    rhymed = {k: np.array([f["rhymed_lines"] for f in fs], float) for k, fs in forms.items()}
    lines = np.array([f["n_lines"] for f in forms[""]], float)  # syllables, not stress: alike in both
    if lines.sum():
        for k in forms:
            out |= flat(RHYME_KEYS[k], ratio_ci(rhymed[k], lines, seed))
        low, high = bootstrap_ci([rhymed["_check"] - rhymed[""], lines], _pooled, seed)
        out |= _diff(out, *RHYME_KEYS.values(), low, high)
    for part, name in CHECKED_PARTS.items():
        flags = {k: [request_compliance(f, s["requested_form"])[part] for f, s in zip(fs, samples, strict=True)]
                 for k, fs in forms.items()}
        for k in forms:
            out |= flat(f"{name}{k}", share_ci(flags[k]))
        paired = mean_ci([float(c) - float(p) for c, p in zip(flags["_check"], flags[""])], seed)
        out |= _diff(out, name, f"{name}_check", paired["ci_low"], paired["ci_high"])
    unknown = [unknown_words(poem) for poem in stressed["_check"]]
    out["check_n_polysyllables"] = sum(n for _, n in unknown)
    if out["check_n_polysyllables"]:
        out |= flat("check_unknown_word_share", ratio_ci(*zip(*unknown), seed))
    diffs = [round(abs(v), 4) for k, v in out.items() if k.endswith("_check_diff")]
    out["check_max_abs_diff"] = max(diffs, default=0.0)
    return out


def stress_agreement(primary: Sequence[Sequence], check: Sequence[Sequence]) -> dict:
    """How the sources' stresses compare word by word, before any scansion, over the
    polysyllables both know (the primary's "model" words, the check's "dictionary" ones):
    check_stress_agreement, the share where the primary's stress is one the dictionary
    records; check_homograph_share, the share the dictionary records with more than one
    stress (the scansion pass may then choose, as it does for silero's homographs)."""
    both = [(a, b) for poem_a, poem_b in zip(primary, check, strict=True)
            for line_a, line_b in zip(poem_a, poem_b, strict=True)
            for a, b in zip(line_a.words, line_b.words)
            if a.text == b.text and a.n_syllables > 1 and a.source == "model" and b.source == "dictionary"]
    if not both:
        return {"check_n_polysyllables_both_know": 0}
    recorded = sum(a.stress in (b.stress, *b.alternatives) for a, b in both)
    return {"check_stress_agreement": round(recorded / len(both), 4),
            "check_homograph_share": round(sum(bool(b.alternatives) for _, b in both) / len(both), 4),
            "check_n_polysyllables_both_know": len(both)}


def _pooled(numerators: np.ndarray, denominators: np.ndarray) -> float:
    return float(numerators.sum() / denominators.sum()) if denominators.sum() else 0.0


def _diff(out: dict, primary: str, check: str, low: float, high: float) -> dict:
    """`<check>_diff`: the check figure minus the primary one, with its interval."""
    return flat(f"{check}_diff", {"value": out[check] - out[primary], "ci_low": low, "ci_high": high})
