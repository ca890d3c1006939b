"""Meter recognition on hand-stressed lines (no stress model needed)."""

from dataclasses import replace

import pytest

from qwen_qlora.metrics.meter import (MIN_REGULARITY, classify_meter, fit_accentual,
                                      fit_classical, fit_line, fit_stress_to_meter)
from qwen_qlora.metrics.rhyme import rhyme_pairs
from qwen_qlora.metrics.stress import StressedLine, parse_stressed

POEMS = {
    ("iamb", 4): "Мой дом стои́т у са́мой ре́чки,\nГде и́вы кло́нятся к воде́,\n"
                 "И я сижу́ на ста́ром кре́сле\nИ ду́маю о ти́хом дне.",
    ("iamb", 5): "Опя́ть весна́ прихо́дит в ста́рый сад,\nИ ви́шни бе́лым цве́том зацвета́ют,\n"
                 "И голоса́ над ре́чкою звеня́т,\nИ облака́ над ро́щей проплыва́ют.",
    ("trochee", 4): "Ве́тер ду́ет над реко́ю,\nЛи́стья па́дают во мгле,\n"
                    "И луна́ над тишино́ю\nСве́тит ти́хо по земле́.",
    ("dactyl", 3): "Ти́хо над о́зером си́ним\nБро́дит вече́рний тума́н,\n"
                   "Ско́ро мы не́бо поки́нем,\nСя́дем в ночно́й карава́н.",
    ("amphibrach", 4): "Над по́лем вече́рним плыву́т облака́,\nИ ве́тер колы́шет высо́кую рожь,\n"
                       "Далёкая пе́сня светла́ и легка́,\nИ ты по тропи́нке неслы́шно идёшь.",
    ("anapest", 3): "Над реко́ю тума́н серебри́стый,\nИ доро́га ухо́дит во тьму,\n"
                    "И над по́лем, прозра́чным и чи́стым,\nЯ иду́ и не зна́ю, к кому́.",
    ("dolnik", 3): "Я пришла́ к тебе́ на рассве́те,\nПринесла́ полевы́е цветы́,\n"
                   "Разбуди́л нас у́тренний ве́тер,\nИ просну́лась со мно́ю ты.",
}


@pytest.mark.parametrize("meter, feet", POEMS)
def test_each_meter_is_recognised(meter, feet):
    result = classify_meter(parse_stressed(POEMS[(meter, feet)]))
    assert (result.meter, result.feet) == (meter, feet)
    assert result.regularity == 1.0
    assert result.n_lines == 4


def test_taktovik_needs_intervals_of_three():
    text = ("Го́род засыпа́ет, засыпа́ет доро́га,\nВо́лны набега́ют, набега́ют на бе́рег,\n"
            "Ве́тер затиха́ет, затиха́ют поля́,\nПти́цы улета́ют, улета́ют дале́ко.")
    lines = parse_stressed(text)
    assert classify_meter(lines).meter == "taktovik"
    assert not fit_line(lines[0], "dolnik").fits     # two intervals of three: one omission too many


def test_prose_is_other():
    text = ("Предусмо́тренные законода́тельством администрати́вные процеду́ры\n"
            "Осуществля́ются уполномо́ченными организа́циями\n"
            "Информацио́нное обеспече́ние предоставля́ется\n"
            "Исключи́тельно по согласова́нию с руково́дством")
    result = classify_meter(parse_stressed(text))
    assert result.meter == "other"
    assert result.regularity < MIN_REGULARITY


def test_regularity_counts_lines_that_fit():
    text = POEMS[("iamb", 4)] + "\nВе́тер ду́ет над реко́ю,"   # one trochaic line among iambs
    result = classify_meter(parse_stressed(text))
    assert result.meter == "iamb"
    assert result.regularity == pytest.approx(4 / 5)
    assert result.line_fits == (True, True, True, True, False)


def test_headings_and_blank_lines_are_not_verse():
    text = "* * *\n\n" + POEMS[("trochee", 4)] + "\n\nI"
    result = classify_meter(parse_stressed(text))
    assert (result.meter, result.n_lines) == ("trochee", 4)


