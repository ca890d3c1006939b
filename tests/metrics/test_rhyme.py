"""Rhyme endings, pairs, quatrain schemes and rhyme rate on hand-stressed lines."""

from dataclasses import replace

import pytest

from qwen_qlora.metrics.rhyme import (endings_rhyme, line_ending, quatrain_scheme, quatrains,
                                      rhyme_pairs, rhyme_rate, stanzas, transcribe)
from qwen_qlora.metrics.stress import StressedLine, Word, parse_stressed


def rhyme(a: str, b: str) -> bool:
    la, lb = parse_stressed(f"{a}\n{b}")
    return endings_rhyme(line_ending(la), line_ending(lb))


@pytest.mark.parametrize("a, b", [
    ("Шуме́л осе́нний са́д", "И не верну́ть наза́д"),    # plain masculine
    ("Зелёный са́д", "Прише́л из са́т"),                # final devoicing: д = т
    ("Треща́л моро́з", "Он во́ду нёс"),                 # з devoiced, ё = о
    ("Стоя́л могу́чий ду́б", "Лежа́л холо́дный тру́п"),
    ("Цвету́щий лу́г", "Далёкий зву́к"),
    ("Моя́ любо́вь", "Горя́чая кро́вь"),                 # в devoiced and soft
    ("Широ́кое по́ле", "Свобо́дная во́ля"),              # unstressed е and я reduce alike
    ("Холо́дный ве́тер", "Оди́н на све́те"),             # inexact: truncated final consonant
    ("Бы́ло у́тро", "Сказа́л он му́дро"),                # voicing inside the ending
    ("Смеётся", "Бьётся"),                             # -тся as ца
    ("Моя́ рука́", "Течёт река́"),                       # open masculine with support к
    ("Любо́вь твоя́", "Одна́ земля́ моя́"),               # open masculine й + а
    ("И не бы́ло его́ любви́", "Все ра́ны мои́"),         # open masculine, vowel before
    ("Он ро́с", "И во́з он не́с"),                       # е written for ё: нёс / рос
    ("Янта́рный ме́д", "На реке́ ле́д"),                 # е written for ё on both sides
    ("Весна́ иде́т", "И пти́ца поёт"),                   # ... on one side
])
def test_rhymes_are_found(a, b):
    assert rhyme(a, b)


@pytest.mark.parametrize("a, b", [
    ("Шуме́л осе́нний са́д", "Наступи́л сон"),           # different vowel
    ("Зелёный са́д", "Я сам"),                         # closed masculine needs the same consonant
    ("Моя́ рука́", "Пришла́ весна́"),                   # open masculine: к vs н
    ("Тако́е у́тро", "Сказа́ла хитро́"),                # eye rhyme: -тро spelled alike, stress differs
    ("Бы́ло ве́село", "Пришли́ в село́"),                # eye rhyme: -село
    ("Стоя́л в саду́", "Я в саду́"),                    # the same word is no rhyme
    ("Тёмная но́чь", "Холо́дный клю́ч"),
    ("Ти́хое по́ле", "Бе́лые ли́лии"),
])
def test_non_rhymes_are_rejected(a, b):
    assert not rhyme(a, b)


