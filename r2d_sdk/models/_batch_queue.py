"""Micro-batching for in-process models: concurrent callers' requests gathered into batches.

A caller awaits `submit(request)`; one worker per event loop takes the oldest waiting request,
lets company arrive for `wait_s`, picks a batch (`pick`), and runs it with one blocking call in
the given executor, off the event loop. The local causal LM (`generate`) and the local
classifier (`probability`) both batch this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")

# How many requests beyond one batch may be held while a batch is picked: room to choose
# requests of similar length without holding back the queue.
HOLD_BATCHES = 4


@dataclass
class _Waiting(Generic[R, T]):
    request: R
    future: asyncio.Future[T]


def first_come(held: list[R], size: int) -> list[R]:
    """The oldest `size` requests."""
    return held[:size]


# How much longer or shorter than the oldest request another batch member may be.
LENGTH_RATIO = 2.0


def closest_in_length(held: list[R], size: int, length: Callable[[R], int],
                      compatible: Callable[[R, R], bool] = lambda _a, _b: True) -> list[R]:
    """The oldest request, plus the compatible ones closest to it in length, within a factor of two.

    A batch is padded to its longest member, and a padded position costs as much as a real one:
    a much longer request would multiply the batch's work, a much shorter one would be padded
    to the oldest's; either waits for its turn (at most until it is the oldest itself).
    """
    oldest = held[0]
    size_of_oldest = length(oldest)
    low, high = size_of_oldest / LENGTH_RATIO, size_of_oldest * LENGTH_RATIO
    others = [r for r in held[1:] if compatible(oldest, r) and low <= length(r) <= high]
    others.sort(key=lambda r: abs(length(r) - size_of_oldest))  # stable: ties stay in arrival order
    return [oldest, *others[:size - 1]]


class BatchQueue(Generic[R, T]):
    """Gather concurrent requests into batches and run each batch with one call.

    Args:
        run: the blocking batch call: requests in, one result per request out, in order.
        batch_size: the most requests one call serves.
        wait_s: how long the first waiting request waits for company.
        executor: where `run` runs (a one-thread executor keeps torch to one job at a time).
        pick: chooses the next batch from the waiting requests, oldest first; it must include
            the oldest (`first_come` by default).
    """

    def __init__(self, run: Callable[[list[R]], list[T]], batch_size: int, wait_s: float, executor: Executor,
                 pick: Callable[[list[R], int], list[R]] = first_come) -> None:
        self.run = run
        self.batch_size = batch_size
        self.wait_s = wait_s
        self.executor = executor
        self.pick = pick
        self._queue: asyncio.Queue[_Waiting[R, T]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, request: R) -> T:
        """Queue one request; its result (or the batch's error) comes back when its batch has run."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._serve(self._queue))
        assert self._queue is not None
        future: asyncio.Future[T] = loop.create_future()
        await self._queue.put(_Waiting(request, future))
        return await future

    async def _serve(self, queue: asyncio.Queue[_Waiting[R, T]]) -> None:
        loop = asyncio.get_running_loop()
        held: list[_Waiting[R, T]] = []
        while True:
            if not held:
                held.append(await queue.get())
            deadline = loop.time() + self.wait_s
            while len(held) < self.batch_size * HOLD_BATCHES:
                timeout = deadline - loop.time()
                try:
                    held.append(queue.get_nowait() if timeout <= 0 else await asyncio.wait_for(queue.get(), timeout))
                except (TimeoutError, asyncio.QueueEmpty):
                    break
            taken = _positions(held, self.pick([w.request for w in held], self.batch_size))
            batch = [held[i] for i in taken]
            held = [waiting for i, waiting in enumerate(held) if i not in set(taken)]
            live = [waiting for waiting in batch if not waiting.future.done()]  # a cancelled caller is dropped
            if not live:
                continue
            try:
                # Our own executor, not the loop's default: Ctrl-C must not wait for a batch to finish.
                results = await loop.run_in_executor(self.executor, self.run, [w.request for w in live])
            except Exception as error:  # one failure fails the batch; each caller sees it
                for waiting in live:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                continue
            for waiting, result in zip(live, results, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(result)


def _positions(held: list[_Waiting[R, T]], picked: list[R]) -> list[int]:
    """Where each picked request waits. By identity, not equality or id() alone: two callers may
    send the same object (the same text judged twice), and each must get its own place."""
    taken: list[int] = []
    for request in picked:
        taken.append(next(i for i, waiting in enumerate(held) if waiting.request is request and i not in taken))
    return taken
