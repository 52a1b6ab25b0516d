"""The `train:` section of a recipe: one or more named training configurations.

Every key beside `runs` is a default shared by all runs; each run overrides what it needs:

    train:
      base: target                # a model of the recipe's `models:` (a local model)
      data: {offline: {}}         # or {path: trajectories.jsonl} from `r2d-sdk distill`,
                                  # or {judge: {}}: examples that train a response judge
      max_steps: 60
      runs:
        - name: r2d
        - name: r2d-no-cpo
          lambda_cpo: 0           # the "w/o CPO" ablation
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from r2d_sdk._generation import MAX_NEW_TOKENS, Seed
from r2d_sdk._strict import StrictModel as _Strict
from r2d_sdk.recipe._names import Name

# Upper bounds that no real run nears; they turn a typo (an extra three zeros) into an error.
MAX_STEPS = 10_000_000
MAX_BATCH = 4096


class JudgeDataSpec(_Strict):
    """Examples that train a response judge: JailbreakBench's attack artifacts, labelled by its judge.

    Each record with a response becomes (the judge prompt of its goal and response, " yes" when
    JailbreakBench's judge called it jailbroken, else " no"). The held-out split is by behavior.
    """

    artifacts: str | None = Field(None, description="the attack-artifacts folder (default: "
                                                    "R2D_DATA_DIR/jbb-artifacts/attack-artifacts)")
    max_response_chars: int = Field(700, ge=50, le=100_000, description="the response is cut to its first N "
                                                                       "characters in the judge prompt (the "
                                                                       "trained-judge plugin cuts the same)")


class TrainDataSpec(_Strict):
    """Where the trajectories come from: a JSONL file, the offline builder (no teacher needed), or judge examples."""

    path: str | None = Field(None, description="trajectory JSONL (r2d-sdk distill output, or the paper's "
                                               "instruction/input/output records)")
    offline: dict[str, Any] | None = Field(None, description="options of the offline builder "
                                                             "(build_offline_trajectories)")
    judge: JudgeDataSpec | None = Field(None, description="train a response judge on JailbreakBench's attack "
                                                          "artifacts (docs/judges.md, 'The trained judge')")
    heldout_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share kept out of training, per label "
                                                                     "(judge data: share of the behaviors)")

    @model_validator(mode="after")
    def _one_source(self) -> TrainDataSpec:
        if sum(source is not None for source in (self.path, self.offline, self.judge)) != 1:
            raise ValueError("give exactly one of `path` (a trajectory JSONL), `offline` (builder options) or "
                             "`judge` (judge examples)")
        return self


class LoraSpec(_Strict):
    """PEFT LoRA settings; defaults are the R2D paper's."""

    r: int = Field(64, gt=0, le=4096)
    alpha: int = Field(64, gt=0, le=65536)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[Name] = Field(min_length=1, default_factory=lambda: ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"])
    train_embeddings: bool = Field(True, description="train embeddings and LM head fully (the paper); "
                                                     "false trains only the new token rows")


class TrainSpec(_Strict):
    """One training configuration; `r2d-sdk train` trains each in turn and records it in the database."""

    name: Name = Field(description="what the `r2d` defense's `training:` argument refers to")
    base: Name = Field("target", description="name of a local model in the recipe's `models:`")
    data: TrainDataSpec
    with_pivots: bool = Field(True, description="false strips the pivots (the 'w/o Pivot' ablation)")
    reasoning: bool = Field(True, description="false trains on the final answer alone: no <think> block, no "
                                              "pivots, no tokens added, so the vocabulary stays the base's "
                                              "(plain SFT, e.g. SafeDecoding's safety expert); CPO then has "
                                              "nothing to contrast")
    lambda_cpo: float = Field(1.0, ge=0.0, le=1000.0, description="weight of Contrastive Pivot Optimization (0: w/o CPO)")
    cpo_reduction: Literal["mean", "paper"] = "mean"
    rethink_negative: Literal["[SAFE]", "[UNSAFE]"] | None = Field(
        None, description="pivot contrasted at [RETHINK] positions; none (the paper) gives them CE only")
    finetune: Literal["full", "lora"] = "full"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    train_layers: int | None = Field(None, gt=0, le=10_000, description="full fine-tuning only: train just the last N "
                                                            "decoder layers, the final norm and the (untied) LM "
                                                            "head (a CPU budget lever); null trains everything")
    keep_layers: int | None = Field(None, gt=0, le=10_000, description="keep only the first N decoder layers of "
                                                           "the base (the rest are dropped, in training and in "
                                                           "the exported model: a smaller, faster model)")
    prompt_format: Literal["chat", "vicuna", "plain"] = Field("chat", description="chat: the base's chat template; "
                                                              "vicuna: USER: … ASSISTANT:; plain: the prompt text "
                                                              "as it is (a judge prompt)")
    end_with_eos: bool = Field(True, description="false: no end-of-sequence token after the answer (a label word "
                                                 "read as a probability, never generated: the judge's yes/no)")
    learning_rate: float = Field(5e-5, gt=0, le=1.0)
    new_token_learning_rate: float | None = Field(3e-3, gt=0, le=1.0, description="learning rate of the added tokens' "
                                                                           "rows; null: the same as the rest")
    weight_decay: float = Field(0.0, ge=0, le=10.0)
    epochs: float = Field(1.0, gt=0, le=10_000)
    max_steps: int | None = Field(None, gt=0, le=MAX_STEPS, description="optimizer steps; overrides epochs")
    batch_size: int = Field(8, gt=0, le=MAX_BATCH, description="micro-batch per process")
    gradient_accumulation: int = Field(1, gt=0, le=MAX_BATCH)
    warmup_ratio: float = Field(0.02, ge=0, lt=1)
    max_grad_norm: float | None = Field(1.0, gt=0, le=1e6)
    gradient_checkpointing: bool = False
    bf16: Literal["auto", True, False] = Field("auto", description="auto: bf16 on a GPU that supports it")
    max_length: int = Field(1024, gt=16, le=1_048_576)
    seed: Seed = 0
    save_every: int = Field(50, gt=0, le=MAX_STEPS, description="checkpoint every N optimizer steps (resume point)")
    keep_checkpoints: int = Field(2, gt=0, le=1000)
    eval_every: int | None = Field(None, gt=0, le=MAX_STEPS, description="held-out teacher-forced evaluation every N steps")
    eval_generate: int = Field(8, ge=0, le=100_000, description="held-out prompts generated at the end to count pivots emitted")
    eval_max_tokens: int = Field(96, gt=0, le=MAX_NEW_TOKENS)
    output_dir: Name = Field("r2d-checkpoints", description="folder for checkpoints and the exported model")
    merge: bool = Field(True, description="LoRA: merge the adapter into the base on export")


class TrainSection(_Strict):
    """`train:`: shared defaults plus the list of runs."""

    runs: list[TrainSpec] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        runs = data.pop("runs", None)
        if runs is None:  # a single configuration written flat
            return {"runs": [data]}
        if not isinstance(runs, list):
            return {"runs": runs}
        return {"runs": [_merge(data, run) if isinstance(run, dict) else run for run in runs]}

    @model_validator(mode="after")
    def _layers_need_full(self) -> TrainSection:
        for run in self.runs:
            if run.train_layers is not None and run.finetune != "full":
                raise ValueError(f"train run '{run.name}': train_layers applies to finetune: full only")
        return self

    @model_validator(mode="after")
    def _judge_is_plain(self) -> TrainSection:
        for run in self.runs:
            if run.data.judge is not None and (run.reasoning or run.prompt_format != "plain"):
                raise ValueError(f"train run '{run.name}': judge data trains with `reasoning: false` and "
                                 "`prompt_format: plain` (the judge reads its prompt as it is, and answers yes or no)")
        return self

    @model_validator(mode="after")
    def _layers_fit(self) -> TrainSection:
        for run in self.runs:
            if run.keep_layers is not None and run.train_layers is not None and run.train_layers > run.keep_layers:
                raise ValueError(f"train run '{run.name}': train_layers ({run.train_layers}) is more than "
                                 f"keep_layers ({run.keep_layers})")
        return self

    @model_validator(mode="after")
    def _distinct_names(self) -> TrainSection:
        names = [run.name for run in self.runs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"train.runs repeats the names {repeated}; give each run its own name")
        return self

    def run(self, name: str) -> TrainSpec:
        for spec in self.runs:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _merge(defaults: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    # One level deep for nested sections (data, lora): a run may change one data option.
    merged = dict(defaults)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
