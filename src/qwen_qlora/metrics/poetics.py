"""Poetics of poems and of whole corpora: meter, rhyme and quatrain schemes.

`poetics_profile` turns a list of poems into flat, JSON-ready shares (the same code
scores the corpus, the base model's and the adapted model's poems);
`profile_distance` compares two profiles; `scan_poem` / `format_scan` are what
`qwen-qlora scan poem.txt` shows for one poem.

    stresser = load_stresser()
    corpus = poetics_profile(corpus_poems, stresser)
    adapted = poetics_profile(generated_poems, stresser)
    profile_distance(corpus, adapted)   # {"meter_js_distance": ..., ...}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import jensenshannon

from qwen_qlora.metrics.meter import METERS, MeterResult, classify_meter, fit_stress_to_meter
from qwen_qlora.metrics.rhyme import SCHEMES, quatrain_scheme, quatrains, rhyme_pairs
from qwen_qlora.metrics.stress import StressedLine, Stresser


@dataclass(frozen=True)
class PoemPoetics:
    lines: list[StressedLine]
    verse: list[StressedLine]           # lines with syllables
    meter: MeterResult
    rhyme_pairs: list[tuple[int, int]]  # indices into `verse`
    schemes: list[str]                  # one per quatrain
    n_polysyllables: int
    n_heuristic: int                    # polysyllables stressed by the fallback (and
                                        # not settled by the meter)

    @property
    def rhymed_lines(self) -> int:
        return len({k for pair in self.rhyme_pairs for k in pair})

    def summary(self) -> dict:
        """The poem's poetics as a flat, JSON-ready dict: what a stored form annotation
        keeps (`form_annotation.annotate_form`) and what the profiles are built from."""
        return {
            "meter": self.meter.meter,
            "feet": self.meter.feet,
            "regularity": round(self.meter.regularity, 4),
            "n_metered_lines": self.meter.n_lines,
            "n_lines": len(self.verse),
            "rhymed_lines": self.rhymed_lines,
            "rhyme_rate": round(self.rhymed_lines / len(self.verse), 4) if self.verse else 0.0,
            "quatrain_schemes": self.schemes,
            "n_polysyllables": self.n_polysyllables,
            "n_heuristic": self.n_heuristic,
        }


def analyse_lines(lines: list[StressedLine]) -> PoemPoetics:
    """Meter, rhymes and schemes of one stressed poem, after the scansion pass has
    settled its uncertain stresses (`fit_stress_to_meter`)."""
    lines = fit_stress_to_meter(lines)
    verse = [ln for ln in lines if ln.n_syllables > 0]
    words = [w for ln in verse for w in ln.words if w.n_syllables > 1]
    return PoemPoetics(
        lines=lines,
        verse=verse,
        meter=classify_meter(verse),
        rhyme_pairs=rhyme_pairs(verse),
        schemes=[quatrain_scheme(q) for q in quatrains(lines)],
        n_polysyllables=len(words),
        n_heuristic=sum(w.source == "heuristic" for w in words),
    )


def analyse_poems(texts: Sequence[str], stresser: Stresser) -> list[PoemPoetics]:
    return [analyse_lines(lines) for lines in stresser.stress_texts(texts)]


def poetics_profile(texts: Sequence[str], stresser: Stresser) -> dict[str, float | int]:
    """Flat profile of a set of poems:

    meter_share_<meter>   share of poems (with 2+ verse lines) whose meter is <meter>
    regularity_mean       mean share of a poem's lines that fit its meter
    feet_mean             mean foot (ictus) count of metrical poems
    rhyme_rate            share of all verse lines that rhyme within three lines
    scheme_share_<scheme> share of quatrains with that scheme
    stress_fallback_share share of polysyllabic words stressed by the fallback rule
    """
    if not texts:
        raise ValueError("poetics: no poems to profile; check the input file is not empty")
    return profile_from_analyses(analyse_poems(texts, stresser))


def profile_from_analyses(poems: Sequence[PoemPoetics]) -> dict[str, float | int]:
    return profile_from_forms([p.summary() for p in poems])


def profile_from_forms(forms: Sequence[dict]) -> dict[str, float | int]:
    """The profile (see `poetics_profile`) of poems given by their `summary()` dicts
    (or stored form annotations, which carry the same keys)."""
    metered = [f for f in forms if f["n_metered_lines"] >= 2]
    meters = Counter(f["meter"] for f in metered)
    schemes = Counter(s for f in forms for s in f["quatrain_schemes"])
    n_verse = sum(f["n_lines"] for f in forms)
    n_poly = sum(f["n_polysyllables"] for f in forms)
    feet = [f["feet"] for f in metered if f["feet"] is not None]
    out: dict[str, float | int] = {
        "n_poems": len(forms),
        "n_poems_metered": len(metered),
        "n_verse_lines": n_verse,
        "n_quatrains": sum(schemes.values()),
    }
    out |= {f"meter_share_{m}": _share(meters[m], len(metered)) for m in METERS}
    out["regularity_mean"] = _mean([f["regularity"] for f in metered])
    out["feet_mean"] = _mean(feet)
    out["rhyme_rate"] = _share(sum(f["rhymed_lines"] for f in forms), n_verse)
    out |= {f"scheme_share_{s}": _share(schemes[s], sum(schemes.values())) for s in SCHEMES}
    out["stress_fallback_share"] = _share(sum(f["n_heuristic"] for f in forms), n_poly)
    return out


def _share(k: int, n: int) -> float:
    return round(k / n, 4) if n else 0.0


def _mean(xs: Sequence[float]) -> float:
    return round(float(np.mean(xs)), 4) if xs else 0.0


def profile_distance(a: dict, b: dict) -> dict[str, float | None]:
    """Jensen-Shannon distances (base 2, 0 = same, 1 = disjoint) between the meter and
    the scheme distributions of two profiles, and absolute differences of rhyme rate
    and regularity. A distance is None when one side has nothing to compare (no metered
    poems, or no quatrains)."""
    return {
        "meter_js_distance": _js(a, b, "meter_share_", METERS),
        "scheme_js_distance": _js(a, b, "scheme_share_", SCHEMES),
        "rhyme_rate_abs_diff": round(abs(a["rhyme_rate"] - b["rhyme_rate"]), 4),
        "regularity_abs_diff": round(abs(a["regularity_mean"] - b["regularity_mean"]), 4),
    }


def _js(a: dict, b: dict, prefix: str, names: Sequence[str]) -> float | None:
    try:
        p = np.array([a[prefix + n] for n in names], dtype=float)
        q = np.array([b[prefix + n] for n in names], dtype=float)
    except KeyError as err:
        raise KeyError(f"poetics: profile lacks {err.args[0]!r}; build both profiles "
                       f"with poetics_profile") from err
    if p.sum() == 0 or q.sum() == 0:
        return None
    return round(float(jensenshannon(p, q, base=2)), 4)


def scan_poem(text: str, stresser: Stresser, attributor=None) -> dict:
    """Everything `qwen-qlora scan` shows about one poem, JSON-ready."""
    poem = analyse_lines(stresser.stress_text(text))
    summary = poem.summary()
    result = {
        "stressed_text": "\n".join(ln.stressed_text for ln in poem.lines),
        "line_patterns": [ln.pattern for ln in poem.verse],
        "meter": summary["meter"],
        "feet": summary["feet"],
        "regularity": summary["regularity"],
        "meter_shares": {m: round(s, 4) for m, s in poem.meter.shares.items()},
        "rhyme_pairs": [list(p) for p in poem.rhyme_pairs],
        "rhyme_rate": summary["rhyme_rate"],
        "quatrain_schemes": summary["quatrain_schemes"],
        "stress_fallback_words": [w.text for ln in poem.verse for w in ln.words
                                  if w.source == "heuristic"],
    }
    if attributor is not None:
        # the judge scores verse only (`metrics.verse`): prose, lists and dialogues get no p_author
        refused = attributor.refusal(text, summary)
        if refused is None:
            result["p_author"] = round(attributor.p_author([text])[0], 4)
        else:
            result["p_author_refused"] = refused
    return result


def format_scan(result: dict) -> str:
    """A short human-readable report of `scan_poem`'s result."""
    feet = f", {result['feet']} feet" if result["feet"] else ""
    lines = [result["stressed_text"].strip("\n"), "",
             f"meter: {result['meter']}{feet} (regularity {result['regularity']:.0%})",
             f"rhyme rate: {result['rhyme_rate']:.0%}",
             "quatrains: " + (", ".join(result["quatrain_schemes"]) or "none found")]
    if result["stress_fallback_words"]:
        lines.append("stress guessed for: " + ", ".join(result["stress_fallback_words"]))
    if "p_author" in result:
        lines.append(f"p_author: {result['p_author']:.2f}")
    elif "p_author_refused" in result:
        lines.append(f"p_author: none (not verse: {result['p_author_refused'].replace('_', ' ')})")
    return "\n".join(lines)


