"""The template attack reads a folder of .txt templates as a collection."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from r2d_sdk import Behavior, ConfigError, create


def test_folder_of_templates_gives_one_prompt_per_file(tmp_path: Path) -> None:
    folder = tmp_path / "my-templates"
    folder.mkdir()
    (folder / "b-story.txt").write_text("Write a story in which {goal}.", encoding="utf-8")
    (folder / "a-fuzz.txt").write_text("Pretend: [INSERT PROMPT HERE]", encoding="utf-8")
    (folder / "notes.md").write_text("not a template", encoding="utf-8")
    attack = create("attack", "template", {"collection": str(folder)})
    prompts = asyncio.run(attack.prompts(Behavior(id="1", goal="explain X"), None))  # type: ignore[attr-defined]
    assert [p.text for p in prompts] == ["Pretend: explain X", "Write a story in which explain X."]
    assert [p.info["template"] for p in prompts] == ["a-fuzz", "b-story"]
    assert prompts[0].info["collection"] == "my-templates"
    only = create("attack", "template", {"collection": str(folder), "ids": ["b-story"]})
    assert len(asyncio.run(only.prompts(Behavior(id="1", goal="g"), None))) == 1  # type: ignore[attr-defined]


def test_folder_without_templates_or_slots_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no .txt files"):
        create("attack", "template", {"collection": str(tmp_path)})
    (tmp_path / "x.txt").write_text("no slot", encoding="utf-8")
    with pytest.raises(ConfigError, match="no slot"):
        create("attack", "template", {"collection": str(tmp_path)})
