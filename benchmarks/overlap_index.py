"""Benchmark the quoting index: build over synthetic poems, then score generations.

Poems are random word sequences (seeded) over a pseudo-Russian vocabulary drawn with
Zipf-like frequencies, so common n-grams repeat across poems as they do in verse and
the longest-run search meets crowded postings. Generations mix novel poems, poems with
two copied lines and whole copied poems; each is scored as the generate stage scores a
sample (`sample_quoting`) and judged by the gate (`gate_reasons`). Prints seconds and
peak memory; asserts nothing.

    PYTHONPATH=src python benchmarks/overlap_index.py [--poems 100000] [--generations 100]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.metrics.quoting import gate_reasons, quoting_summary, sample_quoting

SYLLABLES = "ба ве ги до жу за ки ло му не ос пя ра си ту фе хо це чу ша ще ю ял ем ид ор ус".split()


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_vocab(rng: np.random.Generator, size: int) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES, size=rng.integers(1, 5))))
    return sorted(words)


def make_poems(rng: np.random.Generator, vocab: list[str], count: int, zipf: float) -> list[str]:
    probs = 1.0 / np.arange(1, len(vocab) + 1) ** zipf
    probs /= probs.sum()
    # One big draw, then cut into lines: drawing per line would dominate the run time.
    shapes = [[int(rng.integers(4, 8)) for _ in range(4 * int(rng.integers(2, 5)))] for _ in range(count)]
    draws = rng.choice(len(vocab), size=sum(map(sum, shapes)), p=probs).tolist()
    poems, at = [], 0
    for shape in shapes:
        lines = []
        for k in shape:
            lines.append(" ".join(vocab[i] for i in draws[at : at + k]))
            at += k
        poems.append("\n\n".join(",\n".join(lines[s : s + 4]) + "." for s in range(0, len(lines), 4)))
    return poems


def make_generations(
    rng: np.random.Generator, corpus: list[str], vocab: list[str], count: int, zipf: float
) -> list[str]:
    novel = make_poems(rng, vocab, count, zipf)
    gens = []
    for i in range(count):
        kind = i % 10
        if kind < 5:
            gens.append(novel[i])
        elif kind < 8:
            source = corpus[int(rng.integers(len(corpus)))].splitlines()
            quoted = [ln for ln in source if ln.strip()][:2]
            gens.append("\n".join(quoted) + "\n" + novel[i])
        else:
            gens.append(corpus[int(rng.integers(len(corpus)))])
    return gens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poems", type=int, default=100_000)
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--vocab", type=int, default=30_000)
    parser.add_argument("--zipf", type=float, default=1.0, help="frequency exponent; higher = more repeated n-grams")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-line-words", type=int, default=4, help="evaluate.min_line_words")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    vocab = make_vocab(rng, args.vocab)
    corpus = make_poems(rng, vocab, args.poems, args.zipf)
    gens = make_generations(rng, corpus, vocab, args.generations, args.zipf)
    t_data = time.perf_counter() - t0
    mem_data = _peak_mib()
    words = sum(len(p.split()) for p in corpus)

    t0 = time.perf_counter()
    index = CorpusIndex.build(corpus)
    t_build = time.perf_counter() - t0
    mem_build = _peak_mib()

    t0 = time.perf_counter()
    records = [sample_quoting(index, g, args.min_line_words) for g in gens]
    t_query = time.perf_counter() - t0
    offenders = sum(bool(gate_reasons(r, 0.2, 8)) for r in records)
    metrics = quoting_summary(records, 0.2, 8)

    print(f"corpus: {args.poems} poems, {words} words, vocab {len(index.vocab)}, zipf {args.zipf}, seed {args.seed}")
    print(f"synthetic data:        {t_data:8.2f} s   peak RSS {mem_data:8.1f} MiB")
    arrays_mib = index.nbytes / 2**20
    print(f"index build:           {t_build:8.2f} s   peak RSS {mem_build:8.1f} MiB   arrays {arrays_mib:.1f} MiB")
    print(f"sample_quoting x{len(gens)}:   {t_query:8.2f} s   ({1000 * t_query / len(gens):.1f} ms per generation)")
    print(f"gate: {offenders} of {len(gens)} fail (max_share 0.2, max_run 8); distinct corpus lines {len(index.lines.keys)}")
    print(f"peak RSS overall: {_peak_mib():.1f} MiB")
    for key, value in metrics.items():
        print(f"  {key} = {value}")


if __name__ == "__main__":
    main()
