"""The `distill:` section of a recipe: how `r2d-sdk distill` builds R2D trajectories.

    distill:
      teacher: offline          # or a model under `models:` (any LiteLLM model)
      answer_model: target      # offline only: the model whose own answers benign prompts get
      prompts:
        - {source: seed}                          # the shipped seed set
        - {source: alpaca, limit: 300}            # R2D_DATA_DIR/alpaca (benign)
        - {source: advbench}                      # R2D_DATA_DIR/advbench (harmful), JBB overlap removed
        - {source: dataset, name: jbb-benign}     # any dataset plugin
        - {source: file, path: mine.jsonl, label: harmful}
      guard: llamaguard         # optional: a model that relabels the pivots
      output: data/r2d-trajectories.jsonl
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from r2d_sdk._generation import MAX_NEW_TOKENS, RepetitionPenalty, Seed
from r2d_sdk._strict import StrictModel as _Strict
from r2d_sdk.recipe._names import Name

# The templated builder's first reasoning step quotes the request. A long quote buys little (the
# start of a prompt says what it asks, or which wrapper it hides in) and costs reasoning tokens a
# small model may not have before its answer budget runs out.
QUOTE_CHARS = 80

Label = Literal["harmful", "benign", "sensitive-benign"]


class PromptSource(_Strict):
    """One place prompts come from."""

    source: Literal["seed", "alpaca", "advbench", "dataset", "file"] = Field(
        description="seed: the shipped set; alpaca/advbench: R2D_DATA_DIR; dataset: a plugin; file: a table")
    labels: list[Label] | None = Field(None, description="seed only: which labels to take (default all)")
    name: Name | None = Field(None, description="dataset only: the dataset plugin's name")
    args: dict[str, Any] = Field(default_factory=dict, description="dataset only: the plugin's arguments")
    path: str | None = Field(None, description="file: the table; alpaca/advbench: a copy elsewhere")
    label: Label | None = Field(None, description="file/dataset: the label of every prompt (default: per row)")
    limit: int | None = Field(None, gt=0, le=10_000_000, description="at most this many prompts from this source")

    @model_validator(mode="after")
    def _fields_fit_source(self) -> PromptSource:
        if self.source == "dataset" and not self.name:
            raise ValueError("source: dataset needs `name:` (a dataset plugin, e.g. jbb-benign)")
        if self.source == "file" and not self.path:
            raise ValueError("source: file needs `path:` (a CSV/JSON/JSONL table with prompt and label)")
        if self.labels is not None and self.source != "seed":
            raise ValueError("`labels:` applies to source: seed only; use `label:` for files and datasets")
        return self


class DistillSpec(_Strict):
    """What `r2d-sdk distill` does: prompts in, trajectories (JSONL) out, every call in the database."""

    teacher: Name = Field("offline", description="a model name under `models:`, or `offline` (templated "
                                                "reasoning, base-model answers, no teacher needed)")
    answer_model: str | None = Field(None, description="offline: the model answering benign prompts "
                                                       "(default: the recipe's first target)")
    prompts: list[PromptSource] = Field(default_factory=lambda: [PromptSource(source="seed")], min_length=1)
    guard: str | None = Field(None, description="a model name under `models:` that relabels pivots "
                                                "(e.g. a Llama Guard endpoint; docs/r2d-data.md has the mapping)")
    output: Name = Field("r2d-trajectories.jsonl", description="trajectory JSONL; re-running skips what it holds")
    concurrency: int = Field(8, gt=0, le=1024)
    limit: int | None = Field(None, gt=0, le=10_000_000, description="at most this many prompts in all (after a seeded shuffle)")
    seed: Seed | None = Field(None, description="default: the recipe's seed")
    max_tokens: int = Field(1024, gt=0, le=MAX_NEW_TOKENS, description="teacher reply budget")
    system_prompt: str | None = Field(None, description="replace the built-in safety-reasoning system prompt")
    answer_max_tokens: int = Field(160, gt=0, le=MAX_NEW_TOKENS, description="offline: new tokens for a base-model answer")
    max_answer_chars: int = Field(600, gt=40, le=1_000_000, description="offline: answers are cut at a sentence boundary")
    quote_chars: int = Field(QUOTE_CHARS, gt=10, le=100_000, description="offline: how much of the request the first reasoning "
                                                   "step quotes")
    answer_repetition_penalty: RepetitionPenalty | None = Field(None, description="offline: for the answers of a "
                                                                            "local model (default: its own)")
    exclude_evaluation: bool = Field(True, description="drop prompts that near-duplicate JBB or XSTest "
                                                       "prompts (those sets found like datasets)")
