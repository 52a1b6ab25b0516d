"""The HTTP face of a gateway: an OpenAI-compatible FastAPI application.

`POST /v1/chat/completions` (plain, or `stream: true` as server-sent events in OpenAI's chunk
format ending with `[DONE]`), `GET /v1/models` (the routes), `GET /health`. Every error a client
can cause or meet comes back in OpenAI's error shape with a 4xx or 502/504, never a traceback:
a bad body or field (400), a missing or wrong key (401), an unknown route (404), a body over
the size limit (413), a model that failed (502) or took too long (504).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from r2d_sdk._version import __version__
from r2d_sdk.serve._gateway import Gateway, Unauthorized
from r2d_sdk.serve._openai import (
    ChatRequest,
    ErrorBody,
    chunk,
    completion,
    error_body,
    guard_field,
    guard_messages,
    usage_chunk,
)
from r2d_sdk.serve._reply import GuardError, GuardInputError, GuardReply, serve_extra_missing
from r2d_sdk.serve._stream import GuardStream

# This module is imported only to make a server (`r2d_sdk.serve.create_app`), never by
# `import r2d_sdk`; FastAPI names are module globals so that it can read the handlers' annotations.
try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi.sse import EventSourceResponse, format_sse_event
    from starlette.exceptions import HTTPException
except ImportError as missing:
    raise serve_extra_missing(missing.name) from None

logger = logging.getLogger("r2d_sdk.serve")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what} for status, what in (
        (400, "a malformed body or field, too many messages, or (with on_block: error) a blocked request"),
        (401, "no API key, or a wrong one"), (404, "no such route"), (413, "the body is over the size limit"),
        (502, "the model or a defense failed"), (504, "the route did not answer in time"))}


class ApiError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.extra = status, message, param, code, extra


class BodyLimit:
    """ASGI middleware: a request body over `max_bytes` gets 413 before anything parses it.

    The body is read here (up to the limit) and handed on whole, so the limit holds whether or
    not the client sent a Content-Length.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._too_large(send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        payload = json.dumps(error_body(413, f"the request body is over {self.max_bytes} bytes",
                                        code="request_too_large")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def create_app(gateway: Gateway) -> Any:
    """The FastAPI application serving a gateway's routes."""
    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await gateway.setup()  # usually done already by `serve`, before the port opens
        yield
        gateway.close()  # uvicorn calls this once in-flight requests have finished

    app = FastAPI(title="r2d-sdk gateway", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="OpenAI-compatible chat completions through r2d-sdk defense stacks.")
    app.add_middleware(BodyLimit, max_bytes=gateway.config.max_body_bytes)

    def error(status: int, message: str, param: str | None = None, code: str | None = None,
              **extra: Any) -> Any:
        return JSONResponse(error_body(status, message, param=param, code=code, **extra), status_code=status)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> Any:
        return error(exc.status, exc.message, exc.param, exc.code, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, exc: RequestValidationError) -> Any:
        problems = list(exc.errors())
        if problems and problems[0].get("type") == "json_invalid":
            return error(400, "the request body is not valid JSON", code="invalid_json")
        said: dict[str, list[str]] = {}
        for problem in problems:
            said.setdefault(_field_path(problem.get("loc", ())), []).append(str(problem.get("msg")))
        message = "; ".join(f"{where}: {' or '.join(dict.fromkeys(msgs))}" for where, msgs in list(said.items())[:5])
        return error(400, message, param=next(iter(said), None), code="invalid_request")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Any:
        return error(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404 else None)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> Any:
        logger.exception("unexpected error answering a request")
        return error(500, f"internal error ({type(exc).__name__}); the server log has the details",
                     code="internal_error")

    def client(request: Request) -> str | None:
        try:
            return gateway.client_of(request.headers.get("authorization"))
        except Unauthorized as why:
            raise ApiError(401, str(why), code="invalid_api_key") from None

    def guard_error(failure: GuardError) -> Any:
        return error(failure.http_status, failure.message, code=failure.kind, request_id=failure.request_id)

    def blocked_error(reply: GuardReply) -> Any:
        return error(400, f"blocked by {reply.blocked_by}: {reply.reason or 'the request was refused'}",
                     code="content_filter", guard=guard_field(reply))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        log = gateway.log
        return {"status": "ok", "routes": list(gateway.guards),
                "log": None if log is None else {"written": log.written, "pending": log.pending, "lost": log.lost}}

    @app.get("/v1/models", responses={401: ERROR_RESPONSES[401]})
    async def models(_client: str | None = Depends(client)) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "r2d-sdk"}
                                           for name in gateway.guards]}

    @app.post("/v1/chat/completions", responses=ERROR_RESPONSES)
    async def chat_completions(body: ChatRequest, client_tag: str | None = Depends(client)) -> Any:
        guard = gateway.guards.get(body.model)
        if guard is None:
            raise ApiError(404, f"no route {body.model!r}; this gateway serves {sorted(gateway.guards)}",
                           param="model", code="model_not_found")
        try:
            messages = guard_messages(body, gateway.config.max_messages)
        except GuardInputError as bad:
            raise ApiError(400, bad.message, param=bad.param, code="invalid_request") from None
        on_block_error = gateway.config.on_block == "error"
        try:
            if not body.stream:
                try:
                    reply = await guard.chat(messages, client=client_tag)
                except GuardError as failure:
                    return guard_error(failure)
                return blocked_error(reply) if reply.blocked and on_block_error else completion(reply)
            stream = guard.stream(messages, client=client_tag)
        except GuardInputError as bad:  # e.g. a conversation without a user message
            raise ApiError(400, bad.message, param=bad.param, code="invalid_request") from None
        try:
            await stream.peek()  # the first piece, or the failure: the status code is still ours to choose
        except GuardError as failure:
            return guard_error(failure)
        except BaseException:
            await stream.aclose()
            raise
        if stream.reply is not None and stream.reply.blocked and on_block_error:
            return blocked_error(stream.reply)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventSourceResponse(_events(stream, body.model, include_usage),
                                   headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # Clients given the server's root as their base URL (no /v1) find the same routes.
    app.add_api_route("/chat/completions", chat_completions, methods=["POST"], include_in_schema=False)
    app.add_api_route("/models", models, methods=["GET"], include_in_schema=False)
    _document(app, list(gateway.guards))
    return app


async def _events(stream: GuardStream, route: str, include_usage: bool) -> AsyncIterator[bytes]:
    """The SSE body: a role chunk, one chunk per piece, the finish chunk (with the verdict), `[DONE]`."""
    created = int(time.time())
    rid = stream.request_id

    def event(payload: dict[str, Any]) -> bytes:
        return format_sse_event(data_str=json.dumps(payload, separators=(",", ":")))

    try:
        yield event(chunk(rid, route, created, {"role": "assistant", "content": ""}))
        async for piece in stream:
            yield event(chunk(rid, route, created, {"content": piece}))
        reply = stream.reply
        assert reply is not None
        yield event(chunk(rid, route, created, {}, reply.finish_reason, guard=guard_field(reply)))
        if include_usage:
            yield event(usage_chunk(rid, route, created, reply))
        yield format_sse_event(data_str="[DONE]")
    except GuardError as failure:  # after the first piece the status is sent: the error goes in the stream
        yield event(error_body(failure.http_status, failure.message, code=failure.kind, request_id=rid))
    finally:
        await stream.aclose()


def _field_path(loc: Any) -> str:
    """`messages.0.content` from pydantic's location, without the body marker and union member names."""
    parts = [str(p) for p in loc if p != "body" and not (isinstance(p, str) and ("[" in p or p in _TYPE_NAMES))]
    return ".".join(parts) or "body"


_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "none", "is-instance"}


def _document(app: Any, routes: list[str]) -> None:
    """The schema as this server answers: a bad body is a 400 (not FastAPI's default 422), and
    `model` is one of the routes (any other name is a 404)."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = make()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        request = schema.get("components", {}).get("schemas", {}).get("ChatRequest", {})
        if "model" in request.get("properties", {}):
            request["properties"]["model"]["enum"] = routes
        return schema

    app.openapi = openapi
