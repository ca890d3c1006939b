"""Verbatim quoting: how much of a generated poem is copied from the training corpus.

The corpus is indexed once (`CorpusIndex.build`) and every generation is then scored
against it in milliseconds, so the same code scales from a toy corpus to ~100k poems:

- the corpus is one array of word ids (``uint32``), documents separated by a sentinel,
  so no n-gram and no copied run ever spans two poems;
- for every n in `ns` the index keeps a sorted array of 64-bit hashes of the corpus
  n-grams (n-gram membership is a binary search; a false hit needs a 64-bit collision);
- for the smallest n (the anchor) it also keeps where each n-gram occurs, and the
  longest copied run is found exactly by extending every anchor hit word by word
  against the stored corpus ids (hashes only propose candidates, words confirm them);
- normalised verse lines go to a `LineIndex`: exact matches by dictionary, and near
  matches (one word substituted, inserted or deleted; or character similarity at or
  above a threshold, rapidfuzz's normalised Indel ratio) so a changed word or spelling
  does not hide a copied line.

A poem's word sequence is the words of its verse lines (`text.lines`), so dates and
``* * *`` separators are not counted as words. Runs shorter than the anchor n (4 words
by default) are not reported: two or three common words in a row are not quoting.

Every hit names the corpus poem it came from (`doc_ids`), so a gate can say what was
copied from where.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from qwen_qlora.metrics.alignment import PoemIndex, PoemMatch, strong_pairs
from qwen_qlora.text import lines, normalize_line

_SEP = 2**32 - 1  # between corpus documents (and after the last one)
_OOV = 2**32 - 2  # a generated word that never occurs in the corpus
_SEED = 0x9E3779B97F4A7C15


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 that spreads every input bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _iter_ngram_hashes(ids: np.ndarray, ns: Sequence[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each n in ns: (n, hash of the n-gram starting at every position, bool mask of
    the n-grams free of sentinels). Hashes are chained, h_n = mix(h_{n-1} ^ id), so each
    n costs one vectorised pass; a generator, so a caller can shrink each before the next."""
    ids64 = ids.astype(np.uint64)
    bad = np.concatenate(([0], np.cumsum(ids >= _OOV, dtype=np.int64)))
    h = _mix(ids64 + np.uint64(_SEED))
    for n in range(1, max(ns) + 1):
        if n > 1:
            h = _mix(h[:-1] ^ ids64[n - 1 :]) if len(ids) >= n else np.empty(0, dtype=np.uint64)
        if n in ns:
            count = max(len(ids) - n + 1, 0)
            yield n, h, (bad[n : n + count] - bad[:count]) == 0


