"""Poems on demand for people: the model loaded once, base and adapted poems on a theme
with the same seed, each with its scansion (stresses, meter, rhyme schemes, p_author).

Used by `qwen-qlora write`, `qwen-qlora compare` and the demo page (`qwen-qlora serve`).
One lock around generation makes concurrent requests wait their turn (a queue) instead
of interleaving on one model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS = ("base", "adapted")
MAX_THEME_CHARS = 100


@dataclass
class Sampling:
    """Decoding settings; `check` names the bad one and its allowed range."""

    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 160
    seed: int = 0
    repetition_penalty: float = 1.1
    n: int = 1

    def check(self) -> Sampling:
        rules = [(0 < self.temperature <= 2, "temperature", "in (0, 2]"), (0 < self.top_p <= 1, "top_p", "in (0, 1]"),
                 (8 <= self.max_new_tokens <= 512, "max_new_tokens", "between 8 and 512"),
                 (0 <= self.seed < 2**32, "seed", "between 0 and 2^32-1"),
                 (1 <= self.repetition_penalty <= 2, "repetition_penalty", "in [1, 2]"),
                 (1 <= self.n <= 8, "n", "between 1 and 8")]
        for ok, name, allowed in rules:
            if not ok:
                raise ValueError(f"{name} = {getattr(self, name)} is out of range; use a value {allowed}")
        return self


def check_theme(theme: str) -> str:
    theme = " ".join(theme.split())
    if not theme:
        raise ValueError("the theme is empty; type a word or two, e.g. 'разлука'")
    if len(theme) > MAX_THEME_CHARS:
        raise ValueError(f"the theme is {len(theme)} characters long; keep it under {MAX_THEME_CHARS}")
    return theme


class Poet:
    """A loaded model (PeftModel: the base is the adapter switched off) that writes poems."""

    def __init__(self, model: Any, tokenizer: Any, preset: Any, split: Any,
                 stresser: Any = None, attributor: Any = None) -> None:
        self.model, self.tokenizer, self.preset = model, tokenizer, preset
        self.split, self.stresser, self.attributor = split, stresser, attributor
        self._lock = threading.Lock()

    @classmethod
    def load(cls, params: Any, adapter_dir: Path, base_dir: Path | None = None, attributor_path: Path | None = None,
             scansion: bool = True) -> Poet:
        """The prepared base in 16/32 bits with the trained adapter: "adapted" is what people
        deploy (and what `merge` folds), "base" the model as shipped (adapter off). The NF4
        base is a training device, so it is not loaded here."""
        from qwen_qlora.config import QuantParams
        from qwen_qlora.model.adapted import load_adapted

        base_dir = base_dir or Path("models/base") / params.model.preset
        model, tokenizer = load_adapted(base_dir, adapter_dir, params.model.selected, QuantParams(load_in_4bit=False))
        stresser = attributor = None
        if scansion:
            from qwen_qlora.metrics.stress import load_stresser
            stresser = load_stresser()
            if attributor_path is not None and attributor_path.exists():
                from qwen_qlora.metrics.style import load_attributor
                attributor = load_attributor(attributor_path)
        return cls(model, tokenizer, params.model.selected, params.split, stresser, attributor)

    def write(self, theme: str, sampling: Sampling, models: tuple[str, ...] = MODELS,
              form: dict | None = None) -> dict[str, list[dict]]:
        """{model: [poem, ...]}; each poem {text, prompt, new_tokens, stopped_at_eos, scan?}. The
        same theme, settings and seed give the same poems. `form`: a requested form
        (`form_annotation.request_form`), named in the prompt as in training."""
        from qwen_qlora.generation.decode import sample  # torch/peft: imported when poems are written
        from qwen_qlora.metrics.poetics import scan_poem
        from qwen_qlora.model.prompts import make_prompt

        theme, sampling = check_theme(theme), sampling.check()
        unknown = set(models) - set(MODELS)
        if unknown:
            raise ValueError(f"unknown model {sorted(unknown)}; choose from {list(MODELS)}")
        if form is not None and self.split.prompt_form == "none":
            raise ValueError("this adapter was trained on prompts that name no form (split.prompt_form: none); "
                             "leave out --meter/--scheme/--stanzas or train with split.prompt_form: annotated")
        prompt = make_prompt(self.split, theme, form)
        out = {}
        with self._lock:
            for name in models:
                (poems,) = sample(self.model, self.tokenizer, self.preset, [prompt], sampling.n, sampling.seed,
                                  temperature=sampling.temperature, top_p=sampling.top_p,
                                  repetition_penalty=sampling.repetition_penalty,
                                  max_new_tokens=sampling.max_new_tokens, adapter=name == "adapted")
                for poem in poems:
                    poem["prompt"] = prompt
                if self.stresser is not None:
                    for poem in poems:
                        poem["scan"] = scan_poem(poem["text"], self.stresser, self.attributor)
                out[name] = poems
        return out
