"""An httpx transport whose every socket operation ends by one deadline (the downloader's).

httpx's timeouts are per operation: each connect, read or write may wait its full timeout, so a
server that sends one byte a second never trips a 30 s read timeout and holds the download
as long as it likes (httpx has no total timeout: encode/httpx#1450). Checking the clock
between pieces of the body is not enough either: a read that starts one second before the
deadline may still wait its whole timeout, and the response headers are read inside
``send()``, where no check of ours runs (a server can dribble 16 kB of headers).

So the deadline is enforced where the waiting happens, below httpx: an httpcore network
backend whose streams give every blocking operation (TCP connect, TLS handshake, each read,
each write) a timeout of at most the time left, and refuse to start one when none is left.
No operation can outlast the deadline, whatever the pace of the bytes, in every phase of the
exchange; nothing runs in another thread and no socket is closed under a reader's feet (the
alternative, a watchdog that shuts the socket at the deadline, races the reader and leaves a
close-delimited body looking complete).

CPython bounds a TLS handshake, and each TLS read, by the socket's timeout as a whole (not per
underlying ``recv``), so capping the timeout bounds them too.

httpx's ``HTTPTransport`` takes no network backend, so :class:`DeadlineTransport` is a small
transport over an ``httpcore.ConnectionPool`` built with one (both public APIs), mapping
httpcore's errors to httpx's as ``HTTPTransport`` does.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx


@dataclass(frozen=True)
class Deadline:
    """An instant on ``clock`` (``time.monotonic``) by which the exchange must be over."""

    expires: float
    clock: Callable[[], float]

    def left(self) -> float:
        return self.expires - self.clock()

    def cap(self, timeout: float | None, expired: type[Exception]) -> float:
        """``timeout`` shortened to the time left; ``expired`` when none is left."""
        left = self.left()
        if left <= 0:
            raise expired("the deadline has passed")
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:
            capped = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        except httpcore.ConnectTimeout:
            self._inner.close()
            raise
        inner = self._inner.start_tls(ssl_context, server_hostname, capped)
        return _Stream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, deadline: Deadline, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        capped = self._deadline.cap(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, capped, local_address, socket_options)
        return _Stream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("the downloader does not use unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(min(seconds, max(self._deadline.left(), 0.0)))


#: httpcore's errors as httpx's (most specific first), as ``httpx.HTTPTransport`` maps them
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextlib.contextmanager
def _as_httpx() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            with _as_httpx():
                close()


class DeadlineTransport(httpx.BaseTransport):
    """HTTP/1.1 over a fresh pool in which no socket operation outlasts ``deadline``."""

    def __init__(self, deadline: Deadline, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=_Backend(deadline)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx():
            response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
