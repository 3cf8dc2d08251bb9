"""The download's deadline holds for the whole transfer, whatever the pace of the bytes.

Real servers on 127.0.0.1 that trickle (one byte every 0.2 s, each arrival well inside any
read timeout) or stall; the deadline is 1 s, the per-operation timeouts are left at their
30 s. Each download must end as ``HelpdeskUnavailable`` naming the deadline, soon after it:
the margin is generous (this is about behaviour, not speed); before the fix each one of them
ran to its end (10 s and more) and succeeded. The transport's cutting of each timeout is
checked without a network, on a recording stream.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import httpcore
import pytest

from adapter.errors import HelpdeskUnavailable
from adapter.helpdesk import download
from adapter.helpdesk._deadline import Deadline, _Backend, _Stream
from tests.helpdesk.downloading import RawServer, at, headers, leftovers

DEADLINE = 1.0
#: the deadline plus a generous allowance for a slow machine: far under the trickles' length
WITHIN = DEADLINE + 4.0
PACE = 0.2
BYTES = 60  # 12 s at PACE: what each trickle would take without the deadline


def trickle(w: BinaryIO, release: threading.Event, data: bytes) -> None:
    """Send ``data`` one byte every ``PACE`` seconds (until the client goes or the test ends)."""
    for i in range(len(data)):
        w.write(data[i : i + 1])
        w.flush()
        if release.wait(PACE):
            return


def timed_download(url: str, dest: Path, **options: Any) -> tuple[BaseException, float]:
    """The error ``download`` ended with, and how long it ran."""
    started = time.monotonic()
    with pytest.raises(HelpdeskUnavailable) as caught:
        download(url, dest, max_bytes=1_000_000, deadline=DEADLINE, **options)
    return caught.value, time.monotonic() - started


def test_a_trickling_body_ends_at_the_deadline(raw: RawServer, dest: Path) -> None:
    def slow_body(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("200 OK", "Content-Type: audio/ogg", f"Content-Length: {BYTES}"))
        trickle(w, release, b"a" * BYTES)

    raw.routes["/slow"] = slow_body
    error, took = timed_download(raw.url("/slow"), dest, private_origins=at(raw.origin()))
    assert "deadline" in str(error)
    assert took < WITHIN
    assert leftovers(dest) == []


def test_a_trickling_body_without_a_length_ends_at_the_deadline(raw: RawServer, dest: Path) -> None:
    def close_delimited(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("200 OK", "Connection: close"))
        trickle(w, release, b"b" * BYTES)

    raw.routes["/slow"] = close_delimited
    error, took = timed_download(raw.url("/slow"), dest, private_origins=at(raw.origin()))
    assert "deadline" in str(error)
    assert took < WITHIN
    assert leftovers(dest) == []


def test_trickling_headers_end_at_the_deadline(raw: RawServer, dest: Path) -> None:
    """The headers are read inside httpx's ``send``, where no check between pieces runs."""

    def slow_headers(w: BinaryIO, release: threading.Event) -> None:
        w.write(b"HTTP/1.1 200 OK\r\n")
        trickle(w, release, b"X-Slow: " + b"z" * BYTES + b"\r\nContent-Length: 0\r\n\r\n")

    raw.routes["/slow"] = slow_headers
    error, took = timed_download(raw.url("/slow"), dest, private_origins=at(raw.origin()))
    assert "deadline" in str(error)
    assert took < WITHIN


def test_a_trickling_redirect_chain_shares_one_deadline(raw: RawServer, dest: Path) -> None:
    """Each hop alone is under the deadline; together they are not."""

    def hop(target: str) -> Any:
        def route(w: BinaryIO, release: threading.Event) -> None:
            trickle(w, release, headers("302 Found", f"Location: {target}", "Content-Length: 0"))

        return route

    for n in range(1, 5):
        raw.routes[f"/hop{n}"] = hop(raw.url(f"/hop{n + 1}"))
    error, took = timed_download(raw.url("/hop1"), dest, private_origins=at(raw.origin()))
    assert "deadline" in str(error)
    assert took < WITHIN + DEADLINE