def _ngram_hashes(ids: np.ndarray, ns: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    return {n: (h, valid) for n, h, valid in _iter_ngram_hashes(ids, ns)}


def _contains(sorted_hashes: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Boolean mask: which queries occur in a sorted hash array."""
    if sorted_hashes.size == 0 or queries.size == 0:
        return np.zeros(queries.shape, dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_hashes, queries), sorted_hashes.size - 1)
    return sorted_hashes[idx] == queries


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique without its hash-table pass, which is several times slower on uint64."""
    values = np.sort(values)
    if values.size:
        values = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return values


def _line_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def _poem_words(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Word tokens of a poem's verse lines and its (line as written, normalised line) pairs."""
    tokens: list[str] = []
    pairs: list[tuple[str, str]] = []
    for line in lines(text):
        key = normalize_line(line)
        pairs.append((line, key))
        if key:
            tokens.extend(key.split(" "))
    return tokens, pairs


class _Vocab(dict):
    """word -> id, a new word getting the next id on first lookup."""

    def __missing__(self, word: str) -> int:
        self[word] = len(self)
        return self[word]


def _check_ns(ns: Iterable[int]) -> tuple[int, ...]:
    checked = tuple(sorted(set(int(n) for n in ns)))
    if not checked or checked[0] < 1:
        raise ValueError(f"CorpusIndex: ns must be n-gram lengths >= 1, got {list(ns)}")
    return checked


@dataclass(frozen=True)
class LineMatch:
    """A generated line found in the corpus: as written, the corpus line it matches
    (normalised), the corpus document, exact or near, and the character similarity."""

    line: str
    match: str
    doc: Hashable
    kind: str  # "exact" | "near"
    similarity: float

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "match": self.match, "doc_id": self.doc, "kind": self.kind,
                "similarity": round(self.similarity, 4)}


class LineIndex:
    """The corpus's normalised verse lines, for exact and near-verbatim line matching.

    Near means: the word sequences differ by one word (substituted, inserted or deleted;
    candidates found through hashes of the line with each word left out, then checked
    with a word-level Levenshtein distance), or the character similarity (rapidfuzz's
    normalised Indel ratio, 0..1) reaches `near_similarity`. Both lines must have at
    least `min_edit_words` words (5): a short line shares most of its words with
    thousands of stock phrases ("я тебя не видел" ~ "я тебя не пугаю"), so short lines
    only count when copied exactly.
    """

    def __init__(self, keys: list[str], key_docs: list[int], min_edit_words: int = 5):
        self.keys = keys
        self.key_docs = np.asarray(key_docs, dtype=np.int64)
        self.exact = {k: i for i, k in enumerate(keys)}
        self.min_edit_words = min_edit_words
        hashes, owners = array("Q"), array("q")
        for i, key in enumerate(keys):
            variants = _edit_variants(key, min_edit_words)
            hashes.extend(map(_line_hash, variants))
            owners.extend([i] * len(variants))
        h = np.frombuffer(hashes, dtype=np.uint64)
        order = np.argsort(h, kind="stable")
        self.edit_hashes = h[order]
        self.edit_owners = np.frombuffer(owners, dtype=np.int64)[order]
        self.long_keys = [i for i, k in enumerate(keys) if k.count(" ") + 1 >= min_edit_words]
        self._long_texts = [keys[i] for i in self.long_keys]

    def match(self, key: str, near_similarity: float | None = 0.85) -> tuple[int, str, float] | None:
        """(corpus line index, kind, similarity) of the best match of a normalised line."""
        if key in self.exact:
            return self.exact[key], "exact", 1.0
        if near_similarity is None or key.count(" ") + 1 < self.min_edit_words:
            return None
        best: tuple[int, str, float] | None = None
        qwords = key.split(" ")
        for h in map(np.uint64, map(_line_hash, _edit_variants(key, self.min_edit_words))):
            lo = np.searchsorted(self.edit_hashes, h, side="left")
            hi = np.searchsorted(self.edit_hashes, h, side="right")
            for owner in self.edit_owners[lo:hi]:
                cand = self.keys[int(owner)]
                if Levenshtein.distance(qwords, cand.split(" ")) <= 1:
                    sim = fuzz.ratio(key, cand) / 100
                    if best is None or sim > best[2]:
                        best = (int(owner), "near", sim)
        found = process.extractOne(key, self._long_texts, scorer=fuzz.ratio, score_cutoff=100 * near_similarity)
        if found is not None and (best is None or found[1] / 100 > best[2]):
            best = (self.long_keys[found[2]], "near", found[1] / 100)
        return best


def _edit_variants(key: str, min_words: int) -> list[str]:
    """The line and the line with each one of its words left out (lines of at least
    `min_words` words; shorter lines only match exactly)."""
    ws = key.split(" ")
    if len(ws) < min_words:
        return []
    return [key] + [" ".join(ws[:i] + ws[i + 1:]) for i in range(len(ws))]


@dataclass(eq=False)
class CorpusIndex:
    """Hashed n-grams, anchor postings and normalised lines of a corpus."""

    ns: tuple[int, ...]
    vocab: dict[str, int]
    ids: np.ndarray  # uint32 word ids, _SEP after every document
    starts: np.ndarray  # int64 start of every document in `ids`
    doc_ids: list[Hashable]
    ngram_hashes: dict[int, np.ndarray]  # n -> sorted uint64 (unique, except the anchor)
    anchor_positions: np.ndarray  # corpus positions, aligned with ngram_hashes[anchor_n]
    lines: LineIndex
    poems: PoemIndex

    @property
    def anchor_n(self) -> int:
        return self.ns[0]

    @property
    def n_docs(self) -> int:
        return len(self.doc_ids)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (the vocabulary dict is not counted)."""
        arrays = [self.ids, self.starts, self.anchor_positions, self.lines.edit_hashes, self.lines.edit_owners]
        return sum(a.nbytes for a in arrays) + sum(h.nbytes for h in self.ngram_hashes.values())

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        ns: Iterable[int] = range(4, 9),
        doc_ids: Sequence[Hashable] | None = None,
    ) -> CorpusIndex:
        """Index a corpus. `doc_ids` (default: positions 0, 1, ...) name the poems
        that `longest_run` points to, e.g. the record ids kept for provenance."""
        ns = _check_ns(ns)
        vocab = _Vocab()
        ids = array("I")
        starts: list[int] = []
        key_index: dict[str, int] = {}
        key_docs: list[int] = []
        doc_lines: list[list[int]] = []
        for doc, text in enumerate(texts):
            tokens, pairs = _poem_words(text)
            starts.append(len(ids))
            ids.extend(map(vocab.__getitem__, tokens))
            ids.append(_SEP)
            mine = []
            for _, key in pairs:
                if key:
                    if key not in key_index:
                        key_index[key] = len(key_docs)
                        key_docs.append(doc)
                    mine.append(key_index[key])
            doc_lines.append(mine)
        if len(vocab) >= _OOV:
            raise ValueError(f"CorpusIndex: vocabulary of {len(vocab)} words exceeds the uint32 id space")
        if doc_ids is None:
            doc_ids = list(range(len(starts)))
        elif len(doc_ids) != len(starts):
            raise ValueError(f"CorpusIndex: {len(doc_ids)} doc_ids given for {len(starts)} texts")
        ids_np = np.frombuffer(ids, dtype=np.uint32).copy()
        keys = list(key_index)
        hashed: dict[int, np.ndarray] = {}
        anchor_positions = np.empty(0, dtype=np.uint32)
        for n, h, valid in _iter_ngram_hashes(ids_np, ns):
            if n == ns[0]:
                positions = np.flatnonzero(valid).astype(np.uint32 if ids_np.size < 2**32 else np.int64)
                order = np.argsort(h[positions])
                anchor_positions = positions[order]
                hashed[n] = h[anchor_positions]
                del positions, order
            else:
                hashed[n] = _sorted_unique(h[valid])
        return cls(
            ns=ns,
            vocab=dict(vocab),
            ids=ids_np,
            starts=np.asarray(starts, dtype=np.int64),
            doc_ids=list(doc_ids),
            ngram_hashes=hashed,
            anchor_positions=anchor_positions,
            lines=LineIndex(keys, key_docs),
            poems=PoemIndex(vocab, ids_np, np.asarray(starts, dtype=np.int64), keys, doc_lines),
        )

    def _encode(self, tokens: list[str]) -> np.ndarray:
        return np.array([self.vocab.get(w, _OOV) for w in tokens], dtype=np.uint32)

    def ngram_overlap(self, text: str) -> dict[int, float | None]:
        """n -> share of the text's word n-grams that occur in the corpus; None when the
        text has fewer than n words."""
        ids = self._encode(_poem_words(text)[0])
        shares: dict[int, float | None] = {}
        for n, (h, valid) in _ngram_hashes(ids, self.ns).items():
            total = valid.size
            found = int(_contains(self.ngram_hashes[n], h[valid]).sum())
            shares[n] = found / total if total else None
        return shares

    def longest_run(self, text: str) -> tuple[int, Hashable | None]:
        """(length in words, corpus doc id) of the longest word run the text shares with
        one corpus poem; (0, None) when no run reaches the anchor n. Among tied runs the
        result is deterministic but unspecified."""
        gen = self._encode(_poem_words(text)[0])
        hashes = _ngram_hashes(gen, self.ns)
        # A run of m >= n words starting at i needs the n-gram at i in the corpus, so the
        # n-gram sets bound every start's run; starts are tried best bound first.
        bound = len(gen) - np.arange(len(gen))
        for n, (h, valid) in hashes.items():
            present = np.zeros(len(gen), dtype=bool)
            present[: valid.size] = valid & _contains(self.ngram_hashes[n], h)
            bound = np.where(present, bound, np.minimum(bound, n - 1))
        anchor_n, anchor = self.anchor_n, self.ngram_hashes[self.anchor_n]
        anchor_h = hashes[anchor_n][0]
        best_len, best_pos = 0, -1
        for i in np.argsort(-bound, kind="stable"):
            if bound[i] < anchor_n or bound[i] <= best_len:
                break
            lo = np.searchsorted(anchor, anchor_h[i], side="left")
            cand = self.anchor_positions[lo : np.searchsorted(anchor, anchor_h[i], side="right")]
            k = 0
            # Extend all candidates in lock step; the corpus sentinel stops every run at a
            # document end because generated ids never equal it.
            while i + k < len(gen):
                keep = self.ids[cand + k] == gen[i + k]
                if not keep.any():
                    break
                cand = cand[keep]
                k += 1
            if k >= anchor_n and k > best_len:
                best_len, best_pos = k, int(cand.min())
        if best_len == 0:
            return 0, None
        doc = int(np.searchsorted(self.starts, best_pos, side="right")) - 1
        return best_len, self.doc_ids[doc]

    def align(self, text: str, min_words: int = 4) -> list[PoemMatch]:
        """The text's lines aligned with the lines of the known poems most like it, best
        poem first (`alignment.PoemIndex.align`); line numbers count verse lines."""
        return self.poems.align([key for _, key in _poem_words(text)[1]], min_words)

    def line_matches(self, text: str, min_words: int = 3, near_similarity: float | None = 0.85,
                     aligned: list[PoemMatch] | None = None) -> tuple[int, list[LineMatch]]:
        """(number of lines with at least `min_words` words, those of them found in the
        corpus exactly or near-verbatim after normalisation); `near_similarity` None
        keeps exact matches only. Near also covers lines within two word edits of a line
        of a poem the text aligns with (`align`, computed unless `aligned` is given)."""
        if min_words < 1:
            raise ValueError(f"copied lines: min_words must be >= 1, got {min_words}")
        pairs = _poem_words(text)[1]
        eligible = [i for i, (_, key) in enumerate(pairs) if key and key.count(" ") + 1 >= min_words]
        aligned_near: dict[int, tuple[int, int]] = {}
        if near_similarity is not None:
            for m in aligned if aligned is not None else self.align(text, min_words):
                for i, k, edits in m.pairs:
                    if edits and strong_pairs(np.array(edits), np.array(pairs[i][1].count(" ") + 1),
                                              self.poems.key_words[k], min_words):
                        aligned_near.setdefault(i, (k, m.doc))
        found = []
        for i in eligible:
            line, key = pairs[i]
            hit = self.lines.match(key, near_similarity)
            if hit is not None:
                k, kind, sim = hit
                found.append(LineMatch(line, self.lines.keys[k], self.doc_ids[int(self.lines.key_docs[k])], kind, sim))
            elif i in aligned_near:
                k, doc = aligned_near[i]
                found.append(LineMatch(line, self.lines.keys[k], self.doc_ids[doc], "near",
                                       fuzz.ratio(key, self.lines.keys[k]) / 100))
        return len(eligible), found

    def copied_lines(self, text: str, min_words: int = 3, near_similarity: float | None = None) -> list[str]:
        """Lines of the text (as written) found in the corpus; exact matches only unless
        `near_similarity` is given; lines shorter than `min_words` words are ignored."""
        return [m.line for m in self.line_matches(text, min_words, near_similarity)[1]]


