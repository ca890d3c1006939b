"""Shared test fixtures. `tests/` is on sys.path here, so `fixtures.*` helpers import."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; several threads only contend (20x slower
    on a loaded 2-core machine)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def gemma_base(tmp_path_factory):
    """A tiny Gemma3 base folder with a character tokenizer, and its preset."""
    from fixtures.tiny_models import save_base  # imports transformers: only when needed

    return save_base(tmp_path_factory.mktemp("gemma-base"), "gemma")


@pytest.fixture(scope="session")
def qwen_base(tmp_path_factory):
    """A tiny Qwen2 base folder with a ChatML character tokenizer, and its preset."""
    from fixtures.tiny_models import save_base

    return save_base(tmp_path_factory.mktemp("qwen-base"), "qwen")
