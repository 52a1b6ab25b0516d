"""Built-in attacks."""

from r2d_plugins.attacks import (  # noqa: F401  (registers)
    artifact,
    direct,
    encodings,  # any attack's prompts in an encoding
    gcg,  # adaptive: white-box suffix optimisation
    pair,  # adaptive: attacker / judge refinement loop
    random_search,  # adaptive: logprob-guided suffix search
    template,
)
