"""Line-by-line alignment of a poem with the known poems most like it: reworded quoting.

A known poem with a word or two changed in every line, or with two neighbouring words
swapped, its short lines copied verbatim, or its lines spread among filler, has no long
verbatim run and few lines close enough to count on their own. What gives it away is
that many of its lines match lines of ONE known poem. `PoemIndex` finds the known poems
that share the most rare words with a text (cosine of idf-weighted word sets; function
words weigh nothing), then aligns the text's lines with each candidate's lines by
word-level edit distance: a substituted, inserted or deleted word and a swap of two
neighbouring words are one edit each (optimal string alignment over words, computed by
rapidfuzz on lines encoded one character per word). Each known line is matched at most
once, so a refrain cannot be counted twice.

A line pair matches (`pair_matches`) when it is verbatim and both lines have at least
2 words, or when it is within `MAX_EDITS` edits and at least half the words of the
longer line (and at least 2) survive, lines of 4 words and more. It matches strongly
(`strong_pairs`: copied on its own, a quote even alone) when it is verbatim with at
least `min_words` words, within one edit with at least 5 words or within two edits
with at least 7.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA
from scipy import sparse
from scipy.optimize import linear_sum_assignment

from qwen_qlora.text import STOP_WORDS

MAX_EDITS = 2
_OOV_CODE = 0x10FFFF  # a word never seen in the corpus: equal to no corpus word


def _code(word_id: int) -> str:
    """One character per word id, skipping the surrogate range (not valid in str)."""
    return chr(word_id if word_id < 0xD800 else word_id + 0x800)


def pair_matches(edits: np.ndarray, words_a: np.ndarray, words_b: np.ndarray) -> np.ndarray:
    """Which line pairs count as matching lines of one poem (edits, word counts of both
    lines, broadcast): verbatim (>= 2 words), or lines of >= 4 words within MAX_EDITS edits
    keeping at least half of the longer line."""
    longer = np.maximum(words_a, words_b)
    kept = longer - edits
    near = (edits <= MAX_EDITS) & (longer >= 4) & (kept >= 2) & (2 * kept >= longer)
    return ((edits == 0) & (longer >= 2)) | near


def strong_pairs(edits: np.ndarray, words_a: np.ndarray, words_b: np.ndarray, min_words: int) -> np.ndarray:
    """Which line pairs are copies on their own: verbatim with >= min_words words, one
    edit with >= 5 words on both sides, two edits with >= 7."""
    shorter = np.minimum(words_a, words_b)
    return (((edits == 0) & (shorter >= min_words)) | ((edits == 1) & (shorter >= 5))
            | ((edits == 2) & (shorter >= 7)))


@dataclass(frozen=True)
class PoemMatch:
    """Lines of a text matched one-to-one with lines of one known poem: `doc` is the poem's
    position in the corpus, `pairs` holds (text line, corpus line key, edits), `strong`
    how many of the pairs are copies on their own."""

    doc: int
    pairs: tuple[tuple[int, int, int], ...]
    strong: int


class PoemIndex:
    """Known poems as idf-weighted word sets (for candidates) and as encoded lines (for
    alignment). `keys` are the distinct normalised corpus lines, `doc_lines[d]` the key
    indices of poem d's lines in order."""

    def __init__(self, vocab: dict[str, int], ids: np.ndarray, starts: np.ndarray,
                 keys: list[str], doc_lines: list[list[int]]):
        if len(vocab) >= 0x10FFFF - 0x800:
            raise ValueError(f"PoemIndex: vocabulary of {len(vocab)} words is too large to encode one character per word")
        self.vocab = vocab
        self.codes = ["".join(_code(vocab[w]) for w in k.split(" ")) if k else "" for k in keys]
        self.key_words = np.array([len(c) for c in self.codes], dtype=np.int64)
        self.doc_starts = np.cumsum([0] + [len(d) for d in doc_lines])
        self.doc_keys = np.fromiter((k for d in doc_lines for k in d), dtype=np.int64, count=int(self.doc_starts[-1]))
        n_docs, n_words = len(doc_lines), max(len(vocab), 1)
        # Distinct (word, poem) pairs from the corpus id array; separators and OOV drop out.
        lengths = np.diff(np.append(starts, ids.size))
        doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        real = ids < len(vocab)
        pairs = np.unique(ids[real].astype(np.int64) * n_docs + doc_of[real])
        word, doc = pairs // n_docs, pairs % n_docs
        df = np.bincount(word, minlength=n_words)
        idf = np.log((n_docs + 1) / (df + 1)) + 1.0  # smooth: a word in every poem still counts
        stop = [vocab[w] for w in STOP_WORDS if w in vocab]
        idf[stop] = 0.0
        self.idf = idf
        self.content = np.ones(n_words, dtype=bool)
        self.content[stop] = False
        norms = np.sqrt(np.bincount(doc, weights=idf[word] ** 2, minlength=n_docs))
        weight = idf[word] / np.where(norms[doc] > 0, norms[doc], 1.0)
        # word -> poems postings with weights idf / |poem|: a query's scores are one product.
        self.postings = sparse.csr_matrix((weight, (word, doc)), shape=(n_words, n_docs))

    def _word_ids(self, key: str) -> list[int]:
        return [self.vocab.get(w, -1) for w in key.split(" ")] if key else []

    def candidates(self, word_ids: list[list[int]], per_text: int = 5, per_line: int = 2) -> np.ndarray:
        """Poems sharing the most idf weight with the whole text, and with each line of
        4 words and more (a reworded line inside an otherwise original poem)."""
        rows, cols = [], []
        for i, ids in enumerate(word_ids):
            known = [w for w in set(ids) if w >= 0 and self.idf[w] > 0]
            rows.extend([i] * len(known))
            cols.extend(known)
        if not cols:
            return np.empty(0, dtype=np.int64)
        query = sparse.csr_matrix((self.idf[cols], (rows, cols)), shape=(len(word_ids), self.postings.shape[0]))
        scores = (query @ self.postings).toarray()
        found = [_top(scores.sum(axis=0), per_text)]
        found += [_top(scores[i], per_line) for i, ids in enumerate(word_ids) if len(ids) >= 4]
        return np.unique(np.concatenate(found))

    def align(self, keys: list[str], min_words: int) -> list[PoemMatch]:
        """Every candidate poem with at least one line matching a line of the text (`keys`:
        its normalised lines), best first: most matched lines, most strong ones, corpus
        order."""
        word_ids = [self._word_ids(k) for k in keys]
        words = np.array([len(ids) for ids in word_ids], dtype=np.int64)
        live = np.flatnonzero(words >= 2)
        if live.size == 0:
            return []
        text = ["".join(_code(w) if w >= 0 else chr(_OOV_CODE) for w in word_ids[i]) for i in live]
        found = []
        for doc in self.candidates(word_ids):
            doc_keys = self.doc_keys[self.doc_starts[doc]: self.doc_starts[doc + 1]]
            if doc_keys.size == 0:
                continue
            edits = process.cdist(text, [self.codes[k] for k in doc_keys], scorer=OSA.distance,
                                  score_cutoff=MAX_EDITS, dtype=np.int32, workers=1)
            wa, wb = words[live][:, None], self.key_words[doc_keys][None, :]
            ok = pair_matches(edits, wa, wb)
            for r, c in zip(*np.nonzero(ok)):
                ok[r, c] = self._shares_content(word_ids[live[r]], self.codes[doc_keys[c]])
            if not ok.any():
                continue
            strong = ok & strong_pairs(edits, wa, wb, min_words)
            # The most matched lines; among equal counts strong ones, then fewer edits.
            rows, cols = linear_sum_assignment(ok * (100.0 + 2.0 * strong - 0.1 * edits), maximize=True)
            keep = ok[rows, cols]
            rows, cols = rows[keep], cols[keep]
            found.append(PoemMatch(int(doc), tuple((int(live[r]), int(doc_keys[c]), int(edits[r, c]))
                                                   for r, c in zip(rows, cols)), int(strong[rows, cols].sum())))
        return sorted(found, key=lambda m: (-len(m.pairs), -m.strong, m.doc))


    def _shares_content(self, word_ids: list[int], code: str) -> bool:
        """Whether a line shares a content word (not a function word) with a corpus line:
        «и в ...» against «и в ...» is no evidence of anything."""
        theirs = {_word_id(c) for c in code}
        return any(w in theirs and self.content[w] for w in word_ids if w >= 0)


def _word_id(char: str) -> int:
    code = ord(char)
    return code if code < 0xD800 else code - 0x800


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest positive scores."""
    k = min(k, scores.size)
    top = np.argpartition(-scores, k - 1)[:k] if k else np.empty(0, dtype=np.int64)
    return top[scores[top] > 0]
