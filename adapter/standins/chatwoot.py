"""A stand-in Chatwoot: a real HTTP server on 127.0.0.1, for ``transcriber demo`` and the tests.

It implements the three API calls the adapter makes, ActiveStorage's attachment redirect, and
programmable faults. What it checks of a request is pluggable: ``check`` (a
:class:`RequestCheck`) sees every API request body; a violation it reports is recorded and
answered 422, so a test that forgets to look still fails on the 422. The tests plug in a check
built from Chatwoot's published OpenAPI spec (``tests/standins/chatwoot_server.py``); the demo
plugs in none. Without a check, the stand-in still answers 422 to a body that is not JSON.

Usage::

    from adapter.standins import ChatwootStandIn

    with ChatwootStandIn(check=spec) as chatwoot:         # account 1, token "test-token"
        chatwoot.add_conversation(318, custom_attributes={"tier": "gold"})
        url = chatwoot.add_blob("voice_note.ogg", ogg_bytes, content_type="audio/opus")
        ...  # code under test: chatwoot.base_url, chatwoot.account_id, chatwoot.api_token
        with chatwoot.arrived:
            chatwoot.arrived.wait_for(lambda: chatwoot.notes(318), timeout=30)
        assert chatwoot.notes(318)[0]["private"] is True
        assert chatwoot.violations == []

API (everything else is private):

- ``ChatwootStandIn(account_id=1, api_token="test-token", check=None,
  keep_unknown_content_attributes=False)``; a context manager (``start()``/``stop()``).
- ``base_url``, ``account_id``, ``api_token``, ``port``.
- ``add_conversation(conversation_id, *, custom_attributes=None, channel="Channel::Api")``.
- ``add_blob(filename, data, *, content_type="audio/ogg") -> data_url``: the URL is
  ``/rails/active_storage/blobs/redirect/<signed id>/<filename>?disposition=inline``, which
  answers 302 to ``/storage/<key>/<filename>?signature=…`` (like Rails on S3), which serves
  the bytes. A wrong signature on the storage path answers 403.
- ``fail(status, *, times=1, path="/api/", retry_after=None)``: the next ``times`` requests
  whose path starts with ``path`` answer ``status`` (``fail(404, times=2, path="/rails/")``
  is Chatwoot's upload race).
- ``hang(seconds, *, times=1, path="/api/")``: wait that long, then handle the request
  normally (a client with a shorter timeout gives up; the request still takes effect, like a
  slow Chatwoot). ``stop()`` releases hung requests at once.
- ``down()`` / ``up()``: close the listening socket (connections are refused) and reopen it
  on the same port.
- ``requests`` (every request, in order: ``RecordedRequest``), ``violations`` (all reported
  violations), ``notes(conversation_id)`` (created messages), ``conversation(conversation_id)``.
- ``arrived``: a ``threading.Condition`` notified after every recorded request, so a caller
  waits for what it expects (``arrived.wait_for(predicate, timeout)``) instead of polling.
- ``MESSAGES_OP``, ``SHOW_OP``, ``CUSTOM_ATTRIBUTES_OP``: the operations a check is asked
  about, as ``(method, path template)`` of the spec.

Faithful details: a bad or missing ``api_access_token`` answers 401 ``{"error": "Invalid
Access Token"}``; an unknown conversation answers 404; ``custom_attributes`` POST *replaces*
the whole set (Chatwoot's controller assigns it); a created message keeps only the
``content_attributes`` keys Chatwoot's ``Messages::MessageBuilder`` copies (``in_reply_to``,
``items``): our ``transcriber`` key is dropped, as a real Chatwoot drops it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

#: an API operation as the spec names it: (method, path template)
Operation = tuple[str, str]

_CONVERSATION = "/api/v1/accounts/{account_id}/conversations/{conversation_id}"
MESSAGES_OP: Operation = ("POST", _CONVERSATION + "/messages")
SHOW_OP: Operation = ("GET", _CONVERSATION)
CUSTOM_ATTRIBUTES_OP: Operation = ("POST", _CONVERSATION + "/custom_attributes")
#: content_attributes keys Chatwoot's MessageBuilder copies into a new message
KEPT_CONTENT_ATTRIBUTES = ("in_reply_to", "items")
MAX_BODY = 10 * 1024 * 1024


class RequestCheck(Protocol):
    """What a request body must satisfy: the violations of ``body`` (the parsed JSON, or
    ``None`` when the request had none) for ``operation``; empty when it is fine."""

    def __call__(self, operation: Operation, body: Any) -> Sequence[str]: ...


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    json: Any  # parsed body, or None
    operation: str | None  # "POST /api/v1/accounts/{account_id}/…" when one matched
    violations: tuple[str, ...]
    status: int  # what the stand-in answered


@dataclass
class _Fault:
    path: str
    times: int
    status: int | None = None
    retry_after: float | None = None
    hang: float | None = None


@dataclass
class _Blob:
    filename: str
    data: bytes
    content_type: str
    key: str
    signature: str


@dataclass
class _Conversation:
    id: int
    channel: str
    custom_attributes: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)


class ChatwootStandIn:
    """See the module docstring."""

    def __init__(
        self,
        *,
        account_id: int = 1,
        api_token: str = "test-token",  # noqa: S107 - the stand-in's own, not a secret
        check: RequestCheck | None = None,
        keep_unknown_content_attributes: bool = False,
    ) -> None:
        self.account_id = account_id
        self.api_token = api_token
        self.check = check
        self.keep_unknown_content_attributes = keep_unknown_content_attributes
        self.arrived = threading.Condition()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._conversations: dict[int, _Conversation] = {}
        self._blobs_by_signed_id: dict[str, _Blob] = {}
        self._blobs_by_key: dict[str, _Blob] = {}
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._next_message_id = 100_000
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ChatwootStandIn:
        self._release.clear()
        self._serve(self.port)
        return self

    def stop(self) -> None:
        self._release.set()
        self._close_server()

    def __enter__(self) -> ChatwootStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def down(self) -> None:
        """Stop listening: connections to ``base_url`` are refused until ``up()``."""
        self._close_server()

    def up(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._serve(self.port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- state --------------------------------------------------------------------------------

    def add_conversation(
        self,
        conversation_id: int,
        *,
        custom_attributes: Mapping[str, Any] | None = None,
        channel: str = "Channel::Api",
    ) -> None:
        with self._lock:
            self._conversations[conversation_id] = _Conversation(
                conversation_id, channel, dict(custom_attributes or {})
            )

    def add_blob(self, filename: str, data: bytes, *, content_type: str = "audio/ogg") -> str:
        """Register an attachment; returns its ``data_url`` (the ActiveStorage redirect URL)."""
        blob = _Blob(
            filename=filename,
            data=bytes(data),
            content_type=content_type,
            key=secrets.token_hex(12),
            signature=secrets.token_hex(16),
        )
        signed_id = f"{secrets.token_urlsafe(24)}--{secrets.token_hex(20)}"
        with self._lock:
            self._blobs_by_signed_id[signed_id] = blob
            self._blobs_by_key[blob.key] = blob
        return (
            f"{self.base_url}/rails/active_storage/blobs/redirect/{signed_id}/"
            f"{quote(filename)}?disposition=inline"
        )

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        path: str = "/api/",
        retry_after: float | None = None,
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(path, times, status=status, retry_after=retry_after))

    def hang(self, seconds: float, *, times: int = 1, path: str = "/api/") -> None:
        with self._lock:
            self._faults.append(_Fault(path, times, hang=seconds))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def violations(self) -> list[str]:
        return [v for r in self.requests for v in r.violations]

    def notes(self, conversation_id: int) -> list[dict[str, Any]]:
        """Messages created in a conversation (their JSON as the API returned it)."""
        with self._lock:
            return copy.deepcopy(self._conversations[conversation_id].messages)

    def conversation(self, conversation_id: int) -> dict[str, Any]:
        """The conversation as ``GET …/conversations/{id}`` returns it."""
        with self._lock:
            return self._conversation_json(self._conversations[conversation_id])

    # -- server plumbing ----------------------------------------------------------------------

    def _serve(self, port: int) -> None:
        standin = self

        class Handler(_Handler):
            owner = standin

        server = _Server(("127.0.0.1", port), Handler)
        self.port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"chatwoot-standin-{self.port}",
        )
        thread.start()
        self._server, self._thread = server, thread

    def _close_server(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections()
        if thread is not None:
            thread.join(timeout=5)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)
        with self.arrived:
            self.arrived.notify_all()

    # -- Chatwoot's behaviour -----------------------------------------------------------------

    def _conversation_json(self, conversation: _Conversation) -> dict[str, Any]:
        now = int(time.time())
        return {
            "id": conversation.id,
            "account_id": self.account_id,
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"conversation/{conversation.id}")),
            "inbox_id": 1,
            "status": "open",
            "can_reply": True,
            "muted": False,
            "labels": [],
            "additional_attributes": {},
            "custom_attributes": copy.deepcopy(conversation.custom_attributes),
            "messages": [],
            "unread_count": 0,
            "priority": None,
            "snoozed_until": None,
            "agent_last_seen_at": now,
            "contact_last_seen_at": now,
            "last_activity_at": now,
            "timestamp": now,
            "created_at": now,
            "updated_at": now,
            "waiting_since": None,
            "first_reply_created_at": None,
            "meta": {
                "sender": {
                    "id": 1,
                    "name": "Customer",
                    "email": None,
                    "phone_number": None,
                    "identifier": None,
                    "thumbnail": "",
                    "additional_attributes": {},
                    "custom_attributes": {},
                    "blocked": False,
                },
                "channel": conversation.channel,
                "hmac_verified": False,
            },
        }

    def _create_message(
        self, conversation: _Conversation, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        attributes = body.get("content_attributes") or {}
        if not self.keep_unknown_content_attributes:
            attributes = {k: attributes[k] for k in KEPT_CONTENT_ATTRIBUTES if k in attributes}
        self._next_message_id += 1
        now = int(time.time())
        message = {
            "id": self._next_message_id,
            "content": body.get("content"),
            "account_id": self.account_id,
            "inbox_id": 1,
            "conversation_id": conversation.id,
            "message_type": 0 if body.get("message_type") == "incoming" else 1,
            "created_at": now,
            "updated_at": now,
            "private": bool(body.get("private", False)),
            "status": "sent",
            "source_id": None,
            "content_type": body.get("content_type", "text"),
            "content_attributes": copy.deepcopy(attributes),
            "sender_type": "User",
            "sender_id": 1,
            "external_source_ids": {},
            "additional_attributes": {},
            "processed_message_content": body.get("content"),
            "sentiment": {},
        }
        conversation.messages.append(copy.deepcopy(message))
        return message

    def _handle_api(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, Any, list[str], str | None]:
        """(status, JSON answer, violations, operation) for an /api/ request."""
        parts = path.strip("/").split("/")
        # api v1 accounts {a} conversations {c} [messages|custom_attributes]
        if len(parts) < 6 or parts[:3] != ["api", "v1", "accounts"] or parts[4] != "conversations":
            return 404, {"error": "Not Found"}, [], None
        suffix = "/".join(parts[6:])
        op = {
            ("POST", "messages"): MESSAGES_OP,
            ("GET", ""): SHOW_OP,
            ("POST", "custom_attributes"): CUSTOM_ATTRIBUTES_OP,
        }.get((method, suffix))
        if op is None:
            return 404, {"error": "Not Found"}, [], None
        operation = f"{op[0]} {op[1]}"
        if not (parts[3].isdigit() and parts[5].isdigit()):
            violation = f"{operation}: account_id and conversation_id must be integers"
            return 422, {"error": violation}, [violation], operation
        body, violations = self._checked(op, headers, raw)
        if violations:
            return 422, {"error": "; ".join(violations)}, violations, operation

        if headers.get("api_access_token") != self.api_token:
            return 401, {"error": "Invalid Access Token"}, [], operation
        if int(parts[3]) != self.account_id:
            return 401, {"error": "You are not authorized to access this account"}, [], operation
        with self._lock:
            conversation = self._conversations.get(int(parts[5]))
            if conversation is None:
                return 404, {"error": "Resource could not be found"}, [], operation
            if op == SHOW_OP:
                return 200, self._conversation_json(conversation), [], operation
            if op == MESSAGES_OP:
                return 200, self._create_message(conversation, body), [], operation
            conversation.custom_attributes = dict(body["custom_attributes"])  # replaced
            return (
                200,
                {"custom_attributes": copy.deepcopy(conversation.custom_attributes)},
                [],
                operation,
            )

    def _checked(
        self, op: Operation, headers: Mapping[str, str], raw: bytes
    ) -> tuple[Any, list[str]]:
        """The parsed body of an API request and what is wrong with it: not JSON, what the
        plugged-in check reports, and (always) what Chatwoot could not act on."""
        operation = f"{op[0]} {op[1]}"
        body: Any = None
        violations: list[str] = []
        if raw:
            if not headers.get("content-type", "").startswith("application/json"):
                violations.append(f"{operation}: body is not application/json")
            try:
                body = json.loads(raw)
            except ValueError:
                violations.append(f"{operation}: body is not valid JSON")
        if self.check is not None and not violations:
            violations.extend(self.check(op, body))
        if violations or op[0] != "POST":
            return body, violations
        if not isinstance(body, dict):
            violations.append(f"{operation}: the request body must be a JSON object")
        elif op == CUSTOM_ATTRIBUTES_OP and not isinstance(body.get("custom_attributes"), dict):
            violations.append(f"{operation}: custom_attributes must be an object")
        return body, violations


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Cut open keep-alive connections, so that "down" really is down."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up (timeouts, closed sockets) are normal here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    # header and body go out as separate writes: without this, each answer on a kept-alive
    # connection waits ~40 ms for a delayed ACK (Nagle), which distorts timings
    disable_nagle_algorithm = True
    owner: ChatwootStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``requests`` instead."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        owner = self.owner
        split = urlsplit(self.path)
        path, query = split.path, split.query
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length", "0") or 0)
        raw = self.rfile.read(min(length, MAX_BODY)) if length else b""
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None

        operation: str | None = None
        violations: list[str] = []
        fault = owner._take_fault(path)
        if fault is not None and fault.hang is not None:
            owner._release.wait(fault.hang)
            fault = None
        if fault is not None and fault.status is not None:
            extra = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            reply = _json_reply(fault.status, {"error": f"injected {fault.status}"}, extra)
        elif path.startswith("/api/"):
            status, answer, violations, operation = owner._handle_api(method, path, headers, raw)
            reply = _json_reply(status, answer)
        elif path.startswith("/rails/active_storage/blobs/redirect/") and method == "GET":
            reply = self._redirect_blob(path)
        elif path.startswith("/storage/") and method == "GET":
            reply = self._serve_blob(path, query)
        else:
            reply = _json_reply(404, {"error": "Not Found"})
        # Recorded before answering, so a test that got the answer also sees the record.
        owner._record(
            RecordedRequest(
                method,
                path,
                query,
                headers,
                raw,
                parsed,
                operation,
                tuple(violations),
                reply.status,
            )
        )
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client went away (it timed out); nothing to do
            self.close_connection = True

    def _redirect_blob(self, path: str) -> _Reply:
        parts = path.split("/")
        signed_id = parts[5] if len(parts) > 5 else ""
        with self.owner._lock:
            blob = self.owner._blobs_by_signed_id.get(signed_id)
        if blob is None:
            return _json_reply(404, {"error": "Not Found"})
        location = (
            f"{self.owner.base_url}/storage/{blob.key}/{quote(blob.filename)}"
            f"?signature={blob.signature}&expires=300"
        )
        return _Reply(302, {"Location": location}, b"")

    def _serve_blob(self, path: str, query: str) -> _Reply:
        parts = path.split("/")
        key = parts[2] if len(parts) > 2 else ""
        with self.owner._lock:
            blob = self.owner._blobs_by_key.get(key)
        if blob is None:
            return _json_reply(404, {"error": "NoSuchKey"})
        signature = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("signature")
        if signature != blob.signature:
            return _json_reply(403, {"error": "SignatureDoesNotMatch"})
        disposition = (
            f'inline; filename="{_ascii_name(blob.filename)}"; '
            f"filename*=UTF-8''{quote(blob.filename)}"
        )
        return _Reply(
            200, {"Content-Type": blob.content_type, "Content-Disposition": disposition}, blob.data
        )


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _json_reply(status: int, answer: Any, extra: Mapping[str, str] | None = None) -> _Reply:
    headers = {"Content-Type": "application/json; charset=utf-8", **(extra or {})}
    return _Reply(status, headers, json.dumps(answer).encode())


def _ascii_name(name: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)


__all__ = [
    "CUSTOM_ATTRIBUTES_OP",
    "MESSAGES_OP",
    "SHOW_OP",
    "ChatwootStandIn",
    "Operation",
    "RecordedRequest",
    "RequestCheck",
]
