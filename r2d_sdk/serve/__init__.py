"""The guardrail, deployed: `Guard` (a target model plus a defense stack, in Python), the
OpenAI-compatible gateway behind `r2d-sdk serve`, and the request log. FastAPI and uvicorn load
only when a server is made (`create_app`, `serve`); a Guard needs neither."""

from r2d_sdk.serve._build import Route, build_routes, stack_spec
from r2d_sdk.serve._gateway import Gateway
from r2d_sdk.serve._guard import Guard
from r2d_sdk.serve._log import RequestLog
from r2d_sdk.serve._reply import GuardError, GuardInputError, GuardReply, client_tag, normalize_messages
from r2d_sdk.serve._stream import GuardStream

__all__ = ["Gateway", "Guard", "GuardError", "GuardInputError", "GuardReply", "GuardStream", "RequestLog", "Route",
           "build_routes", "client_tag", "create_app", "normalize_messages", "serve", "stack_spec"]


def create_app(gateway: Gateway) -> object:
    """The FastAPI application of a gateway (`pip install 'r2d-sdk[serve]'`)."""
    from r2d_sdk.serve._app import create_app as make

    return make(gateway)


def serve(gateway: Gateway, host: str, port: int, access_log: bool = True) -> None:
    """Run a gateway with uvicorn until Ctrl-C or SIGTERM; in-flight requests finish, the log is flushed."""
    from r2d_sdk.serve._server import run_server

    run_server(gateway, host, port, access_log)
