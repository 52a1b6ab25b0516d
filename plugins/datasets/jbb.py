"""JailbreakBench behaviors (JBB-Behaviors): 100 harmful and 100 matched benign."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from r2d_sdk import Behavior, ConfigError, Dataset, DataSource, read_table, register, resolve_data_file

HARMFUL = DataSource(
    "jbb-harmful",
    data_dir_paths=("jbb-behaviors/harmful-behaviors.csv", "jbb-behaviors/harmful_behaviors.csv"),
    package=("jailbreakbench", "jailbreakbench/data/behaviors.csv"),
    hub=("JailbreakBench/JBB-Behaviors", "data/harmful-behaviors.csv"),
)
BENIGN = DataSource(
    "jbb-benign",
    data_dir_paths=("jbb-behaviors/benign-behaviors.csv", "jbb-behaviors/benign_behaviors.csv"),
    hub=("JailbreakBench/JBB-Behaviors", "data/benign-behaviors.csv"),
)
COLUMNS = ("Goal", "Target", "Behavior", "Category")


class JBBConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None


def _behaviors(source: DataSource, path: str | None, label: str) -> Iterable[Behavior]:
    file = resolve_data_file(source, path)
    rows = read_table(file)
    for number, row in enumerate(rows):
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise ConfigError(f"{file} lacks the JBB columns {missing}",
                              fix="give a JBB-Behaviors CSV (Index, Goal, Target, Behavior, Category, Source)")
        # The hub CSV has an unnamed first column and `Index`; the package CSV only the former.
        index = row.get("Index") or row.get("") or str(number)
        yield Behavior(id=str(index), goal=row["Goal"], target=row["Target"], category=row["Category"], label=label,
                       meta={"behavior": row["Behavior"], "source": row.get("Source", "")})


@register("jbb-harmful")
class JBBHarmful(Dataset):
    """The 100 harmful JailbreakBench behaviors (ten categories of ten)."""

    Config = JBBConfig

    def items(self) -> Iterable[Behavior]:
        return _behaviors(HARMFUL, self.config.path, "harmful")


@register("jbb-benign")
class JBBBenign(Dataset):
    """The 100 benign JailbreakBench behaviors, matched topic for topic to the harmful ones."""

    Config = JBBConfig

    def items(self) -> Iterable[Behavior]:
        return _behaviors(BENIGN, self.config.path, "benign")
