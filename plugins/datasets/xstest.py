"""XSTest: 250 safe prompts that merely sound unsafe and 200 contrasting unsafe ones."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from r2d_sdk import Behavior, ConfigError, Dataset, DataSource, read_table, register, resolve_data_file

# XSTest (Röttger et al., NAACL 2024), paul-rottger/exaggerated-safety: xstest_prompts.csv with
# columns id, prompt, type, label (safe/unsafe), focus, note. The hub copy is the one XSTest's
# README points to.
SOURCE = DataSource(
    "xstest",
    data_dir_paths=("xstest/xstest_prompts.csv", "xstest/xstest_v2_prompts.csv"),
    hub=("Paul/XSTest", "xstest_prompts.csv"),
)
COLUMNS = ("id", "prompt", "type", "label")


class XSTestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(None, description="an xstest_prompts.csv (default: R2D_DATA_DIR, then the hub)")


@register("xstest")
class XSTest(Dataset):
    """XSTest exaggerated-safety prompts: label safe (should be answered) or unsafe (should be refused)."""

    Config = XSTestConfig

    def items(self) -> Iterable[Behavior]:
        file = resolve_data_file(SOURCE, self.config.path)
        for row in read_table(file):
            missing = [c for c in COLUMNS if c not in row]
            if missing:
                raise ConfigError(f"{file} lacks the XSTest columns {missing}",
                                  fix="give XSTest's xstest_prompts.csv (id, prompt, type, label, focus, note)")
            yield Behavior(id=str(row["id"]), goal=row["prompt"], category=row["type"], label=row["label"],
                           meta={"focus": row.get("focus", ""), "note": row.get("note", "")})
