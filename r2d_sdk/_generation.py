"""Generation parameters and the evaluation protocols' presets."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from r2d_sdk._strict import StrictModel

# Bounds a value must keep to mean anything to a provider or to transformers. Temperature: the
# widest range an API takes (OpenAI's 0-2). New tokens: 128 Ki, above every model's output budget.
# Seeds: what fits a signed 32-bit INTEGER column (PostgreSQL's) and numpy's seeding.
MAX_TEMPERATURE = 2.0
MAX_NEW_TOKENS = 131_072
MAX_REPETITION_PENALTY = 10.0
MAX_SEED = 2**31 - 1

Temperature = Annotated[float, Field(ge=0.0, le=MAX_TEMPERATURE, description="0 means greedy decoding")]
MaxTokens = Annotated[int, Field(gt=0, le=MAX_NEW_TOKENS, description="new tokens to generate")]
TopP = Annotated[float, Field(gt=0.0, le=1.0, description="nucleus sampling")]
RepetitionPenalty = Annotated[float, Field(gt=0.0, le=MAX_REPETITION_PENALTY, description="local models only")]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="a seed, 0 to 2^31-1")]
StopStrings = Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=16)]


class GenerationParams(StrictModel):
    """Sampling settings for one model call. Defaults are JailbreakBench's protocol."""

    model_config = ConfigDict(frozen=True)

    temperature: Temperature = 0.0
    max_tokens: MaxTokens = 150
    top_p: TopP | None = None
    repetition_penalty: RepetitionPenalty | None = None
    seed: Seed | None = None
    stop: StopStrings | None = None

    def merged(self, **overrides: Any) -> GenerationParams:
        """A copy with some fields replaced (None values are ignored), validated like the original.

        Raises:
            pydantic.ValidationError: an override out of bounds or unknown.
        """
        changes = {k: v for k, v in overrides.items() if v is not None}
        return self.model_validate({**self.model_dump(), **changes}) if changes else self

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
