"""DVC stage `evaluate`: every model row on the test poems' completion tokens, the
membership test and the memorisation probe.

Rows (`qwen_qlora.rows`): base as shipped, base 4-bit, base few-shot, adapted on
the 4-bit base, adapted on the base as shipped. Test poems were never seen by training
or checkpoint selection (val). Writes metrics/eval.json ({row: figures with 95%
intervals, "headline": adapted vs base, "vs_base": every row vs base}; every perplexity and ratio
twice: `poem_*` over the poems' own tokens, the headline, and plain over every completion
token with the stop token, whose own term is `stop_nats_per_poem`; "membership": the
train-vs-test AUC of the loss the adapter removed per poem; `probe_*` per probed row: lines
of train and test poems recited when sampled from the lines before them; "vs_verse": adapted vs
the verse adapter alone, what her poems add to verse; "retention": language kept, base vs
verse and adapted on other poets' poems the verse stage never learned; "retention_prose": the
same rows on Russian prose paragraphs written for the project, as plain text) and the per-poem
values (reports/eval_per_poem.jsonl) for the report.

Usage: python stages/evaluate.py DATA_DIR BASE_DIR ADAPTER_DIR METRICS_JSON PER_POEM_JSONL
       [--verse VERSE_ADAPTER_DIR] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from transformers import set_seed

from qwen_qlora.config import load_params
from qwen_qlora.corpus.reference import partition_reference, reference_example
from qwen_qlora.evaluation.membership import PAIR, fixed_sample, membership_figures
from qwen_qlora.evaluation.probe import probe_summary, recite_lines
from qwen_qlora.evaluation.scoring import (
    aggregate,
    perplexity_ratio,
    poem_tokens,
    poems_better,
    score_examples,
    stop_term,
)
from qwen_qlora.generation.decode import Sampling
from qwen_qlora.io import read_jsonl, write_figures, write_jsonl
from qwen_qlora.model.adapted import active_rows, models_for_rows, row_adapter
from qwen_qlora.model.head import records_vocab
from qwen_qlora.model.load import ModelLoadError
from qwen_qlora.metrics.non_verse import PROSE
from qwen_qlora.model.prompts import IGNORE, encode_example, fewshot_shots
from qwen_qlora.progress import Progress
from qwen_qlora.rows import ROWS

# What metrics/eval.json keeps for `dvc metrics diff` / `dvc exp show` (io.key_figures patterns;
# "+ci": with its interval); every figure goes to the --detail file the report reads.
KEY_FIGURES = (
    "headline.poem_test_perplexity_ratio+ci", "headline.poem_poems_better", "headline.test_perplexity_ratio",
    "vs_fewshot.poem_test_perplexity_ratio+ci", "vs_fewshot.poem_poems_better", "vs_fewshot.test_perplexity_ratio",
    "vs_verse.poem_test_perplexity_ratio+ci", "retention.*.poem_perplexity_vs_base+ci",
    "retention_prose.*.perplexity_vs_base+ci",
    "*.poem_test_perplexity", "adapted.test_perplexity", "membership.auc+ci", "membership_verse.*.auc+ci", "adapted.probe_train_rate",
    "adapted.probe_test_rate", "runtime_s",
)

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data_dir", "base_dir", "adapter_dir", "metrics", "per_poem"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--verse", type=Path, default=None, help="the verse stage's adapter (the verse row)")
    ap.add_argument("--detail", type=Path, required=True,
                    help="every figure, for the report (METRICS keeps the key figures)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    ev, preset = params.evaluate, params.model.selected
    verse_dir = args.verse if params.verse.enabled else None
    if "verse" in ev.rows and params.verse.enabled and args.verse is None:
        raise ValueError("evaluate.rows has verse but no --verse adapter folder was given; pass "
                         "--verse models/verse_adapter (dvc.yaml does)")
    set_seed(ev.seed)
    started = time.perf_counter()
    test = read_jsonl(args.data_dir / "test.jsonl")
    train = read_jsonl(args.data_dir / "train.jsonl")
    shots = fewshot_shots(train, ev.fewshot_shots)
    members = fixed_sample(train, ev.membership_train_poems, ev.seed)
    probe_sets = {"train": fixed_sample(train, ev.probe_poems, ev.seed),
                  "test": fixed_sample(test, ev.probe_poems, ev.seed)}
    sampling = Sampling.of(params.generate.decoding())  # the probe samples as people get
    # Language kept: other poets' poems the verse stage never learned (its own held-out draw)
    reference = read_jsonl(args.data_dir / "reference.jsonl")
    heldout = partition_reference(reference,
                                  train + read_jsonl(args.data_dir / "val.jsonl") + test, params.author,
                                  ev.retention_poems).heldout
    others = [reference_example(r, params.split) for r in heldout]
    # Memorisation of the verse stage's poems: a fixed sample of what it learned, scored as
    # her train poems are, against the held-out poems above (the membership test's non-members)
    verse_members = []
    if verse_dir is not None:
        learned = set(json.loads((verse_dir / "verse_poems.json").read_text(encoding="utf-8"))["train"])
        learned -= {r["id"] for r in heldout}  # never the case for the verse stage's own list
        verse_members = [reference_example(r, params.split) for r in
                         fixed_sample([r for r in reference if r["id"] in learned],
                                      ev.membership_train_poems, ev.seed)]
    corpus_vocab = params.generate.vocab == "corpus"

    # Score every row; the base rows are the same model with the adapter switched off.
    # Progress: a line per row, and within a row per tenth of each task, with the time left
    scores, member_scores, other_scores, verse_member_scores, result = {}, {}, {}, {}, {}
    prose_scores: dict[str, list[dict]] = {}
    n_rows = len(active_rows(ev.rows, params.quant, verse_dir is not None))
    rows_done = Progress("evaluate", n_rows, "row", lines=n_rows)
    for rows, model, tokenizer in models_for_rows(args.base_dir, args.adapter_dir, preset, params.quant,
                                                  params.train.precision, ev.rows, verse_dir):
        for name in rows:
            with row_adapter(model, name):
                row = ROWS[name]
                examples = [encode_example(preset, tokenizer, r["prompt"], r["completion"],
                                           shots if row.fewshot else ()) for r in test]
                scores[name] = score_examples(model, examples, tokenizer.pad_token_id, ev.batch_size,
                                              adapter=row.adapter,
                                              progress=Progress(f"evaluate: {name}", len(test), "test poems"))
                result[name] = {**aggregate(scores[name], ev.seed),
                                **{f"poem_{k}": v for k, v in aggregate(poem_tokens(scores[name]), ev.seed).items()},
                                **stop_term(scores[name], ev.seed)}
                if name in PAIR:  # membership: her train poems under the same two rows
                    member_scores[name] = score_examples(
                        model, [encode_example(preset, tokenizer, r["prompt"], r["completion"]) for r in members],
                        tokenizer.pad_token_id, ev.batch_size, adapter=row.adapter,
                        progress=Progress(f"evaluate: {name}: membership", len(members), "train poems"))
                if name in ev.probe_rows:
                    vocab = records_vocab(preset, tokenizer, train + test) if corpus_vocab else None
                    result[name].update(probe(model, tokenizer, preset, probe_sets, ev, sampling, vocab, row.adapter,
                                              Progress(f"evaluate: {name}: probe", sum(map(len, probe_sets.values())),
                                                       "poems")))
                if name in RETENTION_ROWS:  # language kept: other poets' held-out poems
                    other_scores[name] = score_examples(
                        model, [encode_example(preset, tokenizer, r["prompt"], r["completion"]) for r in others],
                        tokenizer.pad_token_id, ev.batch_size, adapter=row.adapter,
                        progress=Progress(f"evaluate: {name}: language kept", len(others), "other poets' poems"))
                    prose_scores[name] = score_examples(
                        model, [text_example(tokenizer, t) for t in PROSE], tokenizer.pad_token_id, ev.batch_size,
                        adapter=row.adapter, progress=Progress(f"evaluate: {name}: prose", len(PROSE), "paragraphs"))
                    if verse_members:
                        verse_member_scores[name] = score_examples(
                            model, [encode_example(preset, tokenizer, r["prompt"], r["completion"])
                                    for r in verse_members], tokenizer.pad_token_id, ev.batch_size, adapter=row.adapter,
                            progress=Progress(f"evaluate: {name}: verse poems learned", len(verse_members), "poems"))
                rows_done.advance(note=f"{name}: test perplexity {result[name]['poem_test_perplexity']:.2f} on poem "
                                       f"tokens, {result[name]['test_perplexity']:.2f} with the stop token")

    # Ratios against the model as shipped; the headline is the adapter on that same base, on
    # the poems' own tokens (poem_*), and with the stop token as training scores it
    def compare(num: str, den: str) -> dict:
        return {**{f"poem_{k}": v for k, v in perplexity_ratio(poem_tokens(scores[num]), poem_tokens(scores[den]),
                                                               ev.seed).items()},
                "poem_poems_better": poems_better(poem_tokens(scores[num]), poem_tokens(scores[den])),
                **perplexity_ratio(scores[num], scores[den], ev.seed),
                "poems_better": poems_better(scores[num], scores[den]),
                "numerator": num, "denominator": den, "test_poems": len(test)}

    against_base = {name: compare(name, "base") for name in scores if name != "base"}
    result["vs_base"] = {f"{name}_{part}perplexity_ratio": round(ratio[f"{part}test_perplexity_ratio"], 4)
                         for name, ratio in against_base.items() for part in ("poem_", "")}
    result["headline"] = against_base["adapted"]
    if "base_fewshot" in scores:  # the alternative to fine-tuning: worked examples in the prompt
        result["vs_fewshot"] = compare("adapted", "base_fewshot")
    if "verse" in scores:  # what her poems add to the verse adapter alone
        result["vs_verse"] = compare("adapted", "verse")
    if "base_4bit" in scores:
        result["quantization"] = {k: v for k, v in against_base["base_4bit"].items() if "poems_better" not in k}
    result["retention"] = retention(other_scores, others, ev.seed)
    result["retention_prose"] = prose_retention(prose_scores, len(PROSE), ev.seed)
    result["membership"] = {**membership_figures(member_scores, {n: scores[n] for n in PAIR}, ev.seed),
                            "train_poems_available": len(train)}
    if verse_member_scores:  # the verse poems learned against other poets' held-out poems
        result["membership_verse"] = verse_membership(verse_member_scores, other_scores, ev.seed)
    result["runtime_s"] = time.perf_counter() - started

    rows_out = []
    for i, rec in enumerate(test):
        row = {"id": rec["id"], "title": rec.get("title"), "theme": rec["theme"], "tokens": scores["base"][i]["tokens"]}
        for name, s in scores.items():
            poem = poem_tokens([s[i]])[0]
            row[f"{name}_poem_perplexity"] = math.exp(poem["nll"] / poem["tokens"])
            row[f"{name}_perplexity"] = math.exp(s[i]["nll"] / s[i]["tokens"])
            row[f"{name}_stop_nats"] = s[i]["stop_nll"]
            row[f"{name}_token_accuracy"] = s[i]["correct"] / s[i]["tokens"]
        rows_out.append(row)
    write_jsonl(args.per_poem, rows_out)
    write_figures(args.metrics, args.detail, result, KEY_FIGURES)
    h = result["headline"]
    for part, what in (("poem_", "poem tokens"), ("", "with the stop token")):
        print(f"evaluate: test perplexity on {what}: base {result['base'][part + 'test_perplexity']:.2f} -> adapted "
              f"{result['adapted'][part + 'test_perplexity']:.2f} (x{h[part + 'test_perplexity_ratio']:.3f}, 95% CI "
              f"{h[part + 'test_perplexity_ratio_ci_low']:.3f}-{h[part + 'test_perplexity_ratio_ci_high']:.3f}, "
              f"{len(test)} poems)" + (f"; against few-shot x{result['vs_fewshot'][part + 'test_perplexity_ratio']:.3f}"
                                        if "vs_fewshot" in result else ""))
    m = result["membership"]
    print(f"evaluate: membership AUC (loss the adapter removed, train vs test) {m['auc']:.3f}, 95% CI "
          f"{m['auc_ci_low']:.3f}-{m['auc_ci_high']:.3f} ({m['n_train']} train / {m['n_test']} test poems); "
          f"adapted loss alone {m['adapted_auc']:.3f}")
    for name, m in result.get("membership_verse", {}).items():
        if isinstance(m, dict):
            print(f"evaluate: membership of the verse stage's poems under {name} (learned vs held-out other "
                  f"poets' poems) AUC {m['auc']:.3f}, 95% CI {m['auc_ci_low']:.3f}-{m['auc_ci_high']:.3f} "
                  f"({m['n_train']} / {m['n_test']} poems)")
    for name, r in result["retention"].items():
        if isinstance(r, dict) and "poem_perplexity_vs_base" in r:
            print(f"evaluate: language kept: {name} / base perplexity on {result['retention']['poems']} other "
                  f"poets' held-out poems x{r['poem_perplexity_vs_base']:.3f}, 95% CI "
                  f"{r['poem_perplexity_vs_base_ci_low']:.3f}-{r['poem_perplexity_vs_base_ci_high']:.3f}")
    for name, r in result["retention_prose"].items():
        if isinstance(r, dict) and "perplexity_vs_base" in r:
            print(f"evaluate: language kept: {name} / base perplexity on {result['retention_prose']['texts']} prose "
                  f"paragraphs x{r['perplexity_vs_base']:.3f}, 95% CI "
                  f"{r['perplexity_vs_base_ci_low']:.3f}-{r['perplexity_vs_base_ci_high']:.3f}")
    print(f"evaluate: {result['runtime_s']:.0f} s")


# Rows scored on other poets' poems: the model as shipped, the verse adapter, the poet's adapter.
RETENTION_ROWS = ("base", "verse", "adapted")
PROSE_TEXT = ("Russian prose paragraphs written for the project (metrics/non_verse.PROSE: essays on the "
              "themes and everyday prose; the corpus holds no prose: the records the clean stage drops as prose "
              "are verse and editors' notes), scored as plain text: every token after the start token")


def text_example(tokenizer, text: str) -> dict[str, list[int]]:
    """A text scored as plain language modelling: every token after the start token (the
    first token stands in where the tokenizer has none), no prompt and no stop token."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    head, body = ([bos], ids) if bos is not None else (ids[:1], ids[1:])
    return {"input_ids": head + body, "labels": [IGNORE] * len(head) + body}


