"""Bad input gets an OpenAI-shaped 4xx naming the problem; a failing model or defense a 502/504; the
server keeps serving; API keys never reach the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from conftest import KEY, RunningServer

from r2d_sdk import Defense, DefenseResult, Message, register

AUTH = {"Authorization": f"Bearer {KEY}"}
HELLO = [{"role": "user", "content": "Bake bread?"}]


@register("test-crashing-defense")
class CrashingDefense(Defense):
    """Raises, as a buggy defense would."""

    async def respond(self, messages: list[Message]) -> DefenseResult:
        raise ZeroDivisionError("the defense divided by zero")


def _error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str) and body["error"]["type"]
    assert "Traceback" not in response.text
    return dict(body["error"])


def test_auth_is_required_and_checked(serving: Callable[..., RunningServer]) -> None:
    with serving() as server, httpx.Client(base_url=server.url.removesuffix("/v1"), timeout=30) as http:
        assert _error(http.get("/v1/models"), 401)["code"] == "invalid_api_key"
        assert "Bearer" in str(_error(http.post("/v1/chat/completions", json={"model": "chat", "messages": HELLO}),
                                      401)["message"])
        wrong = {"Authorization": "Bearer sk-test-gateway-key-9999"}
        assert _error(http.post("/v1/chat/completions", json={"model": "chat", "messages": HELLO}, headers=wrong),
                      401)["type"] == "authentication_error"
        assert http.get("/health").json()["status"] == "ok"  # health needs no key
        assert http.post("/v1/chat/completions", json={"model": "chat", "messages": HELLO}, headers=AUTH).status_code \
            == 200


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"messages": HELLO}, "model", "Field required"),
    ({"model": "chat"}, "messages", "Field required"),
    ({"model": "chat", "messages": []}, "messages", "at least 1"),
    ({"model": "chat", "messages": "hello"}, "messages", "valid list"),
    ({"model": "chat", "messages": [{"role": "user", "content": 7}]}, "messages.0.content", "valid string"),
    ({"model": "chat", "messages": HELLO, "stream": "often"}, "stream", "valid boolean"),
    ({"model": "chat", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role", "not supported"),
    ({"model": "chat", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content",
     "only text parts"),
    ({"model": "chat", "messages": [{"role": "assistant", "content": "Hi"}]}, "messages", "no user message"),
    ({"model": "chat", "messages": HELLO * 9}, "messages", "more than this gateway takes (8)"),
    ({"model": "chat", "messages": HELLO, "n": 2}, "n", "only n = 1"),
    ({"model": "chat", "messages": HELLO, "tools": [{"type": "function"}]}, "tools", "tools are not supported"),
])
def test_malformed_requests_get_a_400_naming_the_problem(serving: Callable[..., RunningServer], body: dict[str, object],
                                                        param: str, words: str) -> None:
    with serving() as server, httpx.Client(base_url=server.url, timeout=30) as http:
        error = _error(http.post("/chat/completions", json=body, headers=AUTH), 400)
        assert error["param"] == param and words in str(error["message"])
        # Still serving afterwards.
        assert http.post("/chat/completions", json={"model": "chat", "messages": HELLO}, headers=AUTH).status_code == 200


def test_bad_json_unknown_route_and_large_bodies(serving: Callable[..., RunningServer], tmp_path: Path) -> None:
    with serving() as server, httpx.Client(base_url=server.url, timeout=30) as http:
        headers = {**AUTH, "Content-Type": "application/json"}
        assert _error(http.post("/chat/completions", content=b'{"model": "chat", "messa', headers=headers),
                      400)["code"] == "invalid_json"
        missing = _error(http.post("/chat/completions", json={"model": "gpt-5", "messages": HELLO}, headers=AUTH), 404)
        assert missing["code"] == "model_not_found" and "'chat', 'plain'" in str(missing["message"])
        big = {"model": "chat", "messages": [{"role": "user", "content": "x" * 30_000}]}
        assert _error(http.post("/chat/completions", json=big, headers=AUTH), 413)["code"] == "request_too_large"

        def chunked() -> object:  # no Content-Length: the limit holds on what arrives
            yield b'{"model": "chat", "messages": [{"role": "user", "content": "'
            for _ in range(30):
                yield b"x" * 1000
            yield b'"}]}'

        assert _error(http.post("/chat/completions", content=chunked(), headers=headers), 413)["code"] \
            == "request_too_large"
        assert _error(http.get("/nowhere", headers=AUTH), 404)["message"]
        assert _error(http.put("/chat/completions", headers=AUTH), 405)
    assert not (tmp_path / "gateway.db").exists() or b"x" * 1000 not in (tmp_path / "gateway.db").read_bytes()


def test_failing_upstream_timeout_and_crashing_defense(serving: Callable[..., RunningServer],
                                                       serve_recipe: Callable[..., Path], tmp_path: Path) -> None:
    path = serve_recipe(
        extra_models="  down:\n    model: mock/down\n    max_retries: 0\n    mock: {failures: [connection]}\n"
                     "  slow:\n    model: mock/slow\n    mock: {latency_ms: 3000}\n",
        routes_extra="    broken-upstream: {model: down}\n    slow: {model: slow, timeout_s: 0.3}\n"
                     "    buggy: {model: target, defenses: [test-crashing-defense]}\n")
    with serving(path) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        def ask(route: str, stream: bool = False) -> httpx.Response:
            return http.post("/chat/completions", json={"model": route, "messages": HELLO, "stream": stream},
                             headers=AUTH)

        for stream in (False, True):
            upstream = _error(ask("broken-upstream", stream), 502)
            assert upstream["code"] == "upstream" and "mock failure: connection" in str(upstream["message"])
            assert _error(ask("slow", stream), 504)["code"] == "timeout"
            crash = _error(ask("buggy", stream), 502)
            assert crash["code"] == "defense" and "ZeroDivisionError" in str(crash["message"])
        assert ask("chat").status_code == 200  # the server kept serving
    import sqlite3

    with sqlite3.connect(tmp_path / "gateway.db") as connection:
        rows = connection.execute("SELECT route, status, http_status, error IS NOT NULL FROM guard_requests "
                                  "ORDER BY id").fetchall()
    assert rows == [("broken-upstream", "error", 502, 1), ("slow", "timeout", 504, 1), ("buggy", "error", 502, 1)] * 2 \
        + [("chat", "ok", 200, 0)]


def test_api_keys_never_reach_the_database(serving: Callable[..., RunningServer], tmp_path: Path) -> None:
    with serving() as server:
        client = openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0)
        client.chat.completions.create(model="chat", messages=HELLO)
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "a weapon"}])
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("gateway.db*"))
    assert KEY.encode() not in stored and b"sk-test-gateway" not in stored
    import sqlite3

    from r2d_sdk.serve import client_tag

    with sqlite3.connect(tmp_path / "gateway.db") as connection:
        clients = {row[0] for row in connection.execute("SELECT client FROM guard_requests")}
    assert clients == {client_tag(KEY)} and len(client_tag(KEY)) == 12
