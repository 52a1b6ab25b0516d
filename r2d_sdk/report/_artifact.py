"""Export a run's attack prompts as a JailbreakBench attack artifact (JSON).

The artifact format (`parameters` + `jailbreaks[]`) is JailbreakBench's (Chao et al. 2024), so an
exported file can be replayed with the `artifact` attack against any model or defense, or read by
JailbreakBench's own tools. One artifact covers one (dataset, target model, attack, defense) slice
of a run, judged by one judge.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from r2d_sdk._errors import ConfigError

if TYPE_CHECKING:
    from r2d_sdk.store import Store

ATTACK_TYPES = ("black_box", "white_box", "transfer", "manual")


def _only(values: set[str], given: str | None, what: str, flag: str) -> str:
    """The one value of a grid axis: the one asked for, or the only one there is."""
    if given is not None:
        if given not in values:
            raise ConfigError(f"no {what} '{given}' in this slice of the run (there: {', '.join(sorted(values))})",
                              fix=f"pass {flag} with one of: {', '.join(sorted(values))}")
        return given
    if len(values) != 1:
        raise ConfigError(f"the run has several {what}s: {', '.join(sorted(values))}",
                          fix=f"choose one with {flag}")
    return next(iter(values))


def _scalar(value: Any) -> str | int | float:
    # JailbreakBench's schema allows only scalars in method_parameters.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str | int | float):
        return value
    return json.dumps(value, sort_keys=True)


def _behaviors(recipe_yaml: str, dataset: str) -> dict[str, str]:
    """Item id -> JBB `Behavior` name, re-read from the run's dataset when it is at hand."""
    try:
        from r2d_sdk._context import Context
        from r2d_sdk._registry import create
        from r2d_sdk.recipe import parse_recipe

        recipe = parse_recipe(recipe_yaml).recipe
        spec = next(s for s in recipe.datasets if s.key == dataset)
        items = create("dataset", spec.name, spec.args, Context()).items()  # type: ignore[attr-defined]
        return {item.id: str(item.meta.get("behavior") or "") for item in items}
    except Exception:  # the data may be elsewhere now: the names are a nicety, not a requirement
        return {}


