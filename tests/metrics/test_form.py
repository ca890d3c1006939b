import pytest

from qwen_qlora.metrics.form import cyrillic_share, form_metrics, form_summary, is_quatrains

QUATRAIN = "Шумит листва в саду ночном,\nи дождь стучит в окно,\nи мы сидим с тобой вдвоём,\nи нам светло давно."
THREE_QUATRAINS = "\n\n".join([QUATRAIN] * 3)
FIVE_LINES = QUATRAIN + "\nИ больше ничего."


def test_three_quatrains_pass_form():
    assert form_metrics(THREE_QUATRAINS) == {"lines": 12, "stanzas": 3, "is_quatrains": True, "cyrillic_share": 1.0}


def test_five_line_poem_fails_form():
    assert form_metrics(FIVE_LINES) == {"lines": 5, "stanzas": 1, "is_quatrains": False, "cyrillic_share": 1.0}


def test_quatrain_counts_outside_two_to_four_fail():
    assert not is_quatrains(QUATRAIN)
    assert not is_quatrains("\n\n".join([QUATRAIN] * 5))
    assert is_quatrains("\n\n".join([QUATRAIN] * 4))


def test_stanza_of_wrong_size_fails():
    assert not is_quatrains(QUATRAIN + "\n\n" + FIVE_LINES)


def test_unbroken_quatrains_accepted_unless_strict():
    unbroken = "\n".join([QUATRAIN] * 2)
    assert form_metrics(unbroken)["stanzas"] == 1
    assert is_quatrains(unbroken)
    assert not is_quatrains(unbroken, accept_unbroken=False)
    assert not is_quatrains("\n".join([QUATRAIN] * 5))  # 20 lines is not 2-4 quatrains


def test_separators_and_dates_are_not_lines():
    text = "* * *\n\n" + QUATRAIN + "\n* * *\n" + QUATRAIN + "\n\n1941"
    assert form_metrics(text)["lines"] == 8 and form_metrics(text)["stanzas"] == 2
    assert is_quatrains(text)


def test_cyrillic_share_counts_letters_only():
    assert cyrillic_share("Дом — house!") == 3 / 8
    assert cyrillic_share("1913, — …") is None
    assert cyrillic_share("Ёж і ї") == 1.0  # Ukrainian letters are Cyrillic too


def test_form_summary_exact():
    summary = form_summary([THREE_QUATRAINS, FIVE_LINES, "Hello world", "* * *"])
    assert {k: v for k, v in summary.items() if "_ci_" not in k} == {
        "n_poems": 4,
        "lines_mean": (12 + 5 + 1 + 0) / 4,
        "stanzas_mean": (3 + 1 + 1 + 0) / 4,
        "quatrain_compliance_share": 0.25,
        "cyrillic_letter_share_mean": round((1.0 + 1.0 + 0.0) / 3, 4),
    }
    for key in ("lines_mean", "stanzas_mean", "quatrain_compliance_share"):
        assert summary[f"{key}_ci_low"] <= summary[key] <= summary[f"{key}_ci_high"]
    assert summary["quatrain_compliance_share_ci_high"] < 0.81  # Wilson, 1 of 4
    with pytest.raises(ValueError):
        form_summary([])