@pytest.mark.parametrize("a, b", [
    ("Ого́нь уже́ осты́л", "Я ве́чер проводи́л"),         # и and ы are one vowel
    ("Поля́ родны́е", "Моя́ Росси́я"),                    # ... also with iotated endings
    ("Я шла отту́да", "Иду́ повсю́ду"),                   # final unstressed vowels differ
    ("Стучи́т у се́рдца", "Скрипя́т две две́рцы"),
    ("Я ви́жу стару́ху", "Круго́м черну́ха"),
    ("Над ши́рью Во́лгой", "Был путь недо́лгий"),          # ... and softness: г / г'
    ("Полёт журавли́ный", "Доро́гой стари́нной"),       # a final й counts for nothing
    ("Лежи́т середи́ны", "Шумя́т журавли́ный"),
    ("Звени́т оси́на", "Скрипи́т кали́на"),               # (exact: still a rhyme)
    ("Звучи́т зде́сь", "Поёт пе́снь"),                    # closed coda: one consonant more
    ("Тут ку́ст", "Мир иску́сств"),
    ("Бра́т", "Опя́ть мне жа́ть"),                       # closed coda: softness
    ("Лежи́т в земле́", "Пришла́ во сне́"),               # open: both supports soft
    ("Пою́ мою́", "Я вас люблю́"),
    ("Стои́т трюмо́", "Был день прямо́й"),               # open meets -й over the same support
    ("Не ви́жу ничего́", "Он ждал торжество́"),          # -ого said -ово
    ("Средь очерта́ний", "Всё неуста́нней"),            # doubled soft consonant once
    ("Откро́ю две́ри я", "Насту́пит час безве́рия"),   # compound: the pronoun unstressed
    ("Кака́я в нём иде́я", "Не зна́ю, где́ я"),
    ("Тепе́рь свобо́дна я", "Земля́ моя́"),             # ... the stressed reading still holds
    ("Шуме́ло и загло́хло", "Разби́лись стёкла"),      # velars: х = к
    ("Оди́н магази́н", "Ско́лько зи́м"),               # nasals: н = м
    ("Где ро́щи", "Глухо́й но́чи"),                     # щ = ч
    ("Умо́лкший тре́ск", "Гото́в был тре́к"),              # one consonant more inside the coda
    ("Ско́ро сме́рти", "Сильне́й предсе́рдье"),         # й before an unstressed vowel unheard
    ("Как в поцелу́е", "Текли́ стру́и"),
])
def test_inexact_rhymes_are_found(a, b):
    assert rhyme(a, b)


@pytest.mark.parametrize("a, b", [
    ("Твои́ черты́", "Все ра́ны мои́"),                  # open: и after т is ы, not и
    ("Он се́л на мо́ст", "И съе́л весь мо́х"),            # codas differ, not by one more
    ("Я шла отту́да", "Я жду отве́та"),                  # stressed vowels differ
    ("Бе́лая ро́за", "Ста́рая ло́шадь"),                  # consonants after the vowel differ
    ("Стоя́л замо́к", "Прише́л в замке́"),               # open vs closed not in -й
    ("Зову́ друзе́й", "Сиди́т в конуре́"),               # ... nor -й over another support
    ("Холо́дный мра́мор", "Глаза́ с слеза́ми"),          # last vowel and coda differ: assonance
    ("Иду́ домо́й я", "Пришла́ весна́"),               # a compound reading that does not rhyme
    ("Звезда́ в пути́", "Горя́т огни́"),                # open и: soft supports are not enough
    ("Для ра́дости твое́й", "Пропа́хший смоло́й"),         # 'е' that is never 'ё' (dictionary)
    ("На реке́ ле́д", "Поду́л ве́тр"),                   # 'е' that is always 'ё' (лёд)
    ("На реке́ ле́д", "На реке́ лёд"),                   # one word, spelled two ways
    ("А челове́к", "Свой потоло́к"),
    ("Он ви́дел до́м", "Пошёл ды́н"),                  # nasal class, but the vowels differ
])
def test_inexact_non_rhymes_are_rejected(a, b):
    assert not rhyme(a, b)


def test_stressed_e_is_read_by_the_dictionary():
    ice, = parse_stressed("Холо́дный ле́д")
    assert (line_ending(ice).key, line_ending(ice).word, line_ending(ice).maybe_yo) == ("От", "лёд", False)
    soul, = parse_stressed("Мое́й души́ ве́сь")         # весь has no ё reading
    assert not line_ending(soul).maybe_yo
    everything, = parse_stressed("Забы́то все́")       # все / всё: either
    assert line_ending(everything).maybe_yo and line_ending(everything).word == "все"


def test_transcription_rules():
    assert transcribe("сад", 0)[0] == ["с", "А", "т"]               # final devoicing
    assert transcribe("ложка", 0)[0] == ["л", "О", "ш", "к", "а"]   # devoicing before к
    assert transcribe("сделать", 0)[0][:2] == ["з", "д'"]           # voicing before д
    assert transcribe("касса", 0)[0] == ["к", "А", "с", "а"]        # doubled consonant once
    assert transcribe("солнце", 0)[0] == ["с", "О", "н", "ц", "и"]  # лнц -> нц, е reduced
    phones, at = transcribe("моя", 1)
    assert phones[at - 1:] == ["й", "А"]                            # iotated я after a vowel
    assert transcribe("ёлка", 0)[0][:2] == ["й", "О"]
    assert transcribe("ничего", 2)[0][-2:] == ["в", "О"]           # -ого said -ово
    assert transcribe("много", 0)[0][-2:] == ["г", "а"]             # ... but not in много
    assert transcribe("неустанней", 2)[0][-4:] == ["А", "н'", "и", "й"]  # нн' once, soft