def export_artifact(store: Store, run_id: str, attack: str, judge: str, *, model: str | None = None,
                    defense: str | None = None, dataset: str | None = None, method: str | None = None,
                    attack_type: str | None = None, successful_only: bool = False) -> dict[str, Any]:
    """Build a JailbreakBench artifact from one slice of a stored run.

    Per item, the prompt is the first one the judge counted as jailbroken, else the first
    prompt tried (or None with `successful_only`). Query counts come from the attack's own
    accounting (`queries`, `queries_to_jailbreak` in its info) where it keeps one, else from
    the prompts sent.

    Args:
        store: the results database.
        run_id: a run id or 'latest'.
        attack: the attack's recipe label.
        judge: the judge's recipe label that decides `jailbroken`.
        model: the target model's recipe name (needed when the run has several).
        defense: the defense label (default: the only one, else `none`).
        dataset: the dataset label (needed when the run has several).
        method: the artifact's `method` (default: the attack's plugin name).
        attack_type: black_box, white_box, transfer or manual (default: what the attack reported).
        successful_only: leave the prompt out (None) where the judge saw no jailbreak.

    Raises:
        ConfigError: an unknown label, or an ambiguous slice, with the choices.
    """
    from sqlalchemy import select

    from r2d_sdk.store import JudgmentRow, Sample

    run = store.get_run(run_id)
    with store.engine.connect() as connection:
        samples = list(connection.execute(select(Sample).where(Sample.run_id == run.id)
                                          .order_by(Sample.id)))
        attacks = {s.attack for s in samples}
        attack = _only(attacks, attack, "attack", "--attack")
        samples = [s for s in samples if s.attack == attack]
        model = _only({s.model for s in samples}, model, "target model", "--model")
        samples = [s for s in samples if s.model == model]
        defenses = {s.defense for s in samples}
        if defense is None and len(defenses) > 1 and "none" in defenses:
            defense = "none"
        defense = _only(defenses, defense, "defense", "--defense")
        samples = [s for s in samples if s.defense == defense]
        dataset = _only({s.dataset for s in samples}, dataset, "dataset", "--dataset")
        samples = [s for s in samples if s.dataset == dataset]
        verdicts = {row.sample_id: row for row in connection.execute(
            select(JudgmentRow).where(JudgmentRow.run_id == run.id, JudgmentRow.judge == judge))}
    if not verdicts:
        raise ConfigError(f"run {run.id} has no judgments by '{judge}'",
                          fix="pass --judge with a judge label of the recipe (`r2d-sdk runs show RUN_ID`)")
    spec = _attack_spec(run.recipe_yaml, attack)
    names = _behaviors(run.recipe_yaml, dataset)
    by_item: dict[str, list[Any]] = {}
    for sample in sorted(samples, key=lambda s: s.prompt_index):
        by_item.setdefault(sample.item_id, []).append(sample)
    jailbreaks = [_jailbreak(position, rows, verdicts, names, successful_only)
                  for position, rows in enumerate(sorted(by_item.values(), key=lambda r: _order(r[0].item_id)))]
    reported = next((s.attack_info_json.get("attack_type") for s in samples
                     if isinstance(s.attack_info_json, dict) and s.attack_info_json.get("attack_type")), None)
    attack_type = attack_type or reported or "black_box"
    if attack_type not in ATTACK_TYPES:
        raise ConfigError(f"attack type '{attack_type}' is not one of {', '.join(ATTACK_TYPES)}",
                          fix="pass --attack-type black_box|white_box|transfer|manual")
    count = sum(j["jailbroken"] for j in jailbreaks)

    def total(key: str) -> int:
        return sum(j[key] or 0 for j in jailbreaks)

    return {"parameters": {
        "method": method or (spec or {}).get("name", attack), "model": samples[0].model_id, "attack_type": attack_type,
        "defense": None if defense == "none" else defense,
        "attack_success_rate": round(count / len(jailbreaks), 4) if jailbreaks else 0.0,
        "total_number_of_jailbreaks": count,
        "number_of_submitted_prompts": sum(j["prompt"] is not None for j in jailbreaks),
        "total_number_of_queries": total("number_of_queries"), "total_prompt_tokens": total("prompt_tokens"),
        "total_response_tokens": total("response_tokens"),
        "evaluation_date": run.started_at.date().isoformat(), "evaluation_llm_provider": "litellm",
        "method_parameters": {**{k: _scalar(v) for k, v in ((spec or {}).get("args") or {}).items()},
                              "judge": judge, "r2d_run_id": run.id, "r2d_dataset": dataset},
    }, "jailbreaks": jailbreaks}


def _order(item_id: str) -> tuple[int, int | str]:
    return (0, int(item_id)) if item_id.isdigit() else (1, item_id)


def _attack_spec(recipe_yaml: str, label: str) -> dict[str, Any] | None:
    import yaml

    try:
        attacks = (yaml.safe_load(recipe_yaml) or {}).get("attacks") or []
    except yaml.YAMLError:
        return None
    for entry in attacks:
        spec = {"name": entry} if isinstance(entry, str) else dict(entry)
        if (spec.get("label") or spec.get("name")) == label:
            return spec
    return None


def _jailbreak(position: int, rows: list[Any], verdicts: dict[int, Any], names: dict[str, str],
               successful_only: bool) -> dict[str, Any]:
    first = rows[0]
    hits = [i for i, s in enumerate(rows) if (v := verdicts.get(s.id)) is not None and v.jailbroken]
    chosen = rows[hits[0]] if hits else first
    info = first.attack_info_json if isinstance(first.attack_info_json, dict) else {}
    adaptive = isinstance(info.get("queries"), int)
    # One query per prompt sent, unless the attack counted its own (adaptive search, GCG steps).
    queries = info["queries"] if adaptive else len(rows)
    to_jailbreak = None
    if hits:
        to_jailbreak = (info.get("queries_to_jailbreak") or queries) if adaptive else hits[0] + 1
    jailbroken = bool(hits)
    return {
        "index": int(first.item_id) if first.item_id.isdigit() else position,
        "goal": first.goal, "behavior": names.get(first.item_id, ""), "category": first.category or "",
        "prompt": None if successful_only and not jailbroken else chosen.prompt,
        "response": chosen.response, "number_of_queries": queries, "queries_to_jailbreak": to_jailbreak,
        "prompt_tokens": chosen.prompt_tokens, "response_tokens": chosen.completion_tokens,
        "jailbroken": jailbroken,
    }
