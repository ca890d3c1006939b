"""A merged model people can take away: the LoRA adapter folded into a bf16/fp32 copy of
the base, saved as safetensors with the tokenizer and a short model card, loadable by
plain `transformers` (`AutoModelForCausalLM.from_pretrained(DIR)`, no peft needed).

The adapter is never merged into 4-bit weights: folding a low-rank update into NF4 would
requantize every touched matrix and lose most of the update. The base is loaded dense
(bf16 or fp32), merged, and the result checked twice: its logits against the unmerged
base+adapter on probe texts (the max absolute difference is reported; the stated tolerance
is on the KL divergence of the next-token distributions, which is what sampling sees), and the saved folder reloaded and compared with the merged model in memory.
Run as `qwen-qlora merge --out DIR`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from qwen_qlora.config import PresetParams, QuantParams
from qwen_qlora.model.load import load_base
from qwen_qlora.model.prompts import prompt_ids

# Accepted max KL divergence (nats, per position) of the merged model's next-token
# distribution from base+adapter's. fp32 differs only by summation order (gemma-3-270m:
# KL 5e-11, logits within 6e-5). bf16 rounds each merged weight W + BA once where the
# unmerged model rounds W and BA separately; on gemma-3-270m (logits up to ~35) that moves
# logits by up to ~1.1 and the distributions by ~0.008 nats. That is bf16 itself, not the
# merge: against the fp32 base+adapter, the bf16 merged model is off by KL 0.006 and the
# bf16 unmerged one by 0.005. The max |logit difference| is reported beside the KL.
TOLERANCE = {"fp32": 1e-6, "bf16": 0.02}
PROBES = ["Напиши стихотворение на тему: зима\n\nБелый снег ложится тихо,\nспит у речки старый мост.",
          "Напиши стихотворение на тему: море\n\nШепчет море у причала,\nветер гонит облака."]


class MergeError(RuntimeError):
    """The merge could not be done or did not check out; the message says why."""


@dataclass
class MergeResult:
    out_dir: Path
    dtype: str
    max_abs_diff: float  # max |logit difference|, merged vs base+adapter, on the probe texts
    max_kl: float  # max KL(base+adapter || merged) per position, nats
    top1_agreement: float  # share of positions where both pick the same most likely token
    reload_max_abs_diff: float  # saved folder reloaded plainly (default attention kernel) vs merged
    reload_max_kl: float
    tolerance: float  # on max_kl and reload_max_kl
    probe_tokens: int


def compare_logits(ref: torch.Tensor, new: torch.Tensor) -> tuple[float, float, float]:
    """(max |difference|, max KL(ref || new) per position in nats, top-1 agreement)."""
    log_ref, log_new = ref.double().log_softmax(-1), new.double().log_softmax(-1)  # float64: KL of ~1e-12 is not noise
    kl = (log_ref.exp() * (log_ref - log_new)).sum(-1)
    return (float((ref - new).abs().max()), float(kl.max().clamp(min=0)),
            float((ref.argmax(-1) == new.argmax(-1)).float().mean()))


def _logits(model: Any, batch: list[list[int]]) -> torch.Tensor:
    device = next(model.parameters()).device
    with torch.no_grad():
        return torch.cat([model(input_ids=torch.tensor([ids], device=device)).logits[0].float().cpu()
                          for ids in batch])


def merge_adapter(base_dir: str | Path, adapter_dir: str | Path, preset: PresetParams, out_dir: str | Path,
                  dtype: str = "bf16", card: str | None = None, probes: list[str] | None = None) -> MergeResult:
    """Merge, save and check; raises MergeError when the merged model's next-token
    distributions are further than TOLERANCE[dtype] (KL, nats) from base+adapter's."""
    if dtype not in TOLERANCE:
        raise MergeError(f"--dtype {dtype!r}: merge into bf16 or fp32 (never into 4-bit weights)")
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise MergeError(f"{adapter_dir}: no adapter_config.json; run `dvc repro train` first")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise MergeError(f"{out_dir} exists and is not empty; choose a new --out folder")
    dense = QuantParams(load_in_4bit=False)
    base, tokenizer = load_base(base_dir, preset, dense, precision=dtype)
    base = base.to(torch.bfloat16 if dtype == "bf16" else torch.float32)
    if getattr(base, "is_loaded_in_4bit", False) or getattr(base, "is_loaded_in_8bit", False):
        raise MergeError("the base was loaded quantized; a merge needs dense bf16/fp32 weights")
    model = PeftModel.from_pretrained(base, str(adapter_dir)).eval()
    batch = [prompt_ids(preset, tokenizer, p) for p in (probes or PROBES)]
    unmerged = _logits(model, batch)
    merged = model.merge_and_unload().eval()
    merged_logits = _logits(merged, batch)
    diff, kl, top1 = compare_logits(unmerged, merged_logits)
    if kl > TOLERANCE[dtype]:
        raise MergeError(f"the merged model's next-token distributions differ from base+adapter by KL {kl:.3g} "
                         f"nats > tolerance {TOLERANCE[dtype]} ({dtype}; max |logit difference| {diff:.3g}); "
                         "nothing was saved")

    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if card is not None:
        (out_dir / "README.md").write_text(card, encoding="utf-8")
    reloaded = _reload_plain(out_dir, dtype)
    reload_diff, reload_kl, _ = compare_logits(merged_logits, _logits(reloaded, batch))
    if reload_kl > TOLERANCE[dtype]:
        raise MergeError(f"{out_dir}: reloaded with plain transformers, the model differs from the merged one "
                         f"by KL {reload_kl:.3g} nats > {TOLERANCE[dtype]}; do not use this folder")
    return MergeResult(out_dir, dtype, diff, kl, top1, reload_diff, reload_kl, TOLERANCE[dtype],
                       sum(map(len, batch)))