def test_empty_input():
    result = classify_meter([])
    assert (result.meter, result.feet, result.regularity) == ("other", None, 0.0)


def test_fit_classical_rules():
    assert fit_classical("?+-+-+-+-", 7, 2, 1).fits            # iamb: stresses on even syllables
    assert not fit_classical("+--+-+-+-", 7, 2, 1).fits        # polysyllable stressed off the beat
    assert fit_classical("----+", 4, 2, 0).omitted == 2         # trochee may skip beats
    assert not fit_classical("-+--------+", 10, 3, 1).fits     # ternary: two skipped beats
    assert fit_classical("+-+--+--+-", 8, 3, 2).fits            # anapest: stress on syllable one
    assert fit_classical("+--+--+--+-", 9, 3, 0).feet == 4      # dactyl tetrameter


def test_fit_accentual_intervals():
    assert fit_accentual("--+-+--+-", 7, 2).feet == 3            # intervals 1 and 2: dolnik
    assert not fit_accentual("+---+---+", 8, 2).fits            # two intervals of three
    assert fit_accentual("+---+---+", 8, 3).fits                # ...are a taktovik
    assert not fit_accentual("++", 1, 2).fits                   # adjacent stresses never fit
    assert fit_accentual("???-+", 4, 2).feet == 2               # monosyllables stressed as needed


def as_model(text: str, **moved: tuple[int, tuple[int, ...]]) -> list:
    """Hand-stressed lines as if the stress model had stressed them, with the words
    named in `moved` given a (wrong) stress and the homograph alternatives listed."""
    out = []
    for line in parse_stressed(text):
        words = []
        for w in line.words:
            w = replace(w, source="model") if w.n_syllables > 1 else w
            if w.text in moved:
                stress, alternatives = moved[w.text]
                w = replace(w, stress=stress, alternatives=alternatives)
            words.append(w)
        out.append(StressedLine(line.text, tuple(words)))
    return out


IAMB = ("Над ре́чкой ти́хой ве́тер сты́л,\nШуме́ли ли́стья у пруда́,\n"
        "Я до́лго по́ле обходи́л\nИ вдаль гляде́л на провода́.")


def test_meter_pass_gives_the_rhyme_word_the_meters_stress():
    lines = as_model(IAMB, обходил=(1, ()))          # "обхо́дил": the line breaks the iamb
    assert rhyme_pairs(lines) == [(1, 3)]
    fitted = fit_stress_to_meter(lines)
    word = fitted[2].words[-1]
    assert (word.stress, word.source) == (2, "meter")
    assert rhyme_pairs(fitted) == [(0, 2), (1, 3)]
    assert fitted[:2] == lines[:2] and fitted[3] == lines[3]   # fitting lines untouched
    assert classify_meter(fitted).regularity == 1.0


def test_meter_pass_picks_a_homographs_listed_stress():
    text = ("Ве́тер ду́ет над реко́ю,\nМу́ки зна́ла и печа́ль;\n"
            "И луна́ над тишино́ю\nТо гляди́т в пусту́ю да́ль.")
    lines = as_model(text, Муки=(1, (0,)))               # the model chose "муки́"
    word = fit_stress_to_meter(lines)[1].words[0]
    assert (word.stress, word.source) == (0, "meter")
    # a word that is neither a homograph nor the rhyme word keeps the model's stress
    lines = as_model(text, Муки=(1, ()))
    assert fit_stress_to_meter(lines) == lines


def test_meter_pass_leaves_marked_stress_and_loose_verse_alone():
    marked = parse_stressed(IAMB.replace("обходи́л", "обхо́дил"))   # the text says so
    assert fit_stress_to_meter(marked) == marked
    dolnik = as_model(POEMS[("dolnik", 3)], ветер=(1, ()))
    assert fit_stress_to_meter(dolnik) == dolnik                   # no syllabo-tonic meter
    assert fit_stress_to_meter([]) == []


def test_meter_pass_keeps_the_poems_line_length():
    # "ви́дел" would fit the iamb only as a line whose last stress falls where no other
    # line's does (a foot short): the pass does not guess
    lines = as_model(IAMB.replace("обходи́л", "ви́дел"), видел=(1, ()))
    assert fit_stress_to_meter(lines) == lines
