"""`r2d-sdk serve` as a user runs it: a process on a port; SIGTERM lets in-flight requests finish and
flushes the log; a bad recipe is one message and exit 2."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from click.testing import CliRunner
from conftest import KEY

from r2d_sdk.cli import cli

SLOW_MODEL = "  slowpoke:\n    model: mock/slowpoke\n    mock: {replies: [Done slowly.], latency_ms: 2500}\n"
SLOW_ROUTE = "    slow: {model: slowpoke}\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigterm_finishes_in_flight_requests_and_flushes_the_log(serve_recipe: Callable[..., Path],
                                                                 tmp_path: Path) -> None:
    recipe = serve_recipe(extra_models=SLOW_MODEL, routes_extra=SLOW_ROUTE)
    port, db = _free_port(), tmp_path / "served.db"
    process = subprocess.Popen([sys.executable, "-m", "r2d_sdk.cli", "serve", str(recipe), "--port", str(port),
                                "--db", str(db), "--no-access-log"], env={**os.environ},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {KEY}"}
        quick = httpx.post(f"{base}/v1/chat/completions", headers=headers, timeout=30,
                           json={"model": "chat", "messages": [{"role": "user", "content": "Bake bread?"}]})
        assert quick.status_code == 200
        slow: dict[str, httpx.Response] = {}
        asking = threading.Thread(target=lambda: slow.setdefault("reply", httpx.post(
            f"{base}/v1/chat/completions", headers=headers, timeout=60,
            json={"model": "slow", "messages": [{"role": "user", "content": "Take your time"}]})))
        asking.start()
        time.sleep(1.0)  # the slow request is in flight
        process.send_signal(signal.SIGTERM)
        asking.join(timeout=60)
        assert slow["reply"].status_code == 200 and slow["reply"].json()["choices"][0]["message"]["content"] \
            == "Done slowly."
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read() if process.stdout else ""
    assert "serving chat, plain, slow at http://127.0.0.1:" in output and "Traceback" not in output
    assert KEY not in output
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT route, status FROM guard_requests ORDER BY id").fetchall()
    assert rows == [("chat", "ok"), ("slow", "ok")]
    try:
        httpx.get(f"{base}/health", timeout=2)
        raise AssertionError("the server still answers after SIGTERM")
    except httpx.TransportError:
        pass


def test_bad_serve_recipes_are_one_message_and_exit_2(tmp_path: Path, serve_recipe: Callable[..., Path],
                                                      monkeypatch: object) -> None:
    cases = {
        "unknown-model": ("models:\n  t: {model: mock/t}\nserve:\n  routes:\n    a: {model: nope}\n",
                          "serve.routes.a.model: 'nope' is not one of the models"),
        "unknown-defense": ("models:\n  t: {model: mock/t}\nserve:\n  routes:\n    a: {model: t, defenses: [nope]}\n",
                            "unknown defense 'nope'"),
        "bad-args": ("models:\n  t: {model: mock/t}\nserve:\n  routes:\n    a: {model: t, defenses: [blocklist]}\n",
                     "serve.routes.a.defenses 'blocklist' has bad arguments: patterns: Field required"),
        "literal-key": ("models:\n  t: {model: mock/t}\nserve:\n  api_keys: [sk-written-in-the-file]\n"
                        "  routes:\n    a: {model: t}\n", "serve.api_keys[0] is written in the recipe itself"),
        "empty-key": ("models:\n  t: {model: mock/t}\nserve:\n  api_keys: ['${EMPTY_KEY:-}']\n"
                      "  routes:\n    a: {model: t}\n", "key 1 is empty"),
        "bad-route-name": ("models:\n  t: {model: mock/t}\nserve:\n  routes:\n    'a b': {model: t}\n",
                           "route name 'a b'"),
        "wrong-side": ("models:\n  t: {model: mock/t}\nserve:\n  routes:\n    a:\n      model: t\n      defenses:\n"
                       "        - {name: stack, args: {input: [self-reminder]}}\n",
                       "input[0]: 'self-reminder' has no input-side check"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        result = CliRunner().invoke(cli, ["serve", str(path), "--db", str(tmp_path / f"{name}.db")])
        assert result.exit_code == 2, (name, result.output)
        assert message in result.output and "Traceback" not in result.output, (name, result.output)
        assert not (tmp_path / f"{name}.db").exists()  # nothing was written
    validated = CliRunner().invoke(cli, ["validate", str(serve_recipe())])
    assert validated.exit_code == 0, validated.output
    assert "routes: chat (target, deployed), plain (target, none)" in validated.output
