"""The verbatim-quoting gate: the mission is original poems, so an adapted model that
recites known poems fails the pipeline (or warns, by choice) with the evidence.

Each sample is judged on its own (`metrics.quoting.gate_reasons`): empty, too many
copied lines (exact or near), a long copied word run, too many lines matching one known
poem (lightly reworded lines and short lines included), two lines copied from one poem,
or a cento of verbatim lines. `quoting_gate` judges the generate stage's samples;
`QuotingGate` judges one poem at a time for what people are given, with the same index
(`save_index` / `load_index`: the stage's output) and thresholds."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen_qlora.io import atomic_open
from qwen_qlora.metrics.overlap import CorpusIndex
from qwen_qlora.metrics.quoting import gate_reasons, sample_quoting


def _evidence(quoting: dict[str, Any]) -> str:
    """'copies LINE from SOURCES': the first copied line and the known poems it comes from."""
    sources = sorted({str(m["doc_id"]) for m in quoting["copied_lines"]})
    line = quoting["copied_lines"][0]["line"] if quoting["copied_lines"] else None
    poem = quoting.get("lines_from_one_poem_source")
    if poem is not None and quoting["lines_from_one_poem_matches"]:
        sources = [str(poem)] + [s for s in sources if s != str(poem)]
        line = line or quoting["lines_from_one_poem_matches"][0]["line"]
    return f"; copies {line!r} from {', '.join(sources[:3])}" if line else ""


def quoting_gate(samples: list[dict[str, Any]], max_share: float, max_run: int,
                 max_poem_lines: int = 2) -> str | None:
    """None when every sample passes; else a message listing each failing sample (model,
    theme, index), why it fails and the source poems it copies."""
    failing = [(s, reasons) for s in samples
               if (reasons := gate_reasons(s["quoting"], max_share, max_run, max_poem_lines))]
    if not failing:
        return None
    listing = [f"  - {s.get('model', '?')} / {s.get('theme', '?')} #{s.get('sample', '?')}: "
               + "; ".join(reasons) + _evidence(s["quoting"]) for s, reasons in failing]
    return (f"{len(failing)} of {len(samples)} samples fail the quoting gate "
            f"(evaluate.max_copied_line_share = {max_share:.0%}, evaluate.max_copied_run_words = {max_run}, "
            f"evaluate.max_lines_from_one_poem = {max_poem_lines}, empty samples fail too):\n" + "\n".join(listing) +
            "\nTrain for fewer steps or at a lower train.learning_rate, or set evaluate.on_copy: warn knowingly.")


# ---------------------------------------------------------------- one poem at a time

INDEX_FORMAT = 1


@dataclass
class QuotingGate:
    """The generate stage's gate for one poem at a time: the same index of every known text
    and the same thresholds (params.yaml `evaluate`), for what `write`, `compare` and the
    demo page deliver."""

    index: CorpusIndex
    min_line_words: int
    near_similarity: float
    max_share: float
    max_run: int
    max_poem_lines: int

    @classmethod
    def from_params(cls, index: CorpusIndex, evaluate: Any) -> QuotingGate:
        return cls(index, evaluate.min_line_words, evaluate.near_line_similarity, evaluate.max_copied_line_share,
                   evaluate.max_copied_run_words, evaluate.max_lines_from_one_poem)

    def check(self, text: str) -> dict[str, Any]:
        """{passed, reasons, evidence, quoting}: the sample's quoting figures as the stage
        records them, and why it fails (empty when it passes)."""
        quoting = sample_quoting(self.index, text, self.min_line_words, self.near_similarity)
        reasons = gate_reasons(quoting, self.max_share, self.max_run, self.max_poem_lines)
        return {"passed": not reasons, "reasons": reasons, "evidence": _evidence(quoting).removeprefix("; "),
                "quoting": quoting}


def save_index(index: CorpusIndex, path: str | Path) -> None:
    """The quoting index as the generate stage's output, so a process that delivers poems
    loads it (~0.2 s) instead of building it (~5-7 s on 2 CPU cores). A pickle: load only
    indexes this pipeline wrote (the DVC cache or remote of a team you trust)."""
    with atomic_open(path, "wb", encoding=None) as f:
        pickle.dump({"format": INDEX_FORMAT, "index": index}, f, protocol=pickle.HIGHEST_PROTOCOL)


def load_index(path: str | Path) -> CorpusIndex:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no quoting index; every delivered poem is checked against it: run "
                         "`dvc repro generate` (or `dvc pull generate`)")
    with path.open("rb") as f:
        data = pickle.load(f)  # noqa: S301 (the pipeline's own output, see save_index)
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        raise ValueError(f"{path}: a quoting index of another format; run `dvc repro generate` to rebuild it")
    return data["index"]
