"""The non-verse check set and its figures."""

import pytest

from qwen_qlora.metrics.non_verse import CHECK_SET, LIMIT, check_set_figures
from qwen_qlora.text import lines


def test_the_check_set_holds_prose_lists_dialogues_and_notices():
    kinds = [k for k, _ in CHECK_SET]
    assert {"prose", "list", "dialogue", "notice_or_letter"} == set(kinds) and len(CHECK_SET) >= 30
    assert all(len(lines(t)) == 1 for k, t in CHECK_SET if k == "prose")
    assert len({t for _, t in CHECK_SET}) == len(CHECK_SET)


def test_figures_with_and_without_the_rule():
    n = len(CHECK_SET)
    scores = [0.9] + [0.1] * (n - 1)
    refusals = [None, None] + ["prose"] * (n - 2)
    fig = check_set_figures(scores, refusals, seed=0)
    assert fig["n_texts"] == n and fig["p_author_max_without_verse_rule"] == 0.9
    assert fig["share_over_limit_without_verse_rule"] == round(1 / n, 4) and fig["limit"] == LIMIT
    assert fig["n_given_p_author"] == 2 and fig["p_author_max"] == 0.9
    assert fig["share_over_limit"] == round(1 / n, 4) and fig["n_refused_prose"] == n - 2
    refused_all = check_set_figures(scores, ["prose"] * n)
    assert refused_all["n_given_p_author"] == 0 and refused_all["share_over_limit"] == 0
    assert "p_author_max" not in refused_all
    with pytest.raises(ValueError, match="check-set texts"):
        check_set_figures(scores[:-1], refusals)
