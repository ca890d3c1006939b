"""Form annotation and its Russian rendering on hand-stressed poems (no stress model:
a stand-in stresser reads the stress marks)."""

import pytest

from qwen_qlora.metrics.form_annotation import (_count, annotate_form, common_forms, compliance, describe_form,
                                                 request_form)
from qwen_qlora.metrics.stress import parse_stressed


class MarkedStresser:
    """Stresses a text by its own U+0301 marks, as `Stresser.stress_text` would."""

    def stress_text(self, text):
        return parse_stressed(text)


IAMB_ABAB = "\n\n".join([
    "Гори́т свеча́ в пусто́й избе́,\nТреща́т поле́нья в тёплой пе́чке,\n"
    "Я вспомина́ю о тебе́\nИ о далёкой на́шей ре́чке.",
    "Над ти́хой ре́чкой ве́чер си́ний,\nТума́н ложи́тся на луга́,\n"
    "И серебри́тся пе́рвый и́ней,\nИ спят немы́е берега́.",
    "Опя́ть весна́ прихо́дит в сад,\nИ ве́тер ве́шний ще́др и мо́лод,\n"
    "И пти́цы ра́достно звеня́т,\nИ позабы́т зимы́ уж хо́лод.",
])


def test_a_regular_poem_is_annotated_and_described():
    form = annotate_form(IAMB_ABAB, MarkedStresser())
    assert form == {"meter": "iamb", "feet": 4, "regularity": 1.0, "n_stanzas": 3,
                    "stanza_lines": [4, 4, 4], "quatrain_schemes": ["ABAB"] * 3,
                    "scheme": "ABAB", "rhyme_rate": 1.0, "n_lines": 12, "confident": True,
                    "n_metered_lines": 12, "rhymed_lines": 12, "n_polysyllables": form["n_polysyllables"],
                    "n_heuristic": 0}
    assert form["n_polysyllables"] > 20
    assert describe_form(form) == "ямбом, 4 стопы, рифмовка ABAB, 3 строфы по 4 строки"


def test_unrhymed_and_accentual_verse():
    blank = ("Я до́лго шёл по бе́регу реки́,\nСмотре́л на во́ду, слу́шал пти́чий крик,\n"
             "Пото́м присе́л у ста́рого моста́\nИ ду́мал о тебе́ до са́мой но́чи.")
    form = annotate_form(blank, MarkedStresser())
    assert form["scheme"] is None and form["quatrain_schemes"] == ["none"]
    assert describe_form(form) == "ямбом, 5 стоп, без рифмы, 4 строки"
    dolnik = ("Я пришла́ к тебе́ на рассве́те,\nПринесла́ полевы́е цветы́,\n"
              "Разбуди́л нас у́тренний ве́тер,\nИ просну́лась со мно́ю ты.")
    assert describe_form(annotate_form(dolnik, MarkedStresser())) == \
        "дольником, 3 ударения, рифмовка ABAB, 4 строки"


def test_mixed_schemes_name_none():
    text = IAMB_ABAB.split("\n\n")[0] + "\n\n" + \
        "Я шёл по у́лице пусто́й,\nЗвене́л трамва́й над голово́й,\n" \
        "А ве́тер гнал сухо́й листо́к\nНа за́пад, к мо́рю, на восто́к."
    form = annotate_form(text, MarkedStresser())
    assert form["quatrain_schemes"] == ["ABAB", "AABB"] and form["scheme"] == "ABAB"
    three = text + "\n\n" + text.split("\n\n")[1]
    assert annotate_form(three, MarkedStresser())["scheme"] == "AABB"   # 2 of 3
    assert describe_form(annotate_form(text, MarkedStresser())).endswith("2 строфы по 4 строки")


def test_a_poem_without_meter_is_not_confident():
    loose = ("Ко́локола ро́щицами ти́хими спят\nЖа́воронки бе́женцами па́мяти жгут\n"
             "Ла́сточками по́лощется о́блако звон")   # stresses 3, 3, 2 syllables apart
    form = annotate_form(loose, MarkedStresser())
    assert form["meter"] == "taktovik" and form["regularity"] == 1.0
    assert not form["confident"]                          # much prose fits it too
    officialese = ("Предусмо́тренные законода́тельством администрати́вные процеду́ры\n"
                   "Осуществля́ются уполномо́ченными организа́циями\n"
                   "Информацио́нное обеспече́ние предоставля́ется")
    form = annotate_form(officialese, MarkedStresser())
    assert form["meter"] == "other" and not form["confident"]
    with pytest.raises(ValueError, match="not confident"):
        describe_form(form)
    strict = annotate_form(IAMB_ABAB, MarkedStresser(), min_regularity=1.01)
    assert not strict["confident"]


@pytest.mark.parametrize("n, words", [(1, "1 строфа"), (2, "2 строфы"), (4, "4 строфы"),
                                      (5, "5 строф"), (11, "11 строф"), (12, "12 строф"),
                                      (21, "21 строфа"), (22, "22 строфы")])
def test_russian_number_agreement(n, words):
    assert _count(n, "строфа", "строфы", "строф") == words


def test_a_request_is_worded_and_checked():
    asked = request_form("iamb", 4, "ABAB", stanzas=3)
    assert describe_form(asked) == "ямбом, 4 стопы, рифмовка ABAB, 3 строфы по 4 строки"
    poem = annotate_form(IAMB_ABAB, MarkedStresser())
    assert compliance(poem, asked) == {"meter": True, "feet": True, "scheme": True, "stanzas": True, "all": True}
    assert compliance(poem, request_form("iamb", 5, "ABAB", stanzas=3))["feet"] is False
    trochee = compliance(poem, request_form("trochee", 4, "AABB", stanzas=2))
    assert trochee == {"meter": False, "feet": False, "scheme": False, "stanzas": False, "all": False}
    two = annotate_form("\n\n".join(IAMB_ABAB.split("\n\n")[:2]), MarkedStresser())
    assert compliance(two, asked)["stanzas"] is False and compliance(two, asked)["meter"] is True
    with pytest.raises(ValueError, match="meter 'jamb'"):
        request_form("jamb")
    with pytest.raises(ValueError, match="scheme 'ABC'"):
        request_form("iamb", 4, "ABC")


def test_common_forms_are_the_poets_rhymed_quatrain_forms():
    poem = annotate_form(IAMB_ABAB, MarkedStresser())
    single = {**poem, "n_stanzas": 1, "stanza_lines": [12]}        # no stanza breaks: never asked for
    loose = {**poem, "confident": False}
    trochee = {**poem, "meter": "trochee", "feet": 5}
    forms = common_forms([poem, trochee, poem, single, single, single, loose, loose], k=5)
    assert [(f["meter"], f["feet"], f["count"]) for f in forms] == [("iamb", 4, 2), ("trochee", 5, 1)]
    assert describe_form(forms[0]) == "ямбом, 4 стопы, рифмовка ABAB, 3 строфы по 4 строки"
    with pytest.raises(ValueError, match="no confident poem"):
        common_forms([single, loose], k=3)
