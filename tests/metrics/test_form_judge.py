"""Formed rows judged from their final text: compliance with the requested form (lines
included), repeated rhyme words, the commonest pairs' share, known words; and the
cross-check with a second stress source."""

from __future__ import annotations

import pytest
from fixtures.formed_verses import QUATRAIN, REPEATING

from qwen_qlora.metrics.fluency import load_morph
from qwen_qlora.metrics.form_annotation import request_form
from qwen_qlora.metrics.form_judge import cross_check_figures, formed_row_figures, request_compliance
from qwen_qlora.metrics.poetics import analyse_poems
from qwen_qlora.metrics.rhyme_words import poem_rhyme_words, rhyme_word_figures


@pytest.fixture(scope="module")
def stresser():
    from qwen_qlora.metrics.stress import load_stresser

    return load_stresser()


def test_rhyme_words_of_a_quatrain_and_a_repeated_one(stresser):
    good, repeating = analyse_poems([QUATRAIN, REPEATING], stresser)
    words, pairs = poem_rhyme_words(good)
    assert sorted(pairs) == [("дорога", "порога"), ("издалека", "облака")]
    figures = rhyme_word_figures([good, good], seed=0)
    assert figures["repeated_rhyme_words_per_poem"] == 0 and figures["top10_rhyme_pair_share"] == 1.0
    assert figures["n_rhyme_pairs"] == 4 and figures["top_rhyme_pairs"][0] == "дорога / порога (2)"
    if ("облака", "облака") in poem_rhyme_words(repeating)[1]:  # a word with itself, if the detector hears it
        assert rhyme_word_figures([repeating], seed=0)["repeated_rhyme_words_per_poem"] == 1


def test_compliance_counts_lines_and_figures_carry_intervals(stresser):
    asked = request_form("iamb", 4, "ABAB", stanzas=1)
    form = {**asked, "stanza_lines": [4]}
    assert request_compliance(form, asked)["lines"]
    assert not request_compliance({**form, "stanza_lines": [5]}, asked)["lines"]
    samples = [{"text": QUATRAIN, "requested_form": asked}, {"text": QUATRAIN, "requested_form":
                                                             request_form("trochee", 4, "ABAB", stanzas=1)}]
    out = formed_row_figures(samples, stresser, load_morph(), 0.8)
    assert out["rescanned_request_all_share"] == 0.5 and out["rescanned_request_lines_share"] == 1.0
    assert out["rescanned_request_meter_share_ci_low"] < 0.5 < out["rescanned_request_meter_share_ci_high"]
    assert out["known_word_share"] == 1.0


# the quatrain's polysyllables as Wiktionary stresses them
QUATRAIN_TABLE = {"тихой": (0,), "речкой": (0,), "дорога": (1,), "ветер": (0,), "гонит": (0,), "облака": (2, 0),
                  "стою": (1,), "порога": (1,), "тебя": (1,), "издалека": (3,)}


def test_the_cross_check_reports_both_stress_sources_and_the_unknown_words(stresser):
    from qwen_qlora.metrics.dictionary_stress import DictionaryStresser

    samples = [{"text": QUATRAIN, "requested_form": request_form("iamb", 4, "ABAB", stanzas=1)},
               {"text": QUATRAIN, "requested_form": request_form("trochee", 4, "ABAB", stanzas=1)}]
    out = cross_check_figures(samples, stresser, DictionaryStresser(QUATRAIN_TABLE), 0.8)
    for name in ("rhyme_rate_rescanned", "rhyme_rate_check"):
        assert out[name] == 1.0
    for name in ("meter_compliance", "form_compliance"):
        assert out[name] == out[f"{name}_check"] == 0.5 and out[f"{name}_check_diff"] == 0.0
        assert out[f"{name}_check_ci_low"] < 0.5 < out[f"{name}_check_ci_high"]
    assert out["check_unknown_word_share"] == 0.0 and out["check_n_polysyllables"] == 20
    assert out["check_max_abs_diff"] == 0.0
    assert out["check_stress_agreement"] == 1.0 and out["check_homograph_share"] == 0.1  # облака́ / о́блака

    # a dictionary that lacks a word guesses it, says so, and lets the meter settle it
    lacking = {k: v for k, v in QUATRAIN_TABLE.items() if k != "издалека"}
    out = cross_check_figures(samples[:1], stresser, DictionaryStresser(lacking), 0.8)
    assert out["check_unknown_word_share"] == 0.1 and out["form_compliance_check"] == 1.0

    # stresses that break the meter show as a gap between the sources
    wrong = {k: (0,) for k in QUATRAIN_TABLE}
    out = cross_check_figures(samples[:1], stresser, DictionaryStresser(wrong), 0.8)
    assert out["meter_compliance"] == 1.0 and out["meter_compliance_check"] == 0.0
    assert out["meter_compliance_check_diff"] == -1.0 and out["check_max_abs_diff"] == 1.0
    assert out["check_stress_agreement"] == 0.4  # тихой, речкой, ветер, гонит: the rest differ
