"""Slow and idle clients (issue 14): the receiver under a real uvicorn server on 127.0.0.1, with
the limits ``up`` and ``serve`` use (``adapter.web.server.limits``) made small, reached with raw
sockets that send nothing, half their headers or half their body.

Only behaviour is asserted: a stalled connection is closed (within the configured timeout and a
wide margin: a socket still open after that is the bug this guards against), what can be refused
before the body is refused without it, and real webhooks are answered meanwhile. Nothing is
timed. The last tests start ``transcriber up`` and ``transcriber serve`` themselves.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from adapter import accounts as acc
from adapter.runtime import Runtime
from adapter.settings import Settings
from adapter.web.app import create_app
from adapter.web.server import limits
from adapter.web.webhooks import KnownAccounts
from tests.helpers import OpenAIStandIn, make_settings, signed_headers, sqlite_only, wait_until
from tests.processes import Proc, add_account, env_for, processes
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.web.payloads import body_of, voice_note

#: the request deadline and keep-alive the server runs with here (seconds)
TIMEOUT = 1.0
#: how long past TIMEOUT a stalled socket may stay open before the test fails: wide, since
#: the test asserts that it closes, not how fast
MARGIN = 10.0
#: what a stalled client declares: the default webhook limit, 1 MiB
DECLARED = 1024 * 1024


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fernet_key: str) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        fernet_key,
        TRANSCRIBER_HTTP_REQUEST_TIMEOUT_SECONDS=str(TIMEOUT),
        TRANSCRIBER_HTTP_KEEP_ALIVE_SECONDS=str(TIMEOUT),
        TRANSCRIBER_HTTP_MAX_CONNECTIONS="200",
    )


@contextmanager
def serving(app: Starlette, settings: Settings) -> Iterator[tuple[str, int]]:
    """``app`` under uvicorn with ``settings``' limits, on 127.0.0.1, in a thread."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    config = uvicorn.Config(app, log_config=None, access_log=False, **limits(settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="uvicorn-slow", daemon=True
    )
    thread.start()
    try:
        yield "127.0.0.1", listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(60)


@pytest.fixture
def address(runtime: Runtime, account: int) -> Iterator[tuple[str, int]]:
    with serving(create_app(runtime), runtime.settings) as where:
        yield where


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=TIMEOUT + MARGIN)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open
    TIMEOUT + MARGIN seconds after the last byte."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the connection is still open; the server sent {received!r}")
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return received


def head(path: str, headers: dict[str, str], length: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def signed_stall(address: tuple[str, int], sent: int) -> socket.socket:
    """A webhook to the enabled account with well-formed fresh signature headers that declares
    DECLARED bytes and sends ``sent`` of them."""
    sock = connect(address)
    sock.sendall(head("/webhooks/chatwoot/3", signed_headers(b"{}"), DECLARED) + b"x" * sent)
    return sock


def real_webhook(address: tuple[str, int], n: int) -> httpx.Response:
    body = body_of(voice_note(n))
    host, port = address
    return httpx.post(
        f"http://{host}:{port}/webhooks/chatwoot/3",
        content=body,
        headers=signed_headers(body, delivery=f"real-{n}"),
        timeout=TIMEOUT + MARGIN,
    )


# ─── the deadline on headers and body ─────────────────────────────────────────────────────────


@sqlite_only
def test_a_connection_that_sends_nothing_is_closed(address: tuple[str, int]) -> None:
    assert until_closed(connect(address)) == b""


@sqlite_only
def test_half_sent_headers_get_408_and_are_closed(address: tuple[str, int]) -> None:
    sock = connect(address)
    sock.sendall(b"POST /webhooks/chatwoot/3 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Chat")
    assert until_closed(sock).startswith(b"HTTP/1.1 408 ")


@sqlite_only
def test_headers_trickled_a_byte_at_a_time_are_closed_at_the_deadline(
    address: tuple[str, int],
) -> None:
    """Each byte comes well within the timeout: a read timeout alone would never fire."""
    sock = connect(address)
    request = b"POST /webhooks/chatwoot/3 HTTP/1.1\r\nX-Endless: " + b"a" * 100_000  # never ends
    for byte in request:
        readable, _, _ = select.select([sock], [], [], TIMEOUT / 5)
        if readable:  # the server answered or closed: the deadline did it
            break
        try:
            sock.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
    else:
        pytest.fail("the server read the whole trickle without closing the connection")
    assert until_closed(sock).startswith(b"HTTP/1.1 408 ")


@sqlite_only
def test_stalled_bodies_are_closed_while_real_webhooks_are_answered(
    address: tuple[str, int],
) -> None:
    stalled = [signed_stall(address, DECLARED - 10) for _ in range(20)]
    answer = real_webhook(address, 1)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "accepted"
    for sock in stalled:
        # the application sees a disconnect: nothing is answered on a connection gone
        assert until_closed(sock) == b""
    assert real_webhook(address, 2).status_code == 202


@sqlite_only
def test_an_idle_keep_alive_connection_is_closed(address: tuple[str, int]) -> None:
    sock = connect(address)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    received = until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.count(b"HTTP/1.1") == 1


@sqlite_only
def test_a_blank_line_after_an_answer_does_not_stop_the_clock(address: tuple[str, int]) -> None:
    """Bytes that begin no request cancel uvicorn's keep-alive timer: ours takes over."""
    sock = connect(address)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    sock.sendall(b"\r\n")
    assert until_closed(sock) == b""


@sqlite_only
def test_a_body_sent_after_its_answer_does_not_stop_the_clock(address: tuple[str, int]) -> None:
    """A request answered before its body was read (a 404), whose body comes afterwards."""
    sock = connect(address)
    sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 404 ")
    sock.sendall(b"0123456789")
    assert until_closed(sock) == b""


@sqlite_only
def test_headers_over_the_limit_get_431(address: tuple[str, int]) -> None:
    sock = connect(address)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 200_000)
    assert until_closed(sock).startswith(b"HTTP/1.1 431 ")


