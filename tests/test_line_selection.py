"""Line-level selection: the line judge on hand-stressed verse, and the writer on a tiny
model (shape of the poem, one batch per line, seeded)."""

import torch

from qwen_qlora.generation.line_selection import PARTNERS, _position, line_score, write_by_lines
from qwen_qlora.metrics.form_annotation import request_form
from qwen_qlora.metrics.stress import parse_stressed


class MarkedStresser:
    """Stresses by the text's own U+0301 marks; a line without marks gets its words
    stressed on the first syllable (a tiny model's lines carry none)."""

    def stress_texts(self, texts):
        out = []
        for text in texts:
            marked = " ".join(w if "\u0301" in w or not any(c in "аеёиоуыэюя" for c in w.lower())
                              else _first_vowel_marked(w) for w in text.split())
            out.append(parse_stressed(marked or "-"))
        return out


def _first_vowel_marked(word):
    for i, ch in enumerate(word):
        if ch.lower() in "аеёиоуыэюя":
            return word[:i + 1] + "\u0301" + word[i + 1:]
    return word


def test_a_line_scores_for_its_meter_and_its_rhyme_with_the_partner():
    a, b, c = (parse_stressed(t)[0] for t in ("Гори́т свеча́ в пусто́й избе́", "Я вспомина́ю о тебе́",
                                              "Шуме́л осе́нний ти́хий сад"))
    assert line_score(b, a, "iamb", 4) == 2          # scans, rhymes
    assert line_score(c, a, "iamb", 4) == 1          # scans, no rhyme
    assert line_score(b, a, "trochee", 4) == 1       # rhymes, wrong meter
    assert line_score(b, None, "iamb", 5) == 1       # opens a pair; 4 feet, not 5
    assert PARTNERS["ABAB"] == (None, None, 0, 1) and _position([4, 4], 6) == (4, 2, 4)


def test_poems_come_in_the_requested_shape(gemma_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qwen_qlora.config import LoraParams
    from qwen_qlora.model.load import configure_tokenizer
    from qwen_qlora.model.lora import attach_lora, lora_config

    path, preset = gemma_base
    tokenizer = configure_tokenizer(AutoTokenizer.from_pretrained(path), preset)
    model = attach_lora(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
                        lora_config(LoraParams(r=4, alpha=8, dropout=0.0), preset))
    requests = [request_form("iamb", 4, "ABAB", 2), request_form("trochee", None, "AABB", 1)]
    kwargs = dict(k=3, seed=5, temperature=1.0, top_p=1.0, repetition_penalty=1.0, max_line_tokens=6, adapter=False)
    torch.manual_seed(0)
    poems = write_by_lines(model, tokenizer, preset, ["тема: зима", "тема: море"], requests, MarkedStresser(), **kwargs)
    assert [len(p["line_scores"]) for p in poems] == [8, 4]
    assert all(-1 <= s <= 2 for p in poems for s in p["line_scores"])
    again = write_by_lines(model, tokenizer, preset, ["тема: зима", "тема: море"], requests, MarkedStresser(), **kwargs)
    assert [p["text"] for p in again] == [p["text"] for p in poems]
