"""A fake OpenAI-compatible HTTP server on 127.0.0.1 for tests: real sockets, canned answers.

    with FakeOpenAI(lambda request: Reply("Sure, here is how.")) as server:
        model = Model("target", "openai/fake", api_base=server.url, api_key="test-key")
        ...
        assert len(server.requests) == 1

The responder gets each parsed request (`FakeRequest`: body, headers, arrival time) and returns
a `Reply`: the assistant text, or an HTTP status with a body and headers (a 429 with
Retry-After, a 401 echoing the Authorization header), a delay before answering, or no answer
at all (`hang`, until the server stops). A list of replies instead of a function answers them
in turn, the last one repeating (`fake_openai(Reply(status=500), Reply(text="fine"))`).
`stream: true` requests get server-sent events in OpenAI's chunk format.

It runs in a thread with its own event loop, so async tests and synchronous ones (a CLI run
through CliRunner, which starts its own loop) use it alike, and a handler that hangs never
blocks the test's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeRequest:
    """One request the server received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def last_user(self) -> str:
        return next((m.get("content") or "" for m in reversed(self.messages) if m.get("role") == "user"), "")


@dataclass
class Reply:
    """What the server answers: `text` with status 200, or `status` with `body` as the error.

    `body` may be a function of the request's headers (to echo them, as a careless provider
    does); `hang` never answers until the server stops.
    """

    text: str = "OK"
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    finish_reason: str = "stop"
    hang: bool = False


Responder = Callable[[FakeRequest], Reply]


def _completion(request: FakeRequest, reply: Reply) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in request.messages)
    completion_tokens = len(reply.text.split())
    return {
        "id": f"chatcmpl-fake-{int(request.at * 1e6)}", "object": "chat.completion", "created": int(time.time()),
        "model": request.body.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                     "message": {"role": "assistant", "content": reply.text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


class FakeOpenAI:
    """The server, running in a background thread with its own event loop (a context manager)."""

    def __init__(self, responder: Responder | Sequence[Reply] | None = None) -> None:
        if responder is None or not callable(responder):
            replies = list(responder or []) or [Reply()]
            responder = lambda _request: replies[min(len(self.requests), len(replies)) - 1]  # noqa: E731
        self.responder: Responder = responder
        self.requests: list[FakeRequest] = []
        self._release: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-openai")
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The `api_base` to give a model (`http://127.0.0.1:PORT/v1`)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _stop(self) -> None:
        if self._release is not None:
            self._release.set()  # hanging handlers answer now, so the server can stop
        if self._runner is not None:
            await self._runner.cleanup()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, shutdown_timeout=1.0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        seen = FakeRequest(request.path, body, dict(request.headers), time.monotonic())
        with self._lock:
            self.requests.append(seen)
        reply = self.responder(seen)
        if reply.hang:
            assert self._release is not None
            await self._release.wait()
            return web.Response(status=503, text="server stopped")
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            payload = reply.body(seen.headers) if callable(reply.body) else reply.body
            if payload is None:
                payload = {"error": {"message": f"fake error {reply.status}", "type": "fake_error", "code": reply.status}}
            text = payload if isinstance(payload, str) else json.dumps(payload)
            return web.Response(status=reply.status, text=text, content_type="application/json", headers=reply.headers)
        if not body.get("stream"):
            return web.json_response(_completion(seen, reply), headers=reply.headers)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **reply.headers})
        await response.prepare(request)
        words = reply.text.split(" ")
        for index, word in enumerate(words):
            chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": body.get("model", "fake"),
                     "choices": [{"index": 0, "delta": {"content": word + (" " if index < len(words) - 1 else "")},
                                  "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        final = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                 "model": body.get("model", "fake"),
                 "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]}
        await response.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response


@contextlib.contextmanager
def fake_openai(*replies: Reply) -> Iterator[FakeOpenAI]:
    """A running fake server answering with `replies` in turn (the last repeats)."""
    with FakeOpenAI(list(replies)) as server:
        yield server
