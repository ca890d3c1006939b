import math

import pytest
import torch

from qwen_qlora.training.health import (
    HealthError,
    check_batch,
    check_examples,
    check_finite,
    check_lora_targets,
    moved,
    supervised_tokens,
)

SCOPE = r"model\.layers\.\d+\..*"


def test_examples_with_everything_masked_are_refused():
    with pytest.raises(HealthError, match="all 3 labels are masked"):
        check_examples([{"id": "a", "input_ids": [5, 6, 1], "labels": [-100] * 3}], eos_id=1)


def test_examples_must_end_with_eos():
    with pytest.raises(HealthError, match="never learn to stop"):
        check_examples([{"id": "a", "input_ids": [5, 6, 7], "labels": [-100, 6, 7]}], eos_id=1)
    check_examples([{"id": "a", "input_ids": [5, 6, 1], "labels": [-100, 6, 1]}], eos_id=1)


def test_only_the_last_piece_of_a_long_poem_ends_with_eos():
    opening = {"id": "a#1/2", "input_ids": [5, 6, 7], "labels": [-100, 6, 7], "final": False}
    last = {"id": "a#2/2", "input_ids": [5, 8, 1], "labels": [-100, 8, 1], "final": True}
    check_examples([opening, last], eos_id=1)
    with pytest.raises(HealthError, match="a#2/2.*never learn to stop"):
        check_examples([opening, {**last, "labels": [-100, 8, 9]}], eos_id=1)
    with pytest.raises(HealthError, match="a#1/2.*stop mid-poem"):
        check_examples([{**opening, "labels": [-100, 6, 1]}, last], eos_id=1)


def test_batch_without_supervised_tokens_is_refused():
    labels = torch.tensor([[7, -100, -100], [-100, -100, -100]])
    assert supervised_tokens(labels) == 0  # the first label is never predicted
    with pytest.raises(HealthError, match="no supervised token"):
        check_batch(labels, step=3)
    check_batch(torch.tensor([[-100, 4, 1]]), step=3)


def test_lora_on_no_module_or_a_wrong_name_or_the_vision_tower():
    with pytest.raises(HealthError, match="attached to no module"):
        check_lora_targets([], ["q_proj"], SCOPE)
    with pytest.raises(HealthError, match=r"\['v_proj'\] matched no module"):
        check_lora_targets(["model.layers.0.self_attn.q_proj"], ["q_proj", "v_proj"], SCOPE)
    with pytest.raises(HealthError, match="outside the language model"):
        check_lora_targets(["model.layers.0.self_attn.q_proj",
                            "model.vision_tower.encoder.layers.0.self_attn.q_proj"], ["q_proj"], SCOPE)
    check_lora_targets(["model.layers.0.self_attn.q_proj"], ["q_proj"], SCOPE)


def test_non_finite_values_are_named():
    with pytest.raises(HealthError, match="step 5: .*grad_norm.*fp16 overflow"):
        check_finite(5, loss=1.0, grad_norm=math.inf)
    with pytest.raises(HealthError, match="loss"):
        check_finite(5, loss=float("nan"))
    check_finite(5, loss=2.5, grad_norm=0.3)


def test_moved_lists_changed_matrices():
    before = {"a": torch.zeros(2), "b": torch.zeros(2)}
    assert moved(before, {"a": torch.zeros(2), "b": torch.tensor([0.0, 1e-6])}) == ["b"]
