"""Rhymes: line endings as sound, rhyme pairs, quatrain schemes and the rhyme rate.

A line's ending runs from the stressed vowel of its last stressed word to the end of the
line (a trailing enclitic such as "же" included). An ending on the stressed vowel itself
(an open masculine rhyme: "рука́") takes the consonant before it too, since "рука́" and
"река́" rhyme but "рука́" and "весна́" do not. Endings are transcribed with a few rules
that decide whether words rhyme to a Russian ear:

- iotated vowels and е/ё/э: я, ё, ю, е give а, о, у, э and soften the consonant before
  them (or add й after a vowel, ь, ъ or at the start). Most texts write 'е' for 'ё', so
  a stressed 'е' is read by the dictionary (pymorphy3): as 'ё' where every reading it
  knows has 'ё' there ("лед" is "лёд", and rhymes with "мёд", never with "ветр"); as
  either where some do or it does not know the word ("нес" is "нёс" or "нес", and
  rhymes with "рос"); as 'е' where none do ("твое́й" not with "смоло́й");
- unstressed vowels are reduced: о to а; э (е) to и; а after a soft consonant (я) to
  и; unstressed ы before й to а (-ый and -ой sound alike);
- voiced obstruents are devoiced at the end of a word and before a voiceless one
  (and the reverse before a voiced one), so "сад" rhymes with "сат", "мороз" with "нёс";
- common clusters are simplified (-тся/-ться to ца, стн, здн, лнц, рдц, вств, сч);
  doubled consonants count once (the softer kept); -ого/-его is said -ово/-ево
  ("ничего́" / "торжество́") except where г belongs to the root ("мно́го").

Two endings rhyme when they are equal, or when, as a careful ear hears real verse:

- feminine and longer endings (cut after their last vowel) have the same stressed
  vowel, и and ы counted as one ("зати́х" / "святы́х", "родны́е" / "Росси́я"), and
  the same consonants up to voicing and softness ("у́тро" / "му́дро", "Во́лгой" /
  "недо́лгий"); consonants after the last vowel may differ or be missing, a
  truncated rhyme ("ве́тер" / "на све́те"); unstressed vowels may differ ("се́рдца" /
  "две́рцы", "стару́ху" / "черну́ха"), the last one only where the consonants after
  it agree (else it is an assonance: "мра́мор" / "слеза́ми");
- closed masculine endings have the same vowel and consonants equal up to voicing and
  softness, or one more final consonant on one side ("пе́снь" / "зде́сь");
- open masculine endings need the same stressed vowel and a supporting consonant equal
  up to voicing and softness, none on one side ("мои́" / "любви́"), or soft on both
  sides ("сне́" / "земле́", "мою́" / "люблю́"); an open ending also rhymes with the
  same vowel closed by й over the same support ("трюмо́" / "прямо́й").

A line that ends in a personal pronoun may also be read with the pronoun unstressed,
leaning on the word before it: a compound rhyme ("две́ри я" / "безве́рия", "где́ я" /
"иде́я"). A word never rhymes with itself. Spelling alone never makes a rhyme: "у́тро" and
"хитро́" end alike on paper but their stresses differ, so their endings do too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from qwen_qlora.metrics.stress import (VOWELS, StressedLine, Word, count_syllables,
                                       last_stressed_word)

IOTATED = {"я": "а", "е": "э", "ё": "о", "ю": "у"}
ALWAYS_HARD = set("жшц")
ALWAYS_SOFT = set("чщй")
VOICED_TO_VOICELESS = dict(zip("бвгдзж", "пфктсш"))
VOICELESS_TO_VOICED = {v: k for k, v in VOICED_TO_VOICELESS.items() if k != "в"}
VOICELESS = set("пфктсшхцчщ")
# consonants an inexact rhyme lets stand for each other, beyond voicing and softness:
# the velars ("гло́хло" / "стёкла", "буреве́стник" / "неизве́стных"), the nasals
# ("магази́н" / "зи́м", "подо́брано" / "до́брому") and ч / щ ("ро́щи" / "но́чи")
CONSONANT_CLASS = {"х": "к", "н": "м", "щ": "ч"}
VOICING = set("бгдзж")  # voiced obstruents that voice the consonant before them (not в)
CLUSTERS = [("ться", "ца"), ("тся", "ца"), ("вств", "ств"), ("стн", "сн"), ("здн", "зн"),
            ("стл", "сл"), ("рдц", "рц"), ("лнц", "нц"), ("сч", "щ"), ("зч", "щ"),
            ("жч", "щ"), ("тч", "ч"), ("дч", "ч")]
# -ого/-его of adjectives and pronouns is said -ово/-ево ("ничего́" / "торжество́"),
# except in these words, where г is a root consonant
G_STAYS = {"мн", "немн", "стр", "уб", "дор", "недор", "отл", "пол", "нестр", "разл"}
# a line-final personal pronoun may lean on the word before it, unstressed, and make
# a compound rhyme ("две́ри я" / "безве́рия")
UNSTRESSED_PRONOUNS = frozenset({"я", "ты", "мы", "вы", "нам", "вам"})
SCHEMES = ("ABAB", "AABB", "ABBA", "ABCB", "none", "other")
RHYME_WINDOW = 3  # a line may rhyme with any of the next three lines (ABBA needs three)


def transcribe(word: str, stress: int | None) -> tuple[list[str], int | None]:
    """Phonemes of a word (consonants carry "'" when soft; the stressed vowel is
    uppercase) and the index of the stressed vowel among them."""
    letters = _mark_stressed(word.lower(), stress)
    if letters[-3:].lower() in ("ого", "его") and letters[:-3].lower() not in G_STAYS \
            and count_syllables(letters) > 1:
        letters = letters[:-2] + "в" + letters[-1]
    for old, new in CLUSTERS:
        letters = letters.replace(old, new)
    phones: list[str] = []
    prev = ""
    for ch in letters:
        low = ch.lower()
        if low in VOWELS:
            vowel = IOTATED.get(low, low)
            if low in IOTATED:
                if not prev or prev in VOWELS or prev in "ьъ":
                    phones.append("й")
                else:
                    _soften(phones)
            elif low == "и":
                if prev == "ь":
                    phones.append("й")
                _soften(phones)
            if ch != low:
                phones.append(vowel.upper())
            else:
                phones.append(_reduce(vowel, phones[-1] if phones else ""))
        elif low == "ь":
            _soften(phones)
        elif low == "ъ":
            pass
        elif low.isalpha():
            phones.append(low + ("'" if low in "чщ" else ""))
        prev = low
    # unstressed -ый and -ой (-ий and -ей) sound alike: "влюблённый" / "оснежённой"
    for i in range(len(phones) - 1):
        if phones[i] == "ы" and phones[i + 1] == "й":
            phones[i] = "а"
    phones = _collapse(_assimilate(phones))
    stressed_at = next((i for i, ph in enumerate(phones) if ph.isupper()), None)
    return phones, stressed_at


def _soften(phones: list[str]) -> None:
    """Mark the last phone soft if it is a consonant that has a soft counterpart."""
    if phones and not _is_vowel(phones[-1]) and phones[-1][0] not in ALWAYS_HARD | ALWAYS_SOFT \
            and not phones[-1].endswith("'"):
        phones[-1] += "'"


def _mark_stressed(word: str, stress: int | None) -> str:
    if stress is None:
        return word
    seen = -1
    for i, ch in enumerate(word):
        if ch in VOWELS:
            seen += 1
            if seen == stress:
                return word[:i] + ch.upper() + word[i + 1:]
    return word


def _reduce(vowel: str, before: str) -> str:
    if vowel == "о":
        return "а"
    if vowel == "э":
        return "и"
    if vowel == "а" and (before.endswith("'") or before == "й"):
        return "и"
    return vowel


def _is_vowel(phone: str) -> bool:
    return phone.lower() in "аоуыэи"


def _assimilate(phones: list[str]) -> list[str]:
    """Final devoicing and voicing assimilation in obstruent clusters (right to left)."""
    out = list(phones)
    nxt = None  # the phone after the current one
    for i in range(len(out) - 1, -1, -1):
        base, soft = out[i][0], out[i][1:]
        if nxt is None and base in VOICED_TO_VOICELESS:
            base = VOICED_TO_VOICELESS[base]
        elif nxt is not None and not _is_vowel(nxt):
            if nxt[0] in VOICELESS and base in VOICED_TO_VOICELESS:
                base = VOICED_TO_VOICELESS[base]
            elif nxt[0] in VOICING and base in VOICELESS_TO_VOICED:
                base = VOICELESS_TO_VOICED[base]
        out[i] = base + soft
        nxt = out[i]
    return out


def _collapse(phones: list[str]) -> list[str]:
    """A doubled consonant counts once, the softer of the two kept ("неуста́нней")."""
    out: list[str] = []
    for p in phones:
        if out and not _is_vowel(p) and not _is_vowel(out[-1]) and p[0] == out[-1][0]:
            out[-1] = max(out[-1], p, key=len)
            continue
        out.append(p)
    return out


@dataclass(frozen=True)
class Ending:
    phones: tuple[str, ...]   # from the stressed vowel (or its supporting consonant) on
    word: str                 # the rhyme word, lowercased, ё where read so, for the no-self-rhyme rule
    maybe_yo: bool = False    # a stressed "е" that may be read "ё" or "е" (`_yo_reading`)
    support: str = ""         # the consonant before the stressed vowel ("" if none)
    compound: Ending | None = None   # the line read with its final pronoun unstressed
    alternatives: tuple[Ending, ...] = ()   # a homograph rhyme word's other stresses

    @property
    def key(self) -> str:
        return "".join(self.phones)

    def variants(self) -> list[tuple[str, ...]]:
        if not self.maybe_yo:
            return [self.phones]
        return [self.phones, tuple("О" if p == "Э" else p for p in self.phones)]


def line_ending(line: StressedLine, clausula: int | None = None) -> Ending | None:
    """The rhyming ending of a line, or None for a line without vowels. A line that
    ends in a personal pronoun after another word also has a compound ending, with
    the pronoun unstressed ("две́ри я" / "безве́рия", "где́ я" / "иде́я"), in `compound`.
    A homograph at the line end (the stress model's dictionary lists its stresses:
    "паро́м" / "па́ром") keeps its other readings in `alternatives`: a reader gives it
    the stress that rhymes. A known `clausula` (syllables after the line's last stress,
    as a reader says it) overrides the stresses: "на́ нос очки" ends -о́сочки with
    clausula 2."""
    if clausula is not None:
        return _ending_with_clausula(line, clausula)
    idx = last_stressed_word(line.words)
    if idx is None:
        return None
    ending = _ending_at(line.words, idx)
    voiced = [k for k, w in enumerate(line.words[:idx]) if w.n_syllables]
    if line.words[idx].text.lower() in UNSTRESSED_PRONOUNS and voiced:
        ending = replace(ending, compound=_ending_at(line.words, voiced[-1]))
    if line.words[idx].alternatives:
        words = list(line.words)
        others = []
        for alt in line.words[idx].alternatives:
            words[idx] = replace(line.words[idx], stress=alt)
            others.append(_ending_at(words, idx))
        ending = replace(ending, alternatives=tuple(others))
    return ending


def _ending_with_clausula(line: StressedLine, clausula: int) -> Ending | None:
    at = line.n_syllables - 1 - clausula
    if at < 0:
        return None
    for idx, word in enumerate(line.words):
        if at < word.n_syllables:
            words = list(line.words)
            words[idx] = replace(word, stress=at)
            return _ending_at(words, idx)
        at -= word.n_syllables
    return None


def _ending_at(words: Sequence[Word], idx: int) -> Ending:
    """The ending that starts at the stress of words[idx] (the words after it are
    unstressed)."""
    word = words[idx]
    text = word.text.lower()
    yo = _yo_reading(text, word.stress or 0) if _stressed_letter(text, word.stress or 0) == "е" else "е"
    if yo == "ё":
        text = _spell_yo(text, word.stress or 0)
    phones, at = transcribe(text, word.stress)
    tail = phones[at:]
    for extra in words[idx + 1:]:
        tail += transcribe(extra.text, None)[0]
    support = phones[at - 1] if at and not _is_vowel(phones[at - 1]) else ""
    if len(tail) == 1 and at > 0:
        tail = phones[at - 1:at] + tail
    return Ending(tuple(tail), text, yo == "either", support)


def _stressed_letter(word: str, stress: int) -> str:
    vowels = [ch for ch in word if ch in VOWELS]
    return vowels[stress] if stress < len(vowels) else ""


def _spell_yo(word: str, stress: int) -> str:
    """`word` with its `stress`-th vowel written 'ё'."""
    at = [i for i, ch in enumerate(word) if ch in VOWELS][stress]
    return word[:at] + "ё" + word[at + 1:]


@lru_cache(maxsize=100_000)
def _yo_reading(word: str, stress: int) -> str:
    """How the stressed 'е' of a lowercase `word` is read: "ё" where every reading the
    dictionary (pymorphy3's) knows for the spelling has 'ё' there ("лед" is "лёд",
    "ведет" "ведёт"), "either" where some do ("нес": "нёс", "нес"; "все": "всё", "все")
    or the word is not in it, "е" where none do ("твое́й", "челове́к")."""
    known = [p for p in _morph().parse(word) if p.is_known]
    if not known:
        return "either"
    yo = [_stressed_letter(p.word, stress) == "ё" for p in known]
    return "ё" if all(yo) else "either" if any(yo) else "е"


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def endings_rhyme(a: Ending | None, b: Ending | None) -> bool:
    if a is None or b is None:
        return False
    return any(_readings_rhyme(x, y) for x in _readings(a) for y in _readings(b))


def _readings(end: Ending) -> list[Ending]:
    return [end, *([end.compound] if end.compound else []), *end.alternatives]


def _readings_rhyme(a: Ending, b: Ending) -> bool:
    if a.word == b.word:
        return False
    if _open_meets_iotated(a.phones, b.phones, b.support) \
            or _open_meets_iotated(b.phones, a.phones, a.support):
        return True
    return any(_match(x, y) for x in a.variants() for y in b.variants())


def _match(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if a == b:
        return True
    if _is_open(a) and _is_open(b):
        return a[1] == b[1] and _supports_agree(a[0], b[0], a[1])
    if _is_open(a) or _is_open(b):
        return False
    if _n_vowels(a) == 1 and _n_vowels(b) == 1:
        return _closed_match(a, b)
    return _inexact_match(a, b)


def _is_open(phones: tuple[str, ...]) -> bool:
    return len(phones) == 2 and phones[1].isupper()


def _n_vowels(phones: Sequence[str]) -> int:
    return sum(map(_is_vowel, phones))


def _same_vowel(x: str, y: str) -> bool:
    """Vowels equal, и and ы counted as one (they are one phoneme: "зати́х" / "святы́х")."""
    return _vowel(x) == _vowel(y)


def _vowel(phone: str) -> str:
    return {"ы": "и", "Ы": "И"}.get(phone, phone)


def _supports_agree(x: str, y: str, vowel: str) -> bool:
    """Supporting consonants of open masculine rhymes (whose vowels must be equal, и and
    ы apart: the consonant decides which is heard): equal up to voicing and softness
    ("жду" / "нищету́", "паруса́" / "поднялся́"), missing on one side, after a vowel
    ("мои́" / "любви́"), or both soft, when the vowel carries the same palatal glide
    ("сне" / "земле́", "мою́" / "люблю́"; not before и, after which every consonant is
    soft: "пути́" / "огни́"); two different hard ones do not rhyme ("рука́" / "весна́")."""
    return (_support(x) == _support(y) or _is_vowel(x) or _is_vowel(y)
            or (_is_soft(x) and _is_soft(y) and vowel.upper() != "И"))


def _support(phone: str) -> str:
    """A supporting consonant up to voicing and softness (classes do not apply: an
    open rhyme rests on its one consonant)."""
    return VOICED_TO_VOICELESS.get(phone[0], phone[0])


def _is_soft(phone: str) -> bool:
    return phone.endswith("'") or phone == "й"


def _plain(phone: str) -> str:
    """A consonant without voicing and softness, its class standing for it
    (`CONSONANT_CLASS`): what inexact rhymes compare."""
    base = VOICED_TO_VOICELESS.get(phone[0], phone[0])
    return CONSONANT_CLASS.get(base, base)


def _open_meets_iotated(open_: tuple[str, ...], closed: tuple[str, ...], support: str) -> bool:
    """An open masculine ending rhymes with the same vowel closed by й over the same
    support ("трюмо́" / "прямо́й"): the glide is barely heard. (Spelled endings only:
    an 'е' read as 'ё' would make "замке́" rhyme with "тугой".)"""
    return (_is_open(open_) and len(closed) == 2 and closed[1] == "й"
            and open_[1] == closed[0] and bool(support)
            and _support(open_[0]) == _support(support))


def _closed_match(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Closed masculine endings: the same stressed vowel, and codas equal up to voicing
    and softness ("бра́т" / "бра́ть") and class ("магази́н" / "зи́м"), or one coda the
    other plus one consonant of a cluster ("пе́снь" / "зде́сь", "тре́ск" / "тре́к")."""
    if not _same_vowel(a[0], b[0]):
        return False
    ca, cb = [_plain(p) for p in a[1:]], [_plain(p) for p in b[1:]]
    short, long_ = sorted((ca, cb), key=len)
    return short == long_ or (len(long_) == len(short) + 1 and bool(short)
                              and any(long_[:k] + long_[k + 1:] == short
                                      for k in range(len(long_))))


