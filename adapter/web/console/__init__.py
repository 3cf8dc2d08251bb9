"""The operator's console at ``/console``: server-rendered pages over the runtime.

- ``session``: the signed session cookie and CSRF tokens (pure);
- ``auth``: sign-in, sign-out, and the wrappers every route goes through (404 when the admin
  API is off, sign-in, CSRF, the 503 page);
- ``overview``, ``usage``, ``transcriptions``, ``accounts``, ``doctor`` (an account's checks),
  ``live`` (the live transcription demo): one module per page;
- ``reads``: what the pages read from the runtime; ``charts``: series to SVG (pure);
- ``render``: templates (``templates/``) to responses; ``static/``: the stylesheet, the
  console's script and the live page's two, served from the package (no CDN: it works offline).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from adapter.runtime import Runtime
from adapter.web.console import accounts, doctor, live, overview, transcriptions, usage
from adapter.web.console.auth import action, not_found, page, sign_in, sign_in_page, sign_out
from adapter.web.console.auth import signer_for as _signer_for

STATIC = Path(__file__).with_name("static")
#: every file the console serves, with its type: nothing else under /console/static
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "live.js": "text/javascript; charset=utf-8",
    "live-worklet.js": "text/javascript; charset=utf-8",
}


async def asset(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    name = request.path_params["name"]
    if _signer_for(rt) is None or name not in ASSETS:
        return not_found()
    return FileResponse(
        STATIC / name,
        media_type=ASSETS[name],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


async def missing(request: Request) -> Response:
    """Any other /console path: the console's 404 page."""
    return not_found()


def routes() -> list[Route]:
    """The console's routes, each behind ``auth`` (see its docstring)."""
    return [
        Route("/console", page(overview.overview), methods=["GET"]),
        Route("/console/", page(overview.overview), methods=["GET"]),
        Route("/console/overview/panel", page(overview.panel, fragment=True), methods=["GET"]),
        Route("/console/usage", page(usage.usage_page), methods=["GET"]),
        Route("/console/transcriptions", page(transcriptions.list_page), methods=["GET"]),
        Route(
            "/console/transcriptions/retry-failed",
            action(transcriptions.retry_failed),
            methods=["POST"],
        ),
        Route("/console/transcriptions/{id}", page(transcriptions.detail_page), methods=["GET"]),
        Route("/console/transcriptions/{id}/retry", action(transcriptions.retry), methods=["POST"]),
        Route("/console/accounts", page(accounts.list_page), methods=["GET"]),
        Route("/console/accounts/{account_id}", page(accounts.account_page), methods=["GET"]),
        Route("/console/accounts/{account_id}", action(accounts.save), methods=["POST"]),
        Route(
            "/console/accounts/{account_id}/enabled",
            action(accounts.set_enabled),
            methods=["POST"],
        ),
        Route("/console/accounts/{account_id}/doctor", page(doctor.doctor_page), methods=["GET"]),
        Route("/console/accounts/{account_id}/doctor", action(doctor.run), methods=["POST"]),
        Route("/console/live", page(live.live_page), methods=["GET"]),
        Route("/console/sign-in", sign_in_page, methods=["GET"]),
        Route("/console/sign-in", sign_in, methods=["POST"]),
        Route("/console/sign-out", sign_out, methods=["POST"]),
        Route("/console/static/{name}", asset, methods=["GET"]),
        Route("/console/{rest:path}", missing, methods=["GET", "POST"]),
    ]


__all__ = ["routes"]