def _reload_plain(out_dir: Path, dtype: str) -> Any:
    """The saved folder as any transformers user loads it."""
    from transformers import AutoModelForCausalLM

    files = sorted(p.name for p in out_dir.glob("*.safetensors"))
    if not files:
        raise MergeError(f"{out_dir}: no .safetensors file was written")
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    return AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch_dtype).eval()


def _metric_line(name: str, row: dict[str, Any], key: str) -> str | None:
    if key not in row:
        return None
    lo, hi = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    ci = f" (95% CI {lo:.3g}–{hi:.3g})" if lo is not None and hi is not None else ""
    return f"| {name} | {key} | {row[key]:.4g}{ci} |"


def model_card(*, preset: str, source: str, author: str, lora: dict[str, Any], train: dict[str, Any],
               dtype: str, metrics: dict[str, dict[str, Any]], split: dict[str, Any], quantized: bool = True,
               gguf_files: list[str] | None = None, verse: dict[str, Any] | None = None) -> str:
    """A short Markdown model card: what it is, the data (the split's figures, required),
    the params, the metrics with intervals (those present in metrics/*.json), intended use
    and limits. With `gguf_files`, the card of a GGUF export: how to run those files."""
    missing = [k for k in ("train_poems", "val_poems") if k not in split]
    if missing:
        raise ValueError(f"model card: the split's figures {', '.join(missing)} are missing (metrics/split.json); "
                         "run `dvc repro split` or point --metrics-dir at the run's metrics folder")
    if gguf_files:
        example = gguf_files[-1]
        usage = [f"The base model `{source}` with a LoRA adapter merged into it, as GGUF for llama.cpp and Ollama: "
                 + ", ".join(f"`{f}`" for f in gguf_files) + ". With llama.cpp: "
                 f"`llama-cli -m {example} -p \"Напиши стихотворение на тему: зима\" -n 200`; with Ollama: a "
                 f"Modelfile with `FROM ./{example}`, then `ollama create`. transformers reads them too: "
                 f"`AutoModelForCausalLM.from_pretrained(this_folder, gguf_file=\"{example}\")`."]
    else:
        usage = [f"The base model `{source}` with a LoRA adapter merged into its {dtype} weights. "
                 "Load it with plain transformers: `AutoModelForCausalLM.from_pretrained(this_folder)`."]
    lines = [
        "---", f"library_name: {'gguf' if gguf_files else 'transformers'}", "language: [ru]",
        f"tags: [lora, qlora, poetry{', gguf' if gguf_files else ''}]", "---", "",
        f"# {preset} + LoRA: Russian poems in the style of {author}", "",
        *usage, "",
        "## Data", "",
        f"Poems by {author} (train {split['train_poems']}, validation {split['val_poems']}"
        + (f", test {split['test_poems']}" if "test_poems" in split else "")
        + " poems), from the project's offline corpus. " + _verse_line(verse)
        + " Prompt: a request for a poem on a theme.", "",
        "## Training", "",
        ("QLoRA: the frozen base in 4-bit NF4, the adapter trained in higher precision, then merged here into the "
         "dense base (never into 4-bit weights)." if quantized else
         "LoRA on the frozen 16/32-bit base, merged here into it."), "",
        "| param | value |", "|---|---|",
        *[f"| lora.{k} | {v} |" for k, v in lora.items()],
        *[f"| train.{k} | {v} |" for k, v in train.items()], "",
        "## Metrics", "",
        "| model | metric | value |", "|---|---|---|",
    ]
    ev, gen, poe = metrics.get("eval", {}), metrics.get("generation", {}), metrics.get("poetics", {})
    rows = []
    for name in ("base", "base_fewshot", "adapted"):
        for key in ("test_perplexity", "val_perplexity", "token_accuracy"):
            rows.append(_metric_line(name, ev.get(name, {}), key))
    head = ev.get("headline") or {}
    rows.append(_metric_line("adapted / base", head, "test_perplexity_ratio"))
    rows.append(_metric_line("adapted / base", ev.get("delta", {}), "val_perplexity_ratio"))
    for name in ("base", "adapted"):
        rows.append(_metric_line(name, gen.get(name, {}), "copied_line_share"))
        rows.append(_metric_line(name, poe.get(name, {}), "p_author_mean"))
    rows = [r for r in rows if r]
    lines += rows or ["| (no metrics found in metrics/*.json) | | |"]
    lines += ["", "## Intended use", "",
              "Writing practice, study of style transfer and of how a small model picks up a poet's manner. "
              "Generated poems are imitations: do not present them as the poet's work. The model can repeat "
              "lines of its training poems (see copied_line_share above); check a poem before publishing it. "
              "It knows Russian poetry only as well as a small base model does.", ""]
    return "\n".join(lines)


