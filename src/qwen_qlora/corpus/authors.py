"""Canonical author keys from the many spellings sources use.

"Анна Ахматова", "Ахматова Анна", a folder `akhmatova`, a label `cvetaeva` and a file
`Ahmatova.txt` must all land on one key. Matching is by surname token (Cyrillic or any of
the Latin transliterations seen in the wild), so first-name order and patronymics do not
matter. Unknown names become a transliterated slug, so a new poet still gets a stable key.
"""

from __future__ import annotations

import re

from qwen_qlora.text import words

# key -> surname spellings (lowercase, ё written as е). Extend per project in
# params.yaml (corpus.author_aliases) rather than here.
SURNAMES: dict[str, tuple[str, ...]] = {
    "akhmatova": ("ахматова", "akhmatova", "ahmatova", "achmatova"),
    "pushkin": ("пушкин", "pushkin"),
    "blok": ("блок", "blok"),
    "tsvetaeva": ("цветаева", "tsvetaeva", "cvetaeva", "tsvetayeva", "zwetajewa"),
    "pasternak": ("пастернак", "pasternak"),
    "mandelstam": ("мандельштам", "mandelstam", "mandelshtam", "mandelshtam"),
    "annensky": ("анненский", "annensky", "annenskiy", "annenskij"),
    "celan": ("целан", "celan"),
    "solovyov": ("соловьев", "solovyov", "soloviev", "solovev", "solovyev"),
    "tyutchev": ("тютчев", "tyutchev", "tiutchev"),
    "lermontov": ("лермонтов", "lermontov"),
    "nekrasov": ("некрасов", "nekrasov"),
    "brodsky": ("бродский", "brodsky", "brodskiy", "brodskij"),
    "mayakovsky": ("маяковский", "mayakovsky", "mayakovskiy", "majakovskij"),
    "rozhdestvensky": ("рождественский", "rozhdestvensky", "rozhdestvenskiy"),
    "aronzon": ("аронзон", "aronzon"),
    "fet": ("фет", "fet"),
    "bryusov": ("брюсов", "bryusov", "brjusov"),
    "esenin": ("есенин", "esenin", "yesenin"),
    "khodasevich": ("ходасевич", "khodasevich", "hodasevich"),
    "baratynsky": ("баратынский", "баратынскии", "baratynsky", "baratynskiy"),
    "gumilev": ("гумилев", "gumilev", "gumilyov"),
    "zabolotsky": ("заболоцкий", "zabolotsky", "zabolotskiy"),
    "batyushkov": ("батюшков", "batyushkov"),
    "khlebnikov": ("хлебников", "khlebnikov", "hlebnikov"),
    "derzhavin": ("державин", "derzhavin"),
    "sologub": ("сологуб", "sologub"),
    "zhukovsky": ("жуковский", "zhukovsky", "zhukovskiy"),
    "bely": ("белый", "bely", "belyi"),
    "voloshin": ("волошин", "voloshin"),
    "kharms": ("хармс", "kharms", "harms"),
}

_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p",
     "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"],
))


def _tokens(name: str) -> list[str]:
    # A hyphenated name (Голенищев-Кутузов) gives two tokens: keys join tokens with "_"
    return [part for w in words(name) for part in w.split("-") if re.fullmatch(r"[a-zа-я]+", part)]


def transliterate(text: str) -> str:
    """Lowercase Latin slug of a Russian name (`Анна Ахматова` -> `anna_akhmatova`)."""
    words = ["".join(_TRANSLIT.get(c, c) for c in tok) for tok in _tokens(text)]
    return "_".join(w for w in words if w)


class AuthorResolver:
    """Maps raw author strings to canonical keys; remembers what it could not match."""

    def __init__(self, extra_aliases: dict[str, list[str]] | None = None) -> None:
        self._by_token: dict[str, str] = {}
        self._by_phrase: dict[str, str] = {}
        for key, spellings in SURNAMES.items():
            self._add(key, (key, *spellings))
        for key, spellings in (extra_aliases or {}).items():
            self._add(key, (key, *spellings))
        self.unmatched: dict[str, str] = {}

    def _add(self, key: str, spellings: tuple[str, ...]) -> None:
        for spelling in spellings:
            toks = _tokens(spelling)
            if len(toks) == 1:
                self._by_token[toks[0]] = key
            elif toks:
                self._by_phrase[" ".join(toks)] = key

    def resolve(self, raw: str | None) -> str | None:
        """Canonical key for `raw` (None stays None); unknown names get a slug."""
        if raw is None or not raw.strip():
            return None
        toks = _tokens(raw)
        phrase = " ".join(toks)
        if phrase in self._by_phrase:
            return self._by_phrase[phrase]
        hits = {self._by_token[t] for t in toks if t in self._by_token}
        if len(hits) == 1:
            return hits.pop()
        slug = transliterate(raw) or raw.strip().lower()
        self.unmatched[raw] = slug
        return slug
