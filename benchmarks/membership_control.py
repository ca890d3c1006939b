"""A positive control for the membership test and the memorisation probe on her real poems.

An adapter is trained here to memorise a few of her train poems (many epochs at a high
learning rate, LoRA on every projection of the dense base, through the project's own
trainer: `training.trainer.build_trainer` with `TrainParams`), and then judged by exactly
what the evaluate stage runs: the membership AUC (`evaluation.membership`: each poem's
loss under the base and the adapted model, the AUC of the loss the adapter removed, train
poems against as many test poems) and the every-line probe (`evaluation.probe`: every
line sampled from the lines before it with the generate stage's settings). A test that
cannot tell these poems apart, or a probe that finds no recited line, cannot fire.

With `--adapter DIR` the same figures are measured for a trained adapter (the default
run's, `models/adapter`) on the evaluate stage's samples (`evaluate.membership_train_poems`
train poems against every test poem; `evaluate.probe_poems` per split), and printed beside
the control's.

Usage: python benchmarks/membership_control.py [--poems 8] [--epochs 15] [--lr 2e-3]
       [--data data/processed] [--base models/base/gemma-3-270m] [--adapter models/adapter]
       [--no-control] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import set_seed

from qwen_qlora.config import LoraParams, QuantParams, TrainParams, load_params
from qwen_qlora.evaluation.membership import PAIR, fixed_sample, membership_figures
from qwen_qlora.evaluation.probe import probe_summary, recite_lines
from qwen_qlora.evaluation.scoring import score_examples
from qwen_qlora.generation.decode import Sampling
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.adapted import load_adapted
from qwen_qlora.model.head import records_vocab
from qwen_qlora.model.load import load_base, resolve_precision
from qwen_qlora.model.lora import attach_lora, lora_config
from qwen_qlora.model.prompts import encode_example, encode_records
from qwen_qlora.text import lines
from qwen_qlora.training.trainer import build_trainer, sft_config

EVERY_PROJECTION = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def train_memoriser(base_dir: Path, preset, records, val, epochs: float, lr: float, out: Path):
    """(PEFT model, tokenizer): LoRA r=32 on every projection, trained on `records` alone."""
    train = TrainParams(num_train_epochs=epochs, learning_rate=lr, lr_scheduler_type="constant_with_warmup",
                        warmup_steps=0, per_device_train_batch_size=4, eval_steps=10_000, logging_steps=2,
                        early_stopping_patience=0, save_total_limit=1, preflight_examples=0, seed=7)
    precision = resolve_precision(train.precision, preset, "cpu")
    model, tok = load_base(base_dir, preset, QuantParams(load_in_4bit=False), precision)
    examples, too_long = encode_records(preset, tok, records, train.max_length)
    val_examples, _ = encode_records(preset, tok, val, train.max_length)
    if too_long:
        raise ValueError(f"membership_control: poems longer than {train.max_length} tokens: {too_long}")
    model = attach_lora(model, lora_config(LoraParams(r=32, alpha=64, dropout=0.0, target_modules=EVERY_PROJECTION),
                                           preset), train.activation_checkpointing, train.upcast_frozen)
    trainer = build_trainer(model, tok, examples, val_examples, sft_config(train, out, precision), train)
    result = trainer.train()
    print(f"control: trained {result.global_step} steps on {len(records)} poems, final train loss "
          f"{result.training_loss:.3f}", flush=True)
    return trainer.model.eval(), tok


def figures(model, tok, preset, members, test, probe_sets, params, vocab) -> dict:
    """The evaluate stage's membership figures and probe rates for base and adapted."""
    ev, g = params.evaluate, params.generate
    sampling = Sampling.of(g.decoding())
    scores: dict[str, dict] = {"train": {}, "test": {}}
    out: dict = {}
    for row in PAIR:
        adapter = row == "adapted"
        for split, recs in (("train", members), ("test", test)):
            examples = [encode_example(preset, tok, r["prompt"], r["completion"]) for r in recs]
            scores[split][row] = score_examples(model, examples, tok.pad_token_id, ev.batch_size, adapter=adapter)
        pairs = {split: recite_lines(model, tok, preset, recs, sampling, seed=ev.seed, max_lines=ev.probe_max_lines,
                                     max_new_tokens=ev.probe_max_new_tokens, batch_size=ev.probe_batch_lines,
                                     vocab=vocab, adapter=adapter)
                 for split, recs in probe_sets.items()}
        out[row] = probe_summary(pairs, ev.probe_similarity, ev.seed)
    out["membership"] = membership_figures(scores["train"], scores["test"], ev.seed)
    return out


