"""Poems on demand for people: the model loaded once, base and adapted poems on a theme
with the same seed, each with its scansion (stresses, meter, rhyme schemes, p_author).

Used by `qwen-qlora write`, `qwen-qlora compare` and the demo page (`qwen-qlora serve`).
One lock around generation makes concurrent requests wait their turn (a queue) instead
of interleaving on one model. A poem asked in a form is written by the form decoder
through the generate stage's own path (`generation.form.formed.sample_formed`), a free
one by its sampler (`generation.decode.sample`); both pass the same quoting gate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("qwen_qlora.app.poet")
MODELS = ("base", "adapted")
MAX_THEME_CHARS = 100
MAX_POEMS = 8
TRAIN_POEMS = Path("data/processed/train.jsonl")  # the corpus vocabulary's source (generate.vocab: corpus)
QUOTING_INDEX = Path("models/quoting_index.pkl")  # every known text (the generate stage's output)
WORD_TABLE = Path("models/word_table.json")  # the form decoder's words (the words stage's output)
MAX_RESAMPLES = 4  # an adapted poem that fails the quoting gate is written again, with the next seeds


def check_request(seed: int, n: int) -> None:
    """A person's seed and poem count (the decoding settings are checked by
    `GenerateParams.decoding`)."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed = {seed} is out of range; use a value between 0 and 2^32-1")
    if not 1 <= n <= MAX_POEMS:
        raise ValueError(f"n = {n} is out of range; ask for 1 to {MAX_POEMS} poems")


def check_theme(theme: str) -> str:
    theme = " ".join(theme.split())
    if not theme:
        raise ValueError("the theme is empty; type a word or two, e.g. 'разлука'")
    if len(theme) > MAX_THEME_CHARS:
        raise ValueError(f"the theme is {len(theme)} characters long; keep it under {MAX_THEME_CHARS}")
    return theme


