"""DVC stage `poetics`: meter, rhyme and style attribution for the corpus and every model row.

The style judge (char n-gram TF-IDF + calibrated logistic regression) learns only from
poems nothing it grades learnt from: her val + test poems (never train, which the adapter
and the generate stage's selector learnt) against the poems of the reference poets the
selector never saw (`selection.selection_poets`: two disjoint halves); a poem found in
the adapter's or the selector's training texts is left out, and the stage stops if one
remains. Her own baseline is out of fold (each of her val + test poems scored by a judge
trained without it), beside her train poems (which the judge never saw) and held-out
poems of other poets. p_author is given only to texts that scan as verse
(`metrics.verse.VerseRule`, stated in the metrics); the non-verse check set
(`metrics.non_verse`: prose, lists, dialogues) is scored with and without that rule.
Samples are judged whole, as delivered. Burrows' Delta (fit on the same texts) is a second,
independent opinion.

Meter and rhyme profiles come from stored form annotations, not a second scan: the
corpus's from the annotate stage (carried by the split's examples), each sample's from
the generate stage (`form`, the whole poem). Formed rows (`<row>_formed`, the form decoder's)
are stressed and scanned again here (`metrics.form_judge`): compliance with each poem's
requested form (meter, feet, scheme, stanzas, lines), repeated rhyme words per poem, the
share of rhyme pairs the ten commonest pairs take, and the known-word share. Each formed
row and its free row (`adapted_formed` and `adapted`) are also cross-checked with a second
stress source the decoder does not use (`metrics.dictionary_stress`, Wiktionary's stress
marks): rhyme rate and request compliance under each source, their differences, and the
share of words the dictionary lacks (`form_judge.cross_check_figures`). Every share
carries a 95% interval over poems. Writes
metrics/poetics.json ({"corpus", <row>..., "baselines", "attributor", "non_verse",
"distance"}) and the judge for `qwen-qlora scan` and the demo page.

Usage: python stages/poetics.py DATA_DIR SAMPLES_JSONL ATTRIBUTOR_DIR METRICS_JSON [--params params.yaml]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from pathlib import Path

from qwen_qlora.config import load_params
from qwen_qlora.generation.selection import selection_poets, selector_training_texts
from qwen_qlora.io import atomic_open, read_jsonl, write_figures
from qwen_qlora.metrics.dictionary_stress import load_dictionary_stresser
from qwen_qlora.metrics.fluency import load_morph
from qwen_qlora.metrics.form_annotation import annotate_forms
from qwen_qlora.metrics.form_judge import CHECK_TOLERANCE, cross_check_figures, formed_row_figures
from qwen_qlora.metrics.non_verse import CHECK_SET, check_set_figures
from qwen_qlora.metrics.poetics import (
    profile_distance,
    profile_from_forms,
    profile_intervals,
)
from qwen_qlora.metrics.stress import load_stresser
from qwen_qlora.metrics.style import (
    fit_delta,
    out_of_fold_p_author,
    poem_key,
    save_attributor,
    separation,
    shared_poems,
    train_attributor,
)
from qwen_qlora.metrics.verse import VerseRule
from qwen_qlora.rows import FORMED_SUFFIX, is_formed
from qwen_qlora.stats import flat, mean_ci


def held_out(poem_id: str, fraction: float, seed: int) -> bool:
    """A stable, seeded choice of reference poems kept out of the attributor's training."""
    h = int(hashlib.sha1(f"{seed}:{poem_id}".encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < fraction


def judge_training(splits: dict, reference: list[dict], p) -> tuple[list[dict], list[str], dict]:
    """The judge's positives (her val + test records), negatives (the judging half's poems
    not held out) and counts; a poem the adapter or the selector trained on is left out,
    and the stage stops if one is still shared."""
    adapter, selector_poems = selector_training_texts(splits["train"], reference)
    selector = [*adapter, *selector_poems]
    taken = {poem_key(t) for t in selector}
    her = [r for name in ("val", "test") for r in splits[name]]
    negatives = [r["text"] for r in reference if not selection_poets(r["author"])
                 and not held_out(r["id"], p.reference_val_fraction, p.seed)]
    kept_her = [r for r in her if poem_key(r["completion"]) not in taken]
    kept_negatives = [t for t in negatives if poem_key(t) not in taken]
    judge = [*(r["completion"] for r in kept_her), *kept_negatives]
    shared = {"adapter": len(shared_poems(judge, adapter)), "selector": len(shared_poems(judge, selector))}
    if any(shared.values()):
        raise ValueError(f"the style judge's training texts share poems with what trained the adapter or the "
                         f"selector ({shared}); check the split and selection_poets")
    return kept_her, kept_negatives, {
        "n_train_target": len(kept_her), "n_train_reference": len(kept_negatives),
        "n_left_out_target": len(her) - len(kept_her), "n_left_out_reference": len(negatives) - len(kept_negatives),
        "n_shared_with_adapter": shared["adapter"], "n_shared_with_selector": shared["selector"]}


def given(name: str, judged: list[float | None], seed: int) -> dict:
    """{name (+ interval) over the texts given a p_author, n_<name>}: None marks a text
    the verse rule refused."""
    kept = [x for x in judged if x is not None]
    return {**(flat(name, mean_ci(kept, seed)) if kept else {}), f"n_{name}": len(kept)}


# What metrics/poetics.json keeps for `dvc metrics diff` / `dvc exp show` (io.key_figures
# patterns; "+ci": with its interval); every figure goes to the --detail file the report reads.
KEY_FIGURES = (
    "*.rhyme_rate", "*.regularity_mean", "*.meter_share_iamb", "*.scheme_share_ABAB", "*.p_author_mean",
    "*.rescanned_request_all_share+ci", "*.rescanned_request_meter_share", "*.rescanned_request_scheme_share",
    "*.top10_rhyme_pair_share", "*.repeated_rhyme_words_per_poem", "*.known_word_share",
    "*.rhyme_rate_check", "*.form_compliance_check", "*.check_unknown_word_share", "*.check_max_abs_diff",
    "baselines.p_author_mean_her_out_of_fold", "attributor.roc_auc", "runtime_s",
)

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "samples", "attributor_dir", "metrics"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--detail", type=Path, required=True,
                    help="every figure, for the report (METRICS keeps the key figures)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    p = params.poetics
    started = time.perf_counter()

    # Texts: her poems by split, the reference poets, the generated poems with their forms
    splits = {name: read_jsonl(args.data_dir / f"{name}.jsonl") for name in ("train", "val", "test")}
    train = [r["completion"] for r in splits["train"]]
    reference = read_jsonl(args.data_dir / "reference.jsonl")
    ref_val = [r["text"] for r in reference if held_out(r["id"], p.reference_val_fraction, p.seed)]
    samples = read_jsonl(args.samples)
    rows = list(dict.fromkeys(s["model"] for s in samples))
    generated = {m: [s["text"] for s in samples if s["model"] == m] for m in rows}
    forms = {"corpus": [r["form"] for name in ("train", "val", "test") for r in splits[name]],
             **{m: [s["form"] for s in samples if s["model"] == m] for m in rows}}
    missing = [name for name, fs in forms.items() if any(f is None for f in fs)]
    if missing:
        raise ValueError(f"no form annotation for some poems of {missing}; re-run `dvc repro annotate split generate`")

    # The judge: her val + test poems vs the judging half of the poets; her own baseline out of fold
    her_records, ref_train, sizes = judge_training(splits, reference, p)
    her = [r["completion"] for r in her_records]
    judge = train_attributor(her, ref_train, p.seed, calibration_folds=p.calibration_folds)
    judge.verse_rule = rule = VerseRule(
        min_lines=params.clean.min_lines, max_mean_line_chars=params.clean.max_mean_line_chars,
        max_line_chars=params.clean.max_line_chars, max_marker_share=p.verse_max_marker_share,
        min_rhyme_rate=p.verse_min_rhyme_rate, min_regularity=params.annotate.min_regularity,
        min_unrhymed_lines=p.verse_min_unrhymed_lines)
    her_oof = out_of_fold_p_author(her, ref_train, p.seed, folds=p.judge_folds, calibration_folds=p.calibration_folds)
    p_other = judge.p_author(ref_val)
    delta = fit_delta(her, ref_train)

    # Meter and rhyme profiles from the stored annotations; p_author where a text scans as verse
    result = {}
    for name, fs in forms.items():
        result[name] = {**profile_from_forms(fs), **profile_intervals(fs, p.seed)}
        if name != "corpus":
            texts = generated[name]
            judged = judge.judge(texts, fs)
            result[name].update({
                **given("p_author_mean", judged, p.seed),
                "verse_share": round(sum(x is not None for x in judged) / len(judged), 4),
                "p_author_mean_without_verse_rule": round(statistics.fmean(judge.p_author(texts)), 4),
                "delta_to_target_mean": round(statistics.fmean(d["delta_target"] for d in delta.scores(texts)), 4)})
    stresser = load_stresser()
    formed = [m for m in rows if is_formed(m)]
    morph = load_morph() if formed else None
    for name in formed:  # judged again from the final text, against the form each poem asked for
        result[name].update(formed_row_figures([s for s in samples if s["model"] == name], stresser, morph,
                                               params.annotate.min_regularity, p.seed))
    checked = [m for m in rows if is_formed(m) or m + FORMED_SUFFIX in rows]
    if checked:  # the same scansion under a second stress source, which the decoder does not use
        check_started, checker = time.perf_counter(), load_dictionary_stresser()
        for name in checked:
            result[name].update(cross_check_figures([s for s in samples if s["model"] == name], stresser, checker,
                                                    params.annotate.min_regularity, p.seed))
        result["cross_check_tolerance"] = CHECK_TOLERANCE
        result["cross_check_runtime_s"] = round(time.perf_counter() - check_started, 1)
    result["p_author_applies_to"] = rule.describe()
    her_forms = [r["form"] for r in her_records]
    result["baselines"] = {
        **given("p_author_mean_her_out_of_fold", [x if rule.applies(t, f) else None
                                                 for x, t, f in zip(her_oof, her, her_forms)], p.seed),
        **given("p_author_mean_her_train", judge.judge(train, [r["form"] for r in splits["train"]]), p.seed),
        **flat("p_author_mean_other_poets", mean_ci(p_other, p.seed)), "n_other_poets": len(ref_val),
        "delta_to_target_mean_her_train": round(statistics.fmean(d["delta_target"] for d in delta.scores(train)), 4),
    }
    result["attributor"] = {**separation(her_oof, p_other), **sizes, "judge_folds": p.judge_folds}
    texts = [t for _, t in CHECK_SET]
    check_forms = annotate_forms(texts, stresser)
    result["non_verse"] = check_set_figures(judge.p_author(texts), [rule.why_not(t, f) for t, f in
                                                                    zip(texts, check_forms)], p.seed)
    result["distance"] = {f"{m}_to_corpus": profile_distance(result["corpus"], result[m]) for m in rows}
    result["runtime_s"] = time.perf_counter() - started

    args.attributor_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.attributor_dir / "attributor.joblib", "wb") as fh:
        save_attributor(judge, fh)
    write_figures(args.metrics, args.detail, result, KEY_FIGURES)
    b, nv = result["baselines"], result["non_verse"]
    print(f"poetics: judge on {len(her)} of her poems vs {len(ref_train)}, out-of-fold ROC-AUC "
          f"{result['attributor']['roc_auc']}; "
          + ", ".join(f"p_author {m} {result[m].get('p_author_mean', float('nan')):.3f} "
                      f"({result[m]['n_p_author_mean']} verse)" for m in rows)
          + f"; her out of fold {b.get('p_author_mean_her_out_of_fold', float('nan')):.3f}, other poets "
          f"{b['p_author_mean_other_poets']:.3f}; non-verse check set {nv['p_author_mean_without_verse_rule']:.3f} "
          f"without the verse rule, {nv['n_given_p_author']} of {nv['n_texts']} scored with it; "
          f"{result['runtime_s']:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except ValueError as err:
        raise SystemExit(f"poetics: {err}") from err
