"""Shared test fixtures. `tests/` is on sys.path here, so `fixtures.*` helpers import."""

from __future__ import annotations

import pytest


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
