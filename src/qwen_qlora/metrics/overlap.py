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
- normalised verse lines are kept as 64-bit BLAKE2b hashes for the copied-line check.

A poem's word sequence is the words of its verse lines (`text.lines`), so dates and
``* * *`` separators are not counted as words. Runs shorter than the anchor n (4 words
by default) are not reported: two or three common words in a row are not quoting.

Also here: the memorisation probe (prompt the model with a training poem's first line,
check whether it continues with the real second line).
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qwen_qlora.metrics.text import lines, normalize_line

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


@dataclass(eq=False)
class CorpusIndex:
    """Hashed n-grams, anchor postings and normalised lines of a training corpus."""

    ns: tuple[int, ...]
    vocab: dict[str, int]
    ids: np.ndarray  # uint32 word ids, _SEP after every document
    starts: np.ndarray  # int64 start of every document in `ids`
    doc_ids: list[Hashable]
    ngram_hashes: dict[int, np.ndarray]  # n -> sorted uint64 (unique, except the anchor)
    anchor_positions: np.ndarray  # corpus positions, aligned with ngram_hashes[anchor_n]
    line_hashes: np.ndarray  # sorted unique uint64

    @property
    def anchor_n(self) -> int:
        return self.ns[0]

    @property
    def n_docs(self) -> int:
        return len(self.doc_ids)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (the vocabulary dict is not counted)."""
        arrays = [self.ids, self.starts, self.anchor_positions, self.line_hashes]
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
        line_keys = array("Q")
        for text in texts:
            tokens, pairs = _poem_words(text)
            starts.append(len(ids))
            ids.extend(map(vocab.__getitem__, tokens))
            ids.append(_SEP)
            line_keys.extend([_line_hash(key) for _, key in pairs if key])
        if len(vocab) >= _OOV:
            raise ValueError(f"CorpusIndex: vocabulary of {len(vocab)} words exceeds the uint32 id space")
        if doc_ids is None:
            doc_ids = list(range(len(starts)))
        elif len(doc_ids) != len(starts):
            raise ValueError(f"CorpusIndex: {len(doc_ids)} doc_ids given for {len(starts)} texts")
        ids_np = np.frombuffer(ids, dtype=np.uint32).copy()
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
            line_hashes=_sorted_unique(np.frombuffer(line_keys, dtype=np.uint64)),
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

    def line_matches(self, text: str, min_words: int = 3) -> tuple[int, list[str]]:
        """(number of lines with at least `min_words` words, those of them found
        verbatim in the corpus after normalisation, as written)."""
        if min_words < 1:
            raise ValueError(f"copied lines: min_words must be >= 1, got {min_words}")
        eligible = [(line, key) for line, key in _poem_words(text)[1] if key and key.count(" ") + 1 >= min_words]
        keys = np.array([_line_hash(key) for _, key in eligible], dtype=np.uint64)
        found = _contains(self.line_hashes, keys)
        return len(eligible), [line for (line, _), hit in zip(eligible, found, strict=True) if hit]

    def copied_lines(self, text: str, min_words: int = 3) -> list[str]:
        """Lines of the text (as written) whose normalised form is a corpus line;
        lines shorter than `min_words` words are ignored."""
        return self.line_matches(text, min_words)[1]


def sample_quoting(index: CorpusIndex, text: str, min_line_words: int = 3) -> dict[str, Any]:
    """Quoting figures of one generation, flat and JSON-ready."""
    overlap = index.ngram_overlap(text)
    run, doc = index.longest_run(text)
    eligible, copied = index.line_matches(text, min_line_words)
    record: dict[str, Any] = {f"ngram_overlap_{n}": share for n, share in overlap.items()}
    record.update(
        longest_copied_run_words=run,
        longest_copied_run_doc_id=doc,
        eligible_lines=eligible,
        copied_lines=copied,
        copied_line_share=len(copied) / eligible if eligible else None,
    )
    return record


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def quoting_metrics(index: CorpusIndex, generations: Sequence[str], min_line_words: int = 3) -> dict[str, Any]:
    """Aggregate quoting of one model's generations against the corpus.

    ``ngram_overlap_<n>``: mean over generations (those with at least n words) of the
    share of their n-grams found in the corpus. ``copied_line_share``: copied lines over
    all lines of at least `min_line_words` words, pooled. ``poems_with_copied_line_share``:
    share of generations with at least one copied line. None marks an undefined figure.
    """
    if not generations:
        raise ValueError("quoting_metrics: no generations to score; check the generate stage output")
    samples = [sample_quoting(index, text, min_line_words) for text in generations]
    runs = [s["longest_copied_run_words"] for s in samples]
    eligible = sum(s["eligible_lines"] for s in samples)
    copied = sum(len(s["copied_lines"]) for s in samples)
    metrics: dict[str, Any] = {"n_generations": len(samples)}
    for n in index.ns:
        metrics[f"ngram_overlap_{n}"] = _mean(s[f"ngram_overlap_{n}"] for s in samples)
    metrics.update(
        longest_copied_run_words_max=max(runs),
        longest_copied_run_words_mean=sum(runs) / len(runs),
        copied_line_share=copied / eligible if eligible else None,
        poems_with_copied_line_share=sum(1 for s in samples if s["copied_lines"]) / len(samples),
    )
    return metrics


def copied_samples(
    index: CorpusIndex, generations: Sequence[str], max_share: float, min_line_words: int = 3
) -> list[dict[str, Any]]:
    """Generations that quote too much, for a gate and for the report.

    A generation offends when the share of its longest n-grams (n = max(ns)) found in
    the corpus, or the share of its lines copied verbatim, exceeds `max_share`. Each
    record is `sample_quoting`'s dict plus ``sample`` (its position) and ``text``.
    """
    if not 0.0 <= max_share <= 1.0:
        raise ValueError(f"copied_samples: max_share must be a share in [0, 1], got {max_share}")
    top = f"ngram_overlap_{index.ns[-1]}"
    offending = []
    for i, text in enumerate(generations):
        record = sample_quoting(index, text, min_line_words)
        shares = [record[top], record["copied_line_share"]]
        if any(s is not None and s > max_share for s in shares):
            offending.append({"sample": i, "text": text, **record})
    return offending


def probe_continuation_match(expected_next_line: str, generated_text: str, prompt_line: str | None = None) -> bool:
    """True when the first verse line of the generation is the expected next line,
    after normalisation. With `prompt_line`, an echo of the prompt as the first
    generated line is skipped first."""
    expected = normalize_line(expected_next_line)
    if not expected:
        raise ValueError(f"probe: expected next line {expected_next_line!r} has no words")
    keys = [normalize_line(line) for line in lines(generated_text)]
    if prompt_line is not None and keys and keys[0] == normalize_line(prompt_line):
        keys = keys[1:]
    return bool(keys) and keys[0] == expected


def probe_match_rate(
    expected_next_lines: Sequence[str],
    generated_texts: Sequence[str],
    prompt_lines: Sequence[str] | None = None,
) -> float:
    """Share of memorisation probes where the model continued with the real next line."""
    if not expected_next_lines:
        raise ValueError("probe_match_rate: no probes given")
    if len(expected_next_lines) != len(generated_texts) or (
        prompt_lines is not None and len(prompt_lines) != len(generated_texts)
    ):
        raise ValueError(
            f"probe_match_rate: {len(expected_next_lines)} expected lines, {len(generated_texts)} generations"
            + (f", {len(prompt_lines)} prompt lines" if prompt_lines is not None else "")
            + "; they must be aligned one to one"
        )
    prompts = prompt_lines if prompt_lines is not None else [None] * len(generated_texts)
    hits = sum(
        probe_continuation_match(e, g, p) for e, g, p in zip(expected_next_lines, generated_texts, prompts, strict=True)
    )
    return hits / len(generated_texts)
