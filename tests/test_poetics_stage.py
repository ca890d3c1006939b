"""The poetics stage's style judge end to end on toy data: it learns only poems that
neither the adapter nor the selector learnt, scores her own poems out of fold, gives
p_author to verse only, and reports the non-verse check set."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fixtures.judge_data import (
    JUDGING,
    PROSE_SAMPLE,
    form,
    write_judge_data,
    write_samples,
)

from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.style import load_attributor

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {"poetics": {"judge_folds": 3, "calibration_folds": 3}}


def stage_module():
    spec = importlib.util.spec_from_file_location("poetics_stage", ROOT / "stages" / "poetics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("poetics")
    texts = write_judge_data(tmp / "data")
    write_samples(tmp / "samples.jsonl")
    # a formed row: two poems in the form they asked for, one in another form than asked
    from fixtures.formed_verses import QUATRAIN

    from qwen_qlora.io import write_jsonl
    from qwen_qlora.metrics.form_annotation import request_form

    asked = [request_form("iamb", 4, "ABAB", 1)] * 2 + [request_form("trochee", 4, "ABAB", 1)]
    write_jsonl(tmp / "samples.jsonl", [*read_jsonl(tmp / "samples.jsonl"), *(
        {"model": "adapted_formed", "theme": "любовь", "seed": k, "text": QUATRAIN, "text_cut": QUATRAIN,
         "form": form(), "form_cut": form(), "requested_form": r} for k, r in enumerate(asked))])
    (tmp / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "poetics.py"), str(tmp / "data"),
                           str(tmp / "samples.jsonl"), str(tmp / "attributor"), str(tmp / "poetics.json"),
                           "--detail", str(tmp / "poetics_detail.json"), "--params", str(tmp / "params.yaml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, texts, json.loads((tmp / "poetics_detail.json").read_text())


def test_the_judge_learns_no_poem_of_the_adapter_or_the_selector(judged):
    tmp, texts, result = judged
    attributor = result["attributor"]
    held_out = stage_module().held_out
    judging = [r for r in read_jsonl(tmp / "data" / "reference.jsonl")
               if r["author"] in JUDGING and not held_out(r["id"], 0.2, 7)]
    copies = [r for r in judging if r["id"].endswith("-copy")]
    assert copies, "the toy data should put a copy of a train poem among the judge's negatives"
    # positives: her val + test poems but the one the selector's half also holds; never train
    assert attributor["n_train_target"] == len(texts["val"]) + len(texts["test"]) - 1
    assert attributor["n_left_out_target"] == 1
    # negatives: the judging half not held out, less its copies of train poems
    assert attributor["n_train_reference"] == len(judging) - len(copies)
    assert attributor["n_left_out_reference"] == len(copies)
    assert attributor["n_shared_with_adapter"] == attributor["n_shared_with_selector"] == 0
    assert attributor["judge_folds"] == 3 and 0 <= attributor["roc_auc"] <= 1


def test_her_baseline_is_out_of_fold_and_her_train_poems_are_unseen(judged):
    _, texts, result = judged
    b = result["baselines"]
    assert b["n_p_author_mean_her_out_of_fold"] == len(texts["val"]) + len(texts["test"]) - 1
    assert b["n_p_author_mean_her_train"] == len(texts["train"])
    assert b["p_author_mean_her_out_of_fold_ci_low"] <= b["p_author_mean_her_out_of_fold"] \
        <= b["p_author_mean_her_out_of_fold_ci_high"]
    assert b["p_author_mean_her_train"] > b["p_author_mean_other_poets"]


def test_samples_get_p_author_only_where_they_scan_as_verse(judged):
    tmp, _, result = judged
    for row in ("base", "adapted"):
        assert result[row]["n_p_author_mean"] == 3 and result[row]["verse_share"] == 0.75
        assert 0 <= result[row]["p_author_mean_without_verse_rule"] <= 1
    assert result["adapted"]["p_author_mean"] > result["base"]["p_author_mean"]
    assert "verse" in result["p_author_applies_to"]
    judge = load_attributor(tmp / "attributor" / "attributor.joblib")
    assert judge.judge([PROSE_SAMPLE], [form(rhymed=False)]) == [None]
    assert judge.refusal(PROSE_SAMPLE, form()) == "prose"


def test_the_non_verse_check_set_is_reported_with_and_without_the_rule(judged):
    _, _, result = judged
    nv = result["non_verse"]
    assert nv["n_texts"] == nv["n_prose"] + nv["n_list"] + nv["n_dialogue"] + nv["n_notice_or_letter"]
    assert 0 <= nv["p_author_mean_without_verse_rule"] <= nv["p_author_max_without_verse_rule"] <= 1
    assert nv["n_refused_prose"] == nv["n_prose"]
    assert nv["n_given_p_author"] < nv["n_texts"] - nv["n_prose"] - nv["n_dialogue"]
    assert 0 <= nv["share_over_limit"] <= nv["n_given_p_author"] / nv["n_texts"]


def test_formed_rows_are_scanned_again_against_their_requests(judged):
    _, _, result = judged
    f = result["adapted_formed"]
    assert f["rescanned_request_meter_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert f["rescanned_request_lines_share"] == 1.0 and f["rescanned_request_stanzas_share"] == 1.0
    assert f["repeated_rhyme_words_per_poem"] == 0 and f["top10_rhyme_pair_share"] == 1.0
    assert f["known_word_share"] == 1.0
    assert "rescanned_request_all_share" not in result["adapted"]  # free rows: the generate stage's figures


def test_formed_rows_and_their_free_rows_are_cross_checked_with_a_second_stress_source(judged):
    tmp, _, result = judged
    f = result["adapted_formed"]
    assert f["form_compliance"] == f["rescanned_request_all_share"]     # the primary side: silero's rescan
    assert f["form_compliance_check"] == f["form_compliance"] and f["rhyme_rate_check"] == f["rhyme_rate_rescanned"]
    assert f["check_unknown_word_share"] == 0.0 and f["check_max_abs_diff"] == 0.0  # the quatrain's words are known
    free = result["adapted"]
    assert 0 <= free["check_unknown_word_share"] <= 1 and free["check_n_polysyllables"] > 0
    assert free["rhyme_rate_check_diff"] == pytest.approx(free["rhyme_rate_check"] - free["rhyme_rate_rescanned"],
                                                          abs=1e-4)
    assert "rhyme_rate_check" not in result["base"]  # no formed row of its own: nothing to compare
    key = json.loads((tmp / "poetics.json").read_text())["adapted_formed"]
    assert {"rhyme_rate_check", "form_compliance_check", "check_unknown_word_share", "check_max_abs_diff"} <= set(key)
