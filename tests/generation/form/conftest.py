"""A toy stressed word table (words picked for the tests, stressed by the real stress
model) under the tiny models' character tokenizer."""

from __future__ import annotations

import pytest

from fixtures.form_words import TOY_TEXT


@pytest.fixture(scope="session")
def stresser():
    from qwen_qlora.metrics.stress import load_stresser

    return load_stresser()


@pytest.fixture(scope="session")
def char_tok():
    from fixtures.tiny_models import char_tokenizer

    return char_tokenizer()


@pytest.fixture(scope="session")
def toy_table(stresser, char_tok):
    from qwen_qlora.generation.form.words import build_word_table

    return build_word_table([TOY_TEXT], stresser, char_tok)
