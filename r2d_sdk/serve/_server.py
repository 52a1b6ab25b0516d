"""Running a gateway: uvicorn, with the setup done before the port opens and the log flushed after.

Ctrl-C or SIGTERM: uvicorn stops accepting connections, lets in-flight requests finish (up to
the longest route timeout), then runs the application's shutdown, which writes every queued
request row. A second Ctrl-C forces the exit; the log is flushed all the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from r2d_sdk.serve._gateway import Gateway
from r2d_sdk.serve._reply import serve_extra_missing


def run_server(gateway: Gateway, host: str, port: int, access_log: bool = True) -> None:
    """Serve until stopped (blocking)."""
    try:
        import uvicorn
    except ImportError:
        raise serve_extra_missing("uvicorn") from None
    from r2d_sdk.serve._app import create_app

    logging.getLogger("r2d_sdk.serve").setLevel(logging.INFO)
    grace = int(max((g.route.timeout_s for g in gateway.guards.values()), default=60)) + 5
    config = uvicorn.Config(create_app(gateway), host=host, port=port, log_level="info", access_log=access_log,
                            timeout_graceful_shutdown=grace, lifespan="on")
    server = uvicorn.Server(config)

    async def main() -> None:
        # In the serving loop (clients a setup call opens stay usable), and before the port opens:
        # a checkpoint that is missing or a calibration that fails is said as one message.
        await gateway.setup()
        await server.serve()

    try:
        with asyncio.Runner(loop_factory=_fast_loop()) as runner:
            runner.run(main())
    finally:
        gateway.close()


def _fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the serve extra installs it), as uvicorn would pick."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return]
