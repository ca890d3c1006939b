"""One path for every formed poem: the generate stage's formed rows, `Poet.write` (so
`qwen-qlora write` / `compare` and the demo page) all call `sample_formed`.

A form request comes from params.yaml's `generate.form` or a person's choice
(`config.parse_form`: "auto", "free" or "iamb 4 ABAB x3"), turned into the annotation's
request shape by `form_request` ("auto": the poet's commonest confident form of rhymed
quatrains among the train poems; "free": None, no form decoder). `FormKit` is the words
stage's table with its token tries and rhyme index, built once per tokenizer.

Poem i of a call is seeded `seed + i`; a poem the decoder gives up on (too many dead
ends, `decoder.GaveUp`) is written again with the next unused seeds (`seed + i + k *
len(prompts)`), at most MAX_RETRIES times, and the seeds given up are logged; after that
the call fails with the form named. Temperature, top-k, top-p and the repetition penalty
keep their meaning (`decoder.write_formed`); the form, not max_new_tokens or the stop
token's chance, sets a formed poem's length, and it samples the table's words, not the
corpus vocabulary. The word forms of the poet's train poems carry a prior
(generate.poet_word_prior, `Lexicon`), so a poem leans to her words where the form
leaves a choice.

    kit = FormKit.load("models/word_table.json", tokenizer, params.words.rhyme_min_count,
                       her_train_texts, params.generate.poet_word_prior)
    poems = sample_formed(model, tokenizer, preset, prompts, [form] * len(prompts), seed, decoding, kit)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qwen_qlora.generation.decode import Sampling
from qwen_qlora.generation.form.decoder import GaveUp, write_formed
from qwen_qlora.generation.form.lexicon import RARE_WEIGHT, Lexicon
from qwen_qlora.generation.form.rhyme import RhymeIndex
from qwen_qlora.generation.form.words import WordTable, corpus_words, load_table
from qwen_qlora.metrics.form_annotation import common_forms, describe_form, request_form
from qwen_qlora.model.prompts import Shot

MAX_RETRIES = 4
WORD_TABLE = Path("models/word_table.json")  # the words stage's output


@dataclass(frozen=True)
class FormKit:
    """The word table with its token tries (`Lexicon`) and rhyme index, for one tokenizer."""

    table: WordTable
    lexicon: Lexicon
    index: RhymeIndex

    @classmethod
    def of(cls, table: WordTable, tokenizer: Any, rhyme_min_count: int, rare_weight: float = RARE_WEIGHT,
           poet_texts: Sequence[str] = (), poet_weight: float = 0.0) -> FormKit:
        """`rhyme_min_count`: words.rhyme_min_count, the corpus count a line's last word needs;
        `rare_weight`: the lexicon's rare-word prior weight; `poet_weight`: the logits added to
        the word forms of `poet_texts` (her train poems; generate.poet_word_prior) (`Lexicon`)."""
        words = poet_words(poet_texts) if poet_weight else frozenset()
        lexicon = Lexicon(table, tokenizer, rare_weight, words, poet_weight)
        return cls(table, lexicon, RhymeIndex(table, rhyme_min_count))

    @classmethod
    def load(cls, path: str | Path, tokenizer: Any, rhyme_min_count: int, poet_texts: Sequence[str] = (),
             poet_weight: float = 0.0) -> FormKit:
        """The words stage's table (the other arguments as `of`); a missing table, or one
        built under another tokenizer, is an error that says what to run."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: not found; the form decoder writes with the words stage's table: run "
                             "`dvc repro words` (or `dvc pull words`), or ask for free sampling (--free)")
        table = load_table(path)
        probe = table.entries[0]
        if list(probe.tokens[0]) != tokenizer(" " + probe.text, add_special_tokens=False)["input_ids"]:
            raise ValueError(f"{path}: built under another tokenizer ({table.tokenizer_name}); "
                             "re-run `dvc repro words` for the selected model")
        return cls.of(table, tokenizer, rhyme_min_count, poet_texts=poet_texts, poet_weight=poet_weight)