def table(results: dict[str, dict]) -> str:
    def ci(d: dict, key: str) -> str:
        return f"{d[key]:.3f} [{d[key + '_ci_low']:.3f}, {d[key + '_ci_high']:.3f}]"

    def removed(r: dict) -> str:
        m = r["membership"]
        return f"{m['loss_removed_train_nats_per_token']:.3f} / {m['loss_removed_test_nats_per_token']:.3f}"

    rows = [("membership AUC (loss the adapter removed)", lambda r: ci(r["membership"], "auc")),
            ("  train / test poems", lambda r: f"{r['membership']['n_train']} / {r['membership']['n_test']}"),
            ("  AUC of the adapted loss alone", lambda r: ci(r["membership"], "adapted_auc")),
            ("  AUC under the base", lambda r: ci(r["membership"], "base_auc")),
            ("  loss removed, train / test (nats/token)", removed)]
    for row in PAIR:
        rows += [(f"probe {row}: train lines recited", lambda r, w=row: ci(r[w], "probe_train_rate")
                  + f" of {r[w]['probe_train_lines']} ({r[w]['probe_train_poems']} poems)"),
                 (f"probe {row}: test lines recited", lambda r, w=row: ci(r[w], "probe_test_rate")
                  + f" of {r[w]['probe_test_lines']} ({r[w]['probe_test_poems']} poems)"),
                 (f"probe {row}: train - test rate", lambda r, w=row: ci(r[w], "probe_rate_gap")),
                 (f"probe {row}: poems with a recited line, train / test",
                  lambda r, w=row: f"{r[w]['probe_train_poem_share']:.2f} / {r[w]['probe_test_poem_share']:.2f}"),
                 (f"probe {row}: mean line similarity, train / test",
                  lambda r, w=row: f"{r[w]['probe_train_similarity']:.3f} / {r[w]['probe_test_similarity']:.3f}")]
    names = list(results)
    lines = ["| figure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(get(results[n]) for n in names) + " |" for label, get in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poems", type=int, default=8, help="train poems memorised, and test poems against them")
    ap.add_argument("--epochs", type=float, default=15)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--data", type=Path, default=Path("data/processed"))
    ap.add_argument("--base", type=Path, default=None, help="default: models/base/<model.preset>")
    ap.add_argument("--adapter", type=Path, default=None, help="also measure this trained adapter")
    ap.add_argument("--no-control", action="store_true", help="measure --adapter only")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    ev, preset = params.evaluate, params.model.selected
    base_dir = args.base or Path("models/base") / params.model.preset
    train, test = read_jsonl(args.data / "train.jsonl"), read_jsonl(args.data / "test.jsonl")
    val = read_jsonl(args.data / "val.jsonl")[:2]
    print(f"torch threads {torch.get_num_threads()}", flush=True)
    results = {}
    if not args.no_control:
        set_seed(ev.seed)
        started = time.perf_counter()
        short = [r for r in train if len(lines(r["completion"])) <= 12]  # trains in minutes
        members, others = fixed_sample(short, args.poems, ev.seed), fixed_sample(test, args.poems, ev.seed)
        with tempfile.TemporaryDirectory() as ckpt:
            model, tok = train_memoriser(base_dir, preset, members, val, args.epochs, args.lr, Path(ckpt))
        trained = time.perf_counter() - started
        vocab = records_vocab(preset, tok, train + test) if params.generate.vocab == "corpus" else None
        results[f"control ({args.poems} poems memorised)"] = figures(
            model, tok, preset, members, others, {"train": members, "test": others}, params, vocab)
        print(f"control: trained in {trained:.0f} s, measured in {time.perf_counter() - started - trained:.0f} s",
              flush=True)
        del model
    if args.adapter is not None:
        started = time.perf_counter()
        dense = params.quant.model_copy(update={"load_in_4bit": False})  # the evaluate stage's base and adapted rows
        model, tok = load_adapted(base_dir, args.adapter, preset, dense, params.train.precision)
        vocab = records_vocab(preset, tok, train + test) if params.generate.vocab == "corpus" else None
        probe_sets = {"train": fixed_sample(train, ev.probe_poems, ev.seed),
                      "test": fixed_sample(test, ev.probe_poems, ev.seed)}
        members = fixed_sample(train, ev.membership_train_poems, ev.seed)
        results[str(args.adapter)] = figures(model, tok, preset, members, test, probe_sets, params, vocab)
        print(f"{args.adapter}: measured in {time.perf_counter() - started:.0f} s", flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
