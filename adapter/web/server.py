"""The HTTP server's limits, the same for ``transcriber up`` and ``transcriber serve``.

uvicorn bounds what happens *after* a request: ``timeout_keep_alive`` closes a connection idle
between requests, ``limit_concurrency`` answers 503 once that many connections or requests are
open. It bounds nothing *before*: a connection that sends nothing, half its headers or half its
body is held for ever, with the body read so far (about 1 MiB a webhook). So the server runs
with :class:`ReceiverProtocol`, uvicorn's httptools protocol with one deadline per request::

    connection made, or a request's first byte ─┐
                                                 │  request_timeout: headers and body must
    headers complete  (over max_header_bytes: 431, close)   have arrived by then, else
    body complete ──────────────────────────────┘  408 and close (no request yet, headers
                                                    half sent) or close (body half sent: the
                                                    application sees a disconnect)
    response sent → keep-alive (uvicorn's timeout_keep_alive) → the next request's first byte

The deadline is the connection's, not the application's: a request whose body has arrived is
never cut while it is handled. A WebSocket upgrade leaves it (the stream has its own limits).
Why this and not an ASGI timeout around ``receive()``: docs/decisions.md, "Hardening (issue 14)".

WebSockets (live transcription, ``adapter.live``) are served by :class:`StreamProtocol`,
uvicorn's protocol over the ``websockets`` package's sans-I/O core: a message over
:data:`MAX_WS_MESSAGE_BYTES` closes the connection with 1009, a peer that answers no ping for
:data:`WS_PING_SECONDS` is closed with 1001 (uvicorn's own says 1011, which the live contract
keeps for nothing), and no per-message compression (CPU spent for base64 audio that barely
compresses, and one more thing a client can make the server inflate).
"""

from __future__ import annotations

import asyncio
import logging
import math
from functools import partial
from typing import Any, TypedDict, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from adapter.settings import Settings

log = logging.getLogger(__name__)

#: a request line and headers larger than this are refused (431); Chatwoot's are under 2 kB.
#: h11 refuses at the same size (``h11_max_incomplete_event_size``), httptools has no limit
MAX_HEADER_BYTES = 64 * 1024
#: seconds uvicorn gives in-flight requests to finish on SIGTERM (and live streams to
#: transcribe what they hold)
GRACEFUL_SHUTDOWN_SECONDS = 30
#: the largest WebSocket message accepted (the live contract's 1 MiB); larger: close 1009
MAX_WS_MESSAGE_BYTES = 1024 * 1024
#: a WebSocket peer is pinged this often, and closed when a pong takes longer than this
WS_PING_SECONDS = 20.0
#: the close code of a peer that stopped answering pings (going away)
WS_PING_TIMEOUT_CLOSE = 1001


def _status(code: int, reason: str) -> bytes:
    return (
        f"HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(reason)}\r\nconnection: close\r\n\r\n{reason}"
    ).encode("ascii")


REQUEST_TIMEOUT = _status(408, "Request Timeout")
HEADERS_TOO_LARGE = _status(431, "Request Header Fields Too Large")


class ReceiverProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers and body, and a
    cap on the size of its headers (module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        request_timeout: float,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.request_timeout = request_timeout
        self.max_header_bytes = max_header_bytes
        self._deadline: asyncio.TimerHandle | None = None
        #: the current request's headers are complete (its body, if any, comes next)
        self._headers_done = False
        #: bytes received while headers were pending (counted per read, see data_received)
        self._header_bytes = 0
        #: requests begun on this connection
        self._begun = 0
        #: the connection became a WebSocket: the deadline is no longer this protocol's
        self._upgraded = False

    # the deadline: armed when a request may begin, cancelled once its body is in

    def _arm(self) -> None:
        if self._deadline is None and not self._upgraded:
            self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._begun and not self._headers_done:
            # nobody answers this request yet: say why it ends
            self.transport.write(REQUEST_TIMEOUT)
        log.debug("a request was not received within %s s: connection closed", self.request_timeout)
        self.transport.close()

    # the protocol's events

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = (self._begun, self._headers_done)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._idle_untimed():
            # bytes that began no request (blank lines before a request line), or the body of
            # a request answered before it was read: uvicorn cancelled its keep-alive timer for
            # them and nothing else is armed; without this the connection would never end
            self._arm()
        if before == (self._begun, False):
            # the same request's headers were incomplete before and after this read: all of
            # it is header (a read in which a request begins is not counted: at most one
            # read too few, never a byte of a body)
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._disarm()
                self.transport.write(HEADERS_TOO_LARGE)
                self.transport.close()

    def _idle_untimed(self) -> bool:
        """No timer is armed and no request is waiting for its answer."""
        answered = self.cycle is None or self.cycle.response_complete
        return self._deadline is None and self.timeout_keep_alive_task is None and answered

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun += 1
        self._headers_done = False
        self._header_bytes = 0
        self._arm()

    def on_headers_complete(self) -> None:
        self._headers_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._upgraded = True
        self._disarm()
        super().handle_websocket_upgrade()


class StreamProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, closing a peer that stopped answering pings with
    1001 instead of 1011 (module docstring)."""

    def keepalive_timeout(self) -> None:
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.close_sent or self.transport.is_closing():
            return
        self.conn.fail(WS_PING_TIMEOUT_CLOSE, "keepalive ping timeout")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()


class Limits(TypedDict):
    """uvicorn's keyword arguments that bound clients (``uvicorn.Config``, ``uvicorn.run``)."""

    http: type[asyncio.Protocol]
    timeout_keep_alive: int
    limit_concurrency: int
    h11_max_incomplete_event_size: int
    timeout_graceful_shutdown: int
    ws: type[asyncio.Protocol]
    ws_max_size: int
    ws_per_message_deflate: bool
    ws_ping_interval: float
    ws_ping_timeout: float


def limits(settings: Settings) -> Limits:
    """The limits of ``settings`` as uvicorn's options (keep-alive in whole seconds, rounded
    up). The protocol is a ``partial`` of a module-level class: ``serve --workers N`` sends
    it to each worker process by pickling."""
    protocol = partial(ReceiverProtocol, request_timeout=settings.http_request_timeout_seconds)
    return Limits(
        # uvicorn calls what it is given with (config, server_state, app_state, _loop)
        http=cast("type[asyncio.Protocol]", protocol),
        timeout_keep_alive=max(1, math.ceil(settings.http_keep_alive_seconds)),
        limit_concurrency=settings.http_max_connections,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ws=StreamProtocol,
        ws_max_size=MAX_WS_MESSAGE_BYTES,
        ws_per_message_deflate=False,
        ws_ping_interval=WS_PING_SECONDS,
        ws_ping_timeout=WS_PING_SECONDS,
    )


__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_WS_MESSAGE_BYTES",
    "Limits",
    "ReceiverProtocol",
    "StreamProtocol",
    "limits",
]
