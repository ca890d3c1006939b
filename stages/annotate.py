"""DVC stage `annotate`: the form of every poem of the target poet (meter and feet,
stanzas, quatrain rhyme schemes, rhyme rate), before the split words it into prompts.

The annotation is the poetics analysers' (stress model, scansion pass, meter, rhyme)
on the clean text; `confident` says whether a prompt may state it
(`annotate.min_regularity` of the lines fit a syllabo-tonic meter or the dolnik). The
poetics stage builds the corpus profile from these annotations instead of scanning the
corpus again. Writes one {id, form} record per target poem and metrics/forms.json: how
many are confident, their meters, and the poet's most common forms.

Usage: python stages/annotate.py POEMS_JSONL FORMS_JSONL METRICS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from qwen_qlora.config import load_params
from qwen_qlora.io import read_jsonl, write_jsonl, write_metrics
from qwen_qlora.metrics.form_annotation import annotate_form, common_forms, describe_form
from qwen_qlora.metrics.stress import load_stresser


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("poems", "forms", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    started = time.perf_counter()

    poems = [p for p in read_jsonl(args.poems) if p["author"] == params.author]
    if not poems:
        raise SystemExit(f"annotate: no poems by {params.author!r} in {args.poems}; check `author` in params.yaml")
    stresser = load_stresser()
    records = [{"id": p["id"], "form": annotate_form(p["text"], stresser, params.annotate.min_regularity)}
               for p in poems]
    write_jsonl(args.forms, records)

    forms = [r["form"] for r in records]
    confident = [f for f in forms if f["confident"]]
    meters = Counter(f["meter"] for f in confident)
    described = Counter(describe_form(f) for f in confident)
    try:
        quatrain_forms = [{"form": describe_form(f), "poems": f["count"]} for f in common_forms(forms, 10)]
    except ValueError:  # no confident poem of rhymed quatrains: generation will say so
        quatrain_forms = []
    metrics = {
        "n_poems": len(forms),
        "confident_share": round(len(confident) / len(forms), 4),
        **{f"confident_meter_share_{m}": round(n / len(confident), 4) for m, n in meters.most_common()},
        "top_forms": [{"form": text, "poems": n} for text, n in described.most_common(10)],
        "quatrain_forms": quatrain_forms,
        "runtime_s": round(time.perf_counter() - started, 1),
    }
    write_metrics(args.metrics, metrics)
    top = metrics["top_forms"][0] if confident else None
    print(f"annotate: {len(forms)} poems, {metrics['confident_share']:.0%} confident"
          + (f"; most common: {top['form']} ({top['poems']})" if top else "")
          + ("" if quatrain_forms else "; no confident poem of rhymed quatrains (generation needs one)"))


if __name__ == "__main__":
    main()