class Poet:
    """A loaded model (PeftModel: the base is the adapter switched off) that writes poems
    through the generate stage's sampler (`generation.decode.sample`) with the same
    `config.Decoding`, so a poem people get is sampled as the measured ones are."""

    def __init__(self, model: Any, tokenizer: Any, preset: Any, split: Any, gate: Any,
                 stresser: Any = None, attributor: Any = None, train_poems: Path = TRAIN_POEMS,
                 word_table: Path = WORD_TABLE, rhyme_min_count: int = 5,  # words.rhyme_min_count
                 poet_word_prior: float = 0.0) -> None:  # generate.poet_word_prior
        self.model, self.tokenizer, self.preset, self.gate = model, tokenizer, preset, gate
        self.split, self.stresser, self.attributor = split, stresser, attributor
        self.train_poems, self._train, self._vocab = Path(train_poems), None, None
        self.word_table, self._kit, self.rhyme_min_count = Path(word_table), None, rhyme_min_count
        self.poet_word_prior = poet_word_prior
        self._lock = threading.Lock()

    @classmethod
    def load(cls, params: Any, adapter_dir: Path, base_dir: Path | None = None, attributor_path: Path | None = None,
             scansion: bool = True, train_poems: Path = TRAIN_POEMS, index: Path = QUOTING_INDEX,
             word_table: Path = WORD_TABLE) -> Poet:
        """The prepared base in 16/32 bits with the trained adapter: "adapted" is what people
        deploy (and what `merge` folds), "base" the model as shipped (adapter off). The NF4
        base is a training device, so it is not loaded here. The quoting gate loads the
        generate stage's index of every known text, with params.yaml's thresholds."""
        from qwen_qlora.config import QuantParams
        from qwen_qlora.metrics.gate import QuotingGate, load_index
        from qwen_qlora.model.adapted import load_adapted

        gate = QuotingGate.from_params(load_index(index), params.evaluate)  # before the model: fail fast

        base_dir = base_dir or Path("models/base") / params.model.preset
        model, tokenizer = load_adapted(base_dir, adapter_dir, params.model.selected, QuantParams(load_in_4bit=False))
        stresser = attributor = None
        if scansion:
            from qwen_qlora.metrics.stress import load_stresser
            stresser = load_stresser()
            if attributor_path is not None and attributor_path.exists():
                from qwen_qlora.metrics.style import load_attributor
                attributor = load_attributor(attributor_path)
        return cls(model, tokenizer, params.model.selected, params.split, gate, stresser, attributor, train_poems,
                   word_table, params.words.rhyme_min_count, params.generate.poet_word_prior)

    def form_request(self, spec: Any) -> dict | None:
        """The form decoder's request for a parsed form (`GenerateParams.form_spec`): None
        for "free", the poet's commonest form of the train poems for "auto"."""
        from qwen_qlora.generation.form.formed import form_request

        if spec != "auto":
            return form_request(spec, [])
        train = self.train_records("the form 'auto' is the poet's commonest form among the train poems",
                                   "name a form (--form 'iamb 4 ABAB x3')")
        return form_request(spec, [r["form"] for r in train if r.get("form")])

    def kit(self) -> Any:
        """The form decoder's word table for this tokenizer, with the poet-word prior over
        her train poems' words as the generate stage has it (loaded once)."""
        if self._kit is None:
            from qwen_qlora.generation.form.formed import FormKit

            texts = [r["completion"] for r in self.train_records(
                "generate.poet_word_prior favours the words of the poet's train poems", "set it to 0")] \
                if self.poet_word_prior else []
            self._kit = FormKit.load(self.word_table, self.tokenizer, self.rhyme_min_count, texts,
                                     self.poet_word_prior)
        return self._kit

    def vocab(self, decoding: Any) -> Any:
        """The token subset `decoding.vocab: corpus` samples from: the encoded train poems'
        tokens, as in the generate stage (built once); None for the full vocabulary."""
        if decoding.vocab != "corpus":
            return None
        if self._vocab is None:
            from qwen_qlora.model.head import records_vocab

            train = self.train_records("generate.vocab: corpus samples the train poems' tokens", "pass --vocab full")
            self._vocab = records_vocab(self.preset, self.tokenizer, train)
        return self._vocab

    def train_records(self, why: str, instead: str) -> list[dict]:
        """The split stage's train poems (read once); a missing file is an error that says
        `why` they are needed, what to run, or what to do `instead`."""
        if self._train is None:
            from qwen_qlora.io import read_jsonl

            if not self.train_poems.is_file():
                raise ValueError(f"{self.train_poems}: not found; {why}: run `dvc repro split` (or `dvc pull "
                                 f"split`), or {instead}")
            self._train = read_jsonl(self.train_poems)
        return self._train

    def write(self, theme: str, decoding: Any, seed: int = 0, n: int = 1, models: tuple[str, ...] = MODELS,
              form: dict | None = None, progress: Callable[[int], object] | None = None) -> dict[str, list[dict]]:
        """{model: [poem, ...]}; each poem {text, prompt, new_tokens, stopped_at_eos, gate, scan?}.
        `decoding`: `params.generate.decoding(...)`. The same theme, decoding and seed give the
        same poems, and the same poem as the generate stage's sampler on that prompt. `form`:
        a requested form (`form_request`); the form decoder writes it (poem i seeded `seed +
        i`, as the stage's formed rows), and the prompt names it only where training did
        (split.prompt_form: annotated). None: free sampling.

        Every poem passes the quoting gate (`gate`: passed, reasons, the known poem a near
        line resembles, resampled). An adapted poem that fails is written again with the
        next seeds, up to MAX_RESAMPLES times; one that still fails is withheld (text
        empty). Base poems (the model as shipped, for comparison) get the verdict only.

        `progress`: called with the number of poems just written (`n` per model; a poem
        written again for the gate is not counted again), so a caller can show which poem
        is being written (`qwen_qlora.progress.Progress`)."""
        from qwen_qlora.metrics.poetics import scan_poem  # torch/peft: imported when poems are written
        from qwen_qlora.model.prompts import make_prompt

        theme = check_theme(theme)
        check_request(seed, n)
        unknown = set(models) - set(MODELS)
        if unknown:
            raise ValueError(f"unknown model {sorted(unknown)}; choose from {list(MODELS)}")
        prompt = make_prompt(self.split, theme, form)
        out = {}
        with self._lock:
            vocab = self.vocab(decoding) if form is None else None
            for name in models:
                poems = self._sample(prompt, form, n, seed, decoding, name == "adapted", vocab, progress)
                if name == "adapted":
                    poems = [self._gated(poem, prompt, form, decoding, seed + n + i * MAX_RESAMPLES, vocab)
                             for i, poem in enumerate(poems)]
                else:
                    for poem in poems:
                        poem["gate"] = self._verdict(poem["text"], 0)
                for poem in poems:
                    poem["prompt"] = prompt
                if self.stresser is not None:
                    for poem in poems:
                        poem["scan"] = scan_poem(poem["text"], self.stresser, self.attributor)
                out[name] = poems
        return out

    def _verdict(self, text: str, resampled: int) -> dict[str, Any]:
        verdict = self.gate.check(text)
        return {"passed": verdict["passed"], "reasons": verdict["reasons"], "evidence": verdict["evidence"],
                "resampled": resampled}

    def _sample(self, prompt: str, form: dict | None, n: int, seed: int, decoding: Any, adapter: bool,
                vocab: Any, progress: Callable[[int], object] | None = None) -> list[dict]:
        """`n` poems on one prompt: the form decoder's when a form is asked, else the sampler's."""
        from qwen_qlora.generation import decode
        from qwen_qlora.generation.form import formed

        if form is not None:
            return formed.sample_formed(self.model, self.tokenizer, self.preset, [prompt] * n, [form] * n, seed,
                                        decoding, self.kit(), adapter=adapter, progress=progress)
        (poems,) = decode.sample(self.model, self.tokenizer, self.preset, [prompt], n, seed, decoding,
                                 adapter=adapter, vocab=vocab, progress=progress)
        return poems

    def _gated(self, poem: dict, prompt: str, form: dict | None, decoding: Any, next_seed: int, vocab: Any) -> dict:
        """The poem if it passes the gate, else the first of up to MAX_RESAMPLES more that
        does (seeds `next_seed`, `next_seed + 1`, ...), else the last one withheld."""
        verdict = self._verdict(poem["text"], 0)
        for tries in range(1, MAX_RESAMPLES + 1):
            if verdict["passed"]:
                break
            log.info("quoting gate: %s; writing it again (seed %d)", "; ".join(verdict["reasons"]),
                     next_seed + tries - 1)
            (poem,) = self._sample(prompt, form, 1, next_seed + tries - 1, decoding, True, vocab)
            verdict = self._verdict(poem["text"], tries)
        if not verdict["passed"]:
            poem = {**poem, "text": ""}  # withheld: never delivered
        return {**poem, "gate": verdict}
