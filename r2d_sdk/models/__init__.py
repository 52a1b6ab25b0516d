"""Models: one call path through LiteLLM for API and local transformers models."""

from r2d_sdk.models._model import LOCAL_PREFIX, Model, ResponseCache, cache_key

__all__ = ["LOCAL_PREFIX", "Model", "ResponseCache", "cache_key"]