@sqlite_only
def test_more_connections_than_the_cap_get_503(runtime: Runtime) -> None:
    capped = runtime.settings.model_copy(update={"http_max_connections": 3})
    with serving(create_app(runtime), capped) as address:
        idle = [connect(address) for _ in range(3)]
        sock = connect(address)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert until_closed(sock).startswith(b"HTTP/1.1 503 ")
        for other in idle:
            assert until_closed(other) == b""  # and the idle ones are closed in time


# ─── refused before the body ─────────────────────────────────────────────────────────────────


@sqlite_only
@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/webhooks/chatwoot/99", "signed", 404),
        ("/webhooks/chatwoot/4", "signed", 404),  # disabled
        ("/webhooks/chatwoot/3", {}, 401),
        (
            "/webhooks/chatwoot/3",
            {"X-Chatwoot-Signature": "sha256=abc", "X-Chatwoot-Timestamp": "1"},
            401,
        ),
        ("/webhooks/chatwoot/3", "stale", 401),
    ],
)
def test_refused_without_reading_the_body(
    runtime: Runtime,
    address: tuple[str, int],
    path: str,
    headers: dict[str, str] | str,
    status: int,
) -> None:
    acc.create_account(
        runtime.accounts,
        runtime.keyring,
        4,
        acc.parse_changes(
            {
                "chatwoot_url": "https://chatwoot.example.test",
                "api_token": "t" * 20,
                "webhook_secret": "s" * 20,
            }
        ),
    )
    acc.set_enabled(runtime.accounts, 4, False)
    if headers == "signed":
        headers = signed_headers(b"{}")
    elif headers == "stale":
        headers = signed_headers(b"{}", timestamp=1_000_000)
    assert isinstance(headers, dict)
    sock = connect(address)
    sock.sendall(head(path, headers, DECLARED))  # and not one byte of the body
    received = until_closed(sock)
    assert received.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"connection: close" in received.lower()


@sqlite_only
def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    address: tuple[str, int],
) -> None:
    sock = connect(address)
    sock.sendall(head("/webhooks/chatwoot/3", signed_headers(b"{}"), 50 * DECLARED))
    assert until_closed(sock).startswith(b"HTTP/1.1 413 ")


