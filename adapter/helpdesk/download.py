"""Download one attachment from Chatwoot to a file, safely.

``data_url`` in a webhook is an ActiveStorage *redirect* URL: Chatwoot answers 302 with a
short-lived signed URL on the storage service (S3, GCS, Azure, or Chatwoot's own disk
service). The download therefore:

- follows redirects **by hand**, at most ``MAX_REDIRECTS`` hops, vetting every hop's host
  (``_ssrf``: link-local and metadata always refused; a loopback/private address only when
  the hop's origin, scheme, host and port, is one of ``private_origins``: the account's
  Chatwoot origin and the configured storage hosts, see ``_ssrf.private_origins``); http
  and https only;
- connects to the **vetted IP address** itself, sending the name in ``Host`` and as the TLS
  server name (so certificates are checked against the name), which closes the DNS-rebinding
  window between the check and the connection; environment proxies are not used, since a
  proxy would do its own resolution (deployments that must go through a proxy for egress
  cannot download; that is deliberate);
- uses a fresh connection pool per call, so a TLS connection made for one host is never
  reused for another host that happens to share its address;
- streams to a temporary file beside ``dest`` in 64 kB chunks, never holding the body in
  memory, and renames it to ``dest`` only when complete; every failure removes it;
- refuses more than ``max_bytes``, by ``Content-Length`` up front and by counting while
  streaming (a server may send no length, or a false one) → ``AudioTooLarge``;
- retries "not found" ``not_found_retries`` times with a short backoff, from the start:
  Chatwoot can send the webhook before the blob is uploaded (a 404 from the redirect
  endpoint), and a signed storage URL may expire between hops (a 403/404 from the storage
  host); starting over gets a fresh signature;
- has connect/read timeouts and a total ``deadline`` on the whole transfer, redirects and
  retries included, whatever the pace of the bytes: every socket operation (connect, TLS
  handshake, each read of the headers and of the body, each write) waits at most the time
  left (``_deadline``), and the clock is checked again for each piece of the body.

Errors (``adapter.errors``): ``UnsafeURL`` (refused scheme or address), ``AudioTooLarge``,
``HelpdeskUnavailable`` (5xx, 408, 429 with ``retry_after``, timeouts, connection errors,
DNS failure, deadline), ``HelpdeskRejected`` (401/403 from Chatwoot, 404 after the retries,
other 4xx, too many redirects). Messages say "the attachment" and show at most
``scheme://host``: a signed URL is a bearer credential and never appears in them.
"""

from __future__ import annotations

import contextlib
import email.message
import email.utils
import functools
import math
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote

import httpx

from adapter.errors import AudioTooLarge, HelpdeskRejected, HelpdeskUnavailable, UnsafeURL
from adapter.helpdesk._deadline import Deadline, DeadlineTransport
from adapter.helpdesk._ssrf import Origin, Resolver, Target, resolve_host, vet
from adapter.httputil import USER_AGENT, origin, retry_after

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
#: connect 5 s; 30 s without a byte is a dead download
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
#: the whole download, redirects and retries included
DEFAULT_DEADLINE = 300.0
#: first wait before retrying a "not found"; doubled each time (0.5, 1, 2 s)
NOT_FOUND_BACKOFF = 0.5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_FILENAME_LENGTH = 255
DEADLINE_PASSED = "downloading the attachment took longer than its deadline"


@dataclass(frozen=True)
class DownloadResult:
    path: Path  # ``dest``
    size: int  # bytes written
    content_type: str | None  # the final response's media type, lower case, no parameters
    filename: str | None  # from Content-Disposition, else the attachment URL's last segment


class _StartOver(Exception):
    """A 404 (or a 403/404 after a redirect): the blob may not be there *yet*."""

    def __init__(self, status: int, where: str) -> None:
        super().__init__(status, where)
        self.status = status
        self.where = where


