"""Word forms the corpus spells with е where the word has ё ("лед" for лёд, "актер" for
актёр), and how the word table keys them.

Russian print often leaves ё out. ё is always stressed, so a form read with е where the
word has ё gets a wrong stressed vowel, and with it a wrong rhyme key: "лед" keyed as
'Эт' would rhyme, for the rhyme detector, with "ветр" ('Этр'), though лёд ('От') does
not. The rhyme detector reads a stressed е as ё where pymorphy3 knows the spelling only
as ё words (`metrics.rhyme`). This reads the words stage's table (models/word_table.json)
and prints: the forms spelled with е and no ё, how many of them pymorphy3 knows only as
ё words, how many of those the table keys as their ё spelling would be keyed (every
stress the table holds for the form), examples, and, when a run's samples are there
(reports/samples.jsonl), the share of each formed row's line-final words that are such
forms.

Usage: PYTHONPATH=src python benchmarks/yo_spellings.py [--table models/word_table.json]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from qwen_qlora.generation.form.words import load_table, word_ending
from qwen_qlora.io import read_jsonl
from qwen_qlora.metrics.fluency import load_morph
from qwen_qlora.metrics.stress import WORD_RE
from qwen_qlora.rows import is_formed
from qwen_qlora.text import lines, strip_marks


def last_word(line: str) -> str:
    """A line's last word as written (lowercase, ё kept: the shared `words` folds ё into
    е, which would count a correctly spelled "лёд" as "лед")."""
    found = WORD_RE.findall(strip_marks(line).lower())
    return found[-1] if found else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=Path("models/word_table.json"))
    ap.add_argument("--samples", type=Path, default=Path("reports/samples.jsonl"))
    args = ap.parse_args()
    table, morph = load_table(args.table), load_morph()
    spelled_e = [e for e in table.entries if "е" in e.text and "ё" not in e.text]
    yo = {}  # the е spelling -> (its entry, the ё word)
    for e in spelled_e:
        known = [p for p in morph.parse(e.text) if p.is_known]
        if known and all("ё" in p.word for p in known):
            yo[e.text] = (e, known[0].word)
    print(f"word table: {len(table.entries)} forms; {len(spelled_e)} spelled with е and no ё; "
          f"{len(yo)} ({len(yo) / len(spelled_e):.1%}) of them pymorphy3 knows only as ё words")
    as_yo = {text: all(k == word_ending(word, e.n_syllables, st).key
                       for k, st in zip(e.rhyme_keys, e.stresses) if st is not None)
             for text, (e, word) in yo.items()}
    print(f"keyed as their ё spelling is: {sum(as_yo.values())} of {len(yo)}")
    print("| spelled | rhyme key in the table | the ё word | its rhyme key |")
    print("|---|---|---|---|")
    for text, (entry, word) in list(yo.items())[:12]:
        keys = [word_ending(word, entry.n_syllables, st).key for st in entry.stresses if st is not None]
        print(f"| {text} | {', '.join(entry.rhyme_keys)} | {word} | {', '.join(keys)} |")
    if args.samples.is_file():
        ends: dict[str, Counter] = {}
        for s in read_jsonl(args.samples):
            if is_formed(s["model"]):
                for line in lines(s["text"]):
                    if word := last_word(line):
                        ends.setdefault(s["model"], Counter())[word in yo] += 1
        for row, c in sorted(ends.items()):
            print(f"{row}: {c[True]} of {c[True] + c[False]} line-final words ({c[True] / (c[True] + c[False]):.1%}) "
                  "are е spellings of ё words")
    else:
        print(f"{args.samples}: not there (run `dvc repro generate`); line-final shares not shown")


if __name__ == "__main__":
    main()
