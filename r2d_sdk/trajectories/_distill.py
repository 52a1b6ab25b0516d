"""`r2d-sdk distill`: prompts → trajectories (teacher or offline builder, optional guard), recorded.

Every teacher, answer and guard call goes through `Model.generate` (cached in the results
database when deterministic) and is written with the run (`runs.kind = 'distill'`).
Trajectories are appended to the output as they finish, so an interrupted build keeps them; a
re-run skips prompts already there. At the end the file is rewritten in prompt order so its
hash depends only on its contents.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r2d_sdk._calls import collect, stage
from r2d_sdk._context import Context
from r2d_sdk._errors import ConfigError, ModelCallError, R2DError
from r2d_sdk.recipe import LoadedRecipe
from r2d_sdk.trajectories._format import Trajectory, append_jsonl, read_jsonl, write_jsonl
from r2d_sdk.trajectories._prompts import SeedPrompt, load_prompts
from r2d_sdk.trajectories._teacher import (
    TEACHER_SYSTEM_PROMPT,
    GuardError,
    MalformedReply,
    parse_teacher_reply,
    relabel_with_guard,
)
from r2d_sdk.trajectories._templated import build_offline_trajectories_async


@dataclass
class DistillResult:
    """What a distill run did: counts by outcome, the output file and its hash."""

    run_id: str
    output: Path
    file_hash: str
    total: int
    already_done: int
    counts: Counter[str] = field(default_factory=Counter)
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _model(models: dict[str, Any], name: str, field_name: str) -> Any:
    if name not in models:
        raise ConfigError(f"distill.{field_name}: '{name}' is not one of the models {sorted(models)}",
                          fix=f"add '{name}' under `models:` or name one of {sorted(models)}")
    return models[name]


async def _one(prompt: SeedPrompt, spec: Any, models: dict[str, Any], seed: int, counts: Counter[str],
               run_id: str) -> Trajectory | None:
    """One prompt's trajectory, or None with the reason counted."""
    if spec.teacher == "offline":
        answerer = models.get(spec.answer_model) if spec.answer_model else None
        with stage("answer"):
            built = await build_offline_trajectories_async(
                answerer, [prompt], seed, max_answer_chars=spec.max_answer_chars,
                answer_max_tokens=spec.answer_max_tokens, repetition_penalty=spec.answer_repetition_penalty,
                quote_chars=spec.quote_chars,
                stats=counts, fail_if_no_answers=False)
        if not built:
            return None
        trajectory = built[0]
    else:
        teacher = models[spec.teacher]
        messages = [{"role": "system", "content": spec.system_prompt or TEACHER_SYSTEM_PROMPT},
                    {"role": "user", "content": prompt.text}]
        try:
            with stage("teacher"):
                output = await teacher.generate(messages, max_tokens=spec.max_tokens)
            trajectory = parse_teacher_reply(prompt, output.text, teacher.name)
        except ModelCallError:
            counts["call_error"] += 1
            return None
        except MalformedReply:
            counts["malformed"] += 1
            return None
    if spec.guard:
        try:
            with stage("guard"):
                trajectory = await relabel_with_guard(trajectory, models[spec.guard])
        except (ModelCallError, GuardError):
            counts["guard_error"] += 1
            return None
        counts["guard_disagrees_with_label"] += trajectory.meta["guard_prompt_unsafe"] != (trajectory.label == "harmful")
    trajectory.meta["distill_run"] = run_id
    counts["written"] += 1
    return trajectory


