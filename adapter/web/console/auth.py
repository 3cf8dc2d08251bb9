"""Who may use the console: sign-in with the admin token, the session cookie, CSRF on every POST.

Every console route is wrapped here, so the rules hold for all of them at once:

- no ``TRANSCRIBER_ADMIN_TOKEN``: every ``/console`` path answers 404, like the admin API;
- a page (GET) without a valid session: 303 to the sign-in form; a fragment: 401. A session
  that was signed out (``adapter.store.sessions``) is no session, even with its cookie;
- a POST without a valid session, or whose ``csrf`` field is not the session's: 403, and the
  handler never runs;
- the database down: a readable 503 page. Any other error is a bug, left to the app's 500
  handler (logged at ERROR);
- a client address with too many wrong tokens: 429 (:mod:`adapter.web.console.throttle`).

The admin token is only ever read from the sign-in form's body: never from a URL, never
written to a page, a log line or the cookie (which carries an HMAC binding, see
:mod:`adapter.web.console.session`).
"""

from __future__ import annotations

import logging
import math
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from anyio import to_thread
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import ClientDisconnect, Request
from starlette.responses import RedirectResponse, Response

from adapter.runtime import Runtime
from adapter.store import StoreUnavailable
from adapter.store.sessions import SessionStore
from adapter.web.body import BodyTooLarge, read_capped
from adapter.web.console.render import html
from adapter.web.console.session import (
    COOKIE_NAME,
    COOKIE_PATH,
    KEY_LABEL,
    SessionSigner,
    SignedSession,
    csrf_matches,
)
from adapter.web.console.throttle import SignInThrottle

log = logging.getLogger(__name__)

HOME = "/console"
SIGN_IN = "/console/sign-in"
#: a console form is a few fields; more is not a form of ours
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 64
#: what means "the database does not answer" (anything else from the store is a bug)
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, StoreUnavailable)
#: where the app keeps its sign-in throttle (``app.state``)
THROTTLE_STATE = "console_sign_in_throttle"


@dataclass(frozen=True)
class Ctx:
    """What a console handler gets: the request, the runtime, the session, the form (POST)."""

    request: Request
    rt: Runtime
    session: SignedSession
    form: dict[str, str] = field(default_factory=dict)

    def page(self, template: str, values: dict[str, Any], *, status: int = 200) -> Response:
        """A full page: the layout needs the CSRF token (the sign-out form) and the path."""
        return html(
            template,
            {"csrf": self.session.csrf, "path": self.request.url.path, **values},
            status=status,
        )


