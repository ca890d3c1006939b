"""Line alignment with one known poem: edits, swaps, one-to-one matching, content words."""

import numpy as np

from qwen_qlora.metrics.alignment import pair_matches, strong_pairs
from qwen_qlora.metrics.overlap import CorpusIndex

# Toy verses written for these tests.
GARDEN = "Через тёмный старый сад\nя несла в ладонях свечи\nи шумела в парке липа"
OTHER = "Белый парус над водой\nи в порту гудят буксиры"


def test_pair_rules_scale_with_line_length():
    edits = np.array([0, 0, 1, 2, 2, 1, 2])
    a = np.array([1, 2, 3, 4, 3, 5, 7])
    assert pair_matches(edits, a, a).tolist() == [False, True, False, True, False, True, True]
    assert strong_pairs(edits, a, a, 4).tolist() == [False, False, False, False, False, True, True]


def test_swap_and_change_is_two_edits_and_matches_the_source_line():
    idx = CorpusIndex.build([OTHER, GARDEN], doc_ids=["other", "garden"])
    (m,) = idx.align("несла я в ладонях лампады")
    assert idx.doc_ids[m.doc] == "garden" and m.pairs[0][2] == 2


def test_a_refrain_matches_one_known_line_once_and_function_words_are_no_evidence():
    idx = CorpusIndex.build([GARDEN])
    (m,) = idx.align("через тёмный старый сад\nчерез тёмный старый сад")
    assert len(m.pairs) == 1
    assert idx.align("и в порту гудит вода") == []  # shares only «и в» with a known line
