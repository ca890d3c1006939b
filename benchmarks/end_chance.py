"""How likely the adapted model is to end a poem at a line end, before and after the
generate stage's sampling processors.

On the val poems (teacher forcing, prompts as trained; test is read to report, never to
choose a sampler) at every line end (the next token is a line break or EOS): the poems'
own rate of EOS there, the adapted row's EOS probability from its softmax over the generate stage's vocabulary (`generate.vocab`), and
the same after its temperature, top-k, top-p and repetition penalty (`generate.Sampling`
with `end_chance: processed`, `transformers`' behaviour). 1 / rate is how many line ends
a poem survives on average, if the chance were the same at every one.

Usage (after `dvc repro`): PYTHONPATH=src python benchmarks/end_chance.py [--params params.yaml]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from qwen_qlora.config import load_params
from qwen_qlora.generation.decode import Sampling
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.adapted import models_for_rows
from qwen_qlora.model.head import records_vocab
from qwen_qlora.model.prompts import IGNORE, encode_example


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    preset, g = params.model.selected, params.generate
    data = Path("data/processed")
    val, train = read_jsonl(data / "val.jsonl"), read_jsonl(data / "train.jsonl")
    _, model, tok = next(models_for_rows(Path("models/base") / params.model.preset, "models/adapter", preset,
                                         params.quant, params.train.precision, ["adapted"]))
    eos = tok.eos_token_id
    vocab = (records_vocab(preset, tok, train) if g.vocab == "corpus"
             else torch.arange(model.get_output_embeddings().weight.shape[0]))
    processors = Sampling.of(g.decoding(end_chance="processed")).processors()
    raw, processed, ends = [], [], 0
    with torch.no_grad():
        for record in val:
            ex = encode_example(preset, tok, record["prompt"], record["completion"])
            ids = torch.tensor([ex["input_ids"]])
            logits = model(input_ids=ids).logits[0].float()
            for t, label in enumerate(ex["labels"]):
                if t == 0 or label == IGNORE or (label != eos and "\n" not in tok.decode([label])):
                    continue
                scores = torch.full_like(logits[t - 1], float("-inf"))
                scores[vocab] = logits[t - 1, vocab]
                raw.append(float(torch.softmax(scores, -1)[eos]))
                processed.append(float(torch.softmax(processors(ids[:, :t], scores[None])[0], -1)[eos]))
                ends += label == eos
    n = len(raw)
    print(f"{n} line ends in {len(val)} val poems ({g.vocab} vocabulary; temperature {g.temperature}, "
          f"top-k {g.top_k}, top-p {g.top_p}, repetition penalty {g.repetition_penalty})")
    for name, rate in (("the poems' own EOS rate", ends / n), ("adapted, its own probability", sum(raw) / n),
                       ("adapted, after the processors", sum(processed) / n)):
        print(f"  {name}: {rate:.3f} (1 / rate = {1 / rate:.1f} line ends)")


if __name__ == "__main__":
    main()
