"""A stand-in Chatwoot: a real HTTP server on 127.0.0.1, for ``transcriber demo`` and the tests.

It implements the five API calls the adapter makes (the three write-backs, and the two listings
the reader pages through), the account settings ``accounts connect`` and ``doctor`` use,
ActiveStorage's attachment redirect, users' and agent bots' tokens, and
programmable faults. What it checks of a request is pluggable: ``check`` (a
:class:`RequestCheck`) sees every API request body; a violation it reports is recorded and
answered 422, so a test that forgets to look still fails on the 422. The tests plug in a check
built from Chatwoot's published OpenAPI spec (``tests/standins/chatwoot_server.py``); the demo
plugs in none. Without a check, the stand-in still answers 422 to a body that is not JSON, and
to query parameters it does not implement or that are not what Chatwoot reads (``page=abc``).

Usage::

    from adapter.standins import ChatwootStandIn

    with ChatwootStandIn(check=spec) as chatwoot:         # account 1, bot token "test-token"
        chatwoot.add_conversation(318, custom_attributes={"tier": "gold"})
        url = chatwoot.add_blob("voice_note.ogg", ogg_bytes, content_type="audio/opus")
        chatwoot.add_message(318, attachments=[{"file_type": "audio", "data_url": url}])
        ...  # code under test: chatwoot.base_url, chatwoot.account_id, chatwoot.api_token
        with chatwoot.arrived:
            chatwoot.arrived.wait_for(lambda: chatwoot.notes(318), timeout=30)
        assert chatwoot.notes(318)[0]["private"] is True
        assert chatwoot.violations == []

API (everything else is private):

- ``ChatwootStandIn(account_id=1, api_token="test-token", user_token="test-user-token",
  check=None, keep_unknown_content_attributes=False, bot_name="Transcriber", version="4.15.1",
  signs_webhooks=None)``; a context manager
  (``start()``/``stop()``).
- ``base_url``, ``account_id``, ``api_token``, ``user_token``, ``port``.
- Tokens: ``api_token`` is an agent bot's: it may read one conversation, set its custom
  attributes and create messages; the listings answer it 401 "Access to this endpoint is not
  authorized for bots". ``user_token`` is an administrator's: everything, every inbox.
  ``add_user_token(token, *, role="administrator", inbox_ids=())`` adds a user; an
  ``"agent"`` lists only the conversations of ``inbox_ids`` (another ``inbox_id=`` lists
  nothing), and any call on a conversation of another inbox answers 401 "You are not
  authorized to do this action". An unknown token answers 401 "Invalid Access Token".
- ``add_conversation(conversation_id, *, custom_attributes=None, channel="Channel::Api",
  inbox_id=1, last_activity_at=None, status="open")``: ``last_activity_at`` is Unix seconds
  (default now). Adding an existing id replaces it; ``remove_conversation(conversation_id)``
  deletes one (its calls answer 404 from then on).
- ``add_message(conversation_id, *, message_type=0, private=False, content=None,
  attachments=(), created_at=None, content_attributes=None) -> dict``: a message (0 incoming,
  1 outgoing, 2 activity, 3 template) as Chatwoot stores it, with a new id (ids increase across
  the account). Each ``attachments`` item is a dict such as ``{"file_type": "audio",
  "data_url": url, "extension": "ogg", "content_type": "audio/ogg", "file_size": 1234}``; the
  rest of ``Attachment#push_event_data`` is filled in (``id`` unless given, ``message_id``,
  ``account_id``, ``thumb_url``, ``width``, ``height``, and ``transcribed_text`` for audio).
  Like every message, it moves the conversation's ``last_activity_at`` to its ``created_at``
  (default now). Notes created through ``POST …/messages`` are stored the same way.
- ``add_blob(filename, data, *, content_type="audio/ogg") -> data_url``: the URL is
  ``/rails/active_storage/blobs/redirect/<signed id>/<filename>?disposition=inline``, which
  answers 302 to ``/storage/<key>/<filename>?signature=…`` (like Rails on S3), which serves
  the bytes. A wrong signature on the storage path answers 403.
- ``fail(status, *, times=1, path="/api/", retry_after=None)``: the next ``times`` requests
  that ``path`` matches answer ``status`` (``fail(404, times=2, path="/rails/")`` is
  Chatwoot's upload race). A ``path`` without ``?`` matches every request path it starts;
  one with ``?`` matches the path exactly and requires each parameter after it:
  ``path="/api/v1/accounts/1/conversations?"`` is the listing (any page, not the
  conversations under it), ``…/conversations?page=2`` its second page. An injected 429
  answers like rack-attack, ``Retry later`` as text/plain, with ``Retry-After`` only when
  ``retry_after`` is given; other statuses answer ``{"error": "injected <status>"}``.
- ``hang(seconds, *, times=1, path="/api/")``: wait that long, then handle the request
  normally (a client with a shorter timeout gives up; the request still takes effect, like a
  slow Chatwoot). ``stop()`` releases hung requests at once. ``path`` matches as for ``fail``.
- ``down()`` / ``up()``: close the listening socket (connections are refused) and reopen it
  on the same port.
- ``requests`` (every request, in order: ``RecordedRequest``; ``operation`` names the API
  operation of the path, injected faults included, so
  ``calls(LIST_CONVERSATIONS_OP)`` counts the listing requests), ``violations`` (all
  reported violations), ``notes(conversation_id)`` (the messages created through the API),
  ``messages(conversation_id)`` (all of them, oldest first), ``conversation(conversation_id)``
  (as ``GET …/conversations/{id}`` returns it).
- The account's settings (``adapter.standins.chatwoot_admin``, where the rules are written
  down): agent bots, webhooks, custom attribute definitions, inbox bots, ``GET
  /api/v1/profile`` and ``GET /api`` (the version). ``api_token`` is the token of the
  account's bot ``bot_name`` ("Transcriber"); ``version`` ("4.15.1", None: ``/api`` answers
  404) decides whether webhooks have a ``secret`` (from 4.11.2), unless ``signs_webhooks``
  says. ``add_inbox(inbox_id, name=None)``, ``add_agent_bot(name, *, system=False)``,
  ``add_webhook(url, subscriptions, name=None)`` set the account up as an admin would;
  ``agent_bots()``, ``webhooks()`` (secrets included), ``attribute_definitions()``,
  ``inbox_bot(inbox_id)`` read it; ``revoke(token)`` regenerates a user's or bot's token (the
  old one answers 401 "Invalid Access Token").
- ``arrived``: a ``threading.Condition`` notified after every recorded request, so a caller
  waits for what it expects (``arrived.wait_for(predicate, timeout)``) instead of polling.
- ``MESSAGES_OP``, ``SHOW_OP``, ``CUSTOM_ATTRIBUTES_OP``, ``LIST_CONVERSATIONS_OP``,
  ``LIST_MESSAGES_OP``: the operations, as ``(method, path template)`` of the spec;
  ``OPERATIONS`` all five.

Faithful details (from Chatwoot's source): a bad or missing ``api_access_token`` answers 401
``{"error": "Invalid Access Token"}``; an unknown conversation answers 404 ``{"error":
"Resource could not be found"}``; ``custom_attributes`` POST *replaces* the whole set (the
controller assigns it); a created message keeps only the ``content_attributes`` keys
``Messages::MessageBuilder`` copies (``in_reply_to``, ``items``): our ``transcriber`` key is
dropped, as a real Chatwoot drops it. The listing (``ConversationFinder``) defaults to
``status=open``, sorts by ``last_activity_at`` newest first and serves 25 a page as
``{"data": {"meta": counts, "payload": [...]}}``, each entry the conversation partial (``id``
is the display id; ``last_activity_at`` and ``timestamp`` integer seconds; ``messages`` holds
the latest message). The messages listing (``MessageFinder``) answers ``{"meta", "payload"}``:
the latest 20, ``before=ID`` the 20 before that id, ``after=ID`` up to 100 after it, both the
ones in between (up to 1000), oldest first, each message with an integer ``message_type`` and
``created_at``. An incoming message reopens a resolved or snoozed conversation.

Cost: conversations are kept in latest-activity order lazily (a write is O(1); the next
listing applies the writes, by bisection or one sort), overall and per inbox, so building an
account of thousands of conversations and serving a page of ``status=all`` (with or without
one ``inbox_id``) costs the page, not the account. Other filters (a status, an agent's token
without ``inbox_id``) scan the account.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

from adapter.standins import chatwoot_admin as admin
from adapter.standins.chatwoot_admin import (
    ADMIN_OPERATIONS,
    NO_BODY,
    PROFILE_OP,
    SIGNING_VERSION,
    VERSION_OP,
    AccountSettings,
    profile_json,
    version_tuple,
)

#: an API operation as the spec names it: (method, path template)
Operation = tuple[str, str]

_ACCOUNT = "/api/v1/accounts/{account_id}"
_CONVERSATION = _ACCOUNT + "/conversations/{conversation_id}"
MESSAGES_OP: Operation = ("POST", _CONVERSATION + "/messages")
SHOW_OP: Operation = ("GET", _CONVERSATION)
CUSTOM_ATTRIBUTES_OP: Operation = ("POST", _CONVERSATION + "/custom_attributes")
LIST_CONVERSATIONS_OP: Operation = ("GET", _ACCOUNT + "/conversations")
LIST_MESSAGES_OP: Operation = ("GET", _CONVERSATION + "/messages")
OPERATIONS: tuple[Operation, ...] = (
    MESSAGES_OP,
    SHOW_OP,
    CUSTOM_ATTRIBUTES_OP,
    LIST_CONVERSATIONS_OP,
    LIST_MESSAGES_OP,
)
#: what an agent bot may call (Chatwoot's BOT_ACCESSIBLE_ENDPOINTS, among these five)
BOT_OPERATIONS = frozenset({MESSAGES_OP, SHOW_OP, CUSTOM_ATTRIBUTES_OP})
#: content_attributes keys Chatwoot's MessageBuilder copies into a new message
KEPT_CONTENT_ATTRIBUTES = ("in_reply_to", "items")
MAX_BODY = 10 * 1024 * 1024
CONVERSATIONS_PAGE = 25  # Kaminari's default per page, which ConversationFinder uses
MESSAGES_PAGE = 20  # MessageFinder: latest, and before=ID
MESSAGES_AFTER = 100  # MessageFinder: after=ID
MESSAGES_BETWEEN = 1000  # MessageFinder: after=ID and before=ID
STATUSES = ("open", "resolved", "pending", "snoozed")
ROLES = ("administrator", "agent")
#: the sort_by values the stand-in serves (ConversationFinder's default and its old alias)
SORTS = ("last_activity_at_desc", "latest")
_FILE_TYPES = ("image", "audio", "video", "file")
_DIGITS = re.compile(r"[0-9]{1,18}")
_CONTACT = {
    "id": 1,
    "name": "Customer",
    "email": None,
    "phone_number": None,
    "identifier": None,
    "thumbnail": "",
    "additional_attributes": {},
    "custom_attributes": {},
    "blocked": False,
}
_BOT = {"id": 1, "name": "Transcriber", "avatar_url": "", "type": "agent_bot"}
#: who sent a message added with ``add_message``, by message_type: the contact, the first user
_DEFAULT_SENDERS: dict[int, tuple[str, int] | None] = {
    0: ("Contact", 1),
    1: ("User", 1),
    2: None,
    3: None,
}


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

    def matches(self, path: str, query: str) -> bool:
        if "?" not in self.path:
            return path.startswith(self.path)
        wanted_path, _, wanted_query = self.path.partition("?")
        if path != wanted_path:
            return False
        have = parse_qs(query, keep_blank_values=True)
        return all(value in have.get(name, ()) for name, value in parse_qsl(wanted_query))


@dataclass
class _Blob:
    filename: str
    data: bytes
    content_type: str
    key: str
    signature: str


@dataclass(frozen=True)
class _User:
    id: int
    name: str
    role: str
    inbox_ids: frozenset[int]

    def sees(self, inbox_id: int) -> bool:
        return self.role == "administrator" or inbox_id in self.inbox_ids


@dataclass
class _Conversation:
    id: int
    channel: str
    custom_attributes: dict[str, Any]
    inbox_id: int
    status: str
    created_at: float
    last_activity_at: float
    uuid: str
    #: label names, as Chatwoot's ``labels`` shows them
    labels: list[str] = field(default_factory=list)
    #: every message as Chatwoot stores it, in ``created_at`` (then id) order; ``order`` holds
    #: their (created_at, id) keys, index for index
    messages: list[dict[str, Any]] = field(default_factory=list)
    order: list[tuple[float, int]] = field(default_factory=list)
    #: ids of the messages created through ``POST …/messages``
    created: list[int] = field(default_factory=list)


class _ActivityOrder:
    """Conversation ids, latest activity first, sorted lazily: a write is O(1), and the next
    read applies the writes since the last one (a few by bisection, many by one sort)."""

    _RESORT_AFTER = 32

    def __init__(self) -> None:
        self._keys: dict[int, tuple[float, int]] = {}
        self._sorted: list[tuple[float, int]] = []
        self._changes: list[tuple[tuple[float, int] | None, tuple[float, int] | None]] = []

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, conversation_id: int, last_activity_at: float) -> None:
        key = (-last_activity_at, -conversation_id)
        old = self._keys.get(conversation_id)
        if old != key:
            self._keys[conversation_id] = key
            self._changes.append((old, key))

    def discard(self, conversation_id: int) -> None:
        old = self._keys.pop(conversation_id, None)
        if old is not None:
            self._changes.append((old, None))

    def page(self, start: int, size: int) -> list[int]:
        self._settle()
        return [-key[1] for key in self._sorted[start : start + size]]

    def ids(self) -> Iterator[int]:
        self._settle()
        return (-key[1] for key in list(self._sorted))

    def _settle(self) -> None:
        if len(self._changes) > self._RESORT_AFTER:
            self._sorted = sorted(self._keys.values())
        else:
            for old, new in self._changes:
                if old is not None:
                    del self._sorted[bisect.bisect_left(self._sorted, old)]
                if new is not None:
                    bisect.insort(self._sorted, new)
        self._changes.clear()


class ChatwootStandIn:
    """See the module docstring."""

    def __init__(
        self,
        *,
        account_id: int = 1,
        api_token: str = "test-token",  # noqa: S107 - the stand-in's own, not a secret
        user_token: str = "test-user-token",  # noqa: S107 - the stand-in's own, not a secret
        check: RequestCheck | None = None,
        keep_unknown_content_attributes: bool = False,
        bot_name: str = "Transcriber",
        version: str | None = "4.15.1",
        signs_webhooks: bool | None = None,
    ) -> None:
        self.account_id = account_id
        self.api_token = api_token
        self.user_token = user_token
        self.check = check
        self.keep_unknown_content_attributes = keep_unknown_content_attributes
        self.arrived = threading.Condition()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._conversations: dict[int, _Conversation] = {}
        self._order = _ActivityOrder()
        self._order_by_inbox: dict[int, _ActivityOrder] = {}
        self._users: dict[str, _User] = {}
        self._blobs_by_signed_id: dict[str, _Blob] = {}
        self._blobs_by_key: dict[str, _Blob] = {}
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._next_message_id = 100_000
        self._next_attachment_id = 200_000
        if signs_webhooks is None:
            signs_webhooks = version is None or version_tuple(version) >= SIGNING_VERSION
        self._settings = AccountSettings(account_id, version=version, signs_webhooks=signs_webhooks)
        self._settings.add_bot(bot_name, token=api_token)
        self._settings.inboxes[1] = "Inbox 1"
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.add_user_token(user_token)

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

    def add_user_token(
        self, token: str, *, role: str = "administrator", inbox_ids: Iterable[int] = ()
    ) -> None:
        """A user's access token: an ``administrator`` sees every inbox, an ``agent`` only
        ``inbox_ids``."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        with self._lock:
            user_id = len(self._users) + 1
            self._users[token] = _User(user_id, f"User {user_id}", role, frozenset(inbox_ids))

    def revoke(self, token: str) -> None:
        """Forget a user's or a bot's token, as regenerating it in Chatwoot does: it answers
        401 "Invalid Access Token" from now on."""
        with self._lock:
            self._users.pop(token, None)
            bot = self._settings.bot_for(token)
            if bot is not None:
                bot.token = secrets.token_urlsafe(18)

    def add_inbox(self, inbox_id: int, name: str | None = None) -> None:
        with self._lock:
            self._settings.inboxes[inbox_id] = name or f"Inbox {inbox_id}"

    def add_agent_bot(self, name: str, *, system: bool = False) -> dict[str, Any]:
        """Another agent bot of the account (or a system bot); as the listing shows it."""
        with self._lock:
            bot = self._settings.add_bot(name, system=system)
            return self._settings._bot_json(bot, True)

    def add_webhook(
        self, url: str, subscriptions: Iterable[str] = ("message_created",), name: str | None = None
    ) -> dict[str, Any]:
        """A webhook made in Chatwoot's settings; as the listing shows it (with its secret)."""
        with self._lock:
            status, answer = self._settings.handle(
                admin.CREATE_WEBHOOK_OP,
                [],
                {"webhook": {"url": url, "name": name, "subscriptions": list(subscriptions)}},
                {},
                role="administrator",
                sees=lambda _: True,
            )
        if status != 200:
            raise ValueError(f"Chatwoot would refuse that webhook: {answer}")
        return dict(answer["payload"]["webhook"])

    def agent_bots(self) -> list[dict[str, Any]]:
        """Every bot of the account, as an administrator's listing shows it (tokens too)."""
        with self._lock:
            return [self._settings._bot_json(b, True) for b in self._settings.bots.values()]

    def webhooks(self) -> list[dict[str, Any]]:
        """The account's webhooks, with their ``secret`` (whatever the version answers)."""
        with self._lock:
            return [
                {**self._settings._hook_json(h), "secret": h.secret}
                for h in self._settings.hooks.values()
            ]

    def attribute_definitions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._settings._definition_json(d) for d in self._settings.definitions.values()]

    def inbox_bot(self, inbox_id: int) -> int | None:
        """The id of the bot connected to ``inbox_id``, if any."""
        with self._lock:
            return self._settings.inbox_bots.get(inbox_id)

    def add_conversation(
        self,
        conversation_id: int,
        *,
        custom_attributes: Mapping[str, Any] | None = None,
        channel: str = "Channel::Api",
        inbox_id: int = 1,
        last_activity_at: float | None = None,
        status: str = "open",
        labels: Iterable[str] = (),
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        at = time.time() if last_activity_at is None else float(last_activity_at)
        conversation = _Conversation(
            id=conversation_id,
            channel=channel,
            custom_attributes=dict(custom_attributes or {}),
            inbox_id=inbox_id,
            status=status,
            created_at=at,
            last_activity_at=at,
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"conversation/{conversation_id}")),
            labels=list(labels),
        )
        with self._lock:
            self._forget(conversation_id)
            self._conversations[conversation_id] = conversation
            self._settings.inboxes.setdefault(inbox_id, f"Inbox {inbox_id}")
            self._touch(conversation, at)

    def label(self, conversation_id: int, *labels: str) -> None:
        """Set a conversation's labels, as an agent does (its last activity does not move)."""
        with self._lock:
            self._conversations[conversation_id].labels = list(labels)

    def remove_conversation(self, conversation_id: int) -> None:
        """Delete a conversation, as an administrator can: its calls answer 404 from now on."""
        with self._lock:
            self._forget(conversation_id)

    def add_message(
        self,
        conversation_id: int,
        *,
        message_type: int = 0,
        private: bool = False,
        content: str | None = None,
        attachments: Iterable[Mapping[str, Any]] = (),
        created_at: float | None = None,
        content_attributes: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a message (see the module docstring); the stored JSON, with its new id."""
        if isinstance(message_type, bool) or message_type not in (0, 1, 2, 3):
            raise ValueError("message_type must be 0 (incoming), 1, 2 or 3")
        with self._lock:
            conversation = self._conversations[conversation_id]
            message = self._store_message(
                conversation,
                message_type=message_type,
                private=private,
                content=content,
                content_type="text",
                content_attributes=dict(content_attributes or {}),
                attachments=attachments,
                sender=_DEFAULT_SENDERS[message_type],
                created_at=time.time() if created_at is None else float(created_at),
            )
            return copy.deepcopy(message)

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

    def calls(self, operation: Operation) -> int:
        """How many requests were made for ``operation`` (injected faults included)."""
        name = f"{operation[0]} {operation[1]}"
        return sum(request.operation == name for request in self.requests)

    @property
    def violations(self) -> list[str]:
        return [v for r in self.requests for v in r.violations]

    def notes(self, conversation_id: int) -> list[dict[str, Any]]:
        """The messages created through the API in a conversation (as Chatwoot stores them)."""
        with self._lock:
            conversation = self._conversations[conversation_id]
            created = set(conversation.created)
            return copy.deepcopy([m for m in conversation.messages if m["id"] in created])

    def messages(self, conversation_id: int) -> list[dict[str, Any]]:
        """Every message of a conversation, oldest first (as Chatwoot stores them)."""
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

    def _take_fault(self, target: str) -> _Fault | None:
        """The fault ``target`` (the request's path and query, ``/p?q``) triggers, if any."""
        path, _, query = target.partition("?")
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(path, query):
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

    # -- Chatwoot's state changes (the lock held) ---------------------------------------------

    def _touch(self, conversation: _Conversation, at: float) -> None:
        """``last_activity_at`` moves, as ``Message#set_conversation_activity`` moves it."""
        conversation.last_activity_at = at
        self._order.put(conversation.id, at)
        inbox = self._order_by_inbox.setdefault(conversation.inbox_id, _ActivityOrder())
        inbox.put(conversation.id, at)

    def _forget(self, conversation_id: int) -> None:
        old = self._conversations.pop(conversation_id, None)
        if old is not None:
            self._order.discard(conversation_id)
            self._order_by_inbox[old.inbox_id].discard(conversation_id)

    def _store_message(
        self,
        conversation: _Conversation,
        *,
        message_type: int,
        private: bool,
        content: str | None,
        content_type: str,
        content_attributes: dict[str, Any],
        attachments: Iterable[Mapping[str, Any]],
        sender: tuple[str, int] | None,
        created_at: float,
    ) -> dict[str, Any]:
        """A message as ``Message#push_event_data`` has it (without ``conversation``)."""
        self._next_message_id += 1
        message_id = self._next_message_id
        message: dict[str, Any] = {
            "id": message_id,
            "content": content,
            "account_id": self.account_id,
            "inbox_id": conversation.inbox_id,
            "conversation_id": conversation.id,
            "message_type": message_type,
            "created_at": int(created_at),
            "updated_at": _iso(created_at),
            "private": private,
            "status": "sent",
            "source_id": None,
            "content_type": content_type,
            "content_attributes": copy.deepcopy(content_attributes),
            "sender_type": None if sender is None else sender[0],
            "sender_id": None if sender is None else sender[1],
            "external_source_ids": {},
            "additional_attributes": {},
            "processed_message_content": content,
            "sentiment": {},
        }
        items = [self._attachment(item, message_id) for item in attachments]
        if items:
            message["attachments"] = items
        if sender is not None:
            message["sender"] = self._sender(*sender)
        position = bisect.bisect_right(conversation.order, (created_at, message_id))
        conversation.order.insert(position, (created_at, message_id))
        conversation.messages.insert(position, message)
        if message_type == 0 and conversation.status in ("resolved", "snoozed"):
            conversation.status = "open"  # Message#reopen_conversation
        self._touch(conversation, created_at)
        return message

    def _attachment(self, item: Mapping[str, Any], message_id: int) -> dict[str, Any]:
        """``Attachment#push_event_data``: the given keys, and the rest filled in."""
        file_type = item.get("file_type", "file")
        if "id" in item:
            attachment_id = item["id"]
        else:
            self._next_attachment_id += 1
            attachment_id = self._next_attachment_id
        data: dict[str, Any] = {
            "id": attachment_id,
            "message_id": message_id,
            "file_type": file_type,
            "account_id": self.account_id,
        }
        if file_type in _FILE_TYPES:
            data |= {
                "extension": None,
                "content_type": None,
                "data_url": "",
                "thumb_url": "",
                "file_size": 0,
                "width": None,
                "height": None,
            }
            if file_type == "audio":
                data["transcribed_text"] = ""
        extra = {k: v for k, v in item.items() if k not in ("id", "message_id", "account_id")}
        return data | copy.deepcopy(extra)

    def _sender(self, kind: str, sender_id: int) -> dict[str, Any]:
        """``push_event_data`` of a message's sender: a contact, a user or an agent bot."""
        if kind == "Contact":
            return {**copy.deepcopy(_CONTACT), "type": "contact"}
        if kind == "AgentBot":
            bot = self._settings.bots.get(sender_id)
            return dict(_BOT) if bot is None else {**_BOT, "id": bot.id, "name": bot.name}
        name = next((u.name for u in self._users.values() if u.id == sender_id), "User")
        return {
            "id": sender_id,
            "name": name,
            "available_name": name,
            "avatar_url": "",
            "type": "user",
            "availability_status": "online",
            "thumbnail": "",
        }

    # -- Chatwoot's views (the lock held) -----------------------------------------------------

    def _event_data(self, conversation: _Conversation, message: Mapping[str, Any]) -> Any:
        """``Message#push_event_data``: what a conversation's ``messages`` shows."""
        return {
            **copy.deepcopy(dict(message)),
            "conversation": {
                "assignee_id": None,
                "unread_count": 0,
                "last_activity_at": int(conversation.last_activity_at),
                "contact_inbox": {"source_id": conversation.uuid},
            },
        }

    @staticmethod
    def _message_json(message: Mapping[str, Any]) -> dict[str, Any]:
        """The ``api/v1/models/_message`` partial: messages#index and messages#create."""
        data = {
            key: copy.deepcopy(message[key])
            for key in (
                "id",
                "content",
                "inbox_id",
                "conversation_id",
                "message_type",
                "content_type",
                "status",
                "content_attributes",
                "created_at",
                "private",
                "source_id",
            )
        }
        for key in ("sender", "attachments"):
            if key in message:
                data[key] = copy.deepcopy(message[key])
        return data

    def _conversation_json(self, conversation: _Conversation) -> dict[str, Any]:
        """The ``api/v1/conversations/partials/_conversation`` partial: show and index."""
        created = int(conversation.created_at)
        activity = int(conversation.last_activity_at)
        latest = conversation.messages[-1] if conversation.messages else None
        non_activity = max(
            (m for m in conversation.messages if m["message_type"] != 2),
            key=lambda m: int(m["id"]),
            default=None,
        )
        return {
            "meta": {
                "sender": copy.deepcopy(_CONTACT),
                "channel": conversation.channel,
                "hmac_verified": False,
            },
            "id": conversation.id,
            "messages": [] if latest is None else [self._event_data(conversation, latest)],
            "account_id": self.account_id,
            "uuid": conversation.uuid,
            "additional_attributes": {},
            "agent_last_seen_at": created,
            "assignee_last_seen_at": 0,
            "can_reply": True,
            "contact_last_seen_at": created,
            "custom_attributes": copy.deepcopy(conversation.custom_attributes),
            "inbox_id": conversation.inbox_id,
            "labels": list(conversation.labels),
            "muted": False,
            "snoozed_until": None,
            "status": conversation.status,
            "created_at": created,
            "updated_at": conversation.last_activity_at,
            "timestamp": activity,
            "first_reply_created_at": 0,
            "unread_count": 0,
            "last_non_activity_message": (
                None if non_activity is None else self._event_data(conversation, non_activity)
            ),
            "last_activity_at": activity,
            "priority": None,
            "waiting_since": 0,
            "sla_policy_id": None,
        }

    def _conversation_list(self, user: _User, query: Mapping[str, str]) -> dict[str, Any]:
        """``ConversationFinder#perform`` for ``user``, rendered as ``index.json.jbuilder``."""
        status = query.get("status", "open")
        page = int(query.get("page", "1"))
        inbox_id = int(query["inbox_id"]) if "inbox_id" in query else None
        start = (page - 1) * CONVERSATIONS_PAGE
        order = self._order
        if inbox_id is not None:
            visible = user.sees(inbox_id)
            order = self._order_by_inbox.get(inbox_id, _ActivityOrder())
            if not visible:
                order = _ActivityOrder()
        if status == "all" and (inbox_id is not None or user.role == "administrator"):
            ids, count = order.page(start, CONVERSATIONS_PAGE), len(order)
        else:
            matching = [
                cid
                for cid in order.ids()
                if (status == "all" or self._conversations[cid].status == status)
                and user.sees(self._conversations[cid].inbox_id)
            ]
            ids, count = matching[start : start + CONVERSATIONS_PAGE], len(matching)
        return {
            "data": {
                "meta": {
                    "mine_count": 0,
                    "assigned_count": 0,
                    "unassigned_count": count,
                    "all_count": count,
                },
                "payload": [self._conversation_json(self._conversations[cid]) for cid in ids],
            }
        }

    def _message_list(
        self, conversation: _Conversation, query: Mapping[str, str]
    ) -> dict[str, Any]:
        """``MessageFinder#perform``, rendered as ``messages/index.json.jbuilder``."""
        messages = conversation.messages
        before = int(query["before"]) if "before" in query else None
        after = int(query["after"]) if "after" in query else None
        if after is not None and before is not None:
            chosen = [m for m in messages if after <= m["id"] < before][:MESSAGES_BETWEEN]
        elif before is not None:
            chosen = [m for m in messages if m["id"] < before][-MESSAGES_PAGE:]
        elif after is not None:
            chosen = [m for m in messages if m["id"] > after][:MESSAGES_AFTER]
        else:
            chosen = messages[-MESSAGES_PAGE:]
        return {
            "meta": {
                "labels": list(conversation.labels),
                "additional_attributes": {},
                "contact": {**copy.deepcopy(_CONTACT), "type": "contact"},
                "agent_last_seen_at": _iso(conversation.created_at),
                "assignee_last_seen_at": None,
            },
            "payload": [self._message_json(m) for m in chosen],
        }

    # -- requests -----------------------------------------------------------------------------

    @staticmethod
    def _operation(method: str, path: str) -> Operation | None:
        """The API operation a request is for (by its method and path), if any."""
        parts = path.strip("/").split("/")
        # api v1 accounts {a} conversations [{c} [messages|custom_attributes]]
        if len(parts) < 5 or parts[:3] != ["api", "v1", "accounts"] or parts[4] != "conversations":
            return None
        if len(parts) == 5:
            return LIST_CONVERSATIONS_OP if method == "GET" else None
        return {
            ("POST", "messages"): MESSAGES_OP,
            ("GET", "messages"): LIST_MESSAGES_OP,
            ("GET", ""): SHOW_OP,
            ("POST", "custom_attributes"): CUSTOM_ATTRIBUTES_OP,
        }.get((method, "/".join(parts[6:])))

    def _handle_api(
        self, method: str, path: str, query: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, Any, list[str], str | None]:
        """(status, JSON answer, violations, operation) for an /api/ request."""
        op = self._operation(method, path)
        if op is None:
            return self._handle_admin(method, path, query, headers, raw)
        operation = f"{op[0]} {op[1]}"
        parts = path.strip("/").split("/")
        ids = parts[3:4] if op == LIST_CONVERSATIONS_OP else [parts[3], parts[5]]
        if not all(_DIGITS.fullmatch(part) for part in ids):
            violation = f"{operation}: account_id and conversation_id must be integers"
            return 422, {"error": violation}, [violation], operation
        params, violations = _query(op, query)
        body, body_violations = self._checked(op, headers, raw)
        violations += body_violations
        if violations:
            return 422, {"error": "; ".join(violations)}, violations, operation

        # Api::BaseController, then Accounts::BaseController, then the controller's own
        token = headers.get("api_access_token") or ""
        user = self._users.get(token)
        bot = None if user is not None else self._settings.bot_for(token)
        if bot is None and user is None:
            return 401, {"error": "Invalid Access Token"}, [], operation
        if user is None and op not in BOT_OPERATIONS:
            return (
                401,
                {"error": "Access to this endpoint is not authorized for bots"},
                [],
                operation,
            )
        if int(parts[3]) != self.account_id:
            return 401, {"error": "You are not authorized to access this account"}, [], operation
        with self._lock:
            if op == LIST_CONVERSATIONS_OP:
                assert user is not None
                return 200, self._conversation_list(user, params), [], operation
            conversation = self._conversations.get(int(parts[5]))
            if conversation is None:
                return 404, {"error": "Resource could not be found"}, [], operation
            if user is not None and not user.sees(conversation.inbox_id):
                return 401, {"error": "You are not authorized to do this action"}, [], operation
            if op == SHOW_OP:
                return 200, self._conversation_json(conversation), [], operation
            if op == LIST_MESSAGES_OP:
                return 200, self._message_list(conversation, params), [], operation
            if op == MESSAGES_OP:
                sender = (
                    ("User", user.id) if user is not None else ("AgentBot", bot.id if bot else 1)
                )
                message = self._create_message(conversation, body, sender)
                return 200, self._message_json(message), [], operation
            conversation.custom_attributes = dict(body["custom_attributes"])  # replaced
            return (
                200,
                {"custom_attributes": copy.deepcopy(conversation.custom_attributes)},
                [],
                operation,
            )

    def _handle_admin(
        self, method: str, path: str, query: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, Any, list[str], str | None]:
        """The account's settings, the profile and the version (``chatwoot_admin``): the
        token, bots, the account, then the operation's own rules."""
        op = AccountSettings.operation(method, path)
        if op is None:
            return 404, {"error": "Not Found"}, [], None
        operation = f"{op[0]} {op[1]}"
        if op == VERSION_OP:
            with self._lock:
                status, answer = self._settings.version_answer()
            return status, answer, [], operation
        parts = path.strip("/").split("/")
        ids = [int(part) for part in parts[3:] if _DIGITS.fullmatch(part)]
        params = dict(parse_qsl(query, keep_blank_values=True))
        violations = []
        if op == admin.DEFINITIONS_OP:
            unknown = sorted(set(params) - {"attribute_model"})
            violations += [
                f"{operation}: the stand-in does not implement the query parameter {n!r}"
                for n in unknown
            ]
        body, body_violations = self._checked(op, headers, raw)
        violations += body_violations
        if violations:
            return 422, {"error": "; ".join(violations)}, violations, operation
        token = headers.get("api_access_token") or ""
        with self._lock:
            user = self._users.get(token)
            if user is None and self._settings.bot_for(token) is None:
                return 401, {"error": "Invalid Access Token"}, [], operation
            if user is None:
                denied = {"error": "Access to this endpoint is not authorized for bots"}
                return 401, denied, [], operation
            if op == PROFILE_OP:
                answer = profile_json(
                    user_id=user.id,
                    name=user.name,
                    role=user.role,
                    token=token,
                    account_id=self.account_id,
                )
                return 200, answer, [], operation
            if ids[0] != self.account_id:
                denied = {"error": "You are not authorized to access this account"}
                return 401, denied, [], operation
            status, answer = self._settings.handle(
                op, ids[1:], body, params, role=user.role, sees=user.sees
            )
            return status, answer, [], operation

    def _create_message(
        self, conversation: _Conversation, body: Mapping[str, Any], sender: tuple[str, int]
    ) -> dict[str, Any]:
        """``Messages::MessageBuilder`` for ``POST …/messages``."""
        attributes = body.get("content_attributes") or {}
        if not self.keep_unknown_content_attributes:
            attributes = {k: attributes[k] for k in KEPT_CONTENT_ATTRIBUTES if k in attributes}
        message = self._store_message(
            conversation,
            message_type=0 if body.get("message_type") == "incoming" else 1,
            private=bool(body.get("private", False)),
            content=body.get("content"),
            content_type=body.get("content_type", "text"),
            content_attributes=attributes,
            attachments=(),
            sender=sender,
            created_at=time.time(),
        )
        conversation.created.append(message["id"])
        return message

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
        if violations or op[0] not in ("POST", "PATCH"):
            return body, violations
        if not isinstance(body, dict):
            violations.append(f"{operation}: the request body must be a JSON object")
        elif op == CUSTOM_ATTRIBUTES_OP and not isinstance(body.get("custom_attributes"), dict):
            violations.append(f"{operation}: custom_attributes must be an object")
        return body, violations


def _query(op: Operation, query: str) -> tuple[dict[str, str], list[str]]:
    """The query parameters the stand-in reads for ``op``, and what is wrong with them: a
    parameter it does not implement, a repeated one, or a value Chatwoot would not read as
    meant (``page=abc`` is page 1 to Rails; here it is a mistake worth a 422)."""
    operation = f"{op[0]} {op[1]}"
    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    violations: list[str] = []
    if len(params) < len(pairs):
        violations.append(f"{operation}: a query parameter is repeated")
    numbers: tuple[str, ...] = ()
    if op == LIST_CONVERSATIONS_OP:
        known: tuple[str, ...] = ("status", "sort_by", "page", "inbox_id")
        numbers = ("page", "inbox_id")
        if params.get("status", "open") not in ("all", *STATUSES):
            violations.append(f"{operation}: status must be one of all, {', '.join(STATUSES)}")
        if params.get("sort_by", SORTS[0]) not in SORTS:
            violations.append(f"{operation}: the stand-in sorts only by {' or '.join(SORTS)}")
    elif op == LIST_MESSAGES_OP:
        known = ("before", "after")
        numbers = known
    else:
        known = tuple(params)  # the write-backs and show read no query: ignored, as by Rails
    violations += [
        f"{operation}: the stand-in does not implement the query parameter {name!r}"
        for name in params
        if name not in known
    ]
    violations += [
        f"{operation}: {name} must be a positive integer"
        for name in numbers
        if name in params and not (_DIGITS.fullmatch(params[name]) and int(params[name]) > 0)
    ]
    return params, violations


def _iso(at: float) -> str:
    """A Rails timestamp as JSON shows it: ``2026-06-17T10:15:00.123Z``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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
        fault = owner._take_fault(self.path)
        if fault is not None and fault.hang is not None:
            owner._release.wait(fault.hang)
            fault = None
        if fault is not None and fault.status is not None:
            op = owner._operation(method, path) or AccountSettings.operation(method, path)
            operation = None if op is None else f"{op[0]} {op[1]}"
            reply = _fault_reply(fault.status, fault.retry_after)
        elif path.startswith("/api/") or path.rstrip("/") == "/api":
            status, answer, violations, operation = owner._handle_api(
                method, path, query, headers, raw
            )
            reply = _Reply(status, {}, b"") if answer is NO_BODY else _json_reply(status, answer)
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


def _fault_reply(status: int, retry_after: float | None) -> _Reply:
    """An injected answer: a 429 as rack-attack's default throttled response, else JSON."""
    extra = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    if status == 429:
        return _Reply(429, {"Content-Type": "text/plain", **extra}, b"Retry later\n")
    return _json_reply(status, {"error": f"injected {status}"}, extra)


def _ascii_name(name: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)


__all__ = [
    "ADMIN_OPERATIONS",
    "BOT_OPERATIONS",
    "CONVERSATIONS_PAGE",
    "CUSTOM_ATTRIBUTES_OP",
    "LIST_CONVERSATIONS_OP",
    "LIST_MESSAGES_OP",
    "MESSAGES_OP",
    "MESSAGES_PAGE",
    "OPERATIONS",
    "SHOW_OP",
    "ChatwootStandIn",
    "Operation",
    "RecordedRequest",
    "RequestCheck",
]
