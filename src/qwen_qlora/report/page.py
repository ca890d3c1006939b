"""The HTML report: one self-contained page (inline CSS, inline SVG charts, no script,
no network) built from the pipeline's metrics, per-poem scores and samples.

`build_context` turns the loaded files into plain values for the template and
`render_report` renders it with jinja2 autoescaping on, so every poem, title, theme and
source name is HTML-escaped (a generated poem is untrusted input). Every section takes
what is there: a missing file or row, or an older file format, leaves a note or fewer
rows, never a crash. Run by the `report` stage (stages/report.py).
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from qwen_qlora.report import charts
from qwen_qlora.rows import ROWS, SELECTED_LABELS

# Model rows in the order people read them, with what each one is.
LABELS = ({name: row.label for name, row in ROWS.items()} | SELECTED_LABELS
          | {"poet_val": "her val poems (reference figures)", "poet_test": "her test poems (reference figures)"})
NOT_ROWS = {"headline", "vs_fewshot", "vs_verse", "retention", "retention_prose", "membership", "membership_verse", "vs_base", "quantization", "delta", "attributor", "baselines", "distance",
            "selection", "non_verse"}
# Per-sample keys that are shown in their own place, not as flags.
SAMPLE_KEYS = {"model", "theme", "seed", "sample", "text", "text_cut", "copied_lines",
               "longest_copied_run_words", "longest_copied_run_source", "prompt", "id"}
DISTRIBUTIONS = [("meter_share_", "Meter"), ("stanza_share_", "Stanzas"), ("scheme_share_", "Rhyme scheme of quatrains")]
# The poetics stage's cross-check of the form figures with a second stress source:
# (column, primary key, check key); the check's difference is `<check key>_diff`.
CROSS_CHECK = [("rhyme rate", "rhyme_rate_rescanned", "rhyme_rate_check"),
               ("meter followed", "meter_compliance", "meter_compliance_check"),
               ("scheme followed", "scheme_compliance", "scheme_compliance_check"),
               ("whole form followed", "form_compliance", "form_compliance_check")]
CROSS_CHECK_KEYS = frozenset(k for _, primary, check in CROSS_CHECK for k in (primary, check, check + "_diff")) | {
    "check_unknown_word_share", "check_n_polysyllables", "check_max_abs_diff", "check_stress_agreement",
    "check_homograph_share", "check_n_polysyllables_both_know"}
# Headline metrics for the experiments table: (column, file, candidate dotted keys).
EXPERIMENT_METRICS = [
    ("adapted ppl, poem tokens", "metrics/eval.json", ["adapted.poem_test_perplexity"]),
    ("ppl ratio, poem tokens", "metrics/eval.json", ["headline.poem_test_perplexity_ratio"]),
    ("adapted ppl with stop token", "metrics/eval.json", ["adapted.test_perplexity", "adapted.val_perplexity"]),
    ("ppl ratio with stop token", "metrics/eval.json",
     ["headline.test_perplexity_ratio", "delta.val_perplexity_ratio"]),
    ("copied lines", "metrics/generation.json", ["adapted.copied_line_share"]),
    ("quatrain form", "metrics/generation.json", ["adapted.quatrain_compliance_share"]),
    ("rhyme rate", "metrics/poetics.json", ["adapted.rhyme_rate"]),
    ("p_author", "metrics/poetics.json", ["adapted.p_author_mean"]),
    ("train s", "metrics/train.json", ["runtime_s"]),
]


def _svg(svg: str) -> Markup:
    """A chart as trusted markup, after checking it carries nothing that could run or fetch."""
    if not charts.svg_is_inert(svg):
        raise ValueError("a chart's SVG contains a script, an event handler or an external link")
    return Markup(svg)


def fmt(v: Any) -> str:
    """A number as people read it: ints whole, shares to 3 decimals, others to 2."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v).lower()
    if isinstance(v, int):
        return f"{v:,}".replace(",", "\u202f")  # narrow no-break space: 1 234 never wraps
    if isinstance(v, float):
        if v != v:
            return "nan"
        return f"{v:.3f}" if abs(v) < 1 else f"{v:,.2f}".replace(",", "\u202f")
    return str(v)