@sqlite_only
def test_an_account_added_while_running_is_answered(
    runtime: Runtime, address: tuple[str, int]
) -> None:
    """The receiver's memory of enabled accounts never refuses one it has not seen yet."""
    body = body_of(voice_note(5))
    host, port = address
    url = f"http://{host}:{port}/webhooks/chatwoot/5"
    assert httpx.post(url, content=body, headers=signed_headers(body)).status_code == 404
    acc.create_account(
        runtime.accounts,
        runtime.keyring,
        5,
        acc.parse_changes(
            {
                "chatwoot_url": "https://chatwoot.example.test",
                "api_token": "t" * 20,
                "webhook_secret": "whsec-test-0123456789",
            }
        ),
    )
    assert httpx.post(url, content=body, headers=signed_headers(body)).status_code == 202
    acc.set_enabled(runtime.accounts, 5, False)
    assert httpx.post(url, content=body, headers=signed_headers(body)).status_code == 404


@sqlite_only
def test_webhooks_to_made_up_accounts_take_turns_for_their_look_ups(
    runtime: Runtime, address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of well-formed webhooks to random account ids: at most KnownAccounts.LOOKUPS
    database look-ups at once, every one answered 404, a real webhook still 202."""
    lookups = {"now": 0, "most": 0}
    guard = threading.Lock()
    read = runtime.accounts.webhook_secrets

    def slow_read(ids: Any) -> Any:
        with guard:
            lookups["now"] += 1
            lookups["most"] = max(lookups["most"], lookups["now"])
        try:
            threading.Event().wait(0.05)  # a database under load
            return read(ids)
        finally:
            with guard:
                lookups["now"] -= 1

    monkeypatch.setattr(runtime.accounts, "webhook_secrets", slow_read)
    host, port = address
    body = body_of(voice_note(7))

    def made_up(n: int) -> int:
        url = f"http://{host}:{port}/webhooks/chatwoot/{1000 + n}"
        return httpx.post(url, content=body, headers=signed_headers(body)).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(made_up, range(32)))
    assert answers == [404] * 32
    assert 1 <= lookups["most"] <= KnownAccounts.LOOKUPS
    assert real_webhook(address, 9).status_code == 202


# ─── what the deadline leaves alone ──────────────────────────────────────────────────────────


@sqlite_only
def test_the_deadline_spares_a_slow_handler(settings: Settings) -> None:
    """The deadline ends once the body is in: a handler may take longer."""

    async def slow(request: Request) -> PlainTextResponse:
        await request.body()
        await asyncio.sleep(TIMEOUT * 2)  # the server's handler, not the test, waits
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/slow", slow, methods=["POST"])])
    with serving(app, settings) as (host, port):
        answer = httpx.post(f"http://{host}:{port}/slow", content=b"x", timeout=TIMEOUT + MARGIN)
        assert answer.text == "done"


# ─── `up` and `serve` run with the limits ────────────────────────────────────────────────────


@pytest.mark.slow
@pytest.mark.parametrize("command", ["up", pytest.param("serve", marks=pytest.mark.redis)])
def test_up_and_serve_close_stalled_clients(
    command: str,
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    redis_url: str,
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'box.db'}", tmp_path, fernet_key)
    add_account(settings, chatwoot, openai_server)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    extra = {
        "TRANSCRIBER_LOG_LEVEL": "INFO",
        "TRANSCRIBER_HTTP_REQUEST_TIMEOUT_SECONDS": str(TIMEOUT),
        "TRANSCRIBER_HTTP_KEEP_ALIVE_SECONDS": str(TIMEOUT),
    }
    if command == "serve":
        extra["TRANSCRIBER_REDIS_URL"] = redis_url
    args = [command, "--port", str(port)]
    with processes() as procs:
        proc = Proc(args, env_for(settings, **extra), tmp_path / f"{command}.log")
        procs.append(proc)
        wait_until(
            lambda: "Uvicorn running on" in proc.output(),
            60,
            f"`{command}` to listen",
            on=proc.printed,
        )
        address = ("127.0.0.1", port)
        idle = connect(address)
        half = signed_stall(address, DECLARED // 2)
        body = json.dumps(voice_note(7)).encode()
        answer = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/chatwoot/3",
            content=body,
            headers=signed_headers(body, delivery="d-7"),
            timeout=TIMEOUT + MARGIN,
        )
        assert answer.status_code == 202, answer.text
        assert until_closed(idle) == b""
        assert until_closed(half) == b""
