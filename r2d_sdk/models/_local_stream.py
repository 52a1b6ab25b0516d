"""One local generation streamed: token ids from the worker thread to the event loop, as text.

`model.generate` runs in the model's worker thread with a streamer that hands each step's ids
to the loop; `IncrementalText` turns them into final text. A stopping criterion watches an
event, so a consumer that closes the stream stops the generation at its next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from r2d_sdk._generation import GenerationParams
from r2d_sdk.models._local_text import IncrementalText, LocalGeneration, finish_generation

if TYPE_CHECKING:
    from r2d_sdk.models._local import LocalModel


async def stream_local(local: LocalModel, prompt: str, params: GenerationParams) -> AsyncGenerator[str | LocalGeneration]:
    """Text pieces of the generation for `prompt`, then its `LocalGeneration`."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def send(kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening any more
            loop.call_soon_threadsafe(events.put_nowait, (kind, value))

    def work() -> None:
        try:
            send("done", generate_one(local, prompt, params, lambda ids: send("ids", ids), stop))
        except BaseException as error:  # handed to the reader, raised there
            send("error", error)

    text = IncrementalText(local.tokenizer, local.end_ids(), params.stop)
    loop.run_in_executor(local._executor, work)
    try:
        while True:
            kind, value = await events.get()
            if kind == "ids":
                piece = text.add(value)
                if piece:
                    yield piece
            elif kind == "done":
                rest = text.finish(value.text)
                if rest:
                    yield rest
                if text.diverged:
                    value.text = text.sent  # the text the reader was given is the answer
                yield value
                return
            else:
                raise value
    finally:
        stop.set()  # the worker finishes on its own at the next token (`work` never raises)


def generate_one(local: LocalModel, prompt: str, params: GenerationParams, on_ids: Callable[[list[int]], None],
                 stop: threading.Event) -> LocalGeneration:
    """Blocking: one prompt through `model.generate`, each step's new ids passed to `on_ids`."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList
    from transformers.generation.streamers import BaseStreamer

    class Steps(BaseStreamer):
        """Forwards generated ids; the first `put` is the prompt, which is not news."""

        def __init__(self) -> None:
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            on_ids([int(i) for i in value.reshape(-1).tolist()])

        def end(self) -> None:
            pass

    class StopWhenClosed(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)

    tokenizer = local.tokenizer
    ids = list(tokenizer([prompt], add_special_tokens=False)["input_ids"][0])
    kwargs = local.decoding_kwargs(params, params.max_tokens)
    if params.stop:
        kwargs.update(stop_strings=params.stop, tokenizer=tokenizer)
    with local._torch_lock, torch.inference_mode():
        input_ids = torch.tensor([ids], dtype=torch.long, device=local.device)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        output = local.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                      streamer=Steps(), stopping_criteria=StoppingCriteriaList([StopWhenClosed()]),
                                      **kwargs)
    return finish_generation(tokenizer, output[0][len(ids):].tolist(), local.end_ids(), params, len(ids))