CARD_METRICS = ("eval", "generation", "poetics", "split")
CARD_TRAIN_KEYS = ("num_train_epochs", "max_steps", "learning_rate", "per_device_train_batch_size",
                   "gradient_accumulation_steps", "seed")


def _verse_line(verse: dict[str, Any] | None) -> str:
    """What the verse stage (metrics/verse.json) taught the adapter before her poems."""
    if not verse or not verse.get("enabled"):
        return "Other poets' poems served only as reference for the style metrics."
    poets = ", ".join(f"{a} {n}" for a, n in (verse.get("poems_by_author") or {}).items() if n)
    return (f"Before her poems the same adapter learned {verse.get('train_examples', '?')} poems of other Russian "
            f"poets ({poets}; the verse stage); other poets' poems also serve as reference for the style metrics.")


def run_card(params: Any, metrics_dir: Path, dtype: str, gguf_files: list[str] | None = None) -> str:
    """The model card of a pipeline run: params.yaml's settings and the run's metrics/*.json."""
    from qwen_qlora.config import to_dict

    metrics = {n: json.loads(f.read_text(encoding="utf-8")) for n in CARD_METRICS
               if (f := Path(metrics_dir) / f"{n}.json").is_file()}
    return model_card(preset=params.model.preset, source=params.model.selected.source, author=params.author,
                      lora=to_dict(params.lora),
                      train={k: v for k, v in to_dict(params.train).items() if k in CARD_TRAIN_KEYS},
                      dtype=dtype, metrics=metrics, split=metrics.get("split", {}),
                      quantized=params.quant.load_in_4bit, gguf_files=gguf_files,
                      verse=json.loads(v.read_text(encoding="utf-8"))
                      if (v := Path(metrics_dir) / "verse.json").is_file() else None)
