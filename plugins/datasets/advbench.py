"""AdvBench harmful behaviors: 520 (goal, target) pairs from the GCG paper."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from r2d_sdk import Behavior, ConfigError, Dataset, DataSource, read_table, register, resolve_data_file

# AdvBench (Zou et al. 2023), llm-attacks/llm-attacks data/advbench/harmful_behaviors.csv: goal, target.
# The hub copies are Parquet only, which this reader does not take, so no hub source is listed.
SOURCE = DataSource(
    "advbench",
    data_dir_paths=("advbench/data/advbench/harmful_behaviors.csv", "advbench/harmful_behaviors.csv"),
)


class AdvBenchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(None, description="a harmful_behaviors.csv (default: under R2D_DATA_DIR)")


@register("advbench")
class AdvBench(Dataset):
    """The 520 AdvBench harmful behaviors; ids are row numbers from 0."""

    Config = AdvBenchConfig

    def items(self) -> Iterable[Behavior]:
        file = resolve_data_file(SOURCE, self.config.path)
        for number, row in enumerate(read_table(file)):
            if "goal" not in row:
                raise ConfigError(f"{file} has no `goal` column", fix="give AdvBench's harmful_behaviors.csv "
                                  "(goal, target), or use the `file` dataset with a column mapping")
            yield Behavior(id=str(number), goal=row["goal"], target=row.get("target") or "", label="harmful")
