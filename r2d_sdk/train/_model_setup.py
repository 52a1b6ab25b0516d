"""Model preparation for R2D training: load, keep the first layers, add tokens, LoRA or full
fine-tuning, parameter groups.

The added tokens' rows get their own learning rate. A row of a weight matrix cannot sit in
a different optimizer group from the rest of the matrix, and scaling its gradient does nothing
under Adam (the update is scale-free), so each embedding matrix's new rows are mirrored in a
small "shadow" parameter: its gradient is copied from the matrix before the optimizer step,
and its updated value written back over the rows after it.
"""

from __future__ import annotations

from typing import Any

from r2d_sdk._errors import R2DError, missing_package
from r2d_sdk.recipe import TrainSpec
from r2d_sdk.train._tokens import ADDED_TOKENS, add_pivot_tokens, token_id


def load_base(ref: str, bf16: bool) -> tuple[Any, Any]:
    """The base model and tokenizer of a `local/` reference (embedded alias, folder or hub id)."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise missing_package(error.name or "transformers", "R2D training") from None
    from r2d_sdk._network import quiet_network_defaults
    from r2d_sdk._settings import hub_allowed
    from r2d_sdk.models import resolve_model_folder

    quiet_network_defaults()
    folder, on_disk = resolve_model_folder(ref)
    local_only = on_disk or not hub_allowed()
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=local_only,
                                                     dtype=torch.bfloat16 if bf16 else torch.float32)
    except OSError as error:
        raise R2DError(f"could not load the base model '{ref}': {error}",
                       fix="name a local model (local/smollm2, a folder, or a hub id with the hub reachable)") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _module_name(model: Any, module: Any) -> str | None:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name.rsplit(".", 1)[-1]
    return None


def prepare_model(model: Any, tokenizer: Any, spec: TrainSpec) -> tuple[Any, list[int]]:
    """Add the tokens (R2D format only), then wrap for LoRA or leave whole for full fine-tuning.

    Returns the model to train and the ids of the added tokens' rows (empty when the
    tokenizer already had every token, or when `spec.reasoning` is false and none are needed).
    """
    if spec.keep_layers is not None:
        keep_first_layers(model, spec.keep_layers)
    added = add_pivot_tokens(model, tokenizer) if spec.reasoning else []
    new_rows = sorted(token_id(tokenizer, t) for t in added)
    if spec.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if spec.finetune == "full":
        if spec.train_layers is not None:
            train_top_layers(model, spec.train_layers)
        return model, new_rows
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise missing_package("peft", "LoRA fine-tuning") from None
    embed = _module_name(model, model.get_input_embeddings())
    head = _module_name(model, model.get_output_embeddings())
    tied = bool(getattr(model.config, "tie_word_embeddings", False)) or getattr(
        model.get_output_embeddings(), "weight", None) is model.get_input_embeddings().weight
    options: dict[str, Any] = {}
    if spec.lora.train_embeddings:
        # The paper trains embeddings and LM head fully beside the adapters.
        options["modules_to_save"] = [m for m in (embed, head) if m]
    elif spec.reasoning:
        all_rows = [token_id(tokenizer, t) for t in ADDED_TOKENS]
        options["trainable_token_indices"] = {embed: all_rows}
    config = LoraConfig(r=spec.lora.r, lora_alpha=spec.lora.alpha, lora_dropout=spec.lora.dropout,
                        target_modules=list(spec.lora.target_modules), bias="none", task_type="CAUSAL_LM",
                        ensure_weight_tying=tied and bool(options), **options)  # adapters alone tie nothing
    model = get_peft_model(model, config)
    if spec.gradient_checkpointing:
        model.enable_input_require_grads()
    return model, new_rows


def decoder_layers(model: Any) -> Any:
    """The model's stack of decoder blocks (the ModuleList as long as the config's layer count)."""
    import torch

    count = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise R2DError(f"cannot find the decoder layers of {type(model).__name__}",
                   fix="leave train_layers unset to train the whole model")


def keep_first_layers(model: Any, count: int) -> None:
    """Drop every decoder layer after the first `count`; the final norm and the head stay.

    A CPU budget lever: a judge reading P(yes) needs no generation quality, and each layer
    dropped from SmolLM2-135M's 30 takes a thirtieth off every forward pass, in training and
    in every judgment after it. The config is changed too, so the exported folder loads as the
    smaller model it is.
    """
    layers = decoder_layers(model)
    if count > len(layers):
        raise R2DError(f"keep_layers is {count} but the model has {len(layers)} decoder layers",
                       fix=f"set keep_layers to at most {len(layers)}, or leave it unset")
    del layers[count:]
    for config in {id(c): c for c in (model.config, getattr(model.config, "get_text_config", lambda: None)())
                   if c is not None}.values():
        config.num_hidden_layers = count
        if isinstance(getattr(config, "layer_types", None), list):  # per-layer attention kinds, where kept
            config.layer_types = config.layer_types[:count]


def train_top_layers(model: Any, count: int) -> None:
    """Freeze all but the last `count` decoder layers, the final norm and the LM head.

    Tied embeddings are untied first: the LM head learns (the new rows at their own rate),
    while the input embeddings stay as they were, new rows included at their word's mean. With
    the matrix still shared, the frozen lower layers would suddenly read moved input rows
    they never learned to read (a first run on SmolLM2 emitted `<think>` and then lost the
    format). The frozen layers then need no backward pass at all.
    """
    import torch

    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    if head.weight is embed.weight or head.weight.data_ptr() == embed.weight.data_ptr():
        head.weight = torch.nn.Parameter(embed.weight.detach().clone())
        model.config.tie_word_embeddings = False
        if hasattr(model.config, "get_text_config"):
            model.config.get_text_config().tie_word_embeddings = False
    layers = decoder_layers(model)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for layer in layers[-count:]:
        for parameter in layer.parameters():
            parameter.requires_grad_(True)
    # The final norm sits between the last layer and the LM head (the layers' own norms are inside them).
    prefix = next(name for name, module in model.named_modules() if module is layers) + "."
    for name, module in model.named_modules():
        if name.endswith("norm") and not name.startswith(prefix):
            for parameter in module.parameters(recurse=False):
                parameter.requires_grad_(True)
    model.get_output_embeddings().weight.requires_grad_(True)


class RowLearningRate:
    """Give rows `rows` of each embedding-shaped trainable matrix their own optimizer group.

    Call `before_step()` after clipping and before `optimizer.step()`, `after_step()` right
    after it, and `sync()` after loading a saved state.
    """

    def __init__(self, weights: list[Any], rows: list[int]) -> None:
        import torch

        self.weights = weights
        self.rows = torch.tensor(rows, dtype=torch.long, device=weights[0].device if weights else None)
        self.shadows = [torch.nn.Parameter(w.detach()[self.rows].clone().float()) for w in weights]

    def before_step(self) -> None:
        for weight, shadow in zip(self.weights, self.shadows, strict=True):
            shadow.grad = None if weight.grad is None else weight.grad[self.rows].detach().clone().float()

    def after_step(self) -> None:
        import torch

        with torch.no_grad():
            for weight, shadow in zip(self.weights, self.shadows, strict=True):
                weight[self.rows] = shadow.detach().to(weight.dtype)

    def sync(self) -> None:
        import torch

        with torch.no_grad():
            for weight, shadow in zip(self.weights, self.shadows, strict=True):
                shadow.copy_(weight.detach()[self.rows].float())

    def checkpoint_objects(self) -> list[Any]:
        return []  # the shadows sit in the trainer's optimizer, saved with it


def vocab_matrix_names(model: Any, vocab_rows: int) -> list[str]:
    """Names of the trainable embedding-shaped matrices (a row per token); a tied one is named once."""
    return [name for name, parameter in model.named_parameters()  # shared parameters come once
            if parameter.requires_grad and "trainable_tokens_delta" not in name and parameter.dim() == 2
            and parameter.shape[0] == vocab_rows]


def parameter_groups(model: Any, spec: TrainSpec, new_rows: list[int], vocab_rows: int, shadow_rows: bool = True
                     ) -> tuple[list[dict[str, Any]], RowLearningRate | None]:
    """AdamW groups: everything at `learning_rate`, the new tokens' rows at `new_token_learning_rate`.

    With `shadow_rows` false (FSDP, whose optimizer may hold only the model's own parameters) the
    rows' shadows are left out; the trainer gives them their own optimizer (`ShardedRows`).
    """
    main, token_deltas = [], []
    seen: set[int] = set()
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad or id(parameter) in seen:
            continue
        seen.add(id(parameter))
        if "trainable_tokens_delta" in name:  # PEFT's own block of just the chosen rows
            token_deltas.append(parameter)
            continue
        main.append(parameter)
    named = dict(model.named_parameters())
    matrices = [named[name] for name in vocab_matrix_names(model, vocab_rows)]
    groups = [{"params": main, "lr": spec.learning_rate, "weight_decay": spec.weight_decay}]
    new_lr = spec.new_token_learning_rate
    if token_deltas:
        groups.append({"params": token_deltas, "lr": new_lr or spec.learning_rate, "weight_decay": 0.0})
    rows = None
    if shadow_rows and new_lr and new_rows and matrices:
        rows = RowLearningRate(matrices, new_rows)
        groups.append({"params": rows.shadows, "lr": new_lr, "weight_decay": 0.0})
    return [g for g in groups if g["params"]], rows
