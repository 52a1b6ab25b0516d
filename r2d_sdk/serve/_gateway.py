"""The gateway: every route of a recipe's `serve:` section, who may call them, and one request log."""

from __future__ import annotations

import asyncio
import hmac

from r2d_sdk._errors import ConfigError
from r2d_sdk.recipe import LoadedRecipe, ServeSection
from r2d_sdk.serve._build import build_routes
from r2d_sdk.serve._guard import Guard
from r2d_sdk.serve._log import RequestLog
from r2d_sdk.serve._reply import client_tag


class Unauthorized(Exception):
    """A request without a key this gateway accepts."""


class Gateway:
    """The routes of a served recipe, built once; the request log they share.

    Args:
        loaded: a recipe with a `serve:` section.
        db: the results database for the request log (default: R2D_DATABASE_URL, the recipe's
            `database:`, ./r2d-results.db); unused when `serve.log` is false.

    Raises:
        ConfigError: the recipe or a route is invalid, or an API key is written in the recipe
            itself (nothing is opened or written then).
    """

    def __init__(self, loaded: LoadedRecipe, db: str | None = None) -> None:
        routes = build_routes(loaded)  # a bad recipe fails here, before the database is touched
        assert loaded.recipe.serve is not None
        self.config: ServeSection = loaded.recipe.serve
        _keys_come_from_the_environment(loaded, self.config.api_keys)
        self.log: RequestLog | None = None
        if self.config.log:
            from r2d_sdk.store import open_store

            self.log = RequestLog(open_store(db, loaded.recipe.database), owns_store=True)
        block_status = 400 if self.config.on_block == "error" else 200
        self.guards = {name: Guard.for_route(route, self.log, block_status) for name, route in routes.items()}
        self._tags = {key: client_tag(key) for key in self.config.api_keys}

    @property
    def requires_key(self) -> bool:
        return bool(self._tags)

    def client_of(self, authorization: str | None) -> str | None:
        """The calling client's tag from an `Authorization: Bearer KEY` header.

        Raises:
            Unauthorized: no key, or not one of the recipe's keys.
        """
        if not self._tags:
            return None
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("no API key: send it as `Authorization: Bearer KEY`")
        key = key.strip()
        # Compare against every key in constant time: which key matched leaks nothing.
        found = [tag for known, tag in self._tags.items() if hmac.compare_digest(known.encode(), key.encode())]
        if not found:
            raise Unauthorized("the API key is not one this gateway accepts")
        return found[0]

    async def setup(self) -> None:
        """Every route's defenses set up (loading checkpoints, calibrating) before the first request."""
        from r2d_sdk._network import import_litellm

        import_litellm()  # seconds on first import: paid at start, not by the first client
        await asyncio.gather(*(guard.setup() for guard in self.guards.values()))

    def close(self) -> None:
        """Write every queued request row and close the database (idempotent)."""
        if self.log is not None:
            self.log.close()


def _keys_come_from_the_environment(loaded: LoadedRecipe, keys: list[str]) -> None:
    """A key written in the recipe would be read by anyone who reads the recipe (or the runs table)."""
    for index, key in enumerate(keys):
        if key in loaded.text:
            raise ConfigError(f"{loaded.path or '<recipe>'}: serve.api_keys[{index}] is written in the recipe itself",
                              fix="export it (export R2D_SERVE_KEY=...) and write `api_keys: [\"${R2D_SERVE_KEY}\"]`")