def prose_retention(scores: dict[str, list[dict]], texts: int, seed: int) -> dict:
    """Language kept on prose: each row's perplexity over every token of the paragraphs and
    its ratio to the base as shipped, with paired intervals over paragraphs."""
    return {"texts": texts, "text": PROSE_TEXT, **against_base(scores, seed, "")}


def verse_membership(learned: dict[str, list[dict]], heldout: dict[str, list[dict]], seed: int) -> dict:
    """The membership test over the verse stage's poems: for the verse row and the adapted
    row (which continues it), the loss each removed from the base on a sample of the verse
    poems it learned against other poets' held-out poems (`evaluate.membership_train_poems`
    learned, `evaluate.retention_poems` held out). An AUC near 0.5 leaves no trace."""
    out: dict = {"text": "verse stage's learned poems (a fixed sample) against other poets' held-out poems"}
    for name in ("verse", "adapted"):
        if name in learned and "base" in learned:
            out[name] = membership_figures({"base": learned["base"], "adapted": learned[name]},
                                           {"base": heldout["base"], "adapted": heldout[name]}, seed)
    return out


def retention(scores: dict[str, list[dict]], poems: list[dict], seed: int) -> dict:
    """Language kept: each row's perplexity on other poets' held-out poems (poem tokens,
    the stop token apart) and its ratio to the base as shipped, with paired intervals."""
    out: dict = {"poems": len(poems), "authors": len({p["author"] for p in poems}),
                 "text": "held-out poems of other poets, never learned by the verse stage"}
    return {**out, **against_base({name: poem_tokens(s) for name, s in scores.items()}, seed, "poem_")}


