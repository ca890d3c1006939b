"""Style attribution: how much does a text read like the target author?

Two opinions:

- `Attributor`: character 2-4-gram TF-IDF and a logistic regression, calibrated with
  Platt scaling, trained on poems of the target author against reference poets' poems
  (the classes balanced by weight, so p_author = 0.5 means "can't tell").
  `p_author(texts)` gives calibrated probabilities; `evaluate_attributor` reports
  accuracy, F1 and ROC-AUC on poems it never saw.
- `DeltaModel`: Burrows' Delta over the most frequent words: the mean absolute
  difference of z-scored word frequencies between a text and each class centroid.
  Interpretable and independent of the classifier; lower Delta = closer.

Texts are normalised first (lowercase, ё to е, stress marks dropped, quotes, dashes and
whitespace unified), so that the typography of one source (a site that writes ё,
one that doubles blank lines) cannot pass for an author's style.

    attr = train_attributor(train_target, reference, seed=0)
    evaluate_attributor(attr, val_target, val_reference)  # {"accuracy": ..., ...}
    attr.p_author(generated_poems)
    attr.judge(generated_poems, forms)   # p_author where the text scans as verse, else None

The judge of the poetics stage learns from poems that nothing it grades learnt from:
`out_of_fold_p_author` gives each of the target's own poems a probability from an
attributor that did not see it, and `shared_poems` finds a poem in two training sets
(`poem_key`: its words through the one normaliser, so layout and punctuation differences
do not hide it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    roc_auc_score,
)
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline

from qwen_qlora.metrics.verse import VerseRule
from qwen_qlora.text import normalize
from qwen_qlora.text import words as word_tokens

MIN_PER_CLASS = 10


def normalise(text: str) -> str:
    """`qwen_qlora.text.normalize`, then quotes, dashes, ellipses and spaces folded."""
    text = normalize(text)
    text = re.sub(r"[«»„“”\"']", '"', text)
    text = re.sub(r"[—–‒―-]+", "-", text)
    text = text.replace("…", "...")
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Attributor:
    pipeline: Pipeline
    n_train_target: int
    n_train_reference: int
    seed: int
    verse_rule: VerseRule | None = None

    def p_author(self, texts: Sequence[str]) -> list[float]:
        """Calibrated probability that each text is by the target author (the classifier
        alone, whatever the text is; `judge` is the verdict people see)."""
        if not texts:
            return []
        probs = self.pipeline.predict_proba([normalise(t) for t in texts])[:, 1]
        return [float(p) for p in probs]

    def refusal(self, text: str, form: dict) -> str | None:
        """Why the verse rule (`verse_rule`; an attributor saved without one uses the
        default rule) gives this text no p_author, or None when it scans as verse."""
        return (getattr(self, "verse_rule", None) or VerseRule()).why_not(text, form)

    def judge(self, texts: Sequence[str], forms: Sequence[dict]) -> list[float | None]:
        """p_author for each text that scans as verse (given its form annotation), None
        for the others: the classifier never saw prose, lists or dialogue, so its
        probability for them means nothing."""
        if len(texts) != len(forms):
            raise ValueError(f"style: {len(texts)} texts but {len(forms)} form annotations")
        applies = [self.refusal(t, f) is None for t, f in zip(texts, forms)]
        probs = iter(self.p_author([t for t, ok in zip(texts, applies) if ok]))
        return [next(probs) if ok else None for ok in applies]


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Sample weights that give both classes the same total weight."""
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    return np.where(labels == 1, len(labels) / (2 * n_pos), len(labels) / (2 * n_neg))


def train_attributor(target_texts: Sequence[str], reference_texts: Sequence[str], seed: int,
                     *, calibration_folds: int = 5) -> Attributor:
    """Fit the calibrated char-n-gram classifier on all target and reference texts.

    The classes are balanced by sample weights rather than by discarding reference
    poems: every reference poem teaches the classifier what the target is not (on the
    Akhmatova split, val ROC-AUC 0.93 with all references weighted vs 0.89 with the
    references downsampled to the target's 193), and the weighted calibration still
    reads p_author = 0.5 as "as likely one as the other".
    """
    for name, texts in (("target", target_texts), ("reference", reference_texts)):
        if len(texts) < MIN_PER_CLASS:
            raise ValueError(
                f"style: {len(texts)} {name} texts, need at least {MIN_PER_CLASS} to train and "
                f"calibrate the attributor; check the split stage's output for this author")
    texts = [normalise(t) for t in [*target_texts, *reference_texts]]
    labels = np.array([1] * len(target_texts) + [0] * len(reference_texts))
    classifier = LogisticRegression(C=10.0, max_iter=3000, random_state=seed)
    pipeline = Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                                  min_df=2, max_features=200_000)),
        ("clf", CalibratedClassifierCV(classifier, method="sigmoid", cv=calibration_folds)),
    ])
    pipeline.fit(texts, labels, clf__sample_weight=balanced_weights(labels))
    return Attributor(pipeline, len(target_texts), len(reference_texts), seed)


