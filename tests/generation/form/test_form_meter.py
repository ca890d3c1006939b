"""The automaton against the scanner: a line it ends is a line `metrics.meter` fits."""

from __future__ import annotations

import random

import pytest

from qwen_qlora.generation.form.meter import line_automaton, live_states
from qwen_qlora.metrics.meter import CLASSICAL, classify_meter, fit_line
from qwen_qlora.metrics.stress import StressedLine, Word

SHAPES = [(0, None), (1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (4, 1), (4, 2), (5, 3)]


def as_line(shapes) -> StressedLine:
    """A line of placeholder words with these shapes (the scanner reads only stresses)."""
    words = []
    for n, s in shapes:
        text = "в" if n == 0 else "да" * n
        words.append(Word(text, n, s, "mono" if n == 1 else "none" if n == 0 else "model"))
    return StressedLine(" ".join(w.text for w in words), tuple(words))


def random_lines(line, rng, count):
    """Lines the automaton builds from random word shapes (each step among the allowed)."""
    live = live_states(line, SHAPES, [s for s in SHAPES if s[0]])
    out = []
    while len(out) < count:
        state, shapes = line.start(), []
        for _ in range(30):
            ends = [s for s in SHAPES if s[0] and line.ends(state, *s)]
            steps = [(s, nxt) for s in SHAPES if (nxt := line.step(state, *s)) is not None and live(nxt)]
            if ends and (not steps or rng.random() < 0.3):
                out.append(shapes + [rng.choice(ends)])
                break
            assert steps, f"live state {state} with no way on"
            s, state = rng.choice(steps)
            shapes.append(s)
    return out


@pytest.mark.parametrize("meter", list(CLASSICAL))
@pytest.mark.parametrize("feet,clausula", [(3, 0), (4, 1), (5, 2)])
def test_classical_lines_fit_the_scanner(meter, feet, clausula):
    line = line_automaton(meter, feet, clausula)
    for shapes in random_lines(line, random.Random(f"{meter}{feet}"), 60):
        stressed = as_line(shapes)
        fit = fit_line(stressed, meter)
        assert fit.fits and fit.feet == feet, (meter, shapes, stressed.pattern)
        assert stressed.n_syllables - 1 - stressed.last_stress == clausula


@pytest.mark.parametrize("meter", list(CLASSICAL))
def test_classical_automaton_accepts_every_line_the_scanner_fits(meter):
    """The converse: random shape sequences the scanner fits (4 feet, feminine) are lines
    the automaton can write, so it leaves out no rhythm the scanner allows."""
    rng, line, checked = random.Random(meter), line_automaton(meter, 4, 1), 0
    for _ in range(4000):
        shapes = [rng.choice(SHAPES) for _ in range(rng.randint(2, 6))]
        shapes = [s for s in shapes[:-1]] + [rng.choice([(2, 0), (3, 1), (4, 2)])]
        stressed = as_line(shapes)
        fit = fit_line(stressed, meter)
        if not (fit.fits and fit.feet == 4 and stressed.n_syllables - 1 - stressed.last_stress == 1):
            continue
        state = line.start()
        for s in shapes[:-1]:
            state = line.step(state, *s)
            assert state is not None, (meter, shapes, stressed.pattern)
        assert line.ends(state, *shapes[-1]), (meter, shapes)
        checked += 1
    assert checked >= 10


def test_the_rupo_rule_and_the_line_end():
    iamb = line_automaton("iamb", 4, 0)
    assert iamb.step(iamb.start(), 2, 0) is None      # "ве́тер" cannot open an iamb
    assert iamb.step(iamb.start(), 2, 1) == (2, 0)    # "весна́" can
    assert iamb.step(iamb.start(), 1, 0) == (1, 0)    # a monosyllable goes anywhere
    state = (6, 0)
    assert iamb.ends(state, 2, 1) and not iamb.ends(state, 2, 0) and not iamb.ends(state, 3, 1)
    assert iamb.step(state, 2, 1) is None             # the last ictus belongs to the last word


def test_dolnik_lines_are_dolnik_to_the_scanner():
    line = line_automaton("dolnik", 3, 1)
    lines = [as_line(s) for s in random_lines(line, random.Random(3), 40)]
    for stressed in lines:
        fit = fit_line(stressed, "dolnik")
        assert fit.fits and fit.feet == 3, stressed.pattern
        assert not any(fit_line(stressed, m).fits for m in CLASSICAL), stressed.pattern
    result = classify_meter(lines[:8])
    assert (result.meter, result.feet, result.regularity) == ("dolnik", 3, 1.0)


def test_unknown_meter_and_bad_feet_are_errors():
    with pytest.raises(ValueError, match="taktovik"):
        line_automaton("taktovik", 3, 0)
    with pytest.raises(ValueError, match="feet"):
        line_automaton("iamb", 0, 0)
