"""Sentry: real envelopes sent to a loopback ingest server, searched for anything private.

The SDK is initialised with ``http://publickey@127.0.0.1:PORT/1``; it POSTs
(gzip-compressed) envelopes to ``/api/1/envelope/``. A Starlette app served by a
real uvicorn and a Dramatiq actor on a StubBroker raise exceptions whose messages,
locals, headers, query strings, bodies and arguments carry secrets, transcripts and
signed attachment URLs; none of them may appear in what the server receives.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dramatiq
import httpx
import pytest
import sentry_sdk
import uvicorn
from dramatiq.brokers.stub import StubBroker
from sentry_sdk.integrations.dramatiq import SentryMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapter.observability import (
    clear_registries,
    init_sentry,
    register_secret,
    register_transcript,
    scrub_breadcrumb,
    scrub_event,
    shutdown_sentry,
)
from adapter.settings import Settings

REGISTERED_SECRET = "cwtok-9QfR2mZp7LxT4vWs"
OPENAI_KEY = "sk-proj-" + "Lk3Jh5Gf7Ds9Aq1Wz2Xc4Vb6Nm8"  # assembled: no key-shaped literal
TRANSCRIPT = "Good morning, the blender I bought last week stopped working entirely."
SIGNED_ID = (
    "eyJfcmFpbHMiOnsibWVzc2FnZSI6IkJBaHBCbVU9IiwiZXhwIjpudWxsLCJwdXIiOiJibG9iX2lkIn19"
    "--9f3c2a1b0d4e5f60718293a4b5c6d7e8f9012345"
)
SIGNED_URL = f"https://chat.example.com/rails/active_storage/blobs/redirect/{SIGNED_ID}/a.ogg"
SIGNATURE_HEX = "5e" * 32
HEADER_TOKEN = "hdrtoken-Q8w7E6r5T4y3"
BEARER = "bearer-Zz9Yy8Xx7Ww6"
COOKIE = "cookieval-Aa1Bb2Cc3"
QUERY_SECRET = "querysecret-Mm5Nn6"
BODY_SENTENCE = "please call me back at my home number"
KWARG_SENTENCE = "actor kwarg sentence that is private"

FORBIDDEN = (
    REGISTERED_SECRET,
    OPENAI_KEY,
    OPENAI_KEY[8:],
    TRANSCRIPT,
    "blender I bought",
    SIGNED_ID,
    SIGNED_ID[:24],
    SIGNED_ID[-40:],
    SIGNATURE_HEX,
    HEADER_TOKEN,
    BEARER,
    COOKIE,
    QUERY_SECRET,
    BODY_SENTENCE,
    KWARG_SENTENCE,
)


# --- the ingest server ----------------------------------------------------------------------


@dataclass
class Ingest:
    dsn: str
    envelopes: list[bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    #: held while the lists change; notified after each envelope
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, path: str, envelope: bytes) -> None:
        with self.arrived:
            self.paths.append(path)
            self.envelopes.append(envelope)
            self.arrived.notify_all()

    def events(self) -> list[dict[str, object]]:
        """Every event item (a JSON object with ``exception`` or ``logentry``) received."""
        found: list[dict[str, object]] = []
        with self.arrived:
            envelopes = list(self.envelopes)
        for envelope in envelopes:
            for line in envelope.split(b"\n"):
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict) and item.get("exception"):
                    found.append(item)
        return found

    def wait_for(self, count: int, *, seconds: float = 20.0) -> list[dict[str, object]]:
        """The events once ``count`` have arrived (or ``seconds`` have passed)."""
        sentry_sdk.flush(timeout=seconds)
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.events()) >= count, timeout=seconds)
        return self.events()

    def raw(self) -> bytes:
        with self.arrived:
            return b"\n".join(self.envelopes)


def _decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]  # only when the SDK found it

        return bytes(brotli.decompress(body))
    assert encoding in ("", "identity"), encoding
    return body


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    received = Ingest(dsn="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = _decode(self.rfile.read(length), self.headers.get("Content-Encoding", ""))
            received.add(self.path, body)
            payload = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="sentry-ingest", daemon=True
    )
    thread.start()
    received.dsn = f"http://publickey@127.0.0.1:{server.server_address[1]}/1"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def sentry_on(ingest: Ingest) -> Iterator[Ingest]:
    """Sentry initialised against the loopback server; closed (back to no-op) afterwards."""
    settings = Settings(_env_file=None, sentry_dsn=ingest.dsn, env="test")  # type: ignore[call-arg]
    clear_registries()
    assert init_sentry(settings, component="test")
    try:
        yield ingest
    finally:
        shutdown_sentry()
        clear_registries()
        assert not sentry_sdk.get_client().is_active()


def assert_clean(ingest: Ingest) -> None:
    raw = ingest.raw()
    assert raw, "no envelope received"
    text = raw.decode("utf-8", "replace")
    leaked = [value for value in FORBIDDEN if value in text]
    assert not leaked, leaked
    assert all(path == "/api/1/envelope/" for path in ingest.paths), ingest.paths


def mechanism_types(events: list[dict[str, object]]) -> set[str]:
    kinds: set[str] = set()
    for event in events:
        exception = event["exception"]
        assert isinstance(exception, dict)
        for value in exception["values"]:
            mechanism = value.get("mechanism") or {}
            kinds.add(str(mechanism.get("type")))
    return kinds


# --- Starlette, served for real -------------------------------------------------------------


class LeakyWebhookError(RuntimeError):
    pass


def build_app() -> Starlette:
    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        api_token = REGISTERED_SECRET  # locals: must not be sent
        openai_key = OPENAI_KEY
        transcript = TRANSCRIPT
        url = SIGNED_URL
        raise LeakyWebhookError(
            f"chatwoot said no to {api_token} with {openai_key} for {transcript!r} "
            f"about {url} ({len(body)} bytes)"
        )

    route = Route("/webhooks/chatwoot/{account_id:int}", webhook, methods=["POST"])
    return Starlette(routes=[route])


@pytest.fixture
def served_app(sentry_on: Ingest) -> Iterator[str]:
    app = build_app()  # after init: the integration patches Starlette's request handling
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections wait in the backlog until uvicorn accepts them: no start-up wait
    config = uvicorn.Config(
        app,
        log_config=None,
        lifespan="off",
        ws="none",
        http="h11",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def test_starlette_exception_reaches_sentry_scrubbed(served_app: str, sentry_on: Ingest) -> None:
    register_secret(REGISTERED_SECRET)
    register_transcript(TRANSCRIPT)
    body = json.dumps({"content": BODY_SENTENCE, "attachments": [{"data_url": SIGNED_URL}]})
    response = httpx.post(
        f"{served_app}/webhooks/chatwoot/7?token={QUERY_SECRET}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Chatwoot-Signature": f"sha256={SIGNATURE_HEX}",
            "X-Chatwoot-Delivery": "0b6c54a4-9f32-4c8e-8f0e-3d5d9a1e2b7c",
            "api_access_token": HEADER_TOKEN,
            "Authorization": f"Bearer {BEARER}",
            "Cookie": f"_session={COOKIE}",
        },
        timeout=20,
    )
    assert response.status_code == 500

    events = sentry_on.wait_for(1)
    assert events, "Sentry received no event"
    assert "starlette" in mechanism_types(events)
    assert_clean(sentry_on)

    (event,) = [e for e in events if "starlette" in mechanism_types([e])]
    request = event["request"]
    assert isinstance(request, dict)
    assert request["method"] == "POST"
    assert request["url"].endswith("/webhooks/chatwoot/7")
    assert set(request["headers"]) <= {
        "content-type",
        "content-length",
        "x-chatwoot-delivery",
        "user-agent",
        "accept",
        "host",
    }
    for removed in ("data", "query_string", "cookies", "env"):
        assert removed not in request
    (value,) = event["exception"]["values"]  # type: ignore[index]
    assert value["type"] == "LeakyWebhookError"
    assert "[redacted]" in value["value"]
    assert "[transcript]" in value["value"]
    assert "[attachment-url]" in value["value"]
    for frame in value["stacktrace"]["frames"]:
        assert "vars" not in frame
    assert event["tags"]["component"] == "test"  # type: ignore[index]
    assert event["environment"] == "test"


# --- Dramatiq, on a StubBroker built after init ---------------------------------------------


class LeakyActorError(RuntimeError):
    pass


def test_dramatiq_exception_reaches_sentry_scrubbed(sentry_on: Ingest) -> None:
    register_secret(REGISTERED_SECRET)
    register_transcript(TRANSCRIPT)
    broker = StubBroker()  # after init_sentry: the integration adds its middleware here
    assert any(isinstance(m, SentryMiddleware) for m in broker.middleware)
    broker.emit_after("process_boot")

    @dramatiq.actor(broker=broker, max_retries=0, queue_name="obs_sentry")
    def transcribe(transcription_id: int, attempt: int, note: str = "") -> None:
        token = REGISTERED_SECRET
        key = OPENAI_KEY
        raise LeakyActorError(
            f"engine failed for {transcription_id}/{attempt} with {token} and {key}: "
            f"{TRANSCRIPT} from {SIGNED_URL}"
        )

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        transcribe.send(41, 2, note=KWARG_SENTENCE)
        broker.join(transcribe.queue_name, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
        broker.close()

    events = sentry_on.wait_for(1)
    assert events, "Sentry received no event"
    assert_clean(sentry_on)

    # Dramatiq logs the failure first (mechanism "logging"); the middleware's own capture
    # of the same exception is then deduplicated. Either way it ran inside the message's
    # scope, which the integration marks with a "dramatiq" context.
    (event,) = [e for e in events if "dramatiq" in e.get("contexts", {})]  # type: ignore[operator]
    assert mechanism_types([event]) <= {"logging", "dramatiq"}
    (value,) = event["exception"]["values"]  # type: ignore[index]
    assert value["type"] == "LeakyActorError"
    assert value["value"].startswith("engine failed for 41/2 with [redacted] and [redacted]")
    assert event["contexts"]["dramatiq"]["type"] == "dramatiq"  # type: ignore[index]
    logentry = event.get("logentry")
    if isinstance(logentry, dict):  # the worker's log line names the message: ids only
        assert "transcribe(41, 2, note=[redacted])" in logentry["formatted"]


# --- the scrubbers directly -----------------------------------------------------------------


def test_scrub_event_handles_every_section() -> None:
    clear_registries()
    register_secret(REGISTERED_SECRET)
    event: dict[str, object] = {
        "message": f"failed with {REGISTERED_SECRET}",
        "logentry": {
            "message": "token %s",
            "params": [OPENAI_KEY],
            "formatted": f"token {OPENAI_KEY}",
        },
        "request": {
            "method": "POST",
            "url": f"http://h/webhooks/chatwoot/1?token={QUERY_SECRET}",
            "query_string": f"token={QUERY_SECRET}",
            "data": {"content": BODY_SENTENCE},
            "cookies": {"s": COOKIE},
            "headers": {
                "X-Chatwoot-Signature": SIGNATURE_HEX,
                "api_access_token": HEADER_TOKEN,
                "Content-Type": "application/json",
            },
            "env": {"REMOTE_ADDR": "10.0.0.1"},
        },
        "extra": {
            "note": TRANSCRIPT,
            "sys.argv": [
                "transcriber",
                "accounts",
                "add",
                "--api-token",
                HEADER_TOKEN,
                f"--webhook-secret={BEARER}",
            ],
        },
        "contexts": {
            "dramatiq": {
                "type": "dramatiq",
                "data": {
                    "queue_name": "transcribe",
                    "actor_name": "transcribe",
                    "message_id": "m",
                    "args": [41, SIGNED_URL, True],
                    "kwargs": {"note": KWARG_SENTENCE, "attempt": 2},
                    "options": {"retries": 1, "_sentry_headers": {"baggage": "x"}},
                },
            },
            "custom": {"api_key": OPENAI_KEY, "url": SIGNED_URL},
        },
        "user": {"ip_address": "10.0.0.1", "email": "a@b.c"},
        "breadcrumbs": {
            "values": [
                {
                    "category": "httplib",
                    "data": {
                        "url": f"https://h/x?token={QUERY_SECRET}",
                        "http.query": f"token={QUERY_SECRET}",
                    },
                },
                {"message": f"called with {REGISTERED_SECRET}"},
            ]
        },
        "exception": {
            "values": [
                {
                    "type": "E",
                    "value": f"boom {OPENAI_KEY}",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "f",
                                "vars": {"token": REGISTERED_SECRET},
                                "context_line": f"    key = '{OPENAI_KEY}'",
                                "pre_context": [f"token = '{REGISTERED_SECRET}'"],
                            }
                        ]
                    },
                }
            ]
        },
        "spans": [
            {
                "description": f"GET https://h/x?token={QUERY_SECRET}",
                "data": {"http.query": f"token={QUERY_SECRET}", "url": "https://h/x?y=1"},
            }
        ],
    }
    out = scrub_event(event, {})  # type: ignore[arg-type]
    assert out is not None
    text = json.dumps(out)
    leaked = [value for value in (*FORBIDDEN, "10.0.0.1", "a@b.c") if value in text]
    assert not leaked, leaked
    assert out["request"] == {  # type: ignore[typeddict-item]
        "method": "POST",
        "url": "http://h/webhooks/chatwoot/1",
        "headers": {"Content-Type": "application/json"},
    }
    dramatiq_data = out["contexts"]["dramatiq"]["data"]  # type: ignore[typeddict-item]
    assert dramatiq_data["args"] == [41, "[redacted]", "[redacted]"]
    assert dramatiq_data["kwargs"] == {"note": "[redacted]", "attempt": 2}
    assert dramatiq_data["options"] == {"retries": 1}
    assert out["extra"]["sys.argv"][:4] == ["transcriber", "accounts", "add", "--api-token"]  # type: ignore[typeddict-item]
    assert "user" not in out


def test_a_failing_scrubber_drops_the_event() -> None:
    class Hostile(dict):  # type: ignore[type-arg]
        def get(self, *args: object, **kwargs: object) -> object:
            raise RuntimeError("cannot read")

    assert scrub_event(Hostile(message=REGISTERED_SECRET), {}) is None  # type: ignore[arg-type]
    assert scrub_breadcrumb(Hostile(message=REGISTERED_SECRET), {}) is None


def test_no_dsn_is_a_no_op() -> None:
    settings = Settings(_env_file=None, env="test")  # type: ignore[call-arg]
    assert init_sentry(settings, component="test") is False
    assert not sentry_sdk.get_client().is_active()
