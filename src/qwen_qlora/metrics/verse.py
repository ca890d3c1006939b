"""Does a text scan as verse? The rule under which p_author applies.

The style judge learns her poems against other poets' poems, so it has never seen prose,
a list or a dialogue and its probability for one means nothing: on the non-verse check
set (`metrics.non_verse`) the default run's judge alone gives prose paragraphs about the
prompt themes 0.55 on average and up to 0.82. p_author is therefore given only to texts
that scan as verse:

- layout: at least `min_lines` verse lines, none longer than `max_line_chars` and
  `max_mean_line_chars` on average (the clean stage's rule for what is prose, so the
  judge scores what the corpus would keep as a poem);
- not a list or a dialogue: under `max_marker_share` of the lines open with a list
  number, a bullet or a dash;
- rhymed or metrical: a rhyme on at least `min_rhyme_rate` of the lines, or, unrhymed,
  a syllabo-tonic meter or the dolnik on at least `min_regularity` of at least
  `min_unrhymed_lines` lines (on fewer lines the dolnik's free intervals fit plain
  sentences by chance: 4-line letters and dialogues of the check set "scan" as dolnik).

On the Akhmatova corpus every one of her 215 poems passes (each rhymes, or keeps a meter
over 5 lines or more). The scan (meter, regularity, rhyme rate) comes from a stored form
annotation or `PoemPoetics.summary()`, so the rule itself is a pure function:

    rule = VerseRule()
    rule.why_not(text, form)   # None, or "prose" / "list_or_dialogue" / ...
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from qwen_qlora.text import lines

# what a list item or a dialogue turn opens with: "1.", "2)", "-", "—", "•"
MARKER = re.compile(r"^\s*(?:\d+[.)]|[-–—•*·])")
METRICAL = ("iamb", "trochee", "dactyl", "amphibrach", "anapest", "dolnik")


@dataclass(frozen=True)
class VerseRule:
    min_lines: int = 4
    max_mean_line_chars: float = 70.0
    max_line_chars: int = 160
    max_marker_share: float = 0.5
    min_rhyme_rate: float = 0.5
    min_regularity: float = 0.8
    min_unrhymed_lines: int = 5

    def why_not(self, text: str, form: dict[str, Any]) -> str | None:
        """None when the text scans as verse, else the first rule it breaks: "prose"
        (long lines), "too_few_lines", "list_or_dialogue" or "no_rhyme_or_meter"."""
        verse = lines(text)
        if not verse:
            return "too_few_lines"
        if sum(map(len, verse)) / len(verse) > self.max_mean_line_chars or max(map(len, verse)) > self.max_line_chars:
            return "prose"
        if len(verse) < self.min_lines:
            return "too_few_lines"
        if sum(bool(MARKER.match(ln)) for ln in verse) / len(verse) >= self.max_marker_share:
            return "list_or_dialogue"
        if form.get("rhyme_rate", 0.0) >= self.min_rhyme_rate:
            return None
        metrical = form.get("meter") in METRICAL and form.get("regularity", 0.0) >= self.min_regularity
        if metrical and len(verse) >= self.min_unrhymed_lines:
            return None
        return "no_rhyme_or_meter"

    def applies(self, text: str, form: dict[str, Any]) -> bool:
        return self.why_not(text, form) is None

    def describe(self) -> str:
        """The rule in one sentence, for metrics and the report."""
        return (f"p_author is given only to texts that scan as verse: at least {self.min_lines} lines, "
                f"mean line length at most {self.max_mean_line_chars:g} characters and none over "
                f"{self.max_line_chars}, under {self.max_marker_share:.0%} of lines opening with a list mark "
                f"or a dash, and a rhyme on at least {self.min_rhyme_rate:.0%} of lines or, unrhymed, a meter "
                f"(syllabo-tonic or dolnik) on at least {self.min_regularity:.0%} of at least "
                f"{self.min_unrhymed_lines} lines; prose, lists and dialogues get none")

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)