def _up_to_last_vowel(phones: Sequence[str]) -> tuple[str, ...]:
    last = max((i for i, p in enumerate(phones) if _is_vowel(p)), default=-1)
    return tuple(phones[: last + 1])


def _inexact_match(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Inexact rhyme of two endings with a vowel after the stressed one. The endings
    are cut after their last vowel; the consonants cut off may differ ("ве́тер" /
    "на све́те", "серди́то" / "копы́том"). What is left must have the same stressed
    vowel and consonants equal up to voicing and softness ("у́тро" / "му́дро",
    "горизо́нте" / "тро́ньте"); unstressed vowels inside may differ ("жемчу́жною" /
    "ю́жную"), as they are slurred in speech, and so may the last vowel when the
    consonants after it agree ("бе́лым" / "те́лом", "отку́да" / "повсю́ду"; a final й
    counts for nothing: "журавли́ный" / "середи́ны"). Both differences at once make
    an assonance, not a rhyme ("мра́мор" / "слеза́ми")."""
    a, b = _drop_inner_glides(_drop_final_glide(a)), _drop_inner_glides(_drop_final_glide(b))
    cut_a, cut_b = _up_to_last_vowel(a), _up_to_last_vowel(b)
    if len(cut_a) != len(cut_b) or _n_vowels(cut_a) < 2:
        return False
    codas_agree = [_plain(p) for p in a[len(cut_a):]] == [_plain(p) for p in b[len(cut_b):]]
    last = len(cut_a) - 1
    for i, (x, y) in enumerate(zip(cut_a, cut_b)):
        if _is_vowel(x) != _is_vowel(y):
            return False
        if not _is_vowel(x):
            if _plain(x) != _plain(y):
                return False
        elif x.isupper() or y.isupper():
            if not (x.isupper() and y.isupper() and _same_vowel(x, y)):
                return False
        elif x != y and i == last and not codas_agree:
            return False
    return True


def _drop_inner_glides(phones: tuple[str, ...]) -> tuple[str, ...]:
    """Without a й before an unstressed vowel, barely heard there: "сме́рти" /
    "предсе́рдье", "поцелу́е" / "стру́и", "сочета́ньем" / "тя́нем"."""
    return tuple(p for i, p in enumerate(phones)
                 if not (p == "й" and 0 < i < len(phones) - 1 and phones[i + 1].islower()
                         and _is_vowel(phones[i + 1])))


def _drop_final_glide(phones: tuple[str, ...]) -> tuple[str, ...]:
    if len(phones) > 2 and phones[-1] == "й" and _is_vowel(phones[-2]) and phones[-2].islower():
        return phones[:-1]
    return phones


def rhyme_pairs(lines: Sequence[StressedLine], window: int = RHYME_WINDOW,
                clausulae: Sequence[int | None] | None = None) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j <= i + window, of rhyming lines in `lines` (pass verse
    lines only: a blank line would take a place in the window). `clausulae`, where
    known, fix where each line's last stress falls (see `line_ending`)."""
    known = clausulae if clausulae is not None else [None] * len(lines)
    ends = [line_ending(ln, c) for ln, c in zip(lines, known, strict=True)]
    return [(i, j) for i in range(len(ends)) for j in range(i + 1, min(i + window + 1, len(ends)))
            if endings_rhyme(ends[i], ends[j])]


def rhyme_rate(lines: Sequence[StressedLine]) -> float:
    """Share of lines that rhyme with another line at most RHYME_WINDOW lines away."""
    if not lines:
        return 0.0
    rhymed = {k for pair in rhyme_pairs(lines) for k in pair}
    return len(rhymed) / len(lines)


def quatrain_scheme(lines: Sequence[StressedLine]) -> str:
    """ABAB, AABB, ABBA, ABCB (only lines 2 and 4 rhyme), none, or other."""
    if len(lines) != 4:
        raise ValueError(f"rhyme: a quatrain has 4 lines, got {len(lines)}")
    ends = [line_ending(ln) for ln in lines]
    letters: list[str] = []
    for i in range(4):
        match = next((letters[j] for j in range(i) if endings_rhyme(ends[j], ends[i])), None)
        letters.append(match or "ABCD"[len(set(letters))])
    scheme = "".join(letters)
    if scheme == "ABCD":
        return "none"
    return scheme if scheme in SCHEMES else "other"


def stanzas(lines: Sequence[StressedLine]) -> list[list[StressedLine]]:
    """Verse lines grouped by blank (or vowel-less) lines. When most stanzas are single
    lines the text had a blank line after every verse line (a common scraping
    artefact), so the blank lines are ignored."""
    groups: list[list[StressedLine]] = [[]]
    for ln in lines:
        if ln.n_syllables == 0:
            if groups[-1]:
                groups.append([])
        else:
            groups[-1].append(ln)
    groups = [g for g in groups if g]
    if len(groups) >= 3 and sum(len(g) == 1 for g in groups) > len(groups) / 2:
        return [[ln for g in groups for ln in g]]
    return groups


def quatrains(lines: Sequence[StressedLine]) -> list[list[StressedLine]]:
    """Stanzas whose length is a multiple of four, cut into fours; other stanza shapes
    (tercets, sonnets' sestets) have no quatrain scheme."""
    out = []
    for st in stanzas(lines):
        if len(st) % 4 == 0:
            out.extend(st[k:k + 4] for k in range(0, len(st), 4))
    return out
