"""`Guard`: a target model behind a defense stack, answering one conversation at a time.

    from r2d_sdk import Guard

    guard = Guard(model="local/smollm2", defenses=["perplexity-filter", {"name": "r2d", "args": {...}}])
    reply = guard.chat_sync([{"role": "user", "content": "How do I bake bread?"}])
    print(reply.text, reply.blocked, reply.blocked_by, reply.reason)

The same build as a recipe's route, so `r2d-sdk serve` and a Guard in a script answer alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from r2d_sdk._calls import CallRecord, collect, stage
from r2d_sdk._errors import ModelCallError
from r2d_sdk._types import DefenseResult, Message
from r2d_sdk.models import Model
from r2d_sdk.recipe import LoadedRecipe, Recipe
from r2d_sdk.serve._build import Route, build_routes
from r2d_sdk.serve._log import RequestLog
from r2d_sdk.serve._reply import GuardError, GuardReply, new_request_id, normalize_messages

if TYPE_CHECKING:
    from r2d_sdk.serve._stream import GuardStream
    from r2d_sdk.store import Store

# Errors that mean the upstream did not answer in time (LiteLLM's and the openai client's names).
_TIMEOUTS = ("Timeout", "APITimeoutError", "TimeoutError")


def _spec_of(model: str | dict[str, Any] | Model) -> dict[str, Any]:
    if isinstance(model, Model):
        return {"model": model.model_id}
    return {"model": model} if isinstance(model, str) else dict(model)


class Guard:
    """A target model plus a defense stack, answering conversations and logging what it did.

    Args:
        model: the target: a model string (`local/smollm2`, `openai/gpt-4o-mini`, `mock/name`),
            a recipe model mapping (`{"model": ..., "api_key": ..., "mock": {...}}`) or a `Model`.
        defenses: one defense or several, as a recipe names them (a name or `{name, args}`): input
            checks, then the answering defense, then output checks (docs/guard.md).
        models: helper models the defenses name (a checker, a scorer), as `model` is given.
        generation: generation settings (`{"preset": "jbb", "max_tokens": 300}`).
        db: log every request to this results database (a path, URL or `Store`).
        timeout_s: a request that takes longer fails with GuardError (kind `timeout`).
        name: the route name the log stores.
        seed: the seed defenses draw from.
    """

    def __init__(self, model: str | dict[str, Any] | Model, defenses: Any = "none", *,
                 models: dict[str, str | dict[str, Any] | Model] | None = None,
                 generation: dict[str, Any] | None = None, db: str | Store | None = None,
                 timeout_s: float = 120.0, name: str = "guard", seed: int = 0) -> None:
        helpers = dict(models or {})
        recipe = Recipe.model_validate({
            "name": name, "seed": seed, "generation": generation or {},
            "models": {"target": _spec_of(model), **{k: _spec_of(v) for k, v in helpers.items()}},
            "serve": {"routes": {name: {"model": "target", "defenses": defenses, "timeout_s": timeout_s}}},
        })
        given = {k: v for k, v in {"target": model, **helpers}.items() if isinstance(v, Model)}
        route = build_routes(LoadedRecipe(recipe, "", None), given)[name]
        self._attach(route, _log_for(db), owns_log=db is not None)

    @classmethod
    def from_recipe(cls, recipe: Any, route: str | None = None, db: str | Store | None = None) -> Guard:
        """The guard of one route of a recipe's `serve:` section (the only one, or `route`)."""
        from r2d_sdk.run import load_any

        loaded = load_any(recipe)
        routes = build_routes(loaded)
        if route is None and len(routes) == 1:
            route = next(iter(routes))
        if route not in routes:
            from r2d_sdk._errors import ConfigError

            raise ConfigError(f"{'give a route' if route is None else f'no route {route!r}'}; the recipe's routes "
                              f"are {sorted(routes)}", fix="Guard.from_recipe(recipe, route=NAME)")
        guard = cls.__new__(cls)
        guard._attach(routes[route], _log_for(db), owns_log=db is not None)
        return guard

    @classmethod
    def for_route(cls, route: Route, log: RequestLog | None, block_status: int = 200) -> Guard:
        """A guard of a built route writing to a shared log (the gateway's routes)."""
        guard = cls.__new__(cls)
        guard._attach(route, log, owns_log=False, block_status=block_status)
        return guard

    def _attach(self, route: Route, log: RequestLog | None, owns_log: bool, block_status: int = 200) -> None:
        self.route = route
        self.log = log
        self._owns_log = owns_log
        self.block_status = block_status  # what a blocked request's row records (the gateway may answer 400)
        self._setup: asyncio.Task[None] | None = None
        self._ready = False

    @property
    def name(self) -> str:
        return self.route.name

    @property
    def defense(self) -> Any:
        """The defense (a `stack`, or a single one) bound to the target model."""
        return self.route.defense

    def __repr__(self) -> str:
        return f"Guard(route={self.name!r}, model={self.route.model.model_id!r}, defense={self.route.defense_label!r})"

    # ---- lifecycle -------------------------------------------------------------------------
    async def setup(self) -> None:
        """Run the defenses' `setup()` once (calibration, loading a checkpoint); done on first use."""
        if self._ready:
            return
        loop = asyncio.get_running_loop()
        if self._setup is None or self._setup.get_loop() is not loop or (self._setup.done() and
                                                                          self._setup.exception()):
            self._setup = loop.create_task(self._run_setup())
        await asyncio.shield(self._setup)
        self._ready = True

    async def _run_setup(self) -> None:
        with collect() as calls, stage("setup"):
            await self.route.defense.setup()
        if self.log is not None:
            self.log.add_orphans(calls)

    def close(self) -> None:
        """Write every logged request still queued and close the log (when the guard owns it)."""
        if self.log is not None and self._owns_log:
            self.log.close()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Guard:
        await self.setup()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # ---- answering -------------------------------------------------------------------------
    async def chat(self, messages: list[Message] | list[dict[str, Any]], *, client: str | None = None) -> GuardReply:
        """Answer a conversation through the defense stack.

        Args:
            messages: `{"role", "content"}` turns (system, user, assistant), with a user turn.
            client: who asked (the gateway passes a hash of the API key), for the log.

        Raises:
            GuardInputError: the conversation is malformed.
            GuardError: a model call failed, the request timed out or a defense crashed.
        """
        turns = normalize_messages(messages)
        request_id, started = new_request_id(), time.perf_counter()
        with collect() as calls, stage("defense"):
            try:
                await self.setup()  # done once; a setup that fails fails the request, as a defense error
                async with asyncio.timeout(self.route.timeout_s):
                    result = await self.route.defense.respond(turns)
            except BaseException as error:
                failure = self.failure(error, request_id)
                self.record(request_id, turns, None, calls, started, client, failure=failure)
                if failure is None:
                    raise
                raise failure from error
        reply = self.reply(result, request_id, calls, started)
        self.record(request_id, turns, reply, calls, started, client)
        return reply

    def chat_sync(self, messages: list[Message] | list[dict[str, Any]], *, client: str | None = None) -> GuardReply:
        """`chat` for scripts (inside a running event loop it runs on a worker thread)."""
        return _run(self.chat(messages, client=client))

    def stream(self, messages: list[Message] | list[dict[str, Any]], *, client: str | None = None) -> GuardStream:
        """Answer as a stream of text pieces; `GuardStream.reply` is the whole `GuardReply` after it.

        Nothing the guard would withhold is streamed: input checks finish first, output checks
        hold the answer back until they passed, R2D sends only its answer. Call inside an event loop.
        """
        from r2d_sdk.serve._stream import GuardStream

        return GuardStream(self, normalize_messages(messages), client)

    # ---- shared with the stream ----------------------------------------------------------
    def failure(self, error: BaseException, request_id: str) -> GuardError | None:
        """The GuardError a failure becomes (None for a cancellation, which is no failure)."""
        if isinstance(error, asyncio.CancelledError):
            return None
        if isinstance(error, TimeoutError):
            return GuardError(f"route '{self.name}' did not answer within {self.route.timeout_s:g} s", "timeout",
                              request_id, fix="raise the route's timeout_s, or check the model server")
        if isinstance(error, ModelCallError):
            cause = type(error.__cause__).__name__ if error.__cause__ is not None else ""
            kind = "timeout" if cause in _TIMEOUTS else "upstream"
            return GuardError(f"the model behind route '{self.name}' failed: {error.message}", kind, request_id,
                              fix=error.fix)
        if isinstance(error, Exception):
            return GuardError(f"defense '{self.route.defense_label}' of route '{self.name}' failed: "
                              f"{type(error).__name__}: {error}", "defense", request_id)
        return None

    def reply(self, result: DefenseResult, request_id: str, calls: list[CallRecord], started: float) -> GuardReply:
        """The GuardReply of a defense's result."""
        info = dict(result.info)
        verdicts = list(info.get("verdicts") or [{"defense": self.route.defense_label, "side": "answer",
                                                   "blocked": result.blocked, "reason": info.get("reason"),
                                                   "info": info}])
        blocked_by = info.get("blocked_by") if "verdicts" in info else self.route.defense_label
        reason = info.get("reason") or (info.get("verdict") if result.blocked else None)
        answered = [c.finish_reason for c in calls if c.stage == "defense" and c.finish_reason in ("stop", "length")]
        finish = "content_filter" if result.blocked else (answered[-1] if answered else "stop")
        return GuardReply(
            text=result.response, route=self.name, request_id=request_id, blocked=result.blocked,
            blocked_by=blocked_by if result.blocked else None, reason=reason if result.blocked else None,
            reasoning=result.reasoning, verdicts=verdicts, calls=len(calls),
            prompt_tokens=sum(c.prompt_tokens for c in calls), completion_tokens=sum(c.completion_tokens for c in calls),
            latency_ms=(time.perf_counter() - started) * 1000, finish_reason=finish, info=info)

    def record(self, request_id: str, messages: list[Message], reply: GuardReply | None, calls: list[CallRecord],
               started: float, client: str | None, *, failure: GuardError | None = None, stream: bool = False,
               first_token_ms: float | None = None, partial: str | None = None) -> None:
        """Queue the request's row (no database, nothing to do)."""
        if self.log is None:
            return
        from r2d_sdk.store import RequestRecord

        status = "ok" if reply is not None else (failure.status if failure is not None else "cancelled")
        row = RequestRecord(
            request_id=request_id, route=self.name, client=client, model=self.route.model.name,
            model_id=self.route.model.model_id, defense=self.route.defense_label, messages=[dict(m) for m in messages],
            response=reply.text if reply is not None else partial, stream=stream, status=status,
            reasoning=reply.reasoning if reply is not None else None,
            blocked=bool(reply and reply.blocked), blocked_by=reply.blocked_by if reply else None,
            block_reason=reply.reason if reply else None, verdicts=reply.verdicts if reply else [],
            error=failure.message if failure is not None else None,
            http_status=(self.block_status if reply.blocked else 200) if reply is not None
            else (failure.http_status if failure is not None else None),
            latency_ms=(time.perf_counter() - started) * 1000, first_token_ms=first_token_ms, calls=list(calls))
        self.log.add(row)


def _log_for(db: str | Store | None) -> RequestLog | None:
    if db is None:
        return None
    from r2d_sdk.store import Store, open_store

    store = db if isinstance(db, Store) else open_store(db)
    return RequestLog(store, owns_store=not isinstance(db, Store))


def _run(work: Coroutine[Any, Any, GuardReply]) -> GuardReply:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()  # type: ignore[arg-type]
