"""The Starlette application: webhook receiver, health checks, admin API, console, and live
transcription's WebSocket (``adapter.live.endpoint``)."""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from functools import partial

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapter.errors import ConfigError
from adapter.jobs.broker import ping as broker_ping
from adapter.live import endpoint as live
from adapter.live.hooks import ServiceHooks, StreamHooks
from adapter.runtime import Runtime
from adapter.web import admin, console
from adapter.web.webhooks import make_endpoint

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    checks: dict[str, str] = {}

    def check() -> None:
        for name, probe in (
            ("database", rt.ledger.ping),
            ("broker", partial(broker_ping, rt.broker)),
        ):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unavailable ({type(exc).__name__})"

    await to_thread.run_sync(check)
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


async def not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "not found"}, status_code=404)


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "method not allowed"}, status_code=405)


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return JSONResponse({"error": "temporarily unavailable"}, status_code=503)


def create_app(
    rt: Runtime,
    *,
    clock: Callable[[], float] = time.time,
    live_hooks: StreamHooks | None = None,
) -> Starlette:
    """The service's app on ``rt``; ``live_hooks``: the stream tokens and the note on close of
    live transcription (default: :mod:`adapter.streams` over ``rt``)."""
    app = Starlette(
        routes=[
            Route("/webhooks/chatwoot/{account_id}", make_endpoint(clock), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            *admin.routes(),
            *console.routes(),
            *live.routes(),
        ],
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )
    # a path with a slash too many (or too few) is 404, never a redirect: Starlette's would
    # build its Location from the request's Host header, and a POST redirected is a webhook lost
    app.router.redirect_slashes = False
    app.state.runtime = rt
    app.state.live_hooks = live_hooks or ServiceHooks(rt)
    return app


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn, bound before anything else starts, so that a
    busy port is one line (:class:`ConfigError`) rather than uvicorn's exit among the logs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use: {exc.strerror}; stop what listens there, or "
                "choose another --port"
            ) from None
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}; check --host and --port"
        ) from None
    sock.set_inheritable(True)
    return sock


__all__ = ["create_app", "listen_socket"]
