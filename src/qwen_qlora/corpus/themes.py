"""Assign each poem a theme for its prompt, by counting lemmas from a lexicon per theme.

Method: lemmatise the poem with pymorphy3 (first parse of each word) and count how many
tokens fall in each theme's lemma set.
- `lexicon`: the best of the ten reference themes (`LEXICON`), when it has >= `min_hits`
  hits (ties go to the earlier theme);
- `wide_lexicon`: otherwise the best theme of `LEXICON` + `WIDE_LEXICON` with at least
  one hit;
- `neutral`: otherwise `NEUTRAL_THEME`.
A theme is never taken from the poem's title or first line: a prompt that carries the
poem's own opening would let a model score well by copying its prompt. `leaked_words`
is the check the split stage runs on every prompt. The lexicons are short and hand-made:
a theme is what a reader would say the poem is about, not a topic model.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from qwen_qlora.text import content_words, normalize, words

LEXICON: dict[str, frozenset[str]] = {k: frozenset(map(normalize, v.split())) for k, v in {
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

# Themes a reader also names, for poems the ten reference themes do not cover.
WIDE_LEXICON: dict[str, frozenset[str]] = {k: frozenset(map(normalize, v.split())) for k, v in {
    "ночь": "ночь ночной полночь темнота тьма мрак мгла сумрак вечер вечерний сон спать "
            "бессонный луна месяц",
    "поэзия": "стих стихи поэт поэзия муза песня петь песнь слово строка рифма голос лира "
              "читать книга",
    "одиночество": "один одна одинокий одиночество пустой пустота тишина тихий молчание "
                   "молчать никто",
    "война": "война военный солдат бой битва враг пуля кровь штык полк знамя",
    "дом": "дом порог дверь комната стол крыльцо кров очаг окно стена",
    "судьба": "судьба рок жизнь жить век доля участь час пора путь дорога",
    "море": "море морской волна берег корабль парус прибой чайка залив",
    "время": "время год день час минута утро неделя миг вечность",
}.items()}

NEUTRAL_THEME = "свободная тема"
CYRILLIC_WORD = re.compile(r"[а-я]+(?:-[а-я]+)*")


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    return _morph().parse(word)[0].normal_form.replace("ё", "е")


def lemmas(text: str) -> list[str]:
    """Lemmas of the text's Cyrillic words (`qwen_qlora.text.words`)."""
    return [lemma(w) for w in words(text) if CYRILLIC_WORD.fullmatch(w)]


WIDE = {**LEXICON, **WIDE_LEXICON}


def theme_scores(text: str, lexicon: dict[str, frozenset[str]] = LEXICON) -> Counter:
    counts: Counter = Counter()
    for lem in lemmas(text):
        for theme, ws in lexicon.items():
            if lem in ws:
                counts[theme] += 1
    return counts


def _best(scores: Counter, order: list[str]) -> tuple[str, int] | None:
    if not scores:
        return None
    return max(scores.items(), key=lambda kv: (kv[1], -order.index(kv[0])))


def leaked_words(theme: str, text: str, title: str | None) -> set[str]:
    """Content-word lemmas the theme shares with the poem's title or first line. A theme
    that is a lexicon theme's own name may (it names what the poem is about); any other
    overlap means the prompt carries the poem's opening."""
    if theme in LEXICON or theme in WIDE_LEXICON:
        return set()
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    opening = {lemma(w) for w in content_words(f"{title or ''} {first}")}
    return {lemma(w) for w in content_words(theme)} & opening


def assign_theme(text: str, title: str | None = None, min_hits: int = 2) -> tuple[str, str]:
    """(theme, method): method is `lexicon`, `wide_lexicon` or `neutral` (module doc)."""
    best = _best(theme_scores(text), list(LEXICON))
    if best and best[1] >= min_hits:
        return best[0], "lexicon"
    best = _best(theme_scores(text, WIDE), list(WIDE))
    if best:
        return best[0], "wide_lexicon"
    return NEUTRAL_THEME, "neutral"