Handler = Callable[[Ctx], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def signer_for(rt: Runtime) -> SessionSigner | None:
    """The session signer of this runtime's keys and admin token; None: the console is off."""
    token = rt.settings.admin_token
    if token is None:
        return None
    return SessionSigner(rt.keyring.derive_key(KEY_LABEL), token.get_secret_value())


def error_page(status: int, title: str, detail: str) -> Response:
    return html("error.html", {"title": title, "detail": detail, "status": status}, status=status)


def not_found() -> Response:
    return error_page(404, "Not found", "There is no such page.")


def unavailable() -> Response:
    return error_page(
        503,
        "Database unavailable",
        "The service cannot reach its database just now. Nothing was changed; try again in "
        "a moment.",
    )


def forbidden() -> Response:
    return error_page(
        403,
        "Refused",
        "This form was refused: it did not come from a page of this console session (the "
        "session may have expired). Nothing was changed. Reload the page and try again.",
    )


def https(request: Request) -> bool:
    """Whether the browser reached us over https. Behind a reverse proxy, uvicorn (``up`` and
    ``serve`` run it with ``proxy_headers``) sets the scheme from ``X-Forwarded-Proto`` when the
    proxy's address is trusted (``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default)."""
    return request.url.scheme == "https"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a console page of ours, never another site.

    The path, percent-decoded, must already be normal (``posixpath.normpath``: no ``.`` or
    ``..`` segment, no empty one) and be ``/console`` or under ``/console/``; no backslash,
    no scheme or host, not the sign-in form. Anything else goes to ``/console``. The query is
    kept, a fragment dropped."""
    if not value or len(value) > 512 or not value.isascii() or "\\" in value:
        return HOME
    try:
        parts = urlsplit(value)
    except ValueError:
        return HOME
    path = parts.path
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        return HOME
    decoded = unquote(path)
    if "\\" in decoded or not decoded.isascii() or not decoded.isprintable():
        return HOME
    normal = posixpath.normpath(decoded)
    if normal != decoded.rstrip("/") or normal.startswith("//"):
        return HOME
    if normal != HOME and not normal.startswith(HOME + "/"):
        return HOME
    if normal == SIGN_IN or normal.startswith(SIGN_IN + "/"):
        return HOME
    return path + (f"?{parts.query}" if parts.query else "")


def throttle_of(request: Request) -> SignInThrottle:
    """The app's sign-in throttle, made on first use (each process counts for itself)."""
    state = request.app.state
    found = getattr(state, THROTTLE_STATE, None)
    if not isinstance(found, SignInThrottle):
        found = SignInThrottle()
        setattr(state, THROTTLE_STATE, found)
    return found


def client_address(request: Request) -> str:
    """The client's address (uvicorn's ``proxy_headers`` put the proxy's client there)."""
    return request.client.host if request.client else "unknown"


async def live_session(
    request: Request, rt: Runtime, signer: SessionSigner
) -> SignedSession | None:
    """The request's session: its cookie signed by us, not expired, not signed out. Asks the
    database (raises what it raises when the database does not answer)."""
    session = signer.read(request.cookies.get(COOKIE_NAME))
    if session is None:
        return None
    store = SessionStore(rt.ledger.engine)
    revoked = await to_thread.run_sync(lambda: store.is_revoked(session.sid))
    return None if revoked else session


async def read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded form body (the last of repeated fields); None when it is too large or
    not a form."""
    try:
        body = await read_capped(request, MAX_FORM_BYTES)
        pairs = parse_qsl(
            body.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (BodyTooLarge, ValueError, ClientDisconnect):
        return None
    return dict(pairs)


async def _guarded(request: Request, run: Callable[[], Awaitable[Response]]) -> Response:
    """``run``, with the database not answering as the 503 page (a bug is not an outage:
    other errors go on to the app's 500 handler)."""
    try:
        return await run()
    except UNAVAILABLE as exc:
        log.warning(
            "console: database unavailable on %s (%s)", request.url.path, type(exc).__name__
        )
        return unavailable()


def page(handler: Handler, *, fragment: bool = False) -> Endpoint:
    """A GET page (or a ``fragment`` the overview polls) for signed-in operators."""

    async def endpoint(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        signer = signer_for(rt)
        if signer is None:
            return not_found()

        async def run() -> Response:
            session = await live_session(request, rt, signer)
            if session is None:
                if fragment:
                    return Response(status_code=401, headers={"Cache-Control": "no-store"})
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                next_path = quote(safe_next(target), safe="")
                return RedirectResponse(f"{SIGN_IN}?next={next_path}", 303)
            return await handler(Ctx(request, rt, session))

        return await _guarded(request, run)

    return endpoint


async def _unless_revoked(handler: Handler, ctx: Ctx) -> Response:
    """``handler(ctx)``, unless the session was signed out: then 403 and nothing runs."""
    store, sid = SessionStore(ctx.rt.ledger.engine), ctx.session.sid
    if await to_thread.run_sync(lambda: store.is_revoked(sid)):
        log.warning("console: refused a POST to %s (signed out)", ctx.request.url.path)
        return forbidden()
    return await handler(ctx)


def action(handler: Handler) -> Endpoint:
    """A state-changing POST: a valid session and its CSRF token, or 403 and nothing runs."""

    async def endpoint(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        signer = signer_for(rt)
        if signer is None:
            return not_found()
        session = signer.read(request.cookies.get(COOKIE_NAME))
        form = await read_form(request)
        if session is None or form is None or not csrf_matches(session, form.get("csrf")):
            log.warning(
                "console: refused a POST to %s (no session or CSRF token)", request.url.path
            )
            return forbidden()
        return await _guarded(
            request, lambda: _unless_revoked(handler, Ctx(request, rt, session, form))
        )

    return endpoint


# ─── sign-in and sign-out ────────────────────────────────────────────────────────────────────


def _sign_in_form(next_path: str, *, error: str | None = None, status: int = 200) -> Response:
    return html("sign_in.html", {"next": next_path, "error": error}, status=status)


async def sign_in_page(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    signer = signer_for(rt)
    if signer is None:
        return not_found()
    next_path = safe_next(request.query_params.get("next"))

    async def run() -> Response:
        if await live_session(request, rt, signer) is not None:
            return RedirectResponse(next_path, 303)
        return _sign_in_form(next_path)

    return await _guarded(request, run)


def _throttled(next_path: str, wait: float) -> Response:
    minutes = max(1, math.ceil(wait / 60))
    response = _sign_in_form(
        next_path,
        error=(
            "Too many wrong tokens from your address: sign-in is refused for "
            f"{minutes} more minute{'s' if minutes != 1 else ''}. The token was not checked."
        ),
        status=429,
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


async def sign_in(request: Request) -> Response:
    """Check the admin token from the form (constant time), then set the session cookie.
    An address with too many wrong tokens lately is refused (429) before any check."""
    rt: Runtime = request.app.state.runtime
    signer = signer_for(rt)
    if signer is None:
        return not_found()
    form = await read_form(request) or {}
    next_path = safe_next(form.get("next"))
    throttle, client = throttle_of(request), client_address(request)
    wait = throttle.retry_after(client)
    if wait is not None:
        log.warning("console: sign-in refused from %s (too many wrong tokens)", client)
        return _throttled(next_path, wait)
    if not signer.token_matches(form.get("token", "")):
        throttle.failed(client)
        log.warning("console: sign-in refused (wrong or missing admin token) from %s", client)
        return _sign_in_form(next_path, error="That is not the admin token.", status=401)
    throttle.succeeded(client)
    value, _ = signer.issue()
    response = RedirectResponse(next_path, 303)
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=signer.max_age,
        path=COOKIE_PATH,
        secure=https(request),
        httponly=True,
        samesite="strict",
    )
    log.info("console: signed in")
    return response


async def _sign_out(ctx: Ctx) -> Response:
    """End the session on the server (its id refused until the cookie expires), then clear
    the cookie: a copy of it kept elsewhere no longer signs anyone in."""
    store, session = SessionStore(ctx.rt.ledger.engine), ctx.session
    await to_thread.run_sync(lambda: store.revoke(session.sid, session.expires_at))
    response = RedirectResponse(SIGN_IN, 303)
    response.delete_cookie(
        COOKIE_NAME, path=COOKIE_PATH, secure=https(ctx.request), httponly=True, samesite="strict"
    )
    log.info("console: signed out")
    return response


sign_out = action(_sign_out)


__all__ = [
    "Ctx",
    "action",
    "client_address",
    "error_page",
    "https",
    "live_session",
    "not_found",
    "page",
    "safe_next",
    "sign_in",
    "sign_in_page",
    "sign_out",
    "signer_for",
    "throttle_of",
]
