"""Models: one call path through LiteLLM for API models, in-process transformers models
(`local/...`, causal LMs and classifiers) and scripted mock models (`mock/...`)."""

from r2d_sdk.models._build import build_models
from r2d_sdk.models._classifier import LocalClassifier
from r2d_sdk.models._face import LocalLM
from r2d_sdk.models._local_base import LocalWeights, load_pretrained, resolve_model_folder
from r2d_sdk.models._mock import MockReply, MockScript
from r2d_sdk.models._model import LOCAL_PREFIX, MOCK_PREFIX, Model, ResponseCache, cache_key

__all__ = ["LOCAL_PREFIX", "MOCK_PREFIX", "LocalClassifier", "LocalLM", "LocalWeights", "MockReply", "MockScript",
           "Model", "ResponseCache", "build_models", "cache_key", "load_pretrained", "resolve_model_folder"]
