"""Short trainings of tiny Gemma3 / Qwen2 models (built in code) through the library, as
the train stage runs it; the slow tests use the real default model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import bitsandbytes as bnb
import pytest
import torch
import yaml
from fixtures.tiny_models import toy_records
from peft import PeftModel
from safetensors.torch import load_file
from transformers import TrainerCallback, TrainerState
from transformers.trainer_callback import PrinterCallback

from qwen_qlora.config import LoraParams, PresetParams, QuantParams, TrainParams, default_presets, load_params
from qwen_qlora.evaluation.scoring import poem_tokens, score_examples
from qwen_qlora.evaluation.val_poems import score_val_poems, val_poem_figures
from qwen_qlora.io import read_jsonl
from qwen_qlora.model.head import SupervisedHead
from qwen_qlora.model.load import fast_bf16, load_base, resolve_precision
from qwen_qlora.model.lora import (
    LoraTargetError,
    attach_lora,
    keep_4bit_differentiable,
    lora_b_weights,
    lora_config,
    lora_modules,
)
from qwen_qlora.model.prompts import IGNORE, encode_example, encode_records
from qwen_qlora.training.health import HealthError
from qwen_qlora.training.run import fit_adapter
from qwen_qlora.training.trainer import (
    ProgressLineCallback,
    best_eval,
    build_trainer,
    check_packing,
    checkpoint_step,
    fingerprint,
    mark_run,
    project_code,
    resume_checkpoint,
    sft_config,
    summarize,
    trim_series,
)

ROOT = Path(__file__).resolve().parents[1]


def make_trainer(base, ckpt_dir, quant=True, train_records=None, lora=None, init_from=None, val_records=None,
                 **train_kw):
    path, preset = base
    kw = dict(max_steps=2, eval_steps=2, logging_steps=1, per_device_train_batch_size=2,
              per_device_eval_batch_size=2, early_stopping_patience=0, vocab="full", lora_move_steps=2,
              learning_rate=1e-3, seed=7)
    train = TrainParams(**{**kw, **train_kw})
    precision = resolve_precision(train.precision, preset, "cpu")
    model, tok = load_base(path, preset, QuantParams(load_in_4bit=quant), precision)
    examples, _ = encode_records(preset, tok, train_records or toy_records(6), train.max_length)
    val, _ = encode_records(preset, tok, val_records or toy_records(2, start=4), train.max_length)
    model = attach_lora(model, lora_config(lora or LoraParams(r=4, alpha=8), preset), train.activation_checkpointing,
                        train.upcast_frozen, init_from)
    args = sft_config(train, ckpt_dir, precision)
    return build_trainer(model, tok, examples, val, args, train), tok


def test_two_qlora_steps_train_the_adapter_and_it_reloads(gemma_base, tmp_path):
    trainer, tok = make_trainer(gemma_base, tmp_path / "ckpt")
    model = trainer.model
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
    before = lora_b_weights(model)
    out = trainer.train()
    assert math.isfinite(out.training_loss) and out.training_loss > 0
    assert trainer.tokens_seen > 0
    after = lora_b_weights(model)
    assert all(not torch.equal(before[n], after[n]) for n in before)

    trainer.save_model(str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    base, _ = load_base(*gemma_base, QuantParams(), resolve_precision("auto", gemma_base[1], "cpu"))
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    keep_4bit_differentiable(reloaded)  # the same 4-bit kernel as the trained model
    assert lora_modules(reloaded) == lora_modules(model)
    trained = {n: p for n, p in model.named_parameters() if "lora_" in n}
    for name, p in reloaded.named_parameters():
        if "lora_" in name:  # TRL trains QLoRA adapters in bf16; compare like with like
            assert torch.equal(p.to(trained[name].dtype), trained[name])
            p.data = p.data.to(trained[name].dtype)
    ids = tok("Белый снег", return_tensors="pt").input_ids
    with torch.no_grad():
        got, want = reloaded(ids).logits, model.eval()(ids).logits
    # bf16 runs (CPUs with AVX512-BF16) round differently in the reloaded model's norms
    atol = 2e-2 if torch.bfloat16 in (got.dtype, want.dtype) else 1e-5
    torch.testing.assert_close(got.float(), want.float(), atol=atol, rtol=0)


def test_training_continues_a_saved_adapter_from_its_weights(gemma_base, tmp_path):
    # The verse stage's adapter, then the poet's training starting from exactly its weights
    verse, _ = make_trainer(gemma_base, tmp_path / "verse_ckpt")
    verse.train()
    verse.save_model(str(tmp_path / "verse"))
    saved = load_file(tmp_path / "verse" / "adapter_model.safetensors")
    trainer, _ = make_trainer(gemma_base, tmp_path / "ckpt", init_from=tmp_path / "verse")
    start = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}
    assert len(start) == len(saved) > 0 and all(p.requires_grad for n, p in trainer.model.named_parameters()
                                                if "lora_" in n)
    for key, weight in saved.items():
        assert torch.equal(start[key.replace(".weight", ".default.weight")].to(weight.dtype), weight)
    assert any(bool(w.abs().sum()) for k, w in saved.items() if "lora_B" in k)  # not a fresh B = 0
    trainer.train()
    assert all(not torch.equal(start[n], p) for n, p in trainer.model.named_parameters() if "lora_B" in n)
    with pytest.raises(ValueError, match="differs from the lora section"):
        make_trainer(gemma_base, tmp_path / "ckpt2", lora=LoraParams(r=8, alpha=16), init_from=tmp_path / "verse")


def test_qlora_trains_after_an_evaluation(gemma_base, tmp_path):
    # The stage scores the base before training; on AVX512-BF16 CPUs bitsandbytes would
    # repack the 4-bit weights for inference there and drop every later gradient.
    trainer, _ = make_trainer(gemma_base, tmp_path / "ckpt")
    trainer.evaluate()
    before = lora_b_weights(trainer.model)
    trainer.train()
    after = lora_b_weights(trainer.model)
    assert all(not torch.equal(before[n], after[n]) for n in before)
    assert all(not getattr(m.weight.quant_state, "packing_format_for_cpu", False)
               for m in trainer.model.modules() if isinstance(m, bnb.nn.Linear4bit))


def test_frozen_weights_keep_their_load_dtype_unless_upcast(gemma_base, tmp_path):
    precision = resolve_precision("auto", gemma_base[1], "cpu")
    load_dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[precision]
    dtypes = {}
    for upcast in (True, False):
        trainer, _ = make_trainer(gemma_base, tmp_path / str(upcast), upcast_frozen=upcast)
        model = trainer.model
        dtypes[upcast] = {p.dtype for n, p in model.named_parameters() if "norm" in n or "embed" in n}
        assert not any(p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)
        before = lora_b_weights(model)
        assert math.isfinite(trainer.train().training_loss)
        after = lora_b_weights(model)
        assert all(not torch.equal(before[n], after[n]) for n in before)
    assert dtypes == {True: {torch.float32}, False: {load_dtype}}


def test_supervised_head_gives_trls_numbers_and_trains(gemma_base, tmp_path):
    trl_head, _ = make_trainer(gemma_base, tmp_path / "a", quant=False, supervised_head=False)
    ours, _ = make_trainer(gemma_base, tmp_path / "b", quant=False, supervised_head=True)
    assert trl_head.head is None and ours.head is not None
    want, got = trl_head.evaluate(), ours.evaluate()
    assert got["eval_loss"] == pytest.approx(want["eval_loss"], rel=1e-4)
    assert got["eval_mean_token_accuracy"] == pytest.approx(want["eval_mean_token_accuracy"])
    assert got["eval_entropy"] == pytest.approx(want["eval_entropy"], rel=1e-3)
    trl_head.train()
    ours.train()
    for a, b in zip(trl_head.state.log_history, ours.state.log_history, strict=True):
        if "loss" in a:  # the same training run, step by step
            assert b["loss"] == pytest.approx(a["loss"], rel=1e-2)  # bf16 rounding on AMX CPUs


def test_corpus_vocabulary_training_moves_the_adapter_and_evaluates_in_full(gemma_base, tmp_path):
    trainer, tok = make_trainer(gemma_base, tmp_path / "ckpt", vocab="corpus")
    assert trainer.trim_vocab and len(trainer.head.vocab) < len(tok)
    before = lora_b_weights(trainer.model)
    trainer.train()
    after = lora_b_weights(trainer.model)
    assert all(not torch.equal(before[n], after[n]) for n in before)
    full = SupervisedHead(trainer.model)
    batch = next(iter(trainer.get_eval_dataloader()))
    trainer.model.eval()
    with torch.no_grad():
        want = -full(trainer.model, batch)["log_probs"].mean()
        got = trainer.compute_loss(trainer.model, batch)
    assert float(got) == pytest.approx(float(want), rel=1e-5)  # eval: the full vocabulary


def test_val_batches_do_not_depend_on_the_seed(gemma_base, tmp_path):
    """group_by_length groups training batches only: the val loss of one model is the same
    under any train.seed."""
    records = toy_records(6)
    losses, orders = [], []
    for seed in (7, 42, 1234):
        trainer, _ = make_trainer(gemma_base, tmp_path / str(seed), quant=False, seed=seed, group_by_length=True,
                                  per_device_eval_batch_size=1, train_records=records,
                                  val_records=toy_records(5, start=1))
        orders.append([len(b["input_ids"][0]) for b in trainer.get_eval_dataloader()])
        losses.append(trainer.evaluate()["eval_loss"])
    assert orders[0] == sorted(orders[0]) and orders[0] == orders[1] == orders[2]
    assert losses[0] == losses[1] == losses[2]


def test_plain_lora_on_a_chat_model(qwen_base, tmp_path):
    trainer, tok = make_trainer(qwen_base, tmp_path / "ckpt", quant=False)
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in trainer.model.modules())
    batch = next(iter(trainer.get_train_dataloader()))
    assert int((batch["labels"] != IGNORE).sum()) > 0
    learned = batch["labels"][0][batch["labels"][0] != IGNORE]
    assert learned[-1] == tok.convert_tokens_to_ids("<|im_end|>")
    out = trainer.train()
    assert math.isfinite(out.training_loss)


def test_a_batch_without_supervised_tokens_stops_training(gemma_base, tmp_path):
    trainer, _ = make_trainer(gemma_base, tmp_path / "ckpt")
    # Only the first position is labelled: TRL keeps the example, but after the causal
    # shift nothing is predicted.
    trainer.train_dataset = trainer.train_dataset.map(
        lambda ex: {"labels": [ex["input_ids"][0]] + [IGNORE] * (len(ex["input_ids"]) - 1)})
    with pytest.raises(HealthError, match="no supervised token"):
        trainer.train()


def test_a_nan_loss_stops_training_at_that_step(gemma_base, tmp_path):
    trainer, _ = make_trainer(gemma_base, tmp_path / "ckpt")
    layer = trainer.model.base_model.model.model.layers[1]
    layer.register_forward_hook(lambda mod, inp, out: out * float("nan"))
    with pytest.raises(HealthError, match="step 0: .*loss.*not finite"):
        trainer.train()


def test_adapters_that_never_move_are_reported(gemma_base, tmp_path):
    trainer, _ = make_trainer(gemma_base, tmp_path / "ckpt", max_steps=3)
    for name, p in trainer.model.named_parameters():
        if "lora_" in name:  # gradients that never reach the adapters
            p.register_hook(lambda g: torch.zeros_like(g))
    with pytest.raises(HealthError, match="no LoRA B weight changed in 2 optimizer steps"):
        trainer.train()


def test_lora_on_no_module_is_reported(gemma_base):
    path, preset = gemma_base
    model, _ = load_base(path, preset, QuantParams(load_in_4bit=False))
    with pytest.raises(LoraTargetError, match="attached to no module"):
        attach_lora(model, lora_config(LoraParams(target_modules=["qkv"]), preset))


def test_fp16_is_refused_for_gemma():
    gemma = default_presets()["gemma-3-270m"]
    with pytest.raises(ValueError, match="fp16 overflows"):
        resolve_precision("fp16", gemma, "cpu")
    assert resolve_precision("bf16", gemma, "cpu") == "bf16"
    assert resolve_precision("auto", gemma, "cpu") == ("bf16" if fast_bf16("cpu") else "fp32")


def test_packing_is_refused_where_poems_would_see_each_other():
    with pytest.raises(ValueError, match="packed poems would attend to each other"):
        check_packing(TrainParams(packing=True), default_presets()["gemma-3-270m"])
    check_packing(TrainParams(packing=False), default_presets()["gemma-3-270m"])
    flash = PresetParams(source="x", attn_implementation="flash_attention_2")
    check_packing(TrainParams(packing=True), flash)


class Interrupt(TrainerCallback):
    """Stops the run like a kill after `at` optimizer steps (checkpoints already written)."""

    def __init__(self, at):
        self.at = at

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise KeyboardInterrupt


class Recorder(TrainerCallback):
    """Records the steps trained in this session and the adapter it started from."""

    def __init__(self):
        self.steps, self.start = [], None

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if self.start is None:  # after a resume has loaded the checkpoint's weights
            self.start = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_an_interrupted_run_resumes_from_its_last_checkpoint(gemma_base, tmp_path):
    ckpt = tmp_path / "ckpt"
    run_id = fingerprint({"lr": 1}, {}, [])
    kw = dict(max_steps=4, eval_steps=2, train_records=toy_records(6) * 2)
    trainer, _ = make_trainer(gemma_base, ckpt, **kw)
    mark_run(ckpt, run_id, finished=False)
    trainer.add_callback(Interrupt(at=3))
    with pytest.raises(KeyboardInterrupt):
        trainer.train()

    assert resume_checkpoint(ckpt, "another-run", "auto") is None
    assert resume_checkpoint(ckpt, run_id, "never") is None
    resume = resume_checkpoint(ckpt, run_id, "auto")
    assert resume is not None and checkpoint_step(resume) == 2

    trainer, _ = make_trainer(gemma_base, ckpt, **kw)
    recorder = Recorder()
    trainer.add_callback(recorder)
    trainer.train(resume_from_checkpoint=resume)
    assert recorder.steps == [3, 4] and trainer.state.global_step == 4
    saved = load_file(Path(resume) / "adapter_model.safetensors")
    started = {n.replace(".default", ""): w for n, w in recorder.start.items()}
    assert saved.keys() == started.keys()
    assert all(torch.equal(saved[n].to(w.dtype), w) for n, w in started.items())

    mark_run(ckpt, run_id, finished=True)  # a finished run trains again from step 0
    assert resume_checkpoint(ckpt, run_id, "auto") is None


def test_fingerprint_covers_config_encoded_examples_and_code(tmp_path):
    examples = {"train": [{"input_ids": [2, 5, 6, 1], "labels": [IGNORE, IGNORE, 6, 1]}], "val": []}
    code = tmp_path / "prompts.py"
    code.write_text("TEMPLATE = '{prompt}\\n\\n'\n")
    run_id = fingerprint({"lr": 1}, examples, [code])
    assert fingerprint({"lr": 1}, examples, [code]) == run_id
    assert fingerprint({"lr": 2}, examples, [code]) != run_id
    relabelled = {"train": [{"input_ids": [2, 5, 6, 1], "labels": [IGNORE, 5, 6, 1]}], "val": []}
    assert fingerprint({"lr": 1}, relabelled, [code]) != run_id  # same ids, another mask
    retokenized = {"train": [{"input_ids": [2, 5, 7, 1], "labels": [IGNORE, IGNORE, 7, 1]}], "val": []}
    assert fingerprint({"lr": 1}, retokenized, [code]) != run_id
    code.write_text("TEMPLATE = '{prompt}\\n'\n")
    assert fingerprint({"lr": 1}, examples, [code]) != run_id


def test_project_code_lists_the_stage_and_the_loaded_package_modules():
    files = project_code(__file__)
    assert files[0] == Path(__file__)
    names = {f.name for f in files}
    assert {"trainer.py", "prompts.py", "health.py", "lora.py"} <= names
    assert all(f.is_file() for f in files)


def test_val_poems_are_scored_whole_on_the_deployed_base_against_the_start(gemma_base, tmp_path):
    path, preset = gemma_base
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "model": {"preset": "tiny", "presets": {"tiny": {"source": "tiny", "eos_token": "<eos>", "pad_token": "<pad>",
                                                          "attn_implementation": "eager", "fp16_safe": False}}},
        "lora": {"r": 4, "alpha": 8}}))
    params = load_params(tmp_path / "params.yaml")
    cfg = TrainParams(max_steps=2, eval_steps=2, logging_steps=1, per_device_train_batch_size=2,
                      per_device_eval_batch_size=2, early_stopping_patience=0, learning_rate=1e-3, seed=7,
                      max_length=200)
    precision = resolve_precision(cfg.precision, preset, "cpu")
    for name, init in (("first", None), ("second", tmp_path / "first")):  # a run, then one continuing it
        model, tok = load_base(path, preset, QuantParams(), precision)
        train, _ = encode_records(preset, tok, toy_records(6), cfg.max_length)
        val, _ = encode_records(preset, tok, toy_records(2, start=4), cfg.max_length)
        fit_adapter(model, tok, {"train": train, "val": val}, params, cfg, precision, "cpu",
                    {"ckpt": tmp_path / f"{name}_ckpt", "adapter": tmp_path / name}, __file__, init_from=init)
    # a val poem longer than train.max_length: out of the trainer's val loss, scored whole here
    long = toy_records(1, start=6)[0]
    long["completion"] = "\n\n".join([long["completion"]] * 3)
    poems = val + [encode_example(preset, tok, long["prompt"], long["completion"])]
    assert len(poems[-1]["input_ids"]) > cfg.max_length
    first = score_val_poems(path, tmp_path / "first", None, preset, precision, poems, 2, 7)
    second = score_val_poems(path, tmp_path / "second", tmp_path / "first", preset, precision, poems, 2, 7)
    assert first["val_poems_scored"] == 3
    assert first["val_poem_tokens"] == sum(sum(t != IGNORE for t in p["labels"]) - 1 for p in poems)
    # from the base: the two references are one; continuing: the start is the first run's adapter
    assert first["val_poem_loss_start"] == first["val_poem_loss_base"] == second["val_poem_loss_base"]
    assert first["val_poem_ppl_ratio_start"] == first["val_poem_ppl_ratio_base"] != 1.0
    assert second["val_poem_loss_start"] == pytest.approx(first["val_poem_loss"], rel=1e-6)
    low, ratio, high = (second[f"val_poem_ppl_ratio_start{s}"] for s in ("_ci_low", "", "_ci_high"))
    assert low <= ratio <= high and ratio == pytest.approx(math.exp(second["val_poem_loss"] - first["val_poem_loss"]))
    # the base as shipped, not the 4-bit base the adapter trained on
    shipped, _ = load_base(path, preset, QuantParams(load_in_4bit=False), precision)
    scores = poem_tokens(score_examples(shipped, poems, tok.pad_token_id, 2, adapter=False))
    assert sum(s["nll"] for s in scores) / sum(s["tokens"] for s in scores) == pytest.approx(
        first["val_poem_loss_base"], rel=1e-6)


def test_val_poem_figures_set_the_run_against_its_start_and_the_base():
    end = [{"nll": 10.0, "tokens": 5}, {"nll": 20.0, "tokens": 10}]
    start = [{"nll": 11.0, "tokens": 5}, {"nll": 21.0, "tokens": 10}]
    base = [{"nll": 12.0, "tokens": 5}, {"nll": 24.0, "tokens": 10}]
    f = val_poem_figures(end, start, base, seed=0)
    assert (f["val_poems_scored"], f["val_poem_tokens"]) == (2, 15)
    assert f["val_poem_loss"] == pytest.approx(2.0) and f["val_poem_loss_start"] == pytest.approx(32 / 15)
    assert f["val_poem_ppl_ratio_start"] == pytest.approx(math.exp(-2 / 15))
    assert f["val_poem_ppl_ratio_base"] == pytest.approx(math.exp(-6 / 15))
    assert f["val_poem_ppl_ratio_base_ci_low"] <= f["val_poem_ppl_ratio_base"] <= f["val_poem_ppl_ratio_base_ci_high"]
    with pytest.raises(ValueError, match="different tokens"):
        val_poem_figures(end, start[:1] + [{"nll": 1.0, "tokens": 9}], base, seed=0)


def test_best_eval_and_summary():
    history = [{"eval_loss": 2.0, "step": 0}, {"loss": 1.9, "grad_norm": 0.5, "step": 1},
               {"eval_loss": 1.5, "eval_mean_token_accuracy": 0.4, "eval_entropy": 1.2, "step": 2},
               {"eval_loss": 1.7, "step": 4}]
    best = best_eval(history, best_step=2)
    assert best["eval_loss"] == 1.5
    metrics = summarize({"eval_loss": 2.0}, best, history,
                        {"tokens_per_second": 10.0, "runtime_s": 1.0})
    assert metrics["trainer_eval_loss"] == 1.5 and metrics["trainer_base_eval_loss"] == 2.0
    assert metrics["trainer_eval_loss_ratio"] == pytest.approx(0.75)
    assert metrics["trainer_eval_mean_token_accuracy"] == 0.4
    # the evaluate stage's names (token-weighted over all val tokens) are not reused here
    assert not any(k.startswith(("val_", "base_val")) or "perplexity" in k for k in metrics)
    with pytest.raises(ValueError, match="unusable metrics.*train_loss"):
        summarize({"eval_loss": 2.0}, best, [{"loss": float("nan")}],
                  {"tokens_per_second": 10.0, "runtime_s": 1.0})


def test_trim_series_drops_rows_after_the_checkpoint(tmp_path):
    tsv = tmp_path / "metrics" / "train" / "loss.tsv"
    tsv.parent.mkdir(parents=True)
    tsv.write_text("step\tloss\n1\t2.0\n2\t1.5\n3\t1.4\n")
    trim_series(tmp_path, 2)
    assert tsv.read_text() == "step\tloss\n1\t2.0\n2\t1.5\n"


@pytest.mark.slow
def test_real_default_model_trains_a_few_steps(tmp_path):
    base = ROOT / "models" / "base" / "gemma-3-270m"
    if not (base / "config.json").is_file():
        pytest.skip("run `dvc repro prepare_model` first (models/base/gemma-3-270m)")
    preset = default_presets()["gemma-3-270m"]
    data = ROOT / "data" / "processed" / "train.jsonl"
    records = read_jsonl(data)[:8] if data.is_file() else toy_records(6)
    trainer, _ = make_trainer((base, preset), tmp_path / "ckpt", train_records=records,
                              lora=LoraParams(), max_steps=3, learning_rate=2e-4)
    assert len(lora_modules(trainer.model)) == 36  # 18 layers x (q_proj, v_proj)
    before = trainer.evaluate()["eval_loss"]
    out = trainer.train()
    assert math.isfinite(out.training_loss) and 0 < before < 20


def test_progress_lines_give_step_of_total_and_time_left():
    now = [100.0]
    progress = ProgressLineCallback("verse", clock=lambda: now[0])
    assert progress.line(0, 0, {"eval_loss": 4.5}) == "verse: step 0: val loss 4.5000"
    progress.on_train_begin(None, TrainerState(global_step=0), None)
    now[0] = 130.0
    assert progress.line(10, 40, {"loss": 3.25, "grad_norm": 0.5}) == (
        "verse: step 10/40 (25%): loss 3.2500, grad norm 0.500; 30 s elapsed, ~1 m 30 s left")
    now[0] = 4000.0
    assert progress.line(40, 40, {"train_runtime": 3900.0}) == "verse: step 40/40 (100%): done; 1 h 05 m elapsed"


def test_a_run_outside_a_terminal_prints_one_progress_line_per_log(gemma_base, tmp_path, capsys):
    trainer, _ = make_trainer(gemma_base, tmp_path / "ckpt", quant=False, max_steps=4, logging_steps=2,
                              eval_steps=4)
    assert not any(isinstance(c, PrinterCallback) for c in trainer.callback_handler.callbacks)
    trainer.train()
    out = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("train: step")]
    assert [ln.split(" (")[0] for ln in out] == ["train: step 1/4", "train: step 2/4", "train: step 4/4",
                                                 "train: step 4/4", "train: step 4/4"]
    assert all(" left" in ln for ln in out[:2]) and "val loss" in out[3] and "done" in out[4]
