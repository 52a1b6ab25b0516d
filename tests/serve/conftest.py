"""Gateway fixtures: recipes on the scripted mock provider, a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

KEY = "sk-test-gateway-key-0001"
OTHER_KEY = "sk-test-gateway-key-0002"

# A target that answers anything, harmful-sounding requests included; the stack decides.
RECIPE = """
name: gateway-test
models:
  target:
    model: mock/target
    max_retries: 0
    mock:
      replies: ["Sure, here is how to bake bread: mix flour, water and yeast."]
      when:
        - {{match: "bomb", reply: "Step one of the bomb: gather the parts."}}
        - {{match: "slow", reply: "A slow answer."}}
{extra_models}
defenses:
  - {{name: stack, label: deployed, args: {{input: [{{name: blocklist, args: {{patterns: [weapon]}}}}],
                                           output: [{{name: blocklist, label: output-filter,
                                                     args: {{patterns: [bomb]}}}}]}}}}
serve:
  api_keys: ["${{GATEWAY_KEYS}}"]
  max_messages: 8
  max_body_bytes: 20000
{serve_extra}
  routes:
    chat:
      model: target
      defense: deployed
    plain:
      model: target
      defenses: [none]
{routes_extra}
"""


@pytest.fixture
def gateway_keys(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GATEWAY_KEYS", f"{KEY},{OTHER_KEY}")
    return KEY


@pytest.fixture
def serve_recipe(tmp_path: Path, gateway_keys: str) -> Callable[..., Path]:
    """Write the gateway test recipe, with extra models, serve settings or routes."""

    def write(extra_models: str = "", serve_extra: str = "", routes_extra: str = "", name: str = "serve.yaml") -> Path:
        path = tmp_path / name
        path.write_text(RECIPE.format(extra_models=extra_models, serve_extra=serve_extra, routes_extra=routes_extra))
        return path

    return write


class RunningServer:
    """A gateway served by uvicorn in a background thread."""

    def __init__(self, gateway: object) -> None:
        import uvicorn

        from r2d_sdk.serve import create_app

        self.gateway = gateway
        self.server = uvicorn.Server(uvicorn.Config(create_app(gateway), host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def serving(serve_recipe: Callable[..., Path], tmp_path: Path) -> Callable[..., RunningServer]:
    """Start a gateway on a free port for a recipe written by `serve_recipe` (a context manager)."""

    def start(path: Path | None = None, db: str | None = None) -> RunningServer:
        from r2d_sdk.recipe import load_recipe
        from r2d_sdk.serve import Gateway

        gateway = Gateway(load_recipe(path or serve_recipe()), db or f"sqlite:///{tmp_path / 'gateway.db'}")
        return RunningServer(gateway)

    return start