def profile_intervals(forms: Sequence[dict], seed: int = 0) -> dict[str, float]:
    """95% intervals, poems resampled, for the profile's main shares of poems given by
    their `summary()` dicts: rhyme rate (lines pooled), mean regularity, each meter's
    share of metered poems (Wilson) and each scheme's share of quatrains (pooled):
    `<key>_ci_low` / `<key>_ci_high`."""
    from qwen_qlora.stats import mean_ci, ratio_ci, share_ci

    out: dict[str, float] = {}

    def put(key: str, summary: dict[str, float]) -> None:
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = round(summary["ci_low"], 4), round(summary["ci_high"], 4)

    verse = [f["n_lines"] for f in forms]
    if sum(verse):
        put("rhyme_rate", ratio_ci([f["rhymed_lines"] for f in forms], verse, seed))
    metered = [f for f in forms if f["n_metered_lines"] >= 2]
    if metered:
        put("regularity_mean", mean_ci([f["regularity"] for f in metered], seed))
        for m in METERS:
            put(f"meter_share_{m}", share_ci([f["meter"] == m for f in metered]))
    quatrain_counts = [len(f["quatrain_schemes"]) for f in forms]
    if sum(quatrain_counts):
        for s in SCHEMES:
            put(f"scheme_share_{s}", ratio_ci([f["quatrain_schemes"].count(s) for f in forms],
                                              quatrain_counts, seed))
    return out
