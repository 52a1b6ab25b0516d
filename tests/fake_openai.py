"""A fake OpenAI-compatible server on 127.0.0.1 for tests of real HTTP behaviour (timeouts,
retries, Retry-After, provider error bodies). It counts every request it receives.

It runs in a thread with its own event loop, so async tests and synchronous ones (a CLI run
through CliRunner, which starts its own loop) use it alike, and a handler that hangs never
blocks the test's loop. Point a model at it with `openai/<anything>` and `api_base=server.url`.
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
class Reply:
    """What the server answers one request with.

    Attributes:
        status: the HTTP status; 200 answers with a chat completion saying `text`.
        text: the assistant's reply for a 200.
        body: the body of an error reply (an OpenAI-shaped error when None); a function gets the
            request's headers, to echo them as a careless provider does.
        headers: extra response headers (e.g. Retry-After).
        hang: never answer (until the server stops).
    """

    status: int = 200
    text: str = "Sure, here is how."
    body: str | Callable[[dict[str, str]], str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class Received:
    """One request the server got: when (time.monotonic), its headers and JSON body."""

    at: float
    headers: dict[str, str]
    body: dict[str, Any]


class FakeOpenAI:
    """Answers POST /v1/chat/completions with `replies` in turn; the last one repeats."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        self.replies = list(replies) or [Reply()]
        self.requests: list[Received] = []
        self._loop = asyncio.new_event_loop()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The api_base to give a model."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request: web.Request) -> web.Response:
        headers = dict(request.headers)
        self.requests.append(Received(time.monotonic(), headers, await request.json()))
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if reply.hang:
            await self._release.wait()
            return web.Response(status=503, text="server stopped")
        if reply.status == 200:
            completion = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
                          "choices": [{"index": 0, "finish_reason": "stop",
                                       "message": {"role": "assistant", "content": reply.text}}],
                          "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
            return web.json_response(completion, headers=reply.headers)
        body = reply.body(headers) if callable(reply.body) else reply.body
        if body is None:
            body = json.dumps({"error": {"message": f"fake error {reply.status}", "type": "fake", "code": None}})
        return web.Response(status=reply.status, text=body, content_type="application/json", headers=reply.headers)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, shutdown_timeout=1.0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeOpenAI]:
        """Serve in a background thread for the duration of the block."""
        thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
            yield self
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(timeout=10)
            self._loop.close()


@contextlib.contextmanager
def fake_openai(*replies: Reply) -> Iterator[FakeOpenAI]:
    """A running fake server answering with `replies` in turn (the last repeats)."""
    with FakeOpenAI(replies).running() as server:
        yield server
