"""Any CSV / JSON / JSONL file as a dataset, through a column mapping."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from r2d_sdk import Behavior, ConfigError, Dataset, DataSource, read_table, register, resolve_data_file


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="a .csv, .json or .jsonl file (relative paths are also tried under R2D_DATA_DIR)")
    id_column: str | None = Field(None, description="column of stable ids (default: the row number from 0)")
    goal_column: str = Field("goal", description="column holding the request")
    target_column: str | None = Field(None, description="column of the affirmative target string")
    category_column: str | None = None
    label_column: str | None = Field(None, description="column of the item's ground truth (harmful, safe, ...)")
    label: str | None = Field(None, description="one label for every row, when the file has no label column")

    @model_validator(mode="after")
    def _one_label_source(self) -> FileConfig:
        if self.label is not None and self.label_column is not None:
            raise ValueError("give either `label` (a constant) or `label_column`, not both")
        return self


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@register("file")
class FileDataset(Dataset):
    """Rows of your own CSV/JSON/JSONL file, mapped to behaviors by column names."""

    Config = FileConfig

    def items(self) -> Iterable[Behavior]:
        config = self.config
        file = resolve_data_file(DataSource(f"file {config.path}"), config.path)
        rows = read_table(file)
        arguments = {getattr(config, a): a for a in ("id_column", "goal_column", "target_column",
                                                     "category_column", "label_column") if getattr(config, a)}
        mapped = set(arguments)
        for number, row in enumerate(rows):
            if not isinstance(row, dict):
                raise ConfigError(f"{file}: record {number} is not an object",
                                  fix="each record must map column names to values")
            missing = sorted(c for c in mapped if c not in row)
            if missing:
                raise ConfigError(f"{file}: record {number} has no column {', '.join(map(repr, missing))} "
                                  f"(it has: {', '.join(map(str, row))})",
                                  fix=f"fix {', '.join(f'`{arguments[c]}`' for c in missing)} in the "
                                      "`file` dataset's args")
            goal = _text(row[config.goal_column]).strip()
            if not goal:
                raise ConfigError(f"{file}: record {number} has an empty '{config.goal_column}'",
                                  fix="remove the row or point `goal_column` at the request text")
            yield Behavior(
                id=_text(row[config.id_column]) if config.id_column else str(number),
                goal=goal,
                target=_text(row.get(config.target_column)) if config.target_column else "",
                category=_text(row.get(config.category_column)) if config.category_column else "",
                label=_text(row.get(config.label_column)) if config.label_column else (config.label or ""),
                meta={k: v for k, v in row.items() if k not in mapped},
            )
