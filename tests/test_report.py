"""The HTML report: content, escaping, robustness to missing or older inputs, and how it
looks in a real (headless) browser."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.report_inputs import HOSTILE, THEMES, write_inputs

from qwen_qlora.report import charts
from qwen_qlora.report.page import build_context, eval_table, poem_lines, render_report, sample_flags

ROOT = Path(__file__).resolve().parents[1]


def run_stage(tmp_path: Path, paths: dict[str, Path]) -> str:
    out = tmp_path / "index.html"
    cmd = [sys.executable, str(ROOT / "stages/report.py"), str(paths["metrics"]), str(paths["corpus_stats"]),
           str(paths["per_poem"]), str(paths["samples"]), str(out), "--detail-dir", str(paths["detail"]), "--params", str(ROOT / "params.yaml")]
    subprocess.run(cmd, check=True, cwd=tmp_path, capture_output=True, text=True,
                   env={"PYTHONPATH": str(ROOT / "src"), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"})
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("report")
    html = run_stage(tmp, write_inputs(tmp))
    (tmp / "index.html").write_text(html, encoding="utf-8")
    return tmp / "index.html", html


def test_page_is_self_contained_and_escaped(report):
    _, html = report
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert re.findall(r"https?://[^\s\"']+", html) == []  # nothing to fetch
    assert "<link" not in html  # no external stylesheet


def test_page_has_every_section(report):
    _, html = report
    for row in ("base, NF4", "few-shot", "adapted, adapter on the NF4 base", "deployed"):
        assert row in html
    assert "[70.100, 82.30]" not in html and "[70.10, 82.30]" in html  # interval beside the value
    assert "0.740" in html and "[0.700, 0.780]" in html  # headline ratio with its interval
    assert "adapted / base_fewshot test perplexity: <b>0.779</b>" in html and "[0.750, 0.810]" in html
    assert "adapted is better on 2 of 3 poems" in html
    assert "Language kept" in html and "0.925" in html and "[0.900, 0.950]" in html
    for theme in ("зима", "море", "&lt;b&gt;сад&lt;/b&gt;"):
        assert theme in html
    assert 'title="copied from toy_md &lt;akhmatova&gt; (toy-2), similarity 1.00"' in html
    assert "&lt;i&gt;toy_csv&lt;/i&gt;" in html  # a source name is escaped too
    assert html.count("<svg") >= 6  # loss, scatter, drops, authors, meter, scheme, p_author


def test_old_and_missing_inputs_do_not_crash(tmp_path):
    paths = write_inputs(tmp_path)
    old_eval = {"base": {"val_perplexity": 75.9, "val_tokens": 2950}, "adapted": {"val_perplexity": 56.3},
                "delta": {"val_perplexity_ratio": 0.74}, "runtime_s": 98.6}
    (paths["detail"] / "eval_detail.json").write_text(json.dumps(old_eval), encoding="utf-8")
    for name in ("poetics_detail.json", "generation_detail.json"):
        (paths["detail"] / name).unlink()
    (paths["metrics"] / "split.json").unlink()
    paths["samples"].unlink()
    paths["per_poem"].unlink()
    paths["corpus_stats"].unlink()
    html = run_stage(tmp_path, paths)
    assert "val perplexity" in html and "75.90" in html and "0.740" in html
    assert "No samples" in html and "No per-poem scores" in html


def test_eval_table_aligns_columns_across_rows():
    table = eval_table({"base": {"test_perplexity": 10.0, "test_poems": 3}, "adapted": {"test_perplexity": 8.0},
                        "headline": {"test_perplexity_ratio": 0.8}})
    assert table["columns"] == ["perplexity with the stop token", "poems"]
    assert [len(r["cells"]) for r in table["rows"]] == [2, 2]
    assert table["rows"][1]["cells"][1] == {"value": "", "interval": ""}
    assert table["headline"]["text"] == "adapted / base test perplexity" and table["headline_stop"] is None


def test_eval_table_leads_with_poem_tokens_and_keeps_the_stop_token_apart():
    ratio = {"poem_test_perplexity_ratio": 0.93, "poem_poems_better": 20, "test_perplexity_ratio": 0.91,
             "poems_better": 25, "test_poems": 33, "numerator": "adapted", "denominator": "base"}
    table = eval_table({"base": {"poem_test_perplexity": 58.5, "test_perplexity": 60.0, "stop_nats_per_poem": 4.7},
                        "adapted": {"poem_test_perplexity": 54.4, "test_perplexity": 54.6, "stop_nats_per_poem": 1.2},
                        "headline": ratio})
    assert table["columns"] == ["perplexity, poem tokens", "perplexity with the stop token", "stop token (nats/poem)"]
    assert table["headline"]["text"] == "adapted / base test perplexity on poem tokens (the stop token apart)"
    assert table["headline"]["value"] == "0.930" and "20 of 33" in table["headline"]["better"]
    assert table["headline_stop"]["text"] == "adapted / base test perplexity with the stop token"
    assert "25 of 33" in table["headline_stop"]["better"]


def test_eval_table_shows_the_verse_row_and_the_language_kept():
    ratio = {"poem_test_perplexity_ratio": 1.01, "poem_test_perplexity_ratio_ci_low": 0.99,
             "poem_test_perplexity_ratio_ci_high": 1.03, "poem_poems_better": 14, "test_poems": 33,
             "numerator": "adapted", "denominator": "verse"}
    retention = {"poems": 32, "authors": 12, "text": "held-out poems of other poets",
                 "base": {"poem_perplexity": 40.0},
                 "verse": {"poem_perplexity": 36.0, "poem_perplexity_vs_base": 0.9,
                           "poem_perplexity_vs_base_ci_low": 0.87, "poem_perplexity_vs_base_ci_high": 0.93},
                 "adapted": {"poem_perplexity": 37.0, "poem_perplexity_vs_base": 0.925,
                             "poem_perplexity_vs_base_ci_low": 0.9, "poem_perplexity_vs_base_ci_high": 0.95}}
    prose = {"texts": 16, "text": "prose paragraphs", "base": {"perplexity": 20.0, "tokens": 900},
             "adapted": {"perplexity": 21.0, "tokens": 900, "perplexity_vs_base": 1.05,
                         "perplexity_vs_base_ci_low": 1.01, "perplexity_vs_base_ci_high": 1.09}}
    table = eval_table({"base": {"poem_test_perplexity": 58.5}, "verse": {"poem_test_perplexity": 53.4},
                        "adapted": {"poem_test_perplexity": 53.8}, "vs_verse": ratio, "retention": retention,
                        "retention_prose": prose})
    assert [r["name"] for r in table["rows"]] == ["base", "verse", "adapted"]  # retention is not a model row
    assert table["verse"]["text"].startswith("adapted / verse") and "14 of 33" in table["verse"]["better"]
    lines = table["retention"]["lines"]
    assert [line["value"] for line in lines] == ["0.900", "0.925"] and lines[0]["interval"] == "[0.870, 0.930]"
    (line,) = table["retention_prose"]["lines"]
    assert (line["value"], line["interval"], line["base"]["value"]) == ("1.05", "[1.01, 1.09]", "20.00")
    assert table["retention_prose"]["texts"] == 16


def test_eval_table_shows_the_memorisation_checks():
    auc = {"auc": 0.52, "auc_ci_low": 0.4, "auc_ci_high": 0.65, "n_train": 32, "n_test": 32}
    table = eval_table({"base": {"poem_test_perplexity": 58.5},
                        "adapted": {"poem_test_perplexity": 53.8, "probe_train_rate": 0.0, "probe_train_rate_ci_low": 0.0,
                                    "probe_train_rate_ci_high": 0.02, "probe_train_lines": 160},
                        "membership": {**auc, "n_test": 33}, "membership_verse": {"text": "...", "adapted": auc}})
    assert [r["name"] for r in table["rows"]] == ["base", "adapted"]
    texts = [line["text"] for line in table["memorisation"]]
    assert texts == ["membership AUC, her train vs test poems (32 / 33 poems)",
                     "membership AUC, the verse stage's learned vs held-out poems under adapted (32 / 32 poems)",
                     "share of her train poems' lines the adapted model recites (160 lines)"]
    assert table["memorisation"][1]["interval"] == "[0.400, 0.650]"


def test_copied_lines_are_matched_by_line():
    lines = poem_lines({"text": "раз\nдва три\n", "copied_lines": [{"line": "два три", "source": "s", "doc_id": "d"}]})
    assert [bool(x["copied"]) for x in lines] == [False, True, False]
    assert lines[1]["copied"] == "copied from s (d)"


def test_sample_flags_flat_or_grouped():
    flags = sample_flags({"model": "adapted", "text": "x", "meter": "iamb", "flags": {"form_ok": True, "p_author": 0.5},
                          "note": "д" * 100, "copied_lines": [], "longest_copied_run_words": 5,
                          "longest_copied_run_source": "src"})
    assert [f["name"] for f in flags] == ["meter", "note", "form_ok", "p_author", "longest copied run"]
    assert flags[1]["value"].endswith("…") and len(flags[1]["value"]) == 60
    assert flags[-1]["value"] == "5 words from src"


def test_charts_are_inert_svg():
    svg = charts.hbar({"<script>alert(1)</script>": 3, "b": 1}, "poems")
    assert svg.startswith("<svg") and charts.svg_is_inert(svg) and "alert" not in svg


def test_context_without_any_input():
    html = render_report(build_context(run={"author": "x"}, metrics={}, corpus_stats=None, per_poem=[],
                                       samples=[], loss={}, exp_show=None, exp_error="`dvc exp show` failed: x"))
    assert "`dvc exp show` failed: x" in html and "No evaluation figures" in html


def test_the_stress_cross_check_has_its_own_small_table():
    checked = {"rhyme_rate_rescanned": 0.9, "rhyme_rate_check": 0.85, "rhyme_rate_check_diff": -0.05,
               "form_compliance": 0.8, "form_compliance_check": 0.6, "form_compliance_check_diff": -0.2,
               "check_unknown_word_share": 0.04, "check_unknown_word_share_ci_low": 0.02,
               "check_unknown_word_share_ci_high": 0.06, "check_max_abs_diff": 0.2, "check_stress_agreement": 0.99}
    poetics = {"adapted_formed": {"rhyme_rate": 0.9, **checked}, "base": {"rhyme_rate": 0.5},
               "cross_check_tolerance": 0.1}
    context = build_context(run={"author": "x"}, metrics={"poetics": poetics}, corpus_stats=None, per_poem=[],
                            samples=[], loss={}, exp_show=None, exp_error=None)
    (row,) = context["cross_check"]["rows"]
    rhyme, meter, _, form = row["cells"]
    assert row["name"] == "adapted_formed" and meter is None
    assert (rhyme["primary"], rhyme["check"], rhyme["diff"], rhyme["far"]) == ("0.900", "0.850", "-0.050", False)
    assert form["far"] and row["unknown"] == {"value": "0.040", "interval": "[0.020, 0.060]"}
    assert row["agreement"] == "0.990"
    assert [r["metric"] for r in context["poetics"]["rows"]] == ["rhyme_rate"]  # not repeated in the big table
    html = render_report(context)
    assert 'id="cross-check"' in html and '<span class="flag bad">-0.200</span>' in html


def test_report_in_a_browser(report, tmp_path):
    from fixtures.browser import chromium, is_blank, save_screenshot
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    path, _ = report
    driver = chromium()
    try:
        driver.get(path.as_uri())
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 (reading it is the check)
        assert driver.execute_script("return document.scripts.length") == 0
        assert driver.execute_script("return document.images.length") == 0
        table = driver.find_element(By.ID, "metrics-table")
        assert table.is_displayed() and "adapted" in table.text
        shown = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "h3.theme-name")]
        assert shown == THEMES
        poems = " ".join(p.text for p in driver.find_elements(By.CSS_SELECTOR, "pre.poem"))
        assert "<script>alert(1)</script>" in poems and "<img src=x onerror=alert(1)>" in poems
        assert HOSTILE.splitlines()[3] in poems.splitlines()  # line breaks kept
        mark = driver.find_element(By.CSS_SELECTOR, "pre.poem mark")
        assert mark.get_attribute("title").startswith("copied from toy_md <akhmatova>")
        shot = save_screenshot(driver, tmp_path / "report.png")
        assert not is_blank(shot)
    finally:
        driver.quit()


def test_dvc_repro_report_stage(tmp_path):
    """The stage as dvc.yaml declares it: `dvc repro --single-item report` in a copy of the
    repository with toy inputs in place of the upstream outputs."""
    import os
    import shutil

    from fixtures.toy_project import copy_checkout

    repo = copy_checkout(tmp_path / "repo")
    shutil.rmtree(repo / "metrics")
    write_inputs(repo)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(repo / "src")}
    run = subprocess.run([sys.executable, "-m", "dvc", "repro", "--single-item", "report"], cwd=repo,
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    html = (repo / "reports/index.html").read_text(encoding="utf-8")
    assert 'id="metrics-table"' in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Experiments in this workspace" in html and "`dvc exp show` failed" not in html
