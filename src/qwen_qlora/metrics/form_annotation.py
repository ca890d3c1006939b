"""A poem's form as data and as the words a person would use to ask for it.

`annotate_form` runs the poetics analysers (stress, the scansion pass, meter, rhyme,
stanzas) on one poem and returns a flat, JSON-ready dict; `describe_form` renders a
confident annotation in Russian for a prompt:

    stresser = load_stresser()
    form = annotate_form(poem, stresser)
    # {"meter": "iamb", "feet": 4, "regularity": 1.0, "n_stanzas": 3,
    #  "stanza_lines": [4, 4, 4], "quatrain_schemes": ["ABAB", "ABAB", "ABAB"],
    #  "scheme": "ABAB", "rhyme_rate": 1.0, "n_lines": 12, "confident": True}
    describe_form(form)   # "ямбом, 4 стопы, рифмовка ABAB, 3 строфы по 4 строки"

An annotation is confident when the poem is in a syllabo-tonic meter or the dolnik
and at least `min_regularity` of its lines fit it: a loose or mixed poem's form would
say something false about it, so a prompt should then name no form at all. The
taktovik never counts as confident: its intervals of one to three syllables fit much
plain prose too.
"""

from __future__ import annotations

from collections import Counter

from qwen_qlora.metrics.meter import CLASSICAL
from qwen_qlora.metrics.poetics import analyse_lines
from qwen_qlora.metrics.rhyme import stanzas
from qwen_qlora.metrics.stress import Stresser

# a poem's form is stated only when this share of its lines fit its meter; raising it
# names the form of fewer, more regular poems
MIN_REGULARITY = 0.8
# the scheme shared by at least this share of a poem's quatrains is the poem's scheme
MIN_SCHEME_SHARE = 0.5
# below this rhyme rate a poem is described as unrhymed
MAX_UNRHYMED_RATE = 0.2

CONFIDENT_METERS = (*CLASSICAL, "dolnik")
METER_WORDS = {"iamb": "ямбом", "trochee": "хореем", "dactyl": "дактилем",
               "amphibrach": "амфибрахием", "anapest": "анапестом", "dolnik": "дольником"}


def annotate_form(text: str, stresser: Stresser, min_regularity: float = MIN_REGULARITY) -> dict:
    """Meter, feet, regularity, stanza count and shape, quatrain schemes (and the
    poem's own scheme, if its quatrains share one), rhyme rate and whether the
    annotation is confident enough to be stated."""
    poem = analyse_lines(stresser.stress_text(text))
    groups = stanzas(poem.lines)
    schemes = Counter(poem.schemes)
    top, count = schemes.most_common(1)[0] if schemes else (None, 0)
    scheme = top if top not in (None, "none", "other") and \
        count >= MIN_SCHEME_SHARE * len(poem.schemes) else None
    meter = poem.meter
    return {
        "meter": meter.meter,
        "feet": meter.feet,
        "regularity": round(meter.regularity, 4),
        "n_stanzas": len(groups),
        "stanza_lines": [len(g) for g in groups],
        "quatrain_schemes": poem.schemes,
        "scheme": scheme,
        "rhyme_rate": round(poem.rhymed_lines / len(poem.verse), 4) if poem.verse else 0.0,
        "n_lines": len(poem.verse),
        "confident": meter.meter in CONFIDENT_METERS and meter.regularity >= min_regularity,
    }


def describe_form(form: dict) -> str:
    """A confident annotation in words: "ямбом, 4 стопы, рифмовка ABAB, 3 строфы".
    The rhyme part says "без рифмы" for an unrhymed poem and is left out when the
    quatrains share no scheme; the stanza part adds "по N строки" when all stanzas
    are alike."""
    if not form.get("confident"):
        raise ValueError("form: the annotation is not confident (no syllabo-tonic meter or "
                         "dolnik, or too few lines fit it); leave the form out of the prompt")
    meter = form["meter"]
    parts = [METER_WORDS[meter]]
    if form["feet"]:
        unit = ("стопа", "стопы", "стоп") if meter in CLASSICAL else \
            ("ударение", "ударения", "ударений")
        parts.append(_count(form["feet"], *unit))
    if form["rhyme_rate"] < MAX_UNRHYMED_RATE:
        parts.append("без рифмы")
    elif form["scheme"]:
        parts.append(f"рифмовка {form['scheme']}")
    stanza = _count(form["n_stanzas"], "строфа", "строфы", "строф")
    if form["n_stanzas"] > 1 and len(set(form["stanza_lines"])) == 1:
        stanza += " по " + _count(form["stanza_lines"][0], "строке", "строки", "строк")
    parts.append(stanza)
    return ", ".join(parts)


def _count(n: int, one: str, few: str, many: str) -> str:
    """A number with its noun in the right Russian form: 1 строфа, 3 строфы, 5 строф."""
    if n % 10 == 1 and n % 100 != 11:
        word = one
    elif n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        word = few
    else:
        word = many
    return f"{n} {word}"
