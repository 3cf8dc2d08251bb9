"""A stand-in Chatwoot: a real HTTP server on 127.0.0.1 that checks what it receives.

It implements the three API calls the adapter makes, ActiveStorage's attachment redirect, and
programmable faults. Every API request body is validated against the request schema of that
exact operation in Chatwoot's published OpenAPI spec (``shared/fixtures/chatwoot/swagger.json``);
a violation is recorded and answered 422, so a test that forgets to look still fails on the
422. ``strict=True`` (the default) also flags top-level keys the spec does not declare (the
spec has no ``additionalProperties: false``, so a typo such as ``"privat"`` would otherwise
pass).

Usage::

    from tests.standins.chatwoot_server import ChatwootStandIn

    with ChatwootStandIn() as chatwoot:                     # account 1, token "test-token"
        chatwoot.add_conversation(318, custom_attributes={"tier": "gold"})
        url = chatwoot.add_blob("voice_note.ogg", ogg_bytes, content_type="audio/opus")
        ...  # code under test: chatwoot.base_url, chatwoot.account_id, chatwoot.api_token
        assert chatwoot.notes(318)[0]["private"] is True
        assert chatwoot.conversation(318)["custom_attributes"] == {"tier": "gold",
                                                                   "transcript_language": "es"}
        assert chatwoot.violations == []

API (everything else is private):

- ``ChatwootStandIn(account_id=1, api_token="test-token", strict=True, swagger_path=…,
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
- ``requests`` (every request, in order: ``RecordedRequest``), ``violations`` (all schema
  violations), ``notes(conversation_id)`` (created messages), ``conversation(conversation_id)``.
- Module helpers: ``fixture_payload(name, *, attachment_urls=None, account_id=None)`` loads a
  shared fixture and points its ``data_url``s at blobs; ``webhook_headers(secret, body, …)``
  signs a body the way the contract says Chatwoot does; ``spec_violations(operation, body,
  response_status=None)`` checks any body against the spec (``MESSAGES_OP``, ``SHOW_OP``,
  ``CUSTOM_ATTRIBUTES_OP``).

Faithful details: a bad or missing ``api_access_token`` answers 401 ``{"error": "Invalid
Access Token"}``; an unknown conversation answers 404; ``custom_attributes`` POST *replaces*
the whole set (Chatwoot's controller assigns it); a created message keeps only the
``content_attributes`` keys Chatwoot's ``Messages::MessageBuilder`` copies (``in_reply_to``,
``items``): our ``transcriber`` key is dropped, as a real Chatwoot drops it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SHARED_FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "chatwoot"
SWAGGER_PATH = SHARED_FIXTURES / "swagger.json"
_SPEC_URI = "urn:chatwoot:swagger"
_CONVERSATION = "/api/v1/accounts/{account_id}/conversations/{conversation_id}"
MESSAGES_OP = ("POST", _CONVERSATION + "/messages")
SHOW_OP = ("GET", _CONVERSATION)
CUSTOM_ATTRIBUTES_OP = ("POST", _CONVERSATION + "/custom_attributes")
#: content_attributes keys Chatwoot's MessageBuilder copies into a new message
KEPT_CONTENT_ATTRIBUTES = ("in_reply_to", "items")
MAX_BODY = 10 * 1024 * 1024


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


class _SchemaBook:
    """Request schemas of the three operations, resolved from the spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)

    def _pointer(self, method: str, template: str) -> str:
        escaped = template.replace("~", "~0").replace("/", "~1")
        return f"/paths/{escaped}/{method.lower()}"

    def operation(self, method: str, template: str) -> dict[str, Any]:
        node: Any = self.spec["paths"][template][method.lower()]
        return dict(node)

    def request_validator(self, method: str, template: str) -> OAS31Validator | None:
        operation = self.operation(method, template)
        body = operation.get("requestBody")
        if body is None:
            return None
        pointer = self._pointer(method, template) + "/requestBody/content/application~1json/schema"
        return OAS31Validator({"$ref": f"{_SPEC_URI}#{pointer}"}, registry=self.registry)

    def declared_properties(self, method: str, template: str) -> frozenset[str] | None:
        operation = self.operation(method, template)
        body = operation.get("requestBody")
        if body is None:
            return None
        schema = body["content"]["application/json"]["schema"]
        while "$ref" in schema:
            ref = schema["$ref"]
            assert ref.startswith("#/")
            node: Any = self.spec
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
        return frozenset(schema.get("properties", {}))

    def response_validator(self, method: str, template: str, status: int) -> OAS31Validator:
        pointer = (
            self._pointer(method, template)
            + f"/responses/{status}/content/application~1json/schema"
        )
        return OAS31Validator({"$ref": f"{_SPEC_URI}#{pointer}"}, registry=self.registry)

    def requires_body(self, method: str, template: str) -> bool:
        body = self.operation(method, template).get("requestBody")
        return bool(body and body.get("required"))


