"""A guarded answer as a stream: the defense runs in its own task, pieces reach the reader by a queue.

Its own task, because the reader may change task between pieces (an HTTP server reads the first
piece in the request handler, the rest while sending the response), while the request's call
collector is a context variable that must be set and reset in one task. The queue also lets the
gateway wait for the first piece, or the first failure, before it commits to a status code.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from r2d_sdk._calls import CallRecord, collect, stage
from r2d_sdk._types import DefenseResult, Message
from r2d_sdk.serve._reply import GuardReply, new_request_id

if TYPE_CHECKING:
    from r2d_sdk.serve._guard import Guard

_END = object()


class GuardStream:
    """Text pieces of a guarded answer (`async for piece in stream`), then `reply`.

    Iteration raises GuardError when the request fails; `aclose()` stops the defense (the
    request is logged as cancelled) when the reader leaves early.
    """

    def __init__(self, guard: Guard, messages: list[Message], client: str | None) -> None:
        self.guard, self.messages, self.client = guard, messages, client
        self.request_id = new_request_id()
        self.reply: GuardReply | None = None
        self.first_token_ms: float | None = None
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._held: tuple[str, Any] | None = None
        self._task = asyncio.get_running_loop().create_task(self._produce())

    async def peek(self) -> str | None:
        """Wait for the first piece and return it without consuming it; None for an empty answer.

        When the whole answer came at once (a block, an answer held back for output checks),
        `reply` is already set. Raises GuardError when the request failed.
        """
        if self._held is None:
            self._held = await self._queue.get()
        kind, value = self._held
        if kind == "error":
            raise value
        if kind in ("end", "whole"):
            self.reply = value  # known before any piece left: the gateway may still answer a 400
            return value.text or None if kind == "whole" else None
        return str(value)

    @property
    def done(self) -> bool:
        """The whole reply is known (after `peek` returned None, or after iteration)."""
        return self.reply is not None

    def __aiter__(self) -> GuardStream:
        return self

    async def __anext__(self) -> str:
        if self._held is not None:
            item, self._held = self._held, None
        else:
            item = await self._queue.get()
        kind, value = item
        if kind == "error":
            raise value
        if kind == "whole" and value.text:  # the answer in one piece, then the end
            self._held = ("end", value)
            return str(value.text)
        if kind in ("end", "whole"):
            self.reply = value
            raise StopAsyncIteration
        return str(value)

    async def aclose(self) -> None:
        """Stop the defense if it is still answering (the reader has gone)."""
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _produce(self) -> None:
        guard, started = self.guard, time.perf_counter()
        sent: list[str] = []
        calls: list[CallRecord] = []
        try:
            await guard.setup()
            with collect() as calls, stage("defense"):
                async with asyncio.timeout(guard.route.timeout_s):
                    result = await self._run_defense(sent, started)
            reply = guard.reply(result, self.request_id, calls, started)
        except BaseException as error:
            failure = guard.failure(error, self.request_id)
            guard.record(self.request_id, self.messages, None, calls, started, self.client, failure=failure,
                         stream=True, first_token_ms=self.first_token_ms, partial="".join(sent) or None)
            if failure is None:
                raise
            self._queue.put_nowait(("error", failure))
            return
        if not sent and reply.text:
            self.first_token_ms = (time.perf_counter() - started) * 1000
        guard.record(self.request_id, self.messages, reply, calls, started, self.client, stream=True,
                     first_token_ms=self.first_token_ms)
        # Nothing streamed before the end (a block, a held-back answer): the reply goes whole.
        self._queue.put_nowait(("end" if sent else "whole", reply))

    async def _run_defense(self, sent: list[str], started: float) -> DefenseResult:
        result: DefenseResult | None = None
        async for item in self.guard.route.defense.respond_stream(self.messages):
            if isinstance(item, DefenseResult):
                result = item
                break
            if item:
                self._send(item, sent, started)
        if result is None:
            raise RuntimeError("the defense's stream ended without a result")
        streamed = "".join(sent)
        if not result.response.startswith(streamed):
            raise RuntimeError("the defense streamed text that is not the start of its answer")
        if sent and len(result.response) > len(streamed):
            self._send(result.response[len(streamed):], sent, started)
        return result

    def _send(self, piece: str, sent: list[str], started: float) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = (time.perf_counter() - started) * 1000
        sent.append(piece)
        self._queue.put_nowait(("text", piece))
