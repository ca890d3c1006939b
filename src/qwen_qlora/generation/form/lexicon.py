"""The word table as token paths: what the decoder may sample next, token by token.

Three tries hold every table word's token ids, one per place a word may stand, spelt
as the poet spells it there: `mid` for words after a space (lowercase), `cap` for words
after a space that open a sentence (after . ! ? …; capitalised) and `start` for words at
a line start (no space; capitalised, as her lines begin). A node knows the word shapes
(syllables, stress) of all words below it as a bitmask, so the decoder admits a token
when some word it may still become fits the meter; a node where a word is complete
names that word.

Rare words are made less likely, not forbidden: a word seen `count` times in the corpus
gets a prior of rare_weight * log(min(1, count / RARE_COUNT)) on its logit. The poet's own
words are made likelier: a word form her train poems use (`poet_words`) gets
`poet_weight` more (the table holds every poet's words, and a meter and a rhyme narrow
the choice to words the model would not pick by itself, most at a line's end). A word's
prior is spread along its token path (a node carries the largest prior of the words
below it; each step adds the change), so a word's total is its own prior whatever
tokens spell it.
Vowel-less forms other than `words.NONSYLLABIC` (an older table's "ж", "б") are left out. `vocab` is every token the decoder can
write (the tries, punctuation, line and stanza breaks, EOS): the output layer is
computed over it only. `boundary` are the tokens that close a word (a space, a
punctuation mark or a break first): their mass is the model's chance to end a word
that could go on ("сон" / "сонный").

    lexicon = Lexicon(table, tokenizer)   # once per table and tokenizer (and the priors)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from qwen_qlora.generation.form.words import NONSYLLABIC, SPELLINGS, WordTable

PUNCTUATION = (",", ".", "!", "?", ";", ":", "…", "—", " —", "!..", "?..", "...", ",—", ", —")
SENTENCE_END = ".!?…"
# where each trie's words come from (`words.SPELLINGS`: space, bare, space_cap, bare_cap)
TRIE_SPELLINGS = {"mid": ("space",), "cap": ("space_cap",), "start": ("bare_cap",)}
RARE_COUNT = 20      # words seen this often or more carry no rare-word prior
RARE_WEIGHT = 1.0    # the default rare_weight: logits per unit of log(count / RARE_COUNT) below it: a word seen twice, -2.3


@dataclass
class Trie:
    """Token paths of words; node 0 is the root."""

    children: list[dict[int, int]] = field(default_factory=lambda: [{}])
    shapes: list[int] = field(default_factory=lambda: [0])     # bitmask of shape ids below
    word: list[int] = field(default_factory=lambda: [-1])      # entry index ending here, or -1
    prior: list[float] = field(default_factory=lambda: [-math.inf])  # largest word prior below

    def add(self, tokens: tuple[int, ...], entry: int, shapes: int, prior: float = 0.0) -> None:
        node = 0
        self.shapes[0] |= shapes
        self.prior[0] = max(self.prior[0], prior)
        for t in tokens:
            nxt = self.children[node].get(t)
            if nxt is None:
                nxt = len(self.children)
                self.children[node][t] = nxt
                self.children.append({})
                self.shapes.append(0)
                self.word.append(-1)
                self.prior.append(-math.inf)
            node = nxt
            self.shapes[node] |= shapes
            self.prior[node] = max(self.prior[node], prior)
        if self.word[node] not in (-1, entry):
            raise ValueError(f"lexicon: two table words share the token path {tokens}")
        self.word[node] = entry

    def walk(self, tokens: tuple[int, ...]) -> list[int]:
        """The nodes along a word's token path (root excluded)."""
        out, node = [], 0
        for t in tokens:
            node = self.children[node][t]
            out.append(node)
        return out


