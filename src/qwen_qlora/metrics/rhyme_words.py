"""Which words a row rhymes with: repeated rhyme words within a poem, and how much of a
row's rhyming the commonest pairs take (a decoder that rhymes "тебя / меня" in every
poem is a rhyme engine, not a poet). Read from the scanner's own rhyme pairs
(`metrics.poetics.analyse_lines`), so it judges the final text, not the writer's plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from qwen_qlora.metrics.poetics import PoemPoetics
from qwen_qlora.metrics.stress import StressedLine, last_stressed_word
from qwen_qlora.stats import flat, mean_ci, share_ci

TOP_PAIRS = 10


def end_word(line: StressedLine) -> str:
    """The word carrying the line's last stress, lowercased ("" without vowels)."""
    k = last_stressed_word(line.words)
    return "" if k is None else line.words[k].text.lower()


def poem_rhyme_words(poem: PoemPoetics) -> tuple[list[str], list[tuple[str, str]]]:
    """(end words of the poem's rhymed lines, rhyme pairs as sorted word pairs)."""
    pairs = [tuple(sorted((end_word(poem.verse[i]), end_word(poem.verse[j])))) for i, j in poem.rhyme_pairs]
    rhymed = sorted({k for pair in poem.rhyme_pairs for k in pair})
    return [end_word(poem.verse[k]) for k in rhymed], pairs


def rhyme_word_figures(poems: Sequence[PoemPoetics], seed: int = 0) -> dict:
    """Per row: repeated rhyme words per poem (an end word of a rhymed line used again at
    another rhymed line's end), the share of poems repeating one, and the share of all
    rhyme pairs that the TOP_PAIRS commonest pairs take (with the pairs themselves)."""
    if not poems:
        raise ValueError("rhyme words: no poems")
    repeats, pairs = [], Counter()
    for poem in poems:
        words, poem_pairs = poem_rhyme_words(poem)
        repeats.append(sum(n - 1 for n in Counter(words).values()))
        pairs.update(poem_pairs)
    total = sum(pairs.values())
    top = pairs.most_common(TOP_PAIRS)
    return {**flat("repeated_rhyme_words_per_poem", mean_ci(repeats, seed)),
            **flat("poems_repeating_a_rhyme_word_share", share_ci([r > 0 for r in repeats])),
            "top10_rhyme_pair_share": round(sum(n for _, n in top) / total, 4) if total else None,
            "n_rhyme_pairs": total,
            "top_rhyme_pairs": [f"{a} / {b} ({n})" for (a, b), n in top]}