@lru_cache(maxsize=4)
def _schema_book(path: Path) -> _SchemaBook:
    return _SchemaBook(json.loads(path.read_text(encoding="utf-8")))


class ChatwootStandIn:
    """See the module docstring."""

    def __init__(
        self,
        *,
        account_id: int = 1,
        api_token: str = "test-token",
        strict: bool = True,
        swagger_path: Path = SWAGGER_PATH,
        keep_unknown_content_attributes: bool = False,
    ) -> None:
        self.account_id = account_id
        self.api_token = api_token
        self.strict = strict
        self.keep_unknown_content_attributes = keep_unknown_content_attributes
        self._book = _schema_book(swagger_path)
        self._validators = {
            op: self._book.request_validator(*op)
            for op in (MESSAGES_OP, SHOW_OP, CUSTOM_ATTRIBUTES_OP)
        }
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
        violations: list[str] = []
        if not (parts[3].isdigit() and parts[5].isdigit()):
            violations.append(f"{operation}: account_id and conversation_id must be integers")
            return 422, {"error": violations[0]}, violations, operation
        body: Any = None
        if raw:
            if not headers.get("content-type", "").startswith("application/json"):
                violations.append(f"{operation}: body is not application/json")
            try:
                body = json.loads(raw)
            except ValueError:
                violations.append(f"{operation}: body is not valid JSON")
        elif self._book.requires_body(*op):
            violations.append(f"{operation}: the request body is required")
        validator = self._validators[op]
        if validator is not None and body is not None and not violations:
            for error in validator.iter_errors(body):
                where = "/".join(str(p) for p in error.absolute_path) or "(body)"
                violations.append(f"{operation}: {where}: {error.message}")
            declared = self._book.declared_properties(*op)
            if self.strict and declared is not None and isinstance(body, dict):
                for key in sorted(set(body) - declared):
                    violations.append(f"{operation}: {key!r} is not a property in the spec")
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
            conversation.custom_attributes = dict(body["custom_attributes"])
            return (
                200,
                {"custom_attributes": copy.deepcopy(conversation.custom_attributes)},
                [],
                operation,
            )


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


# -- helpers for end-to-end tests -------------------------------------------------------------


def spec_violations(
    operation: tuple[str, str],
    body: Any,
    *,
    response_status: int | None = None,
    swagger_path: Path = SWAGGER_PATH,
) -> list[str]:
    """Schema errors of ``body`` for ``operation`` (e.g. ``MESSAGES_OP``) in the spec.

    The request schema by default; the response schema of ``response_status`` when given.
    """
    book = _schema_book(swagger_path)
    if response_status is None:
        validator = book.request_validator(*operation)
        if validator is None:
            return [] if body is None else ["the operation takes no request body"]
    else:
        validator = book.response_validator(*operation, response_status)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def fixture_payload(
    name: str,
    *,
    attachment_urls: Mapping[int, str] | None = None,
    account_id: int | None = None,
) -> dict[str, Any]:
    """A shared fixture body, its ``data_url``s pointed at ``attachment_urls`` (by id)."""
    body: dict[str, Any] = json.loads((SHARED_FIXTURES / name).read_text(encoding="utf-8"))
    urls = dict(attachment_urls or {})
    lists = [body.get("attachments") or []]
    lists += [m.get("attachments") or [] for m in body["conversation"].get("messages", [])]
    for attachments in lists:
        for attachment in attachments:
            if attachment["id"] in urls:
                attachment["data_url"] = urls[attachment["id"]]
    if account_id is not None:
        body["account"]["id"] = account_id
        body["conversation"]["account"]["id"] = account_id
    return body


def webhook_headers(
    secret: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    delivery: str | None = None,
) -> dict[str, str]:
    """Headers of a signed Chatwoot webhook delivery, as the contract describes them."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Chatwoot-Signature": f"sha256={digest}",
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Delivery": delivery or str(uuid.uuid4()),
    }


__all__ = [
    "CUSTOM_ATTRIBUTES_OP",
    "MESSAGES_OP",
    "SHOW_OP",
    "ChatwootStandIn",
    "RecordedRequest",
    "fixture_payload",
    "spec_violations",
    "webhook_headers",
]
