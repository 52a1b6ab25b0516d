"""Keep libraries from phoning home: done before litellm or transformers is imported."""

from __future__ import annotations

import os

_DONE = False


def quiet_network_defaults() -> None:
    """Set the environment switches that stop import-time downloads and telemetry.

    LiteLLM fetches a remote model-cost map at import unless told to use its bundled copy.
    Hub access is not switched off globally (a recipe may name a hub model on purpose);
    local models and data are loaded with `local_files_only` instead, so a run that names
    only local things never reaches for the network.
    """
    global _DONE
    if _DONE:
        return
    _DONE = True
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def import_litellm():  # type: ignore[no-untyped-def]
    """Import litellm with the offline switches set and its chatter turned down."""
    quiet_network_defaults()
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True  # local and API providers accept different knobs
    litellm.disable_hf_tokenizer_download = True  # token counting must not fetch tokenizers
    return litellm
