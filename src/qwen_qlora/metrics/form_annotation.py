"""A poem's form as data and as the words a person would use to ask for it.

`annotate_form` runs the poetics analysers (stress, the scansion pass, meter, rhyme,
stanzas) on one poem and returns a flat, JSON-ready dict; `describe_form` renders a
confident annotation in Russian for a prompt:

    stresser = load_stresser()
    form = annotate_form(poem, stresser)
    # {"meter": "iamb", "feet": 4, "regularity": 1.0, "n_stanzas": 3,
    #  "stanza_lines": [4, 4, 4], "quatrain_schemes": ["ABAB", "ABAB", "ABAB"],
    #  "scheme": "ABAB", "rhyme_rate": 1.0, "n_lines": 12, "confident": True, ...}
    describe_form(form)   # "ямбом, 4 стопы, рифмовка ABAB, 3 строфы по 4 строки"

Generation asks for a form (`common_forms`: the poet's most common ones, or
`request_form` from the user's words) and checks the poem against it (`compliance`).

An annotation is confident when the poem is in a syllabo-tonic meter or the dolnik
and at least `min_regularity` of its lines fit it: a loose or mixed poem's form would
say something false about it, so a prompt should then name no form at all. The
taktovik never counts as confident: its intervals of one to three syllables fit much
plain prose too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from qwen_qlora.metrics.meter import CLASSICAL
from qwen_qlora.metrics.poetics import analyse_lines
from qwen_qlora.metrics.rhyme import SCHEMES, stanzas
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
    poem's own scheme, if its quatrains share one), rhyme rate, the counts the poetics
    profiles are built from (`PoemPoetics.summary`) and whether the annotation is
    confident enough to be stated."""
    return annotate_lines(stresser.stress_text(text), min_regularity)


def annotate_forms(texts: Sequence[str], stresser: Stresser, min_regularity: float = MIN_REGULARITY) -> list[dict]:
    """`annotate_form` for many poems, stressed in batches (`Stresser.stress_texts`)."""
    return [annotate_lines(lines, min_regularity) for lines in stresser.stress_texts(texts)]


def annotate_lines(lines: list, min_regularity: float = MIN_REGULARITY) -> dict:
    """`annotate_form` of a poem already stressed (`Stresser.stress_text`'s lines)."""
    poem = analyse_lines(lines)
    summary = poem.summary()
    groups = stanzas(poem.lines)
    schemes = Counter(poem.schemes)
    top, count = schemes.most_common(1)[0] if schemes else (None, 0)
    scheme = top if top not in (None, "none", "other") and \
        count >= MIN_SCHEME_SHARE * len(poem.schemes) else None
    return {
        **summary,
        "n_stanzas": len(groups),
        "stanza_lines": [len(g) for g in groups],
        "scheme": scheme,
        "confident": summary["meter"] in CONFIDENT_METERS and summary["regularity"] >= min_regularity,
    }


def describe_form(form: dict) -> str:
    """A confident annotation (or a request, `request_form`) in words: "ямбом, 4 стопы,
    рифмовка ABAB, 3 строфы по 4 строки". The rhyme part says "без рифмы" for an
    unrhymed poem and is left out when the quatrains share no scheme; the stanza part
    adds "по N строки" when all stanzas are alike, and a poem without stanza breaks is
    "N строк"."""
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
    if form["n_stanzas"] == 1:
        parts.append(_count(form["stanza_lines"][0], "строка", "строки", "строк"))
    else:
        stanza = _count(form["n_stanzas"], "строфа", "строфы", "строф")
        if len(set(form["stanza_lines"])) == 1:
            stanza += " по " + _count(form["stanza_lines"][0], "строке", "строки", "строк")
        parts.append(stanza)
    return ", ".join(parts)


def form_key(form: dict) -> tuple:
    """What a request names: meter, feet, scheme and stanza shape."""
    return (form["meter"], form["feet"], form["scheme"], tuple(form["stanza_lines"]))


def request_form(meter: str, feet: int | None = None, scheme: str | None = "ABAB",
                 stanzas: int = 3, stanza_lines: int = 4) -> dict:
    """A requested form in the annotation's shape, e.g. what `qwen-qlora write --meter
    iamb --feet 4 --scheme ABAB --stanzas 3` asks for; `describe_form` words it."""
    if meter not in METER_WORDS:
        raise ValueError(f"form: meter {meter!r} is not one of {sorted(METER_WORDS)}")
    if scheme is not None and scheme not in SCHEMES:
        raise ValueError(f"form: scheme {scheme!r} is not one of {[s for s in SCHEMES if s not in ('none', 'other')]}")
    if stanzas < 1 or stanza_lines < 1:
        raise ValueError("form: stanzas and stanza_lines must be at least 1")
    return {"meter": meter, "feet": feet, "scheme": scheme, "rhyme_rate": 0.0 if scheme is None else 1.0,
            "n_stanzas": stanzas, "stanza_lines": [stanza_lines] * stanzas, "confident": True}


def common_forms(forms: Sequence[dict], k: int, quatrains: tuple[int, int] = (2, 4)) -> list[dict]:
    """The `k` most common confident forms (by `form_key`) among poems of 2-4 rhymed
    quatrains (`quatrains`: the range of stanza counts), each as a request with its
    count: what generation asks for when the user names no form. Ties go to the
    form seen first."""
    keys = Counter(form_key(f) for f in forms
                   if f["confident"] and f["scheme"] and f["rhyme_rate"] >= MAX_UNRHYMED_RATE
                   and quatrains[0] <= f["n_stanzas"] <= quatrains[1] and set(f["stanza_lines"]) == {4})
    if not keys:
        raise ValueError("form: no confident poem of rhymed quatrains to take a requested form from")
    out = []
    for (meter, feet, scheme, shape), count in keys.most_common(k):
        out.append({**request_form(meter, feet, scheme, len(shape), shape[0]), "count": count})
    return out


def assign_requests(themes: Sequence[str], per_theme: int, requests: Sequence[dict]) -> list[tuple[str, int, dict]]:
    """(theme, sample index, requested form) for every poem to write: the requests in
    turn over the themes' samples, so every row and run asks for the same forms."""
    return [(theme, j, requests[(t * per_theme + j) % len(requests)])
            for t, theme in enumerate(themes) for j in range(per_theme)]


def compliance(form: dict, requested: dict) -> dict[str, bool]:
    """Did a poem (its annotation) follow the requested form? meter: the same meter
    family with at least `MIN_REGULARITY` of lines fitting (the annotation is confident);
    feet: and the same foot count; scheme: its quatrains share the requested scheme;
    stanzas: the requested number of stanzas of the requested length; all: all four."""
    meter = form["confident"] and form["meter"] == requested["meter"]
    feet = meter and (requested["feet"] is None or form["feet"] == requested["feet"])
    scheme = form["scheme"] == requested["scheme"] if requested["scheme"] else form["rhyme_rate"] < MAX_UNRHYMED_RATE
    shape = form["stanza_lines"] == requested["stanza_lines"]
    return {"meter": bool(meter), "feet": bool(feet), "scheme": bool(scheme), "stanzas": bool(shape),
            "all": bool(feet and scheme and shape)}


def _count(n: int, one: str, few: str, many: str) -> str:
    """A number with its noun in the right Russian form: 1 строфа, 3 строфы, 5 строф."""
    if n % 10 == 1 and n % 100 != 11:
        word = one
    elif n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        word = few
    else:
        word = many
    return f"{n} {word}"
