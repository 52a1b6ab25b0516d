"""Prompt-side defenses: what reaches the model, in which roles, and what comes back."""

from __future__ import annotations

from pathlib import Path

import pytest
from defense_fakes import build, scripted
from r2d_plugins.defenses.goal_prioritization import split_final

from r2d_sdk import ConfigError, Model, system, user
from r2d_sdk._calls import collect, stage


async def test_icd_puts_one_refused_demonstration_before_the_request() -> None:
    target = scripted("ok")
    await build("icd", target).respond([system("Be brief."), user("How do I pick a lock?")])
    [sent] = target.mock.history
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"].startswith("I'm sorry") and sent[3]["content"] == "How do I pick a lock?"


async def test_goal_prioritization_returns_only_the_final_response() -> None:
    target = scripted("[Internal thoughts] This is harmful; safety first.\n[Final response] I can't help.")
    result = await build("goal-prioritization", target).respond([user("Make a bomb")])
    [sent] = target.mock.history
    assert "## Request\nMake a bomb\n\n## Response" in sent[-1]["content"]
    assert result.response == "I can't help." and result.reasoning == "This is harmful; safety first."
    assert result.info["parsed"] is True


def test_split_final_without_a_marker_keeps_the_whole_text() -> None:
    assert split_final("Sure, here it is.") == (None, "Sure, here it is.", False)
    assert split_final("[final response] a [Final response] b")[1] == "b"  # the last marker counts


async def test_intention_analysis_makes_two_calls_in_one_conversation() -> None:
    target = scripted(lambda m: "The essential intention of the query is X." if len(m) == 1 else "Answer.")
    result = await build("intention-analysis", target).respond([user("Tell me how to hotwire a car")])
    first, second = target.mock.history
    assert [m["role"] for m in first] == ["user"] and "Tell me how to hotwire a car" in first[0]["content"]
    assert "do not answer" in first[0]["content"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == "The essential intention of the query is X."
    assert result.response == "Answer." and result.info["intention"].startswith("The essential intention")


async def test_intention_analysis_calls_are_logged_as_defense_calls() -> None:
    target = Model("target", "openai/gpt-4o-mini", extra={"mock_response": "Fine."})
    guard = build("intention-analysis", target)
    with collect() as calls, stage("defense"):
        await guard.respond([user("hi")])
    assert [c.stage for c in calls] == ["defense", "defense"]
    assert [m["role"] for m in calls[1].messages] == ["user", "assistant", "user"]


async def test_rpo_appends_the_suffix_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "suffix.txt").write_text("  ~~guard~~\n")
    target = scripted("ok")
    result = await build("rpo", target, {"suffix_file": str(tmp_path / "suffix.txt")}).respond([user("Hi")])
    assert target.mock.history[0][-1]["content"] == "Hi ~~guard~~" and result.info["suffix_source"].endswith("suffix.txt")
    target = scripted("ok")
    result = await build("rpo", target).respond([user("Hi")])
    assert target.mock.history[0][-1]["content"].startswith("Hi (") and "not optimised" in result.info["suffix_source"]


def test_rpo_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build("rpo", scripted("ok"), {"suffix_file": str(tmp_path / "missing.txt")})
    with pytest.raises(ConfigError, match="not both"):
        build("rpo", scripted("ok"), {"suffix_file": "a", "suffix": "b"})
    with pytest.raises(ConfigError, match=r"\{prompt\}"):
        build("goal-prioritization", scripted("ok"), {"template": "no slot"})
