"""Jailbreak templates: the goal placed into a prompt written to talk the model round.

A template has a `{goal}` slot (GPTFuzzer's `[INSERT PROMPT HERE]` works too). It comes from
one of the templates shipped with r2d-sdk, a file, inline text, or a collection file holding
many templates, each of which becomes its own attack prompt.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from r2d_plugins._slots import require_slot

from r2d_sdk import (
    Attack,
    AttackPrompt,
    Behavior,
    ConfigError,
    Context,
    DataSource,
    Target,
    read_table,
    register,
    resolve_data_file,
    user,
)

SLOTS = ("{goal}", "[INSERT PROMPT HERE]")
# GPTFuzzer's 77 templates (Yu et al. 2023) as laid out under R2D_DATA_DIR; `collection: gptfuzzer`.
NAMED_COLLECTIONS = {"gptfuzzer": DataSource("template collection gptfuzzer",
                                             data_dir_paths=("templates/GPTFuzzer.csv",))}


def shipped_templates() -> dict[str, str]:
    """The role-play templates that come with r2d-sdk, by name."""
    folder = files("r2d_plugins.templates")
    return {entry.name.removesuffix(".txt"): entry.read_text(encoding="utf-8")
            for entry in folder.iterdir() if entry.name.endswith(".txt")}


def fill(template: str, goal: str) -> str:
    """Put the goal into every slot. Plain replacement: templates are full of other braces."""
    for slot in SLOTS:
        template = template.replace(slot, goal)
    return template


def check_slot(template: str, where: str) -> str:
    return require_slot(template, where, SLOTS, "the goal")


def read_template(path: Path) -> str:
    """A template file's text; a file that is not UTF-8 text is a ConfigError, not a traceback."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"template file {path} is not UTF-8 text", fix="save the template as UTF-8") from None
    except OSError as error:
        raise ConfigError(f"cannot read template file {path}: {error.strerror}", fix="check the path") from None


def _folder_templates(folder: Path) -> list[tuple[str, str]]:
    """Every .txt file of a folder, in name order, as (file stem, text)."""
    files = sorted(folder.glob("*.txt"))
    if not files:
        raise ConfigError(f"template folder {folder} has no .txt files",
                          fix="put one template per .txt file in the folder, each with a {goal} slot")
    return [(f.stem, read_template(f)) for f in files]


class TemplateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str | None = Field(None, description="a shipped template's name (novelist-villain, screenplay-scene, "
                                                   "game-master-npc) or a text file path")
    text: str | None = Field(None, description="the template itself, inline")
    collection: str | None = Field(None, description="a CSV/JSON/JSONL file of templates, a folder of .txt "
                                                     "templates (one per file, id = file name), or `gptfuzzer`")
    ids: list[str] | None = Field(None, description="collection only: the template ids to use")
    limit: int | None = Field(None, gt=0, le=1_000_000, description="collection only: the first N templates")
    id_column: str = Field("id", description="collection only: column of template ids (else the row number)")
    text_column: str = Field("text", description="collection only: column of template texts")

    @model_validator(mode="after")
    def _one_source(self) -> TemplateConfig:
        given = [k for k in ("template", "text", "collection") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `template`, `text`, `collection`"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.collection is None and (self.ids is not None or self.limit is not None):
            raise ValueError("`ids` and `limit` choose templates from a `collection`")
        return self


@register("template")
class TemplateAttack(Attack):
    """A jailbreak template with the goal in its slot; a collection gives one prompt per template."""

    Config = TemplateConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        c = self.config
        self.collection_name: str | None = None
        if c.text is not None:
            self.templates = [("inline", check_slot(c.text, "the inline template `text`"))]
        elif c.template is not None:
            self.templates = [self._single(c.template)]
        else:
            self.templates = self._collection(c.collection)

    def _single(self, name: str) -> tuple[str, str]:
        shipped = shipped_templates()
        if name.removesuffix(".txt") in shipped:
            key = name.removesuffix(".txt")
            return key, check_slot(shipped[key], f"shipped template '{key}'")
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"template '{name}' is neither a shipped template nor a file",
                              fix=f"use one of {', '.join(sorted(shipped))}, or a path to a text file")
        return path.stem, check_slot(read_template(path), f"template file {path}")

    def _collection(self, name: str) -> list[tuple[str, str]]:
        c = self.config
        named = NAMED_COLLECTIONS.get(name.lower())
        if Path(name).expanduser().is_dir():
            self.collection_name = Path(name).expanduser().name
            return self._chosen(_folder_templates(Path(name).expanduser()), name)
        if named is not None and not Path(name).exists():
            try:
                file = resolve_data_file(named)
            except ConfigError:
                raise ConfigError(f"template collection '{name}' was not found on this machine",
                                  fix=f"set R2D_DATA_DIR to a folder holding {named.data_dir_paths[0]}, "
                                      "or give `collection:` the path of the file") from None
        else:
            try:
                file = resolve_data_file(DataSource(f"template collection {name}"), name)
            except ConfigError:
                raise ConfigError(f"template collection file {name} does not exist",
                                  fix="fix `collection` (relative paths are also tried under R2D_DATA_DIR); "
                                      "`gptfuzzer` names GPTFuzzer's 77 templates") from None
        self.collection_name = file.name
        rows = read_table(file)
        templates = []
        for number, row in enumerate(rows):
            if c.text_column not in row:
                raise ConfigError(f"{file}: row {number} has no '{c.text_column}' column",
                                  fix="set `text_column` to the column holding the templates")
            tid = str(row[c.id_column]) if c.id_column in row else str(number)
            templates.append((tid, str(row[c.text_column])))
        return self._chosen(templates, str(file))

    def _chosen(self, templates: list[tuple[str, str]], file: str) -> list[tuple[str, str]]:
        c = self.config
        if c.ids is not None:
            known = {tid for tid, _ in templates}
            unknown = [i for i in c.ids if i not in known]
            if unknown:
                raise ConfigError(f"{file} has no templates with ids {unknown}",
                                  fix=f"choose `ids` among the file's {len(known)} ids")
            chosen = set(c.ids)
            templates = [t for t in templates if t[0] in chosen]
        if c.limit is not None:
            templates = templates[: c.limit]
        return [(tid, check_slot(text, f"{file}: template {tid}")) for tid, text in templates]

    async def prompts(self, behavior: Behavior, target: Target) -> list[AttackPrompt]:
        info = {"collection": self.collection_name} if self.collection_name else {}
        return [AttackPrompt([user(fill(text, behavior.goal))], info={"template": tid, **info})
                for tid, text in self.templates]