def out_of_fold_p_author(target_texts: Sequence[str], reference_texts: Sequence[str], seed: int, *,
                         folds: int = 5, calibration_folds: int = 5) -> list[float]:
    """p_author of each target text from an attributor trained without it: the target
    texts in `folds` seeded folds, each scored by an attributor trained on the other
    folds and every reference text. The target's own baseline when all of its texts
    train the final attributor."""
    if len(target_texts) < folds:
        raise ValueError(f"style: {len(target_texts)} target texts for {folds} folds; lower poetics.judge_folds")
    out = [0.0] * len(target_texts)
    for kept, scored in KFold(folds, shuffle=True, random_state=seed).split(target_texts):
        attr = train_attributor([target_texts[k] for k in kept], reference_texts, seed,
                                calibration_folds=calibration_folds)
        for k, p in zip(scored, attr.p_author([target_texts[k] for k in scored]), strict=True):
            out[k] = p
    return out


def poem_key(text: str) -> str:
    """A poem's identity for overlap checks: its words (`qwen_qlora.text.words`) in order."""
    return " ".join(word_tokens(text))


def shared_poems(a: Sequence[str], b: Sequence[str]) -> set[str]:
    """The poems (as `poem_key`) found in both collections of texts."""
    return {poem_key(t) for t in a} & {poem_key(t) for t in b}


def evaluate_attributor(attr: Attributor, val_target: Sequence[str],
                        val_reference: Sequence[str]) -> dict[str, float | int]:
    """Threshold-free separation of held-out texts (target = positive): ROC-AUC and
    average precision (the chance level of AP is the target share, reported beside
    it); accuracy and F1 at 0.5 are kept for reference only, since with few target
    texts among many references they mostly measure the class balance."""
    if not val_target or not val_reference:
        raise ValueError(f"style: validation needs texts of both classes, got "
                         f"{len(val_target)} target and {len(val_reference)} reference")
    return separation(attr.p_author(list(val_target)), attr.p_author(list(val_reference)))


def separation(p_target: Sequence[float], p_reference: Sequence[float]) -> dict[str, float | int]:
    """`evaluate_attributor`'s figures from probabilities already computed (e.g. the
    target's out-of-fold ones)."""
    if not p_target or not p_reference:
        raise ValueError(f"style: separation needs probabilities of both classes, got "
                         f"{len(p_target)} target and {len(p_reference)} reference")
    probs = np.array(list(p_target) + list(p_reference))
    labels = np.array([1] * len(p_target) + [0] * len(p_reference))
    preds = (probs >= 0.5).astype(int)
    return {
        "accuracy": round(float(accuracy_score(labels, preds)), 4),
        "f1": round(float(f1_score(labels, preds)), 4),
        "roc_auc": round(float(roc_auc_score(labels, probs)), 4),
        "average_precision": round(float(average_precision_score(labels, probs)), 4),
        "average_precision_chance": round(len(p_target) / len(labels), 4),
        "n_val_target": len(p_target),
        "n_val_reference": len(p_reference),
    }


def save_attributor(attr: Attributor, path: str | Path) -> None:
    joblib.dump(attr, path)


def load_attributor(path: str | Path) -> Attributor:
    """Load an attributor saved by `save_attributor` (a trusted local file: joblib
    unpickles it)."""
    attr = joblib.load(path)
    if not isinstance(attr, Attributor):
        raise TypeError(f"style: {path} holds a {type(attr).__name__}, not an Attributor; "
                        f"re-run the stage that trains the attributor")
    return attr


@dataclass
class DeltaModel:
    """Burrows' Delta: `words` are the most frequent words of the training texts."""

    words: list[str]
    mean: np.ndarray
    std: np.ndarray
    target_centroid: np.ndarray
    reference_centroid: np.ndarray

    def _z(self, texts: Sequence[str]) -> np.ndarray:
        return (_relative_freqs(texts, self.words) - self.mean) / self.std

    def scores(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text: Delta to the target and to the reference centroid (lower = closer)."""
        z = self._z(texts)
        d_target = np.abs(z - self.target_centroid).mean(axis=1)
        d_reference = np.abs(z - self.reference_centroid).mean(axis=1)
        return [{"delta_target": round(float(a), 4), "delta_reference": round(float(b), 4)}
                for a, b in zip(d_target, d_reference)]


def _tokens(text: str) -> list[str]:
    return word_tokens(text)


def _relative_freqs(texts: Sequence[str], words: Sequence[str]) -> np.ndarray:
    index = {w: i for i, w in enumerate(words)}
    out = np.zeros((len(texts), len(words)))
    for r, text in enumerate(texts):
        toks = _tokens(text)
        for tok in toks:
            if tok in index:
                out[r, index[tok]] += 1
        out[r] /= max(len(toks), 1)
    return out


def fit_delta(target_texts: Sequence[str], reference_texts: Sequence[str],
              n_words: int = 150) -> DeltaModel:
    """Fit Burrows' Delta on the `n_words` most frequent words of all training texts."""
    if not target_texts or not reference_texts:
        raise ValueError("style: Burrows' Delta needs texts of both classes")
    counts = Counter(tok for t in [*target_texts, *reference_texts] for tok in _tokens(t))
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n_words]]
    freqs = _relative_freqs([*target_texts, *reference_texts], words)
    mean, std = freqs.mean(axis=0), freqs.std(axis=0)
    std[std == 0] = 1.0
    z = (freqs - mean) / std
    n_t = len(target_texts)
    return DeltaModel(words, mean, std, z[:n_t].mean(axis=0), z[n_t:].mean(axis=0))
