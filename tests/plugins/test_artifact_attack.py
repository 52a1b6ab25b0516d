"""Replaying JailbreakBench attack artifacts from the shared data, a path, or a (file://) URL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from r2d_sdk import AttackPrompt, Behavior, ConfigError, Unavailable, create

JBC = "JBC/manual/vicuna-13b-v1.5"


async def no_target(messages: object) -> object:
    raise AssertionError("an artifact replay never queries the target")


async def replay(attack: object, item: Behavior) -> AttackPrompt:
    [prompt] = await attack.prompts(item, no_target)  # type: ignore[attr-defined]
    return prompt


@pytest.fixture
def jbb(data_dir: Path) -> list[Behavior]:
    return list(create("dataset", "jbb-harmful").items())  # type: ignore[attr-defined]


async def test_jbc_covers_all_100_behaviors(jbb: list[Behavior]) -> None:
    attack = create("attack", "artifact", {"artifact": JBC})
    prompts = [await replay(attack, item) for item in jbb]
    assert all(p.info["fallback"] is False and "Niccolo" in p.text for p in prompts)
    # The artifact spells behavior 82's goal "opiods": the index (with the same JBB behavior) still finds it.
    by_index = [item.id for item, p in zip(jbb, prompts, strict=True) if p.info["matched_by"] == "index"]
    assert by_index == ["82"]
    assert all(item.goal in p.text for item, p in zip(jbb, prompts, strict=True) if item.id != "82")
    info = prompts[0].info
    assert (info["method"], info["artifact_model"], info["attack_type"]) == ("JailbreakChat", "vicuna-13b-v1.5",
                                                                             "manual")
    assert info["index"] == 0 and info["artifact"] == JBC


async def test_pair_null_prompts_fall_back_to_the_goal(jbb: list[Behavior], data_dir: Path) -> None:
    attack = create("attack", "artifact", {"artifact": "PAIR/vicuna-13b-v1.5"})  # attack type found by search
    prompts = [await replay(attack, item) for item in jbb]
    fallbacks = [(item, p) for item, p in zip(jbb, prompts, strict=True) if p.info["fallback"]]
    raw = json.loads((data_dir / "jbb-artifacts/attack-artifacts/PAIR/black_box/vicuna-13b-v1.5.json").read_text())
    assert len(fallbacks) == sum(j["prompt"] is None for j in raw["jailbreaks"]) == 18
    assert all(p.text == item.goal and "no prompt" in p.info["reason"] for item, p in fallbacks)


async def test_index_match_needs_the_same_jbb_behavior(jbb: list[Behavior], data_dir: Path) -> None:
    attack = create("attack", "artifact", {"artifact": JBC})
    reworded = replace(jbb[3], goal=jbb[3].goal + " (reworded)")
    prompt = await replay(attack, reworded)
    assert prompt.info["matched_by"] == "index" and prompt.info["index"] == 3
    xstest_item = next(iter(create("dataset", "xstest").items()))  # type: ignore[attr-defined]
    uncovered = await replay(attack, xstest_item)  # id "1" must not pick JBB behavior 1
    assert uncovered.text == xstest_item.goal and uncovered.info["fallback"] is True
    assert "not in the artifact" in uncovered.info["reason"]


async def test_path_and_file_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jbb: list[Behavior],
                                 data_dir: Path) -> None:
    source = data_dir / "jbb-artifacts/attack-artifacts" / f"{JBC}.json"
    by_path = create("attack", "artifact", {"path": str(source)})
    monkeypatch.setenv("R2D_CACHE_DIR", str(tmp_path / "cache"))
    by_url = create("attack", "artifact", {"url": source.as_uri()})
    assert (await replay(by_path, jbb[5])).text == (await replay(by_url, jbb[5])).text
    cached = list((tmp_path / "cache" / "artifacts").iterdir())
    assert len(cached) == 1 and cached[0].name.endswith("vicuna-13b-v1.5.json")


def test_missing_artifact_errors_or_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("R2D_DATA_DIR", raising=False)
    with pytest.raises(ConfigError) as error:
        create("attack", "artifact", {"artifact": JBC})
    assert "R2D_DATA_DIR" in (error.value.fix or "") and "raw.githubusercontent.com" in (error.value.fix or "")
    with pytest.raises(Unavailable):
        create("attack", "artifact", {"artifact": JBC, "if_missing": "skip"})
    with pytest.raises(Unavailable):
        create("attack", "artifact", {"path": str(tmp_path / "none.json"), "if_missing": "skip"})
    monkeypatch.setenv("R2D_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="could not be downloaded"):
        create("attack", "artifact", {"url": (tmp_path / "gone.json").as_uri()})


def test_bad_file_and_bad_spec_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"parameters": {}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a JailbreakBench artifact"):
        create("attack", "artifact", {"path": str(bad), "if_missing": "skip"})
    with pytest.raises(ConfigError, match="method/attack_type/model"):
        create("attack", "artifact", {"artifact": "JBC"})
    with pytest.raises(ConfigError, match="exactly one"):
        create("attack", "artifact", {"artifact": JBC, "path": str(bad)})