class Lexicon:
    def __init__(self, table: WordTable, tokenizer: Any, rare_weight: float = RARE_WEIGHT,
                 poet_words: frozenset[str] = frozenset(), poet_weight: float = 0.0):
        if poet_weight and not poet_words:
            raise ValueError("lexicon: a poet-word prior needs the poet's words (her train poems' word forms)")
        self.table = table
        self.word_bias = np.array([rare_prior(e.count, rare_weight) + (poet_weight if e.text in poet_words else 0.0)
                                   for e in table.entries])
        shapes = sorted({(e.n_syllables, s) for e in table.entries for s in e.stresses},
                        key=lambda x: (x[0], -1 if x[1] is None else x[1]))
        self.shapes = shapes
        self.shape_id = {s: k for k, s in enumerate(shapes)}
        self.entry_shapes = [sum(1 << self.shape_id[(e.n_syllables, s)] for s in set(e.stresses))
                             for e in table.entries]
        self.tries = {name: Trie() for name in TRIE_SPELLINGS}
        self.spell = {name: tuple(SPELLINGS.index(k) for k in kinds) for name, kinds in TRIE_SPELLINGS.items()}
        for i, e in enumerate(table.entries):
            if e.n_syllables == 0 and e.text not in NONSYLLABIC:
                continue
            for trie, ks in self.spell.items():
                for k in ks:
                    if e.tokens[k]:
                        self.tries[trie].add(e.tokens[k], i, self.entry_shapes[i], float(self.word_bias[i]))
        self.bias = {name: np.array(trie.prior) for name, trie in self.tries.items()}
        self.punctuation = _single_tokens(tokenizer, PUNCTUATION)
        self.sentence_end = frozenset(t for t, text in zip(self.punctuation, _texts(tokenizer, self.punctuation))
                                      if any(c in text for c in SENTENCE_END))
        self.newline = tuple(tokenizer("\n", add_special_tokens=False)["input_ids"])
        self.stanza_break = tuple(tokenizer("\n\n", add_special_tokens=False)["input_ids"])
        self.eos = tokenizer.eos_token_id
        ids = {t for trie in self.tries.values() for kids in trie.children for t in kids}
        ids |= set(self.punctuation) | set(self.newline) | set(self.stanza_break) | {self.eos}
        self.vocab = torch.tensor(sorted(ids), dtype=torch.long)
        self.column = {int(t): c for c, t in enumerate(self.vocab.tolist())}
        texts = tokenizer.convert_ids_to_tokens(self.vocab.tolist())
        self.boundary = torch.tensor([c for c, (t, s) in enumerate(zip(self.vocab.tolist(), texts))
                                      if t == self.eos or not s[:1].isalpha()], dtype=torch.long)
        self.root = {name: _root_arrays(trie, len(shapes), self.column, self.bias[name])
                     for name, trie in self.tries.items()}

    def shape_mask(self, shapes) -> int:
        return sum(1 << self.shape_id[s] for s in shapes if s in self.shape_id)


@dataclass(frozen=True)
class Root:
    """A trie root's children as arrays, so a word start is masked in one vectorised
    step over thousands of first tokens: token ids, their vocab columns, child nodes,
    [child x shape] membership, and node -> row."""

    tokens: np.ndarray
    columns: np.ndarray
    nodes: np.ndarray
    member: np.ndarray
    row: dict[int, int]
    bias: np.ndarray    # the word prior of each child (`Lexicon.bias`)


def rare_prior(count: int, weight: float = RARE_WEIGHT) -> float:
    """The logit prior of a word seen `count` times (0 for common words)."""
    return weight * math.log(min(1.0, max(count, 1) / RARE_COUNT))


def _texts(tokenizer: Any, ids) -> list[str]:
    return [tokenizer.decode([t]) for t in ids]


def _root_arrays(trie: Trie, n_shapes: int, column: dict[int, int], bias: np.ndarray) -> Root:
    items = sorted(trie.children[0].items())
    tokens = np.array([t for t, _ in items], dtype=np.int64)
    nodes = np.array([n for _, n in items], dtype=np.int64)
    member = np.zeros((len(items), n_shapes), dtype=bool)
    for row, (_, node) in enumerate(items):
        bits = trie.shapes[node]
        for k in range(n_shapes):
            if bits >> k & 1:
                member[row, k] = True
    columns = np.array([column[int(t)] for t in tokens], dtype=np.int64)
    return Root(tokens, columns, nodes, member, {int(n): r for r, n in enumerate(nodes)}, bias[nodes])


def _single_tokens(tokenizer: Any, texts) -> tuple[int, ...]:
    """Texts that the tokenizer writes as one token, as those tokens."""
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) == 1 and ids[0] not in out:
            out.append(ids[0])
    return tuple(out)
