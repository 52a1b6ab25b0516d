"""One judge call as every caller makes it: labelled `judge` in the call log, never raising."""

from __future__ import annotations

from r2d_sdk._calls import stage
from r2d_sdk._components import Judge
from r2d_sdk._types import Behavior, Judgment


async def judge_safely(judge: Judge, item: Behavior, prompt: str, response: str) -> Judgment:
    """The judge's verdict; a judge that raises still yields an honest `error` judgment."""
    try:
        with stage("judge"):
            return await judge.judge(item, prompt, response)
    except Exception as error:  # a plugin's bug or a failed call: an error row, never a verdict
        return Judgment.failed(f"{type(error).__name__}: {error}")