def test_a_stall_with_long_read_timeouts_ends_at_the_deadline(raw: RawServer, dest: Path) -> None:
    def stall(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("200 OK", "Content-Length: 1000") + b"a" * 10)
        w.flush()
        release.wait(60)

    raw.routes["/stall"] = stall
    error, took = timed_download(
        raw.url("/stall"), dest, private_origins=at(raw.origin()), timeout=30.0
    )
    assert "deadline" in str(error)
    assert took < WITHIN


def test_a_tls_handshake_that_never_comes_ends_at_the_deadline(dest: Path) -> None:
    """A server that accepts and says nothing: the TLS handshake is bounded too."""
    with RawServer() as silent:
        silent.routes["/"] = lambda w, release: release.wait(60)
        error, took = timed_download(
            f"https://files.example.test:{silent.port}/",
            dest,
            private_origins=at(f"https://files.example.test:{silent.port}"),
            resolver=lambda host, port: ["127.0.0.1"],
        )
    assert took < WITHIN
    assert "deadline" in str(error) or "timed out" in str(error)


def test_a_slow_download_that_ends_in_time_succeeds(raw: RawServer, dest: Path) -> None:
    def brief(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("200 OK", "Content-Length: 3"))
        trickle(w, release, b"abc")

    raw.routes["/brief"] = brief
    result = download(
        raw.url("/brief"),
        dest,
        max_bytes=100,
        deadline=30,
        private_origins=at(raw.origin()),
    )
    assert dest.read_bytes() == b"abc" and result.size == 3


# --- the transport's cutting of each timeout, without a network ---------------------------


class Recording(httpcore.NetworkStream):
    """A stream that records the timeout of each operation and answers at once."""

    def __init__(self) -> None:
        self.timeouts: list[tuple[str, float | None]] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.timeouts.append(("read", timeout))
        return b"x"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.timeouts.append(("write", timeout))

    def close(self) -> None:
        self.timeouts.append(("close", None))

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        self.timeouts.append(("tls", kwargs.get("timeout", args[2] if len(args) > 2 else None)))
        return self


class Connecting(httpcore.NetworkBackend):
    def __init__(self, stream: Recording) -> None:
        self.stream = stream

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, *_: Any) -> Any:
        self.stream.timeouts.append(("connect", timeout))
        return self.stream


def test_each_operation_waits_at_most_the_time_left() -> None:
    now = [100.0]
    deadline = Deadline(expires=110.0, clock=lambda: now[0])
    recording = Recording()
    stream = _Backend(deadline, Connecting(recording)).connect_tcp("127.0.0.1", 80, timeout=5.0)
    stream.read(10, timeout=30.0)  # 10 s left: 10
    now[0] = 108.5
    stream.write(b"GET", timeout=30.0)  # 1.5 s left
    stream.read(10, timeout=None)  # no timeout of its own: the time left
    stream.read(10, timeout=0.5)  # shorter than what is left: its own
    stream = stream.start_tls(None, None, 30.0)  # type: ignore[arg-type]
    assert isinstance(stream, _Stream)
    assert recording.timeouts == [
        ("connect", 5.0),
        ("read", 10.0),
        ("write", 1.5),
        ("read", 1.5),
        ("read", 0.5),
        ("tls", 1.5),
    ]


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        (lambda s: s.read(10, timeout=30.0), httpcore.ReadTimeout),
        (lambda s: s.write(b"x", timeout=30.0), httpcore.WriteTimeout),
        (lambda s: s.start_tls(None, None, 30.0), httpcore.ConnectTimeout),
    ],
)
def test_no_operation_starts_once_the_deadline_has_passed(operation: Any, error: type) -> None:
    now = [100.0]
    recording = Recording()
    backend = _Backend(Deadline(expires=101.0, clock=lambda: now[0]), Connecting(recording))
    stream = backend.connect_tcp("127.0.0.1", 80)
    now[0] = 101.0
    with pytest.raises(error):
        operation(stream)
    with pytest.raises(httpcore.ConnectTimeout):
        backend.connect_tcp("127.0.0.1", 80, timeout=5.0)
    assert recording.timeouts[1:] in ([], [("close", None)])  # nothing waited
