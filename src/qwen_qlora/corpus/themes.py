"""Assign each poem a theme for its prompt, by counting lemmas from a lexicon per theme.

Method: lemmatise the poem with pymorphy3 (first parse of each word), count how many
tokens fall in each theme's lemma set, and take the theme with the most hits (ties go to
the earlier theme in `LEXICON`). A poem with fewer than `min_hits` hits gets its title
as the theme (or its first line when untitled), so every prompt names something the
poem is really about. The lexicons are short and hand-made: a theme is what a reader
would say the poem is about, not a topic model.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

LEXICON: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "любовь": "любовь любить любимый милый возлюбленный поцелуй целовать нежность нежный "
              "ласка ласковый страсть объятие влюблённый влюбленный жених невеста ревность "
              "ревнивый свидание сердце",
    "память": "память помнить вспомнить вспоминать воспоминание забыть забывать прошлое "
              "былой давно давний прежний когда-то минувший след",
    "природа": "сад лес поле река море небо ветер дождь снег трава цветок роза сирень липа "
               "клён клен берёза береза солнце луна звезда заря туман озеро дерево лист "
               "листва ива птица весна осень зима лето",
    "грусть": "грусть грустный печаль печальный тоска тосковать плакать слеза горе горький "
              "скорбь одиноко одинокий уныние унылый боль больно бессонница",
    "радость": "радость радостный весёлый веселый веселье счастье счастливый смеяться смех "
               "улыбка улыбаться ликовать праздник светлый",
    "разлука": "разлука расставание прощание прощаться проститься уйти уходить уехать "
               "покинуть далёкий далекий прощай ждать",
    "смерть": "смерть умереть умирать мёртвый мертвый гроб могила похороны кладбище "
              "погибель гибель казнь убить",
    "родина": "родина россия русь край отчизна земля народ родной страна",
    "город": "город улица площадь дом мост набережная нева петербург петроград ленинград "
             "москва столица фонарь окно",
    "вера": "бог господь молитва молиться храм церковь икона свеча ангел небесный святой "
            "крест грех душа рай благодать",
}.items()}

WORD = re.compile(r"[а-яё]+(?:-[а-яё]+)?")


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    return _morph().parse(word)[0].normal_form.replace("ё", "е")


def lemmas(text: str) -> list[str]:
    return [lemma(w) for w in WORD.findall(text.lower())]


def theme_scores(text: str) -> Counter:
    lex = {t: {w.replace("ё", "е") for w in words} for t, words in LEXICON.items()}
    counts: Counter = Counter()
    for lem in lemmas(text):
        for theme, words in lex.items():
            if lem in words:
                counts[theme] += 1
    return counts


def assign_theme(text: str, title: str | None, min_hits: int = 2) -> tuple[str, str]:
    """(theme, method): the best lexicon theme, else the title or first line."""
    scores = theme_scores(text)
    if scores:
        order = list(LEXICON)
        theme, hits = max(scores.items(), key=lambda kv: (kv[1], -order.index(kv[0])))
        if hits >= min_hits:
            return theme, "lexicon"
    if title and not re.fullmatch(r"[\d\s.*IVXLC]+", title):
        return title.strip().lower() if title.isupper() else title.strip(), "title"
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    return first.strip().rstrip(",.;:!?—-").strip(), "first_line"
