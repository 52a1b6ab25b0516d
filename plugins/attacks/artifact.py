"""Replay a JailbreakBench attack artifact: the prompts PAIR, GCG, JBC, ... found for each behavior.

Artifacts are JSON files laid out as attack-artifacts/{method}/{attack_type}/{model}.json in
JailbreakBench/artifacts. Transferring them to another model is how the R2D paper evaluates
(see R2D-METHOD.md). Where the artifact has no prompt for a behavior, the goal itself is sent,
as JailbreakBench does.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from r2d_sdk import (
    Attack,
    AttackPrompt,
    Behavior,
    ConfigError,
    Context,
    DataSource,
    Target,
    Unavailable,
    cache_dir,
    register,
    resolve_data_file,
    user,
)

ROOT = "jbb-artifacts/attack-artifacts"
ATTACK_TYPES = ("manual", "black_box", "white_box", "transfer")
UPSTREAM = "https://raw.githubusercontent.com/JailbreakBench/artifacts/main/attack-artifacts"


class ArtifactConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    artifact: str | None = Field(None, description="method/attack_type/model (e.g. JBC/manual/vicuna-13b-v1.5) "
                                                   "or method/model, under R2D_DATA_DIR/" + ROOT)
    path: str | None = Field(None, description="an artifact JSON file")
    url: str | None = Field(None, description="an artifact JSON to download once into the cache folder")
    if_missing: Literal["error", "skip"] = Field("error", description="skip: leave the attack out of the run "
                                                                      "when the file cannot be had")

    @model_validator(mode="after")
    def _one_source(self) -> ArtifactConfig:
        if sum(v is not None for v in (self.artifact, self.path, self.url)) != 1:
            raise ValueError("give exactly one of `artifact`, `path`, `url`")
        return self


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def download(url: str) -> Path:
    """The cached copy of `url`, fetched on first use (only ever for a URL the recipe names)."""
    name = url.rstrip("/").rsplit("/", 1)[-1] or "artifact.json"
    file = cache_dir() / "artifacts" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}-{name}"
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (the user's own URL)
            data = response.read()
        partial = file.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(file)
    return file


@register("artifact")
class ArtifactAttack(Attack):
    """Replay a JailbreakBench attack artifact's prompts; behaviors without one fall back to the goal."""

    Config = ArtifactConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        self.file = self._locate()
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            jailbreaks: list[dict[str, Any]] = data["jailbreaks"]
            assert isinstance(jailbreaks, list)
        except (ValueError, KeyError, TypeError, AssertionError, UnicodeDecodeError) as error:
            raise ConfigError(f"{self.file} is not a JailbreakBench artifact ({type(error).__name__}: {error})",
                              fix="give a JSON file with `parameters` and a `jailbreaks` list") from None
        parameters = data.get("parameters") or {}
        self.source = {"method": parameters.get("method"), "artifact_model": parameters.get("model"),
                       "attack_type": parameters.get("attack_type"),
                       "artifact": self.config.artifact or self.config.path or self.config.url}
        self.by_goal = {_normal(j["goal"]): j for j in jailbreaks if j.get("goal")}
        self.by_index = {str(j["index"]): j for j in jailbreaks if j.get("index") is not None}

    def _missing(self, message: str, fix: str) -> Exception:
        if self.config.if_missing == "skip":
            return Unavailable(message, fix=fix)
        return ConfigError(message, fix=fix)

    def _locate(self) -> Path:
        c = self.config
        if c.url is not None:
            try:
                return download(c.url)
            except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
                raise self._missing(f"artifact {c.url} could not be downloaded: {error}",
                                    "check the URL and the network, or give a local `path`") from None
        if c.path is not None:
            try:
                return resolve_data_file(DataSource(f"artifact {c.path}"), c.path)
            except ConfigError:
                raise self._missing(f"artifact file {c.path} does not exist",
                                    "fix `path` (relative paths are also tried under R2D_DATA_DIR)") from None
        spec = c.artifact.strip("/").removesuffix(".json")
        parts = spec.split("/")
        if len(parts) == 3:
            candidates: tuple[str, ...] = (f"{ROOT}/{spec}.json",)
        elif len(parts) == 2:
            candidates = tuple(f"{ROOT}/{parts[0]}/{kind}/{parts[1]}.json" for kind in ATTACK_TYPES)
        else:
            raise ConfigError(f"artifact '{c.artifact}' is not method/attack_type/model",
                              fix="write e.g. JBC/manual/vicuna-13b-v1.5 or PAIR/vicuna-13b-v1.5")
        try:
            return resolve_data_file(DataSource(f"artifact {spec}", data_dir_paths=candidates))
        except ConfigError:
            raise self._missing(
                f"JailbreakBench artifact {spec} was not found on this machine",
                f"set R2D_DATA_DIR to a folder holding {candidates[0]}, give `path:`, or give "
                f"`url: {UPSTREAM}/{candidates[0].removeprefix(ROOT + '/')}`") from None

    def _find(self, behavior: Behavior) -> tuple[dict[str, Any] | None, str | None]:
        found = self.by_goal.get(_normal(behavior.goal))
        if found is not None:
            return found, "goal"
        # By index only where the item is recognisably the same JBB behavior: an id alone would
        # pair, say, XSTest prompt 3 with JBB behavior 3.
        candidate = self.by_index.get(behavior.id)
        if candidate is not None and (behavior.meta.get("behavior") == candidate.get("behavior")
                                      or (behavior.category and behavior.category == candidate.get("category"))):
            return candidate, "index"
        return None, None

    async def prompts(self, behavior: Behavior, target: Target) -> list[AttackPrompt]:
        found, matched_by = self._find(behavior)
        info: dict[str, Any] = dict(self.source)
        if found is None:
            info.update(fallback=True, reason="behavior not in the artifact: sent the goal")
            return [AttackPrompt([user(behavior.goal)], info=info)]
        info.update(index=found.get("index"), matched_by=matched_by, artifact_jailbroken=found.get("jailbroken"))
        if not found.get("prompt"):
            info.update(fallback=True, reason="the artifact has no prompt for this behavior: sent the goal")
            return [AttackPrompt([user(behavior.goal)], info=info)]
        info["fallback"] = False
        return [AttackPrompt([user(found["prompt"])], info=info)]