def download(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    private_origins: Collection[Origin] = frozenset(),
    timeout: float | httpx.Timeout = DOWNLOAD_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
    not_found_retries: int = 3,
    not_found_backoff: float = NOT_FOUND_BACKOFF,
    ssl_context: ssl.SSLContext | None = None,
    transport: httpx.BaseTransport | None = None,
    resolver: Resolver = resolve_host,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DownloadResult:
    """Fetch ``url`` into ``dest`` (see the module docstring); the file is complete or absent.

    ``private_origins``: where a private or loopback address may be fetched from (build it
    with ``_ssrf.private_origins``); none by default. ``deadline``: seconds for everything.

    ``ssl_context`` defaults to the system/certifi CA bundle (``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` are honoured, for a self-hosted Chatwoot behind a private CA).
    ``transport``, ``resolver``, ``sleep`` and ``clock`` are for tests.
    """
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    start = _parse(url)
    limit = Deadline(expires=clock() + deadline, clock=clock)
    fetch = _Fetch(
        max_bytes=max_bytes,
        private_origins=frozenset(private_origins),
        timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
        resolver=resolver,
        deadline=limit,
        not_found_retries=not_found_retries,
        not_found_backoff=not_found_backoff,
        sleep=sleep,
    )
    transport = transport or DeadlineTransport(limit, ssl_context or _ssl_context())
    with _part_file(dest) as sink, _client(transport, fetch.vet_location) as client:
        size, content_type, disposition = fetch.run(client, start, sink)
    return DownloadResult(
        path=dest,
        size=size,
        content_type=content_type,
        filename=_filename(disposition, start),
    )


@contextlib.contextmanager
def _part_file(dest: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside ``dest``: renamed to ``dest`` if the block succeeds, else removed."""
    fd, part_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as sink:
            yield sink
        os.replace(part, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise


def _client(
    transport: httpx.BaseTransport, on_response: Callable[[httpx.Response], None]
) -> httpx.Client:
    """A fresh pool that follows no redirects and ignores proxies (see the module docstring)."""
    return httpx.Client(
        transport=transport,
        event_hooks={"response": [on_response]},
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


@dataclass
class _Fetch:
    max_bytes: int
    private_origins: frozenset[Origin]
    timeout: httpx.Timeout
    resolver: Resolver
    deadline: Deadline
    not_found_retries: int
    not_found_backoff: float
    sleep: Callable[[float], None]
    #: the hop being fetched, as named (its request goes to the vetted address)
    current: httpx.URL | None = None

    def vet_location(self, response: httpx.Response) -> None:
        """A response hook: a redirect's ``Location`` is judged here first, since httpx
        prepares the next request even when it does not follow it, and calls a Location it
        cannot parse a protocol error (a transient failure) where it is an unsafe URL."""
        if response.status_code in REDIRECT_STATUSES and self.current is not None:
            _redirect_target(response, self.current)

    def check_deadline(self, extra: float = 0.0) -> float:
        """Seconds left before the deadline (after ``extra``); ``HelpdeskUnavailable`` if none."""
        left = self.deadline.left() - extra
        if left <= 0:
            raise HelpdeskUnavailable(DEADLINE_PASSED)
        return left

    def timed_out(self, doing: str, where: str, exc: httpx.TimeoutException) -> HelpdeskUnavailable:
        """The error for a timeout: the deadline's when it has passed (the timeouts are cut
        to the time left), else the network timeout's."""
        if self.deadline.left() <= 0:
            return HelpdeskUnavailable(DEADLINE_PASSED)
        return HelpdeskUnavailable(
            f"timed out {doing} the attachment from {where} ({type(exc).__name__})"
        )

    def run(
        self, client: httpx.Client, url: httpx.URL, sink: IO[bytes]
    ) -> tuple[int, str | None, str | None]:
        """:meth:`chain`, started over after a "not found" with doubling pauses, a few times."""
        attempt = 0
        while True:
            try:
                return self.chain(client, url, sink)
            except _StartOver as missing:
                if attempt >= self.not_found_retries:
                    raise HelpdeskRejected(
                        f"the attachment was not found ({missing.status}) at "
                        f"{missing.where} after {attempt + 1} attempts"
                    ) from None
                pause = self.not_found_backoff * 2**attempt
                self.check_deadline(pause)
                self.sleep(pause)
                attempt += 1

    def chain(
        self, client: httpx.Client, url: httpx.URL, sink: IO[bytes]
    ) -> tuple[int, str | None, str | None]:
        """Follow the redirects from ``url`` and stream the final body into ``sink``."""
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            target = self._vet(current)
            self.current = current
            with self._open(client, current, target) as response:
                status = response.status_code
                where = origin(current)
                if status in REDIRECT_STATUSES:
                    current = _redirect_target(response, current)
                    continue
                if 200 <= status < 300:
                    return self._stream(response, sink, where)
                if status == 404 or (hop > 0 and status == 403):
                    raise _StartOver(status, where)
                _raise_for_status(response, where)
        raise HelpdeskRejected(f"the attachment URL redirected more than {MAX_REDIRECTS} times")

    def _vet(self, url: httpx.URL) -> Target:
        if url.scheme not in ("http", "https"):
            raise UnsafeURL(f"refusing to fetch the attachment over {url.scheme or 'no'} scheme")
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        allowed = Origin.of(url) in self.private_origins
        return vet(host, port, allow_private=allowed, resolver=self.resolver)

    @contextlib.contextmanager
    def _open(
        self, client: httpx.Client, url: httpx.URL, target: Target
    ) -> Iterator[httpx.Response]:
        """GET ``url`` from the vetted addresses in turn (the next one on connect errors)."""
        where = origin(url)
        last_error: httpx.TransportError | None = None
        for address in target.addresses[:3]:
            left = self.check_deadline()
            request = client.build_request(
                "GET",
                url.copy_with(host=str(address), fragment=None),
                headers={"Host": url.netloc.decode("ascii")},
                extensions={"sni_hostname": target.host},
                timeout=_bounded(self.timeout, left),
            )
            try:
                response = client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last_error = exc
                continue
            except httpx.InvalidURL:
                # httpx prepares the next request of a redirect even when not following it;
                # a Location it cannot parse ends up here.
                raise UnsafeURL(f"{where} redirected the attachment to an invalid URL") from None
            except httpx.TimeoutException as exc:
                raise self.timed_out("fetching", where, exc) from None
            except httpx.HTTPError as exc:
                raise HelpdeskUnavailable(
                    f"could not fetch the attachment from {where} ({type(exc).__name__})"
                ) from None
            try:
                yield response
            finally:
                response.close()
            return
        tls = _caused_by(last_error, ssl.SSLError)
        raise HelpdeskUnavailable(
            f"could not connect to {where} for the attachment "
            + (
                "(TLS handshake failed: certificate not valid for the host?)"
                if tls
                else f"({type(last_error).__name__ if last_error else 'no address'})"
            )
        )

    def _stream(
        self, response: httpx.Response, sink: IO[bytes], where: str
    ) -> tuple[int, str | None, str | None]:
        declared = response.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise AudioTooLarge(
                f"the attachment is {int(declared)} bytes, over the limit of {self.max_bytes} bytes"
            )
        sink.seek(0)
        sink.truncate()
        size = 0
        try:
            for chunk in _pieces(response):
                size += len(chunk)
                if size > self.max_bytes:
                    raise AudioTooLarge(
                        f"the attachment is over the limit of {self.max_bytes} bytes "
                        "(more arrived than the limit allows)"
                    )
                sink.write(chunk)
                self.check_deadline()
        except httpx.TimeoutException as exc:
            raise self.timed_out("reading", where, exc) from None
        except httpx.HTTPError as exc:
            raise HelpdeskUnavailable(
                f"the download of the attachment from {where} broke off ({type(exc).__name__})"
            ) from None
        sink.flush()
        content_type = response.headers.get("content-type")
        media = content_type.split(";", 1)[0].strip().lower() if content_type else None
        return size, media or None, response.headers.get("content-disposition")


def _pieces(response: httpx.Response) -> Iterator[bytes]:
    """The body as it arrives (each network read, decoded), in pieces of at most
    ``CHUNK_BYTES``: the clock and the size are checked for each, however small."""
    for piece in response.iter_bytes():
        for start in range(0, len(piece), CHUNK_BYTES):
            yield piece[start : start + CHUNK_BYTES]


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context (CA bundle loaded once) for every download's fresh pool."""
    return httpx.create_ssl_context()


def _parse(url: str) -> httpx.URL:
    if not isinstance(url, str):
        raise UnsafeURL("the attachment URL is not a string")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise UnsafeURL("the attachment URL is not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURL(
            f"refusing to fetch the attachment over {parsed.scheme or 'no'} scheme "
            "(only http and https)"
        )
    if not parsed.raw_host:
        raise UnsafeURL("the attachment URL has no host")
    if parsed.userinfo:
        raise UnsafeURL("the attachment URL carries credentials")
    return parsed


def _redirect_target(response: httpx.Response, current: httpx.URL) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise HelpdeskRejected(
            f"{origin(current)} redirected ({response.status_code}) without a Location"
        )
    try:
        target = current.join(location.strip())
    except (httpx.InvalidURL, ValueError):
        raise UnsafeURL(f"{origin(current)} redirected the attachment to an invalid URL") from None
    if target.scheme not in ("http", "https"):
        raise UnsafeURL(
            f"{origin(current)} redirected the attachment to a {target.scheme or 'schemeless'} "
            "URL (only http and https)"
        )
    if target.userinfo:
        raise UnsafeURL(f"{origin(current)} redirected the attachment to a URL with credentials")
    return target


def _raise_for_status(response: httpx.Response, where: str) -> None:
    status = response.status_code
    if status == 429 or status == 408 or status >= 500:
        raise HelpdeskUnavailable(
            f"{where} answered {status} for the attachment",
            retry_after=retry_after(response.headers),
        )
    if status in (401, 403):
        raise HelpdeskRejected(f"{where} refused the attachment URL ({status})")
    raise HelpdeskRejected(f"{where} answered {status} for the attachment")


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is in the first few links of ``exc``'s cause/context chain."""
    for _ in range(6):
        if exc is None:
            return False
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _bounded(timeout: httpx.Timeout, left: float) -> httpx.Timeout:
    """``timeout`` with no phase longer than the ``left`` seconds before the deadline."""

    def cap(value: float | None) -> float:
        return left if value is None or not math.isfinite(value) else min(value, left)

    return httpx.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )


def _filename(disposition: str | None, url: httpx.URL) -> str | None:
    """File name from ``Content-Disposition`` (``filename*`` first, RFC 6266), else the URL's."""
    name: str | None = None
    if disposition:
        message = email.message.Message()
        message["content-disposition"] = disposition
        plain: str | None = None
        extended: str | None = None
        for key, value in message.get_params(header="content-disposition", failobj=[])[1:]:
            if key.lower() != "filename":
                continue
            if isinstance(value, tuple):
                extended = email.utils.collapse_rfc2231_value(value)
            elif isinstance(value, str):
                plain = value
        name = extended or plain
    if not name:
        name = unquote(url.raw_path.decode("ascii").split("?", 1)[0].rsplit("/", 1)[-1])
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if not name or name in (".", ".."):
        return None
    return name[-MAX_FILENAME_LENGTH:]
