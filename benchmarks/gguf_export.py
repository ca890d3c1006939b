"""GGUF export of the default model: KL of each type's next-token distributions from the
fp32 merged model (read back with transformers, and with llama.cpp when llama-cpp-python
is installed), file sizes and time.

Usage: python benchmarks/gguf_export.py [--root .] [--out /tmp/gguf] [--types f16,bf16,q8_0,q4_k_m]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from qwen_qlora.config import load_params
from qwen_qlora.app.export import export_run
from qwen_qlora.app.merge import PROBES


def llama_cpp_kl(path: Path, tokenizer, reference_model) -> float | None:
    """Max KL per position of llama.cpp's next-token distributions from the reference's."""
    try:
        import llama_cpp
    except ImportError:
        return None
    worst = 0.0
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, logits_all=True, verbose=False)
    for text in PROBES:
        ids = tokenizer(text).input_ids
        with torch.no_grad():
            ref = reference_model(input_ids=torch.tensor([ids])).logits[0].double().log_softmax(-1)
        llm.reset()
        llm.eval(ids)
        got = torch.tensor(llm.scores[: len(ids)]).double().log_softmax(-1)
        worst = max(worst, float((ref.exp() * (ref - got)).sum(-1).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--out", type=Path, default=Path("/tmp/gguf-export"))
    ap.add_argument("--types", default="f16,bf16,q8_0,q4_k_m")
    args = ap.parse_args()
    params = load_params(args.root / "params.yaml")
    base, adapter = args.root / "models/base" / params.model.preset, args.root / "models/adapter"
    merged = args.out.with_name(args.out.name + "-merged")
    start = time.time()
    from qwen_qlora.app.merge import merge_adapter

    if not merged.exists():
        merge_adapter(base, adapter, params.model.selected, merged, dtype="fp32")
    files = export_run(base, adapter, params.model.selected, args.out, args.types.split(","),
                       f"{params.model.preset}-{params.author}", merged_dir=merged)
    print(f"export of {params.model.preset} + {adapter}: {time.time() - start:.0f} s")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(merged)
    print("| type | MiB | max KL (transformers) | mean KL | top-1 | max KL (llama.cpp) | tolerance |")
    print("|---|---|---|---|---|---|---|")
    for f in files:
        kl = llama_cpp_kl(f.path, tok, ref)
        print(f"| {f.qtype} | {f.size_bytes / 2**20:.1f} | {f.max_kl:.2g} | {f.mean_kl:.2g} | {f.top1_agreement:.1%} "
              f"| {'-' if kl is None else f'{kl:.2g}'} | {f.tolerance} |")


if __name__ == "__main__":
    main()
