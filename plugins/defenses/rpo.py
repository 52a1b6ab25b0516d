"""Robust prompt optimization (RPO): append a defensive suffix to the user's request.

Zhou et al. 2024, "Robust Prompt Optimization for Defending Language Models Against Jailbreaking
Attacks": the suffix is optimised (GCG-style) so the model refuses harmful requests even under
attack. No third-party suffix ships here: give your optimised suffix with `suffix_file` (or
inline with `suffix`). The default is a plain-language reminder written for this project; it
is NOT optimised, so results with it say nothing about RPO itself.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from r2d_plugins.defenses._common import last_user_text, with_last_user

from r2d_sdk import ConfigError, Context, Defense, DefenseResult, Message, register

# Written for this project; not the output of any optimisation.
DEFAULT_SUFFIX = "(Answer only if this is safe and lawful to help with; otherwise decline briefly.)"


class RPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suffix_file: str | None = Field(None, description="a text file holding the optimised suffix")
    suffix: str | None = Field(None, description="the suffix itself, inline")
    separator: str = Field(" ", description="put between the request and the suffix")

    @model_validator(mode="after")
    def _one_source(self) -> RPOConfig:
        if self.suffix_file is not None and self.suffix is not None:
            raise ValueError("give `suffix_file` or `suffix`, not both")
        return self


@register("rpo")
class RobustPromptOptimization(Defense):
    """Append a defensive suffix (from a file, inline, or a non-optimised default) to the request."""

    Config = RPOConfig
    config: RPOConfig

    def __init__(self, config: BaseModel | None = None, context: Context | None = None) -> None:
        super().__init__(config, context)
        self.source = "default (not optimised)"
        self.suffix = self.config.suffix if self.config.suffix is not None else DEFAULT_SUFFIX
        if self.config.suffix is not None:
            self.source = "inline"
        if self.config.suffix_file is not None:
            path = Path(self.config.suffix_file).expanduser()
            if not path.is_file():
                raise ConfigError(f"rpo: suffix file {path} does not exist",
                                  fix="point `suffix_file` at a text file holding the suffix")
            try:
                suffix = path.read_text(encoding="utf-8").strip()
            except UnicodeDecodeError:
                raise ConfigError(f"rpo: suffix file {path} is not UTF-8 text",
                                  fix="save the suffix as UTF-8 text") from None
            if not suffix:
                raise ConfigError(f"rpo: suffix file {path} is empty", fix="write the optimised suffix into it")
            self.suffix, self.source = suffix, str(path)

    async def respond(self, messages: list[Message]) -> DefenseResult:
        prompt = last_user_text(messages) + self.config.separator + self.suffix
        output = await self.model.generate(with_last_user(messages, prompt))
        return DefenseResult(output.text, info={"suffix_source": self.source})
