"""Poetics-guided selection: the score, the gate's veto and the reference-poet halves."""

from qwen_qlora.generation.selection import candidate_score, choose, row_of, selected_sample, selection_poets
from qwen_qlora.metrics.form_annotation import request_form


def sample_form(meter: str, scheme: str | None, stanzas: int, rhyme_rate: float, regularity: float) -> dict:
    return {**request_form(meter, 4, scheme, stanzas), "rhyme_rate": rhyme_rate, "regularity": regularity}


def test_the_score_rewards_the_requested_form_then_rhyme_regularity_and_voice():
    asked = request_form("iamb", 4, "ABAB", 3)
    follows = candidate_score(sample_form("iamb", "ABAB", 3, 1.0, 1.0), asked, p_author=0.2)
    wrong_meter = candidate_score(sample_form("trochee", "ABAB", 3, 1.0, 1.0), asked, p_author=0.9)
    assert follows == 1 + 1 + 1 + 1.0 + 1.0 + 0.2
    assert wrong_meter == 0 + 1 + 1 + 1.0 + 1.0 + 0.9 < follows


def test_a_candidate_failing_the_gate_is_never_chosen():
    assert choose([5.0, 3.0, 4.0], [False, True, True]) == 2
    assert choose([1.0, 1.0], [True, True]) == 0               # a tie keeps the earlier one
    assert choose([5.0, 3.0], [False, False]) is None
    candidates = [{"model": "adapted", "text": t} for t in ("a", "b", "c")]
    picked = selected_sample(candidates, [5.0, 3.0, 4.0], [False, True, True])
    assert (picked["model"], picked["text"], picked["chosen"]) == ("adapted_selected", "c", 2)
    assert picked["candidates"][0] == {"score": 5.0, "passes_gate": False}
    none = selected_sample(candidates, [5.0, 3.0, 4.0], [False, False, False])
    assert (none["text"], none["chosen"]) == ("a", None)       # kept so that the gate fails on it
    assert row_of("adapted_selected") == "adapted" and row_of("base") == "base"


def test_the_reference_poets_fall_in_two_fixed_halves():
    poets = [f"poet-{i}" for i in range(200)]
    half = [p for p in poets if selection_poets(p)]
    assert 70 < len(half) < 130
    assert half == [p for p in poets if selection_poets(p)]
