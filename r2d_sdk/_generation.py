"""Generation parameters and the evaluation protocols' presets."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GenerationParams(BaseModel):
    """Sampling settings for one model call. Defaults are JailbreakBench's protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.0, ge=0.0, description="0 means greedy decoding")
    max_tokens: int = Field(150, gt=0, description="new tokens to generate")
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    repetition_penalty: float | None = Field(None, gt=0.0, description="local models only")
    seed: int | None = None
    stop: list[str] | None = None

    def merged(self, **overrides: Any) -> GenerationParams:
        """A copy with some fields replaced (None values are ignored)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        return self.model_copy(update=changes) if changes else self

    @property
    def deterministic(self) -> bool:
        """Greedy or seeded: the same call gives the same answer, so it may be cached."""
        return self.temperature == 0.0 or self.seed is not None


PRESETS: dict[str, GenerationParams] = {
    # JailbreakBench: greedy, 150 new tokens.
    "jbb": GenerationParams(),
    # XSTest as the R2D paper ran it: 512 new tokens, repetition penalty 1.2.
    "xstest": GenerationParams(max_tokens=512, repetition_penalty=1.2),
}