SCHEMES = {
    "ABAB": "Гори́т свеча́ в пусто́й избе́,\nТреща́т поле́нья в тёплой пе́чке,\n"
            "Я вспомина́ю о тебе́\nИ о далёкой на́шей ре́чке.",
    "AABB": "Я шёл по у́лице пусто́й,\nЗвене́л трамва́й над голово́й,\n"
            "А ве́тер гнал сухо́й листо́к\nНа за́пад, к мо́рю, на восто́к.",
    "ABBA": "Когда́ в окно́ стучи́тся снег,\nИ ла́мпа тёплая дрожи́т,\n"
            "Мне тишина́ принадлежи́т,\nИ замедля́ет вре́мя бег.",
    "ABCB": "Стои́т у до́ма ста́рый клён,\nНад ним лета́ет вороньё,\n"
            "А ря́дом ти́хая скамья́,\nГде пе́ло про́шлое моё.",
    "none": "Я до́лго шёл по бе́регу реки́,\nСмотре́л на во́ду, слу́шал пти́чий крик,\n"
            "Пото́м присе́л у ста́рого моста́\nИ ду́мал о тебе́ до са́мой но́чи.",
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_quatrain_schemes(scheme):
    lines = parse_stressed(SCHEMES[scheme])
    assert quatrain_scheme(lines) == scheme


def test_other_scheme_and_wrong_length():
    text = "Шуме́л осе́нний сад,\nНе верну́ть наза́д,\nПришла́ весна́,\nСтоя́ла тишина́."
    assert quatrain_scheme(parse_stressed(text)) == "AABB"
    text = "Шуме́л осе́нний сад,\nПришла́ весна́,\nНе верну́ть наза́д,\nИ лес."
    assert quatrain_scheme(parse_stressed(text)) == "other"   # A B A C
    with pytest.raises(ValueError, match="4 lines"):
        quatrain_scheme(parse_stressed("Шуме́л осе́нний сад"))


def test_blank_line_after_every_line_is_an_artefact():
    spaced = SCHEMES["ABAB"].replace("\n", "\n\n") + "\n\n" + SCHEMES["AABB"].replace("\n", "\n\n")
    lines = parse_stressed(spaced)
    assert len(stanzas(lines)) == 1
    assert [quatrain_scheme(q) for q in quatrains(lines)] == ["ABAB", "AABB"]


def test_quatrains_follow_stanzas():
    text = SCHEMES["ABBA"] + "\n\n" + "Одна́ строка́,\nДруга́я,\nТре́тья." + "\n\n" + SCHEMES["ABCB"]
    schemes = [quatrain_scheme(q) for q in quatrains(parse_stressed(text))]
    assert schemes == ["ABBA", "ABCB"]          # the tercet has no quatrain scheme


def test_rhyme_rate():
    assert rhyme_rate(parse_stressed(SCHEMES["ABAB"])) == 1.0
    assert rhyme_rate(parse_stressed(SCHEMES["ABCB"])) == 0.5
    assert rhyme_rate(parse_stressed(SCHEMES["none"])) == 0.0
    assert rhyme_rate([]) == 0.0


def test_a_known_clausula_overrides_the_stresses():
    la, lb = parse_stressed("Сдви́нул на́ нос очки́\nТи́хо миноно́сочки")
    assert not endings_rhyme(line_ending(la), line_ending(lb))
    assert endings_rhyme(line_ending(la, clausula=2), line_ending(lb))
    assert rhyme_pairs([la, lb], clausulae=[2, None]) == [(0, 1)]
    assert line_ending(la, clausula=9) is None


def test_a_homograph_rhyme_word_rhymes_in_either_stress():
    a = StressedLine("здесь паром", (Word("здесь", 1, 0, "mono"),
                                     Word("паром", 2, 0, "model", alternatives=(1,))))
    (b,) = parse_stressed("Бле́щет велодро́м")
    assert endings_rhyme(line_ending(a), line_ending(b))
    assert not endings_rhyme(line_ending(replace(a, words=(a.words[0], replace(
        a.words[1], alternatives=())))), line_ending(b))
