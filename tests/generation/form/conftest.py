"""A toy stressed word table (words picked for the tests, stressed by the real stress
model) under the tiny models' character tokenizer."""

from __future__ import annotations

import pytest

# Verses written for the tests; their words make the toy table. Rhyme families of
# different lemmas: feminine (дорога / порога / тревога, весною / тобою / луною /
# волною, печали / молчали / причале) and masculine (звезда / вода / всегда / беда,
# ночь / прочь / дочь, свет / нет / след).
TOY_TEXT = """\
Опять весна, и снова тишина,
и ветер там, где тихо спит река.
Окно в тепло, и память не одна,
и сердце ждёт, и небо, и рука.
Дорога до порога, и тревога,
весною и тобою, и луною, и волною,
печали, молчали, на причале,
звезда, вода, всегда, беда,
ночь, прочь, дочь, свет, нет, след,
звездой, водой, кто-то, мой, я, ты, как, так, все, в, с, к, где, забыла, холодный"""


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
