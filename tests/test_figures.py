"""`qwen-qlora figures`: the key figures one a line, intervals folded in, narrow enough for a terminal."""

import json

import pytest
from typer.testing import CliRunner

from qwen_qlora.app.cli import app
from qwen_qlora.report.figures import figure_lines, render


def test_intervals_are_folded_into_their_figure():
    lines = dict(figure_lines({"headline": {"ratio": 0.9215, "ratio_ci_low": 0.8984, "ratio_ci_high": 0.9464,
                                            "poems_better": 30},
                               "runtime_s": 655.6, "by_author": {"blok": 200}, "rows": ["base", "adapted"],
                               "lonely_ci_low": 0.1}))
    assert lines == {"headline.ratio": "0.9215 [0.8984, 0.9464]", "headline.poems_better": "30",
                     "runtime_s": "655.6", "by_author.blok": "200", "rows": '["base", "adapted"]',
                     "lonely_ci_low": "0.1"}  # a companion without its figure is shown as itself


def test_every_file_or_the_named_ones_within_a_terminal(tmp_path):
    (tmp_path / "eval.json").write_text(json.dumps({"adapted": {"poem_test_perplexity": 53.88}}))
    (tmp_path / "train.json").write_text(json.dumps({"trainer_eval_loss": 4.0063, "best_step": 88}))
    text = render(tmp_path)
    assert text.splitlines() == [f"{tmp_path / 'eval.json'}", "  adapted.poem_test_perplexity  53.88",
                                 f"{tmp_path / 'train.json'}", "  trainer_eval_loss  4.006", "  best_step          88"]
    assert render(tmp_path, ["train"]).splitlines()[0] == f"{tmp_path / 'train.json'}"
    with pytest.raises(FileNotFoundError, match="nope.json: no metrics file"):
        render(tmp_path, ["nope"])


def test_the_command_prints_them(tmp_path):
    (tmp_path / "eval.json").write_text(json.dumps({"membership": {"auc": 0.65, "auc_ci_low": 0.52, "auc_ci_high": 0.78}}))
    done = CliRunner().invoke(app, ["figures", "--metrics-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "membership.auc  0.65 [0.52, 0.78]" in done.output
    missing = CliRunner().invoke(app, ["figures", "poetics", "--metrics-dir", str(tmp_path)])
    assert missing.exit_code != 0 and "poetics.json: no metrics file" in missing.output


def test_the_committed_run_reads_within_200_columns():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lines = render(root / "metrics").splitlines()
    assert len(lines) > 50 and max(len(line) for line in lines) <= 200
