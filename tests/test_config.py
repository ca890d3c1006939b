"""params.yaml validation (config.py): errors name key, value and what is allowed; a typo
gets a "did you mean"; the committed JSON schema matches the models and catches the same
mistakes in an editor."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from qwen_qlora.config import (
    SCHEMA_FILE,
    ConfigError,
    Params,
    SourceParams,
    TrainParams,
    build,
    json_schema,
    load_params,
    params_from_dict,
    to_dict,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("raw, message", [
    # unknown keys, with the closest allowed key when there is one
    ({"split": {"val_fracton": 0.2}},
     "split: unknown key(s) val_fracton (did you mean 'val_fraction'?); allowed: "
     "form_template, min_reference_per_author, prompt_form, prompt_template, seed, test_fraction, "
     "theme_template, val_fraction"),
    ({"autor": "blok"}, "params.yaml: unknown key(s) autor (did you mean 'author'?)"),
    ({"corpus": {"sources": [{"name": "web1", "kind": "web", "url": "http://x", "max_page": 5}]}},
     "corpus.sources[web1]: unknown key(s) max_page (did you mean 'max_pages'?)"),
    # wrong types: no silent "1" -> 1 or "yes" -> true
    ({"quant": {"load_in_4bit": "yes"}}, "quant.load_in_4bit: expected bool, got 'yes'"),
    ({"train": {"learning_rate": "3e-4"}}, "train.learning_rate: expected float, got '3e-4'"),
    ({"lora": {"target_modules": "q_proj"}}, "lora.target_modules: expected list[str], got 'q_proj'"),
    ({"model": {"presets": {"mine": {"source": 7}}}}, "model.presets.mine.source: expected str, got 7"),
    # out of range
    ({"lora": {"r": 0}}, "lora.r: must be > 0, got 0"),
    ({"lora": {"r": -4}}, "lora.r: must be > 0, got -4"),
    ({"split": {"val_fraction": 1.5}}, "split.val_fraction: must be < 0.5, got 1.5"),
    ({"split": {"val_fraction": 0.0}}, "split.val_fraction: must be > 0, got 0.0"),
    ({"generate": {"themes": []}}, "generate.themes: must not be empty (at least 1 item(s)), got []"),
    # allowed values, with the closest one
    ({"train": {"precision": "bf61"}},
     "train.precision: 'bf61' is not allowed; choose one of 'auto' | 'bf16' | 'fp32' | 'fp16' "
     "(did you mean 'bf16'?)"),
    ({"model": {"preset": "gemma-3-270"}},
     "model.preset: 'gemma-3-270' is not a preset; choose one of ['gemma-3-270m', "
     "'gemma-3-4b-it', 'qwen2.5-3b-instruct', 'qwen3-4b-instruct-2507'] (did you mean "
     "'gemma-3-270m'?)"),
    ({"corpus": {"sources": [{"name": "b", "kind": "csv", "path": "x.csv", "on_error": "ignore"}]}},
     "corpus.sources[b].on_error: 'ignore' is not allowed; choose one of 'fail' | 'skip'"),
    # cross-field rules
    ({"clean": {"max_lines": 3}}, "clean.max_lines: must exceed clean.min_lines (4), got 3"),
    ({"corpus": {"sources": [{"name": "b", "kind": "csv"}]}}, "corpus.sources[b].path: a csv source needs a path"),
    # the verse stage learns other poets only; its row is scored, not sampled
    ({"verse": {"authors": ["blok", "akhmatova"]}},
     "verse.authors: names the target poet 'akhmatova'; the verse stage learns other poets only"),
    ({"verse": {"authors": ["blok", "blok"]}}, "verse.authors: names ['blok'] more than once"),
    ({"verse": {"authors": []}}, "verse.authors: must not be empty"),
    ({"generate": {"rows": ["base", "verse", "adapted"]}}, "generate.rows: the verse row is scored by evaluate only"),
    # the requested form of the form decoder
    ({"generate": {"form": "iamb 4 ABAB"}}, "generate.form: 'iamb 4 ABAB' is not a form; write 'auto', 'free' or"),
    ({"generate": {"form": "jamb 4 ABAB x3"}}, "generate.form: meter 'jamb' in 'jamb 4 ABAB x3' is not one of"),
    ({"generate": {"form": "iamb four ABAB x3"}}, "generate.form: feet 'four' in 'iamb four ABAB x3' must be"),
    ({"generate": {"form": "dolnik 2 ABAB x3"}}, "generate.form: a dolnik needs 3 or more ictuses"),
    ({"generate": {"form": "iamb 4 ABBC x3"}}, "generate.form: scheme 'ABBC' in 'iamb 4 ABBC x3' is not one of"),
    ({"generate": {"form": "iamb 4 ABAB 3"}}, "generate.form: stanzas '3' in 'iamb 4 ABAB 3' must be written x1"),
    ({"generate": {"formed_rows": ["base_4bit"]}}, "generate.formed_rows: must be a subset of generate.rows"),
    ({"generate": {"form": "free"}}, "generate.formed_rows: must be [] when generate.form is 'free'"),
    ({"generate": {"formed_per_theme": 5}}, "generate.formed_per_theme: 5 is more than generate.samples_per_theme"),
])
def test_bad_params_name_key_value_and_what_is_allowed(raw, message):
    with pytest.raises(ConfigError) as err:
        params_from_dict(raw)
    assert message in str(err.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        params_from_dict({"lora": {"r": 0, "dropout": 2.0}, "train": {"per_device_train_batch_size": 0}})
    assert str(err.value).splitlines() == [
        "lora.r: must be > 0, got 0", "lora.dropout: must be < 1, got 2.0",
        "train.per_device_train_batch_size: must be >= 1, got 0"]


def test_params_yaml_loads_and_round_trips():
    params = load_params(ROOT / "params.yaml")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert to_dict(params.split) == raw["split"] and to_dict(params.train) == raw["train"]
    assert params_from_dict(to_dict(params)) == params


def test_build_names_the_given_key():
    with pytest.raises(ConfigError, match=r"^corpus\.sources\[toy\]\.kind: 'txt' is not allowed"):
        build(SourceParams, {"name": "toy", "kind": "txt", "path": "x"}, "corpus.sources[toy]")


def test_committed_schema_is_current():
    committed = json.loads((ROOT / SCHEMA_FILE).read_text(encoding="utf-8"))
    assert committed == json_schema(), f"{SCHEMA_FILE} is stale: run `python -m qwen_qlora.config`"


def test_schema_accepts_params_yaml_and_flags_what_load_params_refuses():
    validator = jsonschema.Draft202012Validator(json_schema())
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(raw)) == []
    for section, key, value in [("split", "val_fracton", 0.2), ("lora", "r", 0),
                                ("train", "precision", "fp8"), ("quant", "load_in_4bit", "yes"),
                                ("generate", "themes", [])]:
        bad = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
        bad[section][key] = value
        assert list(validator.iter_errors(bad)), (section, key, value)
        with pytest.raises(ConfigError):
            params_from_dict(bad)


def _code_default(field):
    value = field.get_default(call_default_factory=True)
    return value.model_dump() if isinstance(value, BaseModel) else value


def _differences(model, data, path=""):
    for key, value in data.items():
        field = model.model_fields[key]
        if isinstance(value, dict) and isinstance(field.annotation, type) \
                and issubclass(field.annotation, BaseModel):
            yield from _differences(field.annotation, value, f"{path}{key}.")
        elif _code_default(field) != value:
            yield f"{path}{key}: code {_code_default(field)!r}, params.yaml {value!r}"


def test_code_defaults_are_params_yaml():
    """A default lives in params.yaml; the code's default for the same key is the same value.
    corpus.sources is where this checkout's data lies, not a default: the code has none."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["corpus"].pop("sources")
    assert list(_differences(Params, raw)) == []