def poet_words(texts: Sequence[str]) -> frozenset[str]:
    """The word forms of the poet's texts (lowercase, as the word table spells them); the
    lexicon's poet-word prior favours them. An empty set is an error: the prior would
    silently do nothing."""
    words = frozenset(corpus_words(texts))
    if not words:
        raise ValueError("form decoder: the poet-word prior got no Russian word forms; pass her train poems' texts "
                         "(data/processed/train.jsonl), or set generate.poet_word_prior: 0")
    return words


def form_request(spec: Any, train_forms: Sequence[dict]) -> dict | None:
    """The decoder's request for a parsed form (`config.parse_form`): None for "free", the
    poet's commonest confident form of rhymed quatrains (`train_forms`: the train poems'
    annotations) for "auto", else the form asked for."""
    if spec == "free":
        return None
    if spec == "auto":
        return {k: v for k, v in common_forms(train_forms, 1)[0].items() if k != "count"}
    return request_form(spec.meter, spec.feet, spec.scheme, stanzas=spec.stanzas)


def sample_formed(model: Any, tokenizer: Any, preset: Any, prompts: Sequence[str], forms: Sequence[dict],
                  seed: int, decoding: Any, kit: FormKit, *, adapter: bool = True,
                  shots: Sequence[Shot] = (), progress: Callable[[int], object] | None = None) -> list[dict]:
    """One formed poem per prompt, in the matching requested form: {text, new_tokens,
    stopped_at_eos (True: the form ends it), seed, formed: the decoder's log + seconds and
    the seeds it gave up on}. `progress`: called with 1 as each poem is done."""
    sampling = Sampling.of(decoding)
    out = []
    for i, (prompt, form) in enumerate(zip(prompts, forms, strict=True)):
        started, gave_up = time.perf_counter(), []
        for attempt in range(MAX_RETRIES + 1):
            poem_seed = seed + i + attempt * len(prompts)
            try:
                res = write_formed(model, tokenizer, preset, prompt, form, kit.table, sampling, poem_seed,
                                   lexicon=kit.lexicon, index=kit.index, adapter=adapter, shots=shots)
                break
            except GaveUp:
                gave_up.append(poem_seed)
        else:
            raise GaveUp(f"form decoder: no poem in the form '{describe_form(form)}' after {MAX_RETRIES + 1} "
                         f"seeds ({gave_up}); the word table may be too small for it (words.min_count)")
        log = {**res["log"], "gave_up_seeds": gave_up, "seconds": round(time.perf_counter() - started, 2)}
        out.append({"text": res["text"], "new_tokens": log["tokens"], "stopped_at_eos": True, "seed": poem_seed,
                    "formed": log})
        if progress is not None:
            progress(1)
    return out


def formed_summary(logs: Sequence[dict]) -> dict:
    """Where the decoder had to back off over a row's poems (flat, for generation.json)."""
    if not logs:
        raise ValueError("formed_summary: no formed poems")

    def mean(key):
        return round(float(np.mean([log[key] for log in logs])), 3)

    return {"formed_poems": len(logs),
            "formed_line_dead_ends_mean": mean("line_dead_ends"),
            "formed_word_dead_ends_mean": mean("word_dead_ends"),
            "formed_backtracks_mean": round(float(np.mean([len(log["backtracks"]) for log in logs])), 3),
            "formed_poems_with_backtracks_share": round(sum(bool(log["backtracks"]) for log in logs) / len(logs), 4),
            "formed_gave_up_seeds": sum(len(log["gave_up_seeds"]) for log in logs),
            "formed_allowed_mass_mean": round(float(np.nanmean([log["allowed_mass_mean"] for log in logs])), 4),
            "formed_seconds_per_poem": mean("seconds"),
            "formed_forwards_mean": mean("forwards")}
