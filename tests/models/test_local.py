"""The local transformers backend: micro-batching, usage, scoring, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from r2d_sdk import GenerationParams, Model
from r2d_sdk._calls import collect
from r2d_sdk.models._local import MIN_SHARED_PREFIX, LocalModel, _pad_after_prefix, _shared_prefix_length
from r2d_sdk.models._model import cache_key


@pytest.fixture
def tiny(tiny_model_dir: Path) -> Model:
    return Model("tiny", f"local/{tiny_model_dir}", GenerationParams(max_tokens=6))


def _count_batches(local: LocalModel, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    original = local.generate_batch

    def counting(prompts: list[str], params: GenerationParams) -> list:
        sizes.append(len(prompts))
        return original(prompts, params)

    monkeypatch.setattr(local, "generate_batch", counting)
    return sizes


def test_concurrent_requests_share_one_batch(tiny: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = _count_batches(tiny.local, monkeypatch)
    prompts = [f"Question number {i}?" for i in range(8)]

    async def go() -> list:
        return await asyncio.gather(*(tiny.generate([{"role": "user", "content": p}]) for p in prompts))

    outputs = asyncio.run(go())
    assert sum(sizes) == 8 and len(sizes) < 8, sizes
    assert all(o.completion_tokens >= 1 and o.prompt_tokens > 5 for o in outputs)


def test_batched_greedy_equals_one_at_a_time(tiny: Model) -> None:
    local = tiny.local
    params = GenerationParams(max_tokens=8)
    # Same-length prompts: no padding, so batching must not change greedy outputs.
    prompts = [local.render([{"role": "user", "content": f"Say {w}"}]) for w in ("red", "tan", "sky")]
    lengths = {len(local.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    assert len(lengths) == 1
    together = [r.text for r in local.generate_batch(prompts, params)]
    alone = [local.generate_batch([p], params)[0].text for p in prompts]
    assert together == alone


def test_shared_prefix_runs_once_and_changes_no_answer(tiny: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tiny.local
    params = GenerationParams(max_tokens=8)
    system = "You are a careful assistant. Think about every request before you answer it, then answer briefly."
    questions = ("Name a colour.", "What is the capital of a country you like most of all?", "Count to three, then stop.")
    prompts = [local.render([{"role": "system", "content": system}, {"role": "user", "content": q}])
               for q in questions]
    ids = [local.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    assert len({len(i) for i in ids}) == 3, ids  # different lengths: padding sits between prefix and rest
    forward_widths: list[int] = []
    original_forward = local.model.forward

    def counting_forward(*args: object, **kwargs: object) -> object:
        forward_widths.append(kwargs["input_ids"].shape[1] if "input_ids" in kwargs else args[0].shape[1])  # type: ignore[attr-defined]
        return original_forward(*args, **kwargs)

    monkeypatch.setattr(local.model, "forward", counting_forward)
    monkeypatch.setattr(local, "share_prefix", True)
    shared = [r.text for r in local.generate_batch(prompts, params)]
    shared_widths, forward_widths[:] = list(forward_widths), []
    monkeypatch.setattr(local, "share_prefix", False)
    plain = [r.text for r in local.generate_batch(prompts, params)]
    assert shared == plain
    common = _shared_prefix_length(ids)
    assert common >= MIN_SHARED_PREFIX
    # The prefix pass, then the rest of the prompts only, then one token per step.
    assert shared_widths[0] == common and shared_widths[1] == max(map(len, ids)) - common
    assert forward_widths[0] == max(map(len, ids))


def test_shared_prefix_length_and_padding() -> None:
    assert _shared_prefix_length([[1] * 20 + [2], [1] * 20 + [3, 4]]) == 20
    assert _shared_prefix_length([[1] * 20]) == 0  # one prompt: nothing to share
    assert _shared_prefix_length([[1] * 5 + [2], [1] * 5 + [3]]) == 0  # too short to pay off
    assert _shared_prefix_length([[1] * 30, [1] * 40]) == 29  # each row keeps a token of its own
    ids, mask = _pad_after_prefix([[7, 7, 1], [7, 7, 2, 3, 4]], 2, 0)
    assert ids.tolist() == [[7, 7, 0, 0, 1], [7, 7, 2, 3, 4]]
    assert mask.tolist() == [[1, 1, 0, 0, 1], [1, 1, 1, 1, 1]]
    ids, mask = _pad_after_prefix([[5], [6, 7]], 0, 0)  # no prefix: left padding
    assert ids.tolist() == [[0, 5], [6, 7]] and mask.tolist() == [[0, 1], [1, 1]]


def test_cache_key_separates_precision_and_adapter() -> None:
    def key(batch_size: int = 8, **options: str) -> str:
        model = Model("m", "local/x", local_options={"batch_size": batch_size, **options})
        return cache_key(model.model_id, None, [{"role": "user", "content": "hi"}], GenerationParams(),
                         model._keyed_extra())

    assert key() == key(chat_template="auto") == key(batch_size=64)  # regrouping work changes no answer
    assert len({key(), key(dtype="bfloat16"), key(adapter="ckpt"), key(chat_template="vicuna")}) == 4
    assert key(dtype="bfloat16") == key(batch_size=64, dtype="bfloat16")


def test_different_settings_are_not_mixed(tiny: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = _count_batches(tiny.local, monkeypatch)

    async def go() -> None:
        await asyncio.gather(*(tiny.generate([{"role": "user", "content": f"q{i}"}], max_tokens=3 + i % 2)
                               for i in range(6)))

    asyncio.run(go())
    assert sum(sizes) == 6 and len(sizes) >= 2


def test_usage_and_call_record(tiny: Model) -> None:
    with collect() as calls:
        output = asyncio.run(tiny.generate([{"role": "user", "content": "hello"}], max_tokens=4))
    assert output.completion_tokens <= 4
    assert output.finish_reason in ("stop", "length")
    assert len(calls) == 1 and calls[0].model_id.startswith("local/") and calls[0].completion_tokens == \
        output.completion_tokens and calls[0].error is None


def test_token_logprobs_match_a_forward_pass(tiny: Model) -> None:
    import torch

    local = tiny.local
    logprobs = local.token_logprobs(" world", prefix="Hello")
    ids = local.tokenizer("Hello world", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = local.model(torch.tensor([ids], device=local.device)).logits[0].cpu()
    expected = torch.log_softmax(logits[:-1], -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    assert logprobs == pytest.approx(expected[-len(logprobs):].tolist(), abs=1e-4)
    assert local.mean_nll("some text here") > 0


def test_a_failing_batch_fails_every_caller(tiny: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    from r2d_sdk import ModelCallError

    def broken(prompts: list[str], params: GenerationParams) -> list:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(tiny.local, "generate_batch", broken)

    async def go() -> list:
        return await asyncio.gather(*(tiny.generate([{"role": "user", "content": f"x{i}"}]) for i in range(3)),
                                    return_exceptions=True)

    with collect() as calls:
        results = asyncio.run(go())
    assert all(isinstance(r, ModelCallError) for r in results)
    assert len(calls) == 3 and all(c.error and "out of memory" in c.error for c in calls)


def test_missing_local_folder_is_a_clear_error(tmp_path: Path) -> None:
    from r2d_sdk import R2DError

    model = Model("missing", f"local/{tmp_path / 'nope'}")
    with pytest.raises(R2DError) as error:
        _ = model.local
    assert "fix" in str(error.value)


@pytest.mark.slow
def test_embedded_smollm2_loads_and_answers() -> None:
    model = Model("smol", "local/smollm2", GenerationParams(max_tokens=12))
    output = asyncio.run(model.generate([{"role": "user", "content": "What is the capital of France?"}]))
    assert "Paris" in output.text


def test_a_model_whose_cache_cannot_be_shared_falls_back(tiny: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tiny.local
    params = GenerationParams(max_tokens=6)
    system = "You are a careful assistant. Think about every request before you answer it, then answer briefly."
    prompts = [local.render([{"role": "system", "content": system}, {"role": "user", "content": q}])
               for q in ("Name a colour.", "Count to three, then stop.")]
    monkeypatch.setattr(local, "share_prefix", False)
    plain = [r.text for r in local.generate_batch(prompts, params)]

    class NoCache:
        pass

    original_forward = local.model.forward
    calls: list[bool] = []

    def forward_without_cache(*args: object, **kwargs: object) -> object:
        output = original_forward(*args, **kwargs)
        if not calls:  # the prefix pass: an output with no cache attribute, as some architectures give
            calls.append(True)
            return NoCache()
        return output

    monkeypatch.setattr(local.model, "forward", forward_without_cache)
    monkeypatch.setattr(local, "share_prefix", True)
    assert [r.text for r in local.generate_batch(prompts, params)] == plain
    assert calls == [True] and local.share_prefix is False  # tried once, then switched off


def test_exclusive_holds_off_batches_until_released(tiny: Model) -> None:
    # A plugin driving the model itself (SafeDecoding) holds exclusive(); a batch must wait for it.
    import threading

    local = tiny.local
    prompt = local.render([{"role": "user", "content": "Hello"}])
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (local.generate_batch([prompt], GenerationParams(max_tokens=2)),
                                              finished.set()))
    with local.exclusive():
        worker.start()
        assert not finished.wait(0.5)
    worker.join(timeout=30)
    assert finished.is_set()


def test_a_batch_takes_the_oldest_request_and_the_closest_lengths() -> None:
    from r2d_sdk.models._local import _Request, pick_batch

    greedy, sampled = GenerationParams(max_tokens=4), GenerationParams(max_tokens=4, temperature=0.7)
    lengths = [40, 900, 35, 1000, 45, 950, 38]
    held = [_Request("x" * n, greedy) for n in lengths]
    held.insert(2, _Request("x" * 41, sampled))  # other settings: never mixed in
    batch = pick_batch(held, 4)
    assert [len(r.prompt) for r in batch] == [40, 38, 35, 45]  # 35 and 45 tie: arrival order
    # A long prompt that is oldest is served with the other long ones, never with short ones.
    assert [len(r.prompt) for r in pick_batch(held[1:], 3)] == [900, 950, 1000]
    assert [len(r.prompt) for r in pick_batch(held[1:], 8)] == [900, 950, 1000]


def test_models_sharing_a_reference_keep_their_own_load_options(tiny_model_dir: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Two recipe models on one folder, float32 and bfloat16, called at the same time: each call
    # carries its own options to the provider, so each is served by the weights it asked for.
    import torch

    full = Model("full", f"local/{tiny_model_dir}", GenerationParams(max_tokens=3), local_options={"dtype": "float32"})
    half = Model("half", f"local/{tiny_model_dir}", GenerationParams(max_tokens=3), local_options={"dtype": "bfloat16"})
    served: list[tuple[str, object]] = []
    for model in (full, half):
        local = model.local
        original = local.generate_batch

        def spy(prompts: list[str], params: GenerationParams, local=local, original=original) -> list:  # type: ignore[no-untyped-def]
            served.extend((p, next(local.model.parameters()).dtype) for p in prompts)
            return original(prompts, params)

        monkeypatch.setattr(local, "generate_batch", spy)

    async def go() -> None:
        await asyncio.gather(*(m.generate([{"role": "user", "content": f"{m.name} {i}"}])
                               for i in range(4) for m in (full, half)))

    asyncio.run(go())
    assert len(served) == 8
    assert all(dtype == (torch.float32 if "full " in prompt else torch.bfloat16) for prompt, dtype in served)
    assert full.local is not half.local


def test_the_public_face_is_what_plugins_get(tiny: Model) -> None:
    from r2d_sdk import LocalLM

    assert isinstance(tiny.local, LocalLM)