def test_old_train_names_name_their_sft_config_names():
    with pytest.raises(ConfigError) as err:
        params_from_dict({"train": {"epochs": 1, "max_seq_len": 128, "seed": 3}})
    assert str(err.value) == ("train: renamed to TRL's SFTConfig names: epochs -> num_train_epochs, "
                              "max_seq_len -> max_length; rename them in params.yaml (warmup_steps "
                              "below 1 is a share of the steps, as warmup_ratio was)")


def test_train_fields_reach_sft_config_unchanged(tmp_path):
    from qwen_qlora.training.trainer import SFT_FIELDS, sft_config

    train = TrainParams(num_train_epochs=1.5, per_device_train_batch_size=3, max_length=99,
                        gradient_accumulation_steps=2, warmup_steps=0.1, lr_scheduler_type="linear")
    args = sft_config(train, tmp_path, "fp32")
    for name in SFT_FIELDS:
        assert getattr(args, name) == getattr(train, name), name


def test_a_form_string_parses_into_its_parts():
    from qwen_qlora.config import FormSpec, parse_form

    assert parse_form("iamb 4 abab x3") == FormSpec("iamb", 4, "ABAB", 3)
    assert str(parse_form("dolnik  3 ABCB x2")) == "dolnik 3 ABCB x2"
    assert parse_form("auto") == "auto" and parse_form("free") == "free"
    params = params_from_dict({"generate": {"form": "trochee 5 AABB x2", "formed_rows": ["adapted"]}})
    assert params.generate.form_spec() == FormSpec("trochee", 5, "AABB", 2)
    assert params.generate.form_spec("free") == "free"
    with pytest.raises(ConfigError, match="^form: meter"):
        params.generate.form_spec("jamb 4 ABAB x3")
