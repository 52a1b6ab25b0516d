"""Model.stream: the same call as generate, streamed (cache, retries, one record, early close)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from r2d_sdk import MockScript, Model, ModelCallError, ModelOutput
from r2d_sdk._calls import collect

ASK = [{"role": "user", "content": "Tell me a story"}]


class Cache:
    def __init__(self) -> None:
        self.entries: dict[str, ModelOutput] = {}

    def get(self, key: str) -> ModelOutput | None:
        return self.entries.get(key)

    def put(self, key: str, output: ModelOutput) -> None:
        self.entries[key] = output


async def _drain(model: Model, **overrides: object) -> tuple[list[str], ModelOutput]:
    items = [item async for item in model.stream(ASK, **overrides)]  # type: ignore[arg-type]
    assert isinstance(items[-1], ModelOutput) and all(isinstance(i, str) for i in items[:-1])
    return items[:-1], items[-1]  # type: ignore[return-value]


def test_mock_stream_is_the_generated_answer_in_pieces_and_cached() -> None:
    cache = Cache()
    model = Model("t", "mock/t", mock=MockScript(replies=["Once upon a time, a model streamed."]), cache=cache)
    with collect() as calls:
        pieces, output = asyncio.run(_drain(model))
        again, hit = asyncio.run(_drain(model))
    assert pieces == ["Once ", "upon ", "a ", "time, ", "a ", "model ", "streamed."]
    assert output.text == "".join(pieces) and output.completion_tokens == 7 and output.prompt_tokens == 4
    assert again == [output.text] and hit.text == output.text  # the cache answers in one piece
    assert [(c.cache_hit, c.response) for c in calls] == [(False, output.text), (True, output.text)]
    assert model.mock is not None and model.mock.calls == 1


def test_a_failure_before_the_first_piece_is_retried_and_a_final_one_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    real_sleep = asyncio.sleep
    monkeypatch.setattr(asyncio, "sleep", lambda _seconds: real_sleep(0))  # no back-off pauses in the test
    flaky = Model("t", "mock/t", mock=MockScript(replies=["fine"], failures=["rate_limit", None]), max_retries=2)
    with collect() as calls:
        pieces, output = asyncio.run(_drain(flaky))
    assert pieces == ["fine"] and output.retries == 1 and len(calls) == 1 and calls[0].error is None
    down = Model("t", "mock/t", mock=MockScript(failures=["connection"]), max_retries=1)
    with collect() as calls, pytest.raises(ModelCallError, match="mock failure: connection"):
        asyncio.run(_drain(down))
    assert len(calls) == 1 and calls[0].error and calls[0].retries == 1


@pytest.mark.slow
def test_local_stream_matches_generate_and_stops_when_closed(tiny_model_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import r2d_sdk.models._local_stream as local_stream

    generated: list[int] = []  # tokens each streamed generation actually produced
    original = local_stream.generate_one

    def counting(local, prompt, params, on_ids, stop):  # type: ignore[no-untyped-def]
        steps = [0]

        def seen(ids: list[int]) -> None:
            steps[0] += len(ids)
            on_ids(ids)

        try:
            return original(local, prompt, params, seen, stop)
        finally:
            generated.append(steps[0])

    monkeypatch.setattr(local_stream, "generate_one", counting)
    model = Model("tiny", f"local/{tiny_model_dir}")

    async def run() -> tuple[ModelOutput, list[str], ModelOutput]:
        plain = await model.generate(ASK, max_tokens=120)  # type: ignore[arg-type]
        pieces, streamed = await _drain(model, max_tokens=120)
        stream = model.stream(ASK, max_tokens=400)  # type: ignore[arg-type]
        read = 0
        async for _ in stream:
            read += 1
            if read == 3:
                break
        await stream.aclose()
        # The model's worker runs one job at a time: this waits for the closed generation to end.
        await asyncio.get_running_loop().run_in_executor(model.local._executor, lambda: None)  # type: ignore[attr-defined]
        return plain, pieces, streamed

    with collect() as calls:
        plain, pieces, streamed = asyncio.run(run())
    assert "".join(pieces) == streamed.text == plain.text and len(pieces) > 3
    assert streamed.completion_tokens == plain.completion_tokens
    assert calls[-1].finish_reason == "cancelled" and calls[-1].response
    assert generated[0] == 120 and generated[1] < 400  # closing stopped the generation early