def against_base(scores: dict[str, list[dict]], seed: int, prefix: str) -> dict:
    """Each row's figures over the scored tokens (`aggregate`, keys `prefix` + figure) and,
    for every row but the base, its perplexity over the base's (`prefix` + "perplexity_vs_base"),
    with a paired interval."""
    out: dict = {}
    for name, s in scores.items():
        out[name] = {prefix + k.removeprefix("test_"): v for k, v in aggregate(s, seed).items()}
        if name != "base":
            out[name].update({k.replace("test_perplexity_ratio", prefix + "perplexity_vs_base"): v
                              for k, v in perplexity_ratio(s, scores["base"], seed).items()})
    return out


def probe(model, tokenizer, preset, probe_sets, ev, sampling, vocab, adapter: bool, progress=None) -> dict[str, float]:
    """Memorisation probe on train and test poems, every line sampled from the lines before
    it; the rate gap is what training added. Each split starts from the same seed."""
    pairs = {split: recite_lines(model, tokenizer, preset, records, sampling, seed=ev.seed,
                                 max_lines=ev.probe_max_lines, max_new_tokens=ev.probe_max_new_tokens,
                                 batch_size=ev.probe_batch_lines, vocab=vocab, adapter=adapter, progress=progress)
             for split, records in probe_sets.items()}
    return {**probe_summary(pairs, ev.probe_similarity, ev.seed),
            "probe_vocab_tokens": 0 if vocab is None else len(vocab)}


if __name__ == "__main__":
    try:
        main()
    except (ModelLoadError, ValueError) as err:
        raise SystemExit(f"evaluate: {err}") from err
