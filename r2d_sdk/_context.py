"""What a component may reach at run time: named models, the seed, generation defaults, the results database."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from r2d_sdk._errors import ConfigError
from r2d_sdk._generation import GenerationParams

if TYPE_CHECKING:
    from r2d_sdk.models import Model
    from r2d_sdk.store import Store


@dataclass
class Context:
    """Shared run state handed to every component.

    Attributes:
        models: the recipe's models by name.
        seed: the run seed; `rng(name)` derives independent streams from it.
        generation: the recipe's default generation parameters.
        run_id: the results-database run, when there is one.
        store: the results database the run writes to (None outside a run, e.g. a defense used
            from Python): where a component finds training runs and links the run to them.
    """

    models: dict[str, Model] = field(default_factory=dict)
    seed: int = 0
    generation: GenerationParams = field(default_factory=GenerationParams)
    run_id: str | None = None
    store: Store | None = None

    def model(self, name: str) -> Model:
        """A model by its recipe name; the error lists the names that exist."""
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"no model named '{name}' in the recipe (models: {known})",
                              fix=f"add '{name}' under `models:` or use one of: {known}")
        return self.models[name]

    def rng(self, *names: object) -> random.Random:
        """A random stream fixed by the seed and the names (e.g. defense name, item id)."""
        digest = hashlib.sha256(repr((self.seed, *names)).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))