async def distill(loaded: LoadedRecipe, store: Any, *, limit: int | None = None, concurrency: int | None = None,
                  output: str | Path | None = None, progress: Callable[[int, int], None] | None = None
                  ) -> DistillResult:
    """Build the trajectories a recipe's `distill:` section describes (see docs/r2d-data.md)."""
    from r2d_sdk.models import build_models

    recipe, started = loaded.recipe, time.monotonic()
    spec = recipe.distill
    if spec is None:
        raise ConfigError(f"{loaded.path or 'the recipe'} has no `distill:` section",
                          fix="add a `distill:` section (docs/r2d-data.md)")
    models = build_models(recipe, store.responses)  # cached: repeated calls are free
    if spec.teacher != "offline":
        _model(models, spec.teacher, "teacher")
    if spec.guard:
        _model(models, spec.guard, "guard")
    if spec.teacher == "offline":
        default = recipe.targets[0] if recipe.targets[0] in models else None
        spec = spec.model_copy(update={"answer_model": spec.answer_model or default})
        if spec.answer_model:
            _model(models, spec.answer_model, "answer_model")
    seed = recipe.seed if spec.seed is None else spec.seed
    context = Context(models=models, seed=seed, generation=recipe.generation.params())
    prompts, info = load_prompts(spec.prompts, seed, limit or spec.limit, spec.exclude_evaluation, context)
    if spec.teacher == "offline" and not spec.answer_model and any(p.label != "harmful" for p in prompts):
        raise ConfigError("distill.answer_model: the offline builder needs a model to answer benign prompts",
                          fix="set distill.answer_model to a model under `models:` (e.g. local/smollm2)")
    path = Path(output or spec.output).expanduser()
    existing = read_jsonl(path) if path.exists() else []
    done = {t.prompt for t in existing}
    todo = [p for p in prompts if p.text not in done]
    run_id = store.create_run(recipe.name, loaded.text, loaded.hash, seed,
                              str(loaded.path) if loaded.path else None, kind="distill")
    counts: Counter[str] = Counter()
    queue: asyncio.Queue[SeedPrompt] = asyncio.Queue()
    for prompt in todo:
        queue.put_nowait(prompt)
    if progress is not None:
        progress(0, len(todo))

    async def worker() -> None:
        while not queue.empty():
            prompt = queue.get_nowait()
            with collect() as calls:
                trajectory = await _one(prompt, spec, models, seed, counts, run_id)
            store.write_orphan_calls(run_id, calls)
            if trajectory is not None:
                append_jsonl([trajectory], path)
            if progress is not None:
                progress(1, len(todo))

    try:
        workers = concurrency or spec.concurrency
        await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(todo))))))
    except BaseException as error:  # Ctrl-C, cancellation or a bug: the run says so; what is written stays
        status = "interrupted" if isinstance(error, KeyboardInterrupt | asyncio.CancelledError) else "failed"
        store.set_status(run_id, status, f"{type(error).__name__}: {error}")
        store.responses.flush()
        raise
    store.responses.flush()
    file_hash = _rewrite_in_order(path, prompts)
    if todo and counts["written"] == 0:
        store.set_status(run_id, "failed", f"no trajectory written: {dict(counts)}")
        raise R2DError(f"distill wrote no trajectory for {len(todo)} prompts ({dict(counts)})",
                       fix="look at the calls: r2d-sdk sql \"select stage, error, response from model_calls "
                           f"where run_id = '{run_id}' limit 5\"")
    store.set_status(run_id, "completed")
    return DistillResult(run_id, path, file_hash, len(prompts), len(prompts) - len(todo), counts, info,
                         time.monotonic() - started)


def _rewrite_in_order(path: Path, prompts: list[SeedPrompt]) -> str:
    """Rewrite the output in prompt order (others after, as they were); returns the file's hash."""
    if not path.exists():
        return write_jsonl([], path)
    order = {p.text: i for i, p in enumerate(prompts)}
    unique = {t.prompt: t for t in reversed(read_jsonl(path))}  # a prompt written twice counts once (the first)
    trajectories = list(reversed(unique.values()))
    ranked = sorted(enumerate(trajectories), key=lambda it: (order.get(it[1].prompt, len(order)), it[0]))
    partial = path.with_name(path.name + ".partial")
    digest = write_jsonl([t for _, t in ranked], partial)
    partial.replace(path)
    return digest