def model_rows(section: dict[str, Any], extra_first: tuple[str, ...] = ()) -> list[str]:
    """Row names of a metrics file in reading order: known rows first, then others."""
    names = [k for k, v in section.items() if isinstance(v, dict) and k not in NOT_ROWS]
    order = list(extra_first) + list(LABELS)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), names.index(n)))


def with_interval(row: dict[str, Any], key: str) -> dict[str, str] | None:
    """{value, interval} for a key, the interval from its `_ci_low`/`_ci_high` siblings."""
    if key not in row or isinstance(row[key], (dict, list)):
        return None
    lo, hi = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    return {"value": fmt(row[key]), "interval": f"[{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else ""}


def eval_table(ev: dict[str, Any]) -> dict[str, Any]:
    """The perplexity table: one row per model row present, columns that any row has,
    intervals and sample sizes; the headline ratio and the quantization figures."""
    split = "test" if any("test_perplexity" in v for v in ev.values() if isinstance(v, dict)) else "val"
    keys = [(f"poem_{split}_perplexity", "perplexity, poem tokens"),
            (f"{split}_perplexity", "perplexity with the stop token"),
            ("stop_nats_per_poem", "stop token (nats/poem)"), (f"{split}_loss", "loss (nats/token)"),
            ("token_accuracy", "token accuracy"), ("mean_entropy_nats", "entropy (nats)"),
            (f"{split}_tokens", "tokens"), (f"{split}_poems", "poems")]
    names = [n for n in model_rows(ev) if any(k.endswith("_perplexity") for k in ev[n])]
    keys = [(k, label) for k, label in keys if any(k in ev[n] for n in names)]
    # Row descriptions belong to the current format (test split); older files keep bare names.
    rows = [{"name": n, "label": LABELS.get(n, n) if split == "test" else n,
             "cells": [with_interval(ev[n], k) or {"value": "", "interval": ""} for k, _ in keys]}
            for n in names]
    headline = ev.get("headline") or ev.get("delta") or {}
    heads = [ratio_line(h, split, part) for h in (headline, ev.get("vs_fewshot") or {}) for part in ("poem_", "")]
    quant = {k: fmt(v) for k, v in (ev.get("quantization") or {}).items() if not isinstance(v, (dict, list))}
    verse = ratio_line(ev.get("vs_verse") or {}, split, "poem_")
    return {"verse": verse, "retention": kept_lines(ev.get("retention") or {}, "poem_"),
            "retention_prose": kept_lines(ev.get("retention_prose") or {}, ""),
            "memorisation": memorisation_lines(ev),
            "split": split, "columns": [label for _, label in keys], "rows": rows, "headline": heads[0] or heads[1],
            "headline_stop": heads[1] if heads[0] else None, "fewshot": heads[2] or heads[3],
            "fewshot_stop": heads[3] if heads[2] else None, "quantization": quant,
            "intervals": any(c["interval"] for r in rows for c in r["cells"])}


def memorisation_lines(ev: dict[str, Any]) -> list[dict[str, str]]:
    """What training may have memorised: the membership AUCs (her train poems against her
    test poems; the verse stage's learned poems against other poets' held-out ones) and
    the adapted model's recited-line rates, each with its interval and sample size."""
    lines = []
    m = ev.get("membership") or {}
    if "auc" in m:
        lines.append({"text": f"membership AUC, her train vs test poems ({m['n_train']} / {m['n_test']} poems)",
                      **with_interval(m, "auc")})
    for name, mv in (ev.get("membership_verse") or {}).items():
        if isinstance(mv, dict) and "auc" in mv:
            lines.append({"text": f"membership AUC, the verse stage's learned vs held-out poems under "
                                  f"{name} ({mv['n_train']} / {mv['n_test']} poems)", **with_interval(mv, "auc")})
    adapted = ev.get("adapted") or {}
    for split in ("train", "test"):
        if f"probe_{split}_rate" in adapted:
            lines.append({"text": f"share of her {split} poems' lines the adapted model recites "
                                  f"({adapted.get(f'probe_{split}_lines', '?')} lines)",
                          **with_interval(adapted, f"probe_{split}_rate")})
    return lines


def kept_lines(ret: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """Language kept (`retention`: other poets' poems, `prefix` "poem_"; `retention_prose`:
    prose, no prefix): each row's perplexity against the base as shipped, with its interval,
    and what was measured (the section's own scalars: poems, authors or texts, and text)."""
    if not ret:
        return None
    ratio, ppl = prefix + "perplexity_vs_base", prefix + "perplexity"
    lines = [{"text": f"{LABELS.get(n, n)} / base", **with_interval(ret[n], ratio),
              "perplexity": with_interval(ret[n], ppl), "base": with_interval(ret["base"], ppl)}
             for n in model_rows(ret) if ratio in ret[n]]
    return {"text": "", **{k: v for k, v in ret.items() if not isinstance(v, dict)}, "lines": lines}


def ratio_line(ratio: dict[str, Any], split: str, part: str = "") -> dict[str, Any] | None:
    """A perplexity ratio of two rows as one line: the rows, the value and interval, and on
    how many poems the numerator is better, when recorded. `part` "poem_" reads the ratio
    over the poems' own tokens (the stop token left out)."""
    key = next((k for k in (f"{part}test_perplexity_ratio", f"{part}val_perplexity_ratio") if k in ratio), None)
    if key is None:
        return None
    better = (f"; {ratio.get('numerator', 'adapted')} is better on {ratio[part + 'poems_better']} of "
              f"{ratio['test_poems']} poems" if part + "poems_better" in ratio and "test_poems" in ratio else "")
    what = " on poem tokens (the stop token apart)" if part else (" with the stop token" if "poem_" + key in ratio
                                                                  else "")
    rows = f"{ratio.get('numerator', 'adapted')} / {ratio.get('denominator', 'base')}"
    return {"text": f"{rows} {split} perplexity{what}", "better": better, **with_interval(ratio, key)}


def scalar_table(section: dict[str, Any], skip_prefixes: tuple[str, ...] = (),
                 first: tuple[str, ...] = (), skip_keys: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A metrics file with model rows as a table: one line per metric, one column per row,
    intervals beside values."""
    rows = model_rows(section, first)
    keys: list[str] = []
    for n in rows:
        for k, v in section[n].items():
            if (k not in keys and not isinstance(v, (dict, list)) and not k.endswith(("_ci_low", "_ci_high"))
                    and not k.startswith(skip_prefixes) and k not in skip_keys):
                keys.append(k)
    return {"columns": rows, "rows": [{"metric": k, "cells": [with_interval(section[n], k) or {"value": "", "interval": ""}
                                                                for n in rows]} for k in keys]}


def cross_check_table(poetics: dict[str, Any]) -> dict[str, Any] | None:
    """The rows the poetics stage cross-checked: each form figure under the primary stress
    source and the second one, their difference (flagged past the stage's tolerance), the
    share of words the second source's dictionary lacks, and how often its recorded
    stresses include the primary's."""
    names = [n for n in model_rows(poetics) if any(check in poetics[n] for _, _, check in CROSS_CHECK)]
    if not names:
        return None
    tolerance = poetics.get("cross_check_tolerance")

    def cell(row: dict[str, Any], primary: str, check: str) -> dict[str, Any] | None:
        if primary not in row or check not in row:
            return None
        diff = row.get(f"{check}_diff", row[check] - row[primary])
        return {"primary": fmt(row[primary]), "check": fmt(row[check]), "diff": f"{diff:+.3f}",
                "far": isinstance(tolerance, (int, float)) and abs(diff) > tolerance}

    return {"columns": [c for c, _, _ in CROSS_CHECK], "tolerance": fmt(tolerance),
            "rows": [{"name": n, "cells": [cell(poetics[n], p, c) for _, p, c in CROSS_CHECK],
                      "unknown": with_interval(poetics[n], "check_unknown_word_share"),
                      "agreement": fmt(poetics[n].get("check_stress_agreement"))} for n in names]}


def distributions(poetics: dict[str, Any]) -> list[dict[str, Any]]:
    """Meter, stanza and rhyme-scheme shares of corpus and models side by side (charts)."""
    rows = model_rows(poetics, ("corpus",))
    out = []
    for prefix, title in DISTRIBUTIONS:
        cats = []
        for n in rows:
            cats += [k[len(prefix):] for k in poetics[n] if k.startswith(prefix)
                     and not k.endswith(("_ci_low", "_ci_high")) and k[len(prefix):] not in cats]
        have = [n for n in rows if any(k.startswith(prefix) for k in poetics[n])]
        if not cats or not have:
            continue
        groups = {n: [float(poetics[n].get(prefix + c, 0.0)) for c in cats] for n in have}
        errors = {n: [(poetics[n][f"{prefix}{c}_ci_low"], poetics[n][f"{prefix}{c}_ci_high"])
                      if f"{prefix}{c}_ci_low" in poetics[n] and f"{prefix}{c}_ci_high" in poetics[n] else None
                      for c in cats] for n in have}
        sizes = ", ".join(f"{n}: {fmt(poetics[n]['n_poems'])} poems" for n in have if "n_poems" in poetics[n])
        out.append({"title": title, "note": sizes, "svg": _svg(charts.grouped_bars(cats, groups, errors))})
    return out


def p_author_section(poetics: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """p_author per generated poem by model, with the means and the poet's and other
    poets' baselines."""
    base = dict(poetics.get("baselines") or {})
    if "corpus" in poetics and "p_author_mean_val" in poetics["corpus"]:
        base.setdefault("p_author_mean_val", poetics["corpus"]["p_author_mean_val"])
    baselines = {k.replace("p_author_mean_", "").replace("_", " "): float(v) for k, v in base.items()
                 if k.startswith("p_author_mean") and "_ci_" not in k and isinstance(v, (int, float))}
    per_model: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        if isinstance(s.get("p_author"), (int, float)):
            per_model[s["model"]].append(float(s["p_author"]))
    means = {n: with_interval(poetics[n], "p_author_mean") for n in model_rows(poetics)
             if "p_author_mean" in poetics[n]}
    if not per_model and not means:
        return None
    counted = bool(per_model)
    if not counted:  # no per-poem values in the samples: the means alone
        per_model = {n: [float(poetics[n]["p_author_mean"])] for n in means}
    order = model_rows({n: {} for n in per_model})
    svg = charts.strips({n: per_model[n] for n in order}, baselines, "p_author (attributor's probability of the poet)",
                        counted=counted)
    attributor = {k: fmt(v) for k, v in (poetics.get("attributor") or {}).items() if not isinstance(v, (dict, list))}
    non_verse = {k: fmt(v) for k, v in (poetics.get("non_verse") or {}).items() if not isinstance(v, (dict, list))}
    return {"svg": _svg(svg), "per_poem": counted, "means": means, "baselines": {k: fmt(v) for k, v in base.items()},
            "attributor": attributor, "rule": poetics.get("p_author_applies_to"), "non_verse": non_verse}


def read_series(path: Path) -> tuple[list[float], list[float]] | None:
    """(steps, values) of a DVCLive TSV (columns step and one metric), or None if absent."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if not rows or "step" not in rows[0]:
        return None
    metric = [c for c in rows[0] if c not in ("step", "timestamp")][0]
    return [float(r["step"]) for r in rows], [float(r[metric]) for r in rows]


def per_poem_section(per_poem: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Scatter of per-poem test perplexity, base vs adapted, and the poems that moved most."""
    x_row = "base" if any("base_perplexity" in r for r in per_poem) else "base_4bit"
    y_row = "adapted" if any("adapted_perplexity" in r for r in per_poem) else "adapted_4bit"
    pairs = [r for r in per_poem if isinstance(r.get(f"{x_row}_perplexity"), (int, float))
             and isinstance(r.get(f"{y_row}_perplexity"), (int, float))]
    if not pairs:
        return None
    xs = [float(r[f"{x_row}_perplexity"]) for r in pairs]
    ys = [float(r[f"{y_row}_perplexity"]) for r in pairs]
    ranked = sorted(pairs, key=lambda r: r[f"{y_row}_perplexity"] / r[f"{x_row}_perplexity"])

    def row(r: dict[str, Any]) -> dict[str, str]:
        return {"title": str(r.get("title") or r.get("id", "")), "theme": str(r.get("theme", "")),
                "tokens": fmt(r.get("tokens")), "x": fmt(r[f"{x_row}_perplexity"]),
                "y": fmt(r[f"{y_row}_perplexity"]),
                "ratio": fmt(r[f"{y_row}_perplexity"] / r[f"{x_row}_perplexity"])}

    return {"svg": _svg(charts.perplexity_scatter(xs, ys, x_row, y_row)), "x": x_row, "y": y_row,
            "n": len(pairs), "better": sum(b < a for a, b in zip(xs, ys)),
            "median_ratio": fmt(statistics.median(b / a for a, b in zip(xs, ys))),
            "best": [row(r) for r in ranked[:5]], "worst": [row(r) for r in ranked[::-1][:5]]}


def corpus_section(corpus: dict[str, Any], stats: dict[str, Any] | None,
                   split: dict[str, Any]) -> dict[str, Any]:
    """Poems per source and author, drop reasons and split sizes."""
    total = corpus.get("total", corpus)
    detail = stats or corpus  # the detailed tables, or an older corpus.json that holds them
    drops = {k[len("dropped_"):]: v for k, v in total.items()
             if k.startswith("dropped_") and isinstance(v, (int, float))}
    by_author = {a: v.get("final", 0) for a, v in (detail.get("by_author") or {}).items() if v.get("final")}
    by_author = dict(sorted(by_author.items(), key=lambda kv: -kv[1]))
    sources = detail.get("by_source") or {}
    src_cols: list[str] = []
    for v in sources.values():
        src_cols += [k for k in v if k not in src_cols and not isinstance(v[k], (dict, list))]
    first, last = ["raw", "dropped"], ["merged_duplicates", "final", "skipped_files"]
    src_cols = ([c for c in first if c in src_cols] + sorted(c for c in src_cols if c not in first + last)
                + [c for c in last if c in src_cols])
    return {
        "total": {k: fmt(v) for k, v in total.items() if not isinstance(v, (dict, list))},
        "drops_svg": _svg(charts.hbar(drops, "poems dropped")) if drops else None,
        "authors_svg": _svg(charts.hbar(by_author, "poems after cleaning")) if by_author else None,
        "source_columns": src_cols,
        # a drop reason absent from a source's row means none were dropped for it
        "sources": [{"name": n, "cells": [fmt(v.get(c, 0 if c.startswith("dropped_") else ""))
                                          for c in src_cols]} for n, v in sources.items()],
        "split": {k: fmt(v) for k, v in split.items() if not isinstance(v, (dict, list))},
    }


def poem_lines(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """The sample's text as lines, each with the copied-line record that matches it (if any)."""
    text = sample.get("text") or ""
    copies = {str(c.get("line", "")).strip(): c for c in sample.get("copied_lines") or [] if isinstance(c, dict)}
    out = []
    for line in text.split("\n"):
        c = copies.get(line.strip()) if line.strip() else None
        hover = None
        if c:
            sim = c.get("similarity")
            hover = (f"copied from {c.get('source', '?')}" + (f" ({c['doc_id']})" if c.get("doc_id") else "")
                     + (f", similarity {fmt(float(sim))}" if isinstance(sim, (int, float)) else ""))
        out.append({"text": line, "copied": hover})
    return out


def sample_flags(sample: dict[str, Any]) -> list[dict[str, str]]:
    """The per-poem flags (form, rhyme scheme, meter, p_author, ...) as (name, value)."""
    items = [(k, v) for k, v in sample.items() if k not in SAMPLE_KEYS and k != "flags"]
    if isinstance(sample.get("flags"), dict):  # flags may also come grouped under one key
        items += list(sample["flags"].items())
    flags = [{"name": k, "value": _short(fmt(v))} for k, v in items if not isinstance(v, (dict, list))]
    if isinstance(sample.get("compliance"), dict):
        kept = [k for k, ok in sample["compliance"].items() if ok and k != "all"]
        flags.append({"name": "request followed", "value": ", ".join(kept) or "no part"})
    run = sample.get("longest_copied_run_words")
    if run:
        src = sample.get("longest_copied_run_source")
        flags.append({"name": "longest copied run", "value": f"{run} words" + (f" from {src}" if src else "")})
    return flags


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def samples_section(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Samples per theme: one line per (seed, sample), one column per model."""
    by_theme: dict[str, dict[tuple, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for s in samples:
        by_theme[str(s.get("theme", ""))][(s.get("seed"), s.get("sample"))][str(s.get("model", "?"))] = s
    out = []
    for theme, pairs in by_theme.items():
        models = model_rows({m: {} for p in pairs.values() for m in p})
        rows = [[{"model": m, "lines": poem_lines(p[m]), "flags": sample_flags(p[m]),
                  } if m in p else None for m in models]
                for _, p in sorted(pairs.items(), key=lambda kv: tuple(str(x) for x in kv[0]))]
        out.append({"theme": theme, "models": models, "rows": rows})
    return out


def experiments_section(exp_show: list[dict[str, Any]] | None, error: str | None) -> dict[str, Any]:
    """Rows of `dvc exp show --json`: name, changed params and headline metrics."""
    if exp_show is None:
        return {"note": error or "no experiments", "columns": [], "rows": []}
    revs = []
    for entry in exp_show:
        revs.append(entry)
        for exp in entry.get("experiments") or []:
            revs.extend(exp.get("revs") or [])
    flat = []
    for r in revs:
        data = r.get("data") or {}
        params = _flatten((data.get("params") or {}).get("params.yaml", {}).get("data") or {})
        metrics = {f: (m or {}).get("data") or {} for f, m in (data.get("metrics") or {}).items()}
        flat.append((r, params, metrics))
    changed = sorted(k for k in set().union(*(p for _, p, _ in flat)) if len({str(p.get(k)) for _, p, _ in flat}) > 1) \
        if len(flat) > 1 else []
    cols = [(c, f, ks) for c, f, ks in EXPERIMENT_METRICS
            if any(_dig(m.get(f, {}), ks) is not None for _, _, m in flat)]
    rows = []
    for r, params, metrics in flat:
        rows.append({"name": r.get("name") or str(r.get("rev", ""))[:7],
                     "rev": str(r.get("rev", ""))[:7],
                     "error": bool(r.get("error") or (r.get("data") or {}).get("error")),
                     "cells": [fmt(params.get(k)) for k in changed]
                     + [fmt(_dig(metrics.get(f, {}), ks)) for _, f, ks in cols]})
    return {"note": None if rows else "no experiments in this workspace", "columns": changed + [c for c, _, _ in cols],
            "rows": rows}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            out[f"{prefix}{k}"] = ",".join(map(str, v)) if all(not isinstance(x, (dict, list)) for x in v) else "…"
        else:
            out[f"{prefix}{k}"] = v
    return out


def _dig(d: dict[str, Any], keys: list[str]) -> Any:
    for dotted in keys:
        cur: Any = d
        for part in dotted.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is not None:
            return cur
    return None


def build_context(*, run: dict[str, Any], metrics: dict[str, dict[str, Any]], corpus_stats: dict[str, Any] | None,
                  per_poem: list[dict[str, Any]], samples: list[dict[str, Any]],
                  loss: dict[str, tuple[list[float], list[float]]],
                  exp_show: list[dict[str, Any]] | None, exp_error: str | None) -> dict[str, Any]:
    """Everything the template shows. `metrics` maps a file stem (eval, generation, poetics,
    train, corpus, split) to its parsed JSON ({} when absent)."""
    ev, gen, poe = metrics.get("eval", {}), metrics.get("generation", {}), metrics.get("poetics", {})
    return {
        "run": run,
        "eval": eval_table(ev) if ev else None,
        "generation": scalar_table(gen) if model_rows(gen) else None,
        "poetics": scalar_table(poe, ("meter_share_", "scheme_share_", "stanza_share_"), ("corpus",),
                                CROSS_CHECK_KEYS) if model_rows(poe) else None,
        "cross_check": cross_check_table(poe),
        "train": {k: fmt(v) for k, v in metrics.get("train", {}).items() if not isinstance(v, (dict, list))},
        "experiments": experiments_section(exp_show, exp_error),
        "loss_svg": _svg(charts.loss_curves(loss)) if loss else None,
        "per_poem": per_poem_section(per_poem),
        "corpus": corpus_section(metrics.get("corpus", {}), corpus_stats, metrics.get("split", {})),
        "distributions": distributions(poe) if model_rows(poe) else [],
        "p_author": p_author_section(poe, samples) if poe or samples else None,
        "themes": samples_section(samples),
    }


def render_report(context: dict[str, Any]) -> str:
    """The page as one HTML string (autoescaped; charts are trusted inline SVG)."""
    env = Environment(loader=PackageLoader("qwen_qlora.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**context)
