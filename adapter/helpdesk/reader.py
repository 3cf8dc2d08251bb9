"""Reading Chatwoot's listings: the conversations active since a time, and their messages.

The reconciler and the ``backfill`` command walk an account with this::

    pacer = Pacer(settings.chatwoot_requests_per_second)
    reader = ChatwootReader(client, base_url=url, account_id=7, token=user_token, pacer=pacer)
    for conversation in reader.conversations(since=start):          # newest activity first
        try:
            for message in reader.messages(conversation.id, since=start):
                ...                                      # message["attachments"], …
        except HelpdeskNotFound:
            continue                                     # deleted while we were reading
    log.info("%d requests", reader.requests)

What Chatwoot serves, and so what the walk relies on (``ConversationFinder``,
``MessageFinder``, ``Message#set_conversation_activity``):

- ``GET …/conversations?status=all&sort_by=last_activity_at_desc&page=N``: 25 a page, newest
  activity first. Every message (notes and activity messages too) moves its conversation's
  ``last_activity_at`` to its own ``created_at``, so the first entry older than ``since`` ends
  the walk: everything after it is older still. An empty or short page ends it too.
  ``inbox_ids`` walks each inbox with ``inbox_id=``: an agent's token lists only the agent's
  inboxes, so naming them is how a restricted token reads what it may.
- ``GET …/conversations/{id}/messages``: the latest 20, oldest first; ``before=ID`` the 20
  before it. Pages are read back in time while a page is full and its oldest message is still
  in the window.

Both need a user's access token (an administrator's, or an agent's for the agent's inboxes):
Chatwoot answers an agent bot's token 401, which raises :class:`HelpdeskTokenRejected` at once.

Failures. 429, 5xx, 408, timeouts and connection errors (``HelpdeskUnavailable``) are retried
up to ``max_tries`` times in all, sleeping the server's Retry-After when it gives one (at most
:data:`MAX_RETRY_AFTER` seconds), else 1, 2, 4 … seconds up to ``max_backoff``; each retry is
logged at WARNING, and the last error is raised when the tries are spent. 401/403
(``HelpdeskTokenRejected``), 404 (``HelpdeskNotFound``) and everything else permanent raise at
once. A page that is not ``{"data": {"payload": [...]}}`` (or ``{"payload": [...]}`` for
messages) raises ``HelpdeskRejected``; an entry that is unusable (not an object, no positive
integer id, for a conversation no usable ``last_activity_at``) is skipped with a WARNING that
says why. Nothing here logs or raises the token.

Limits of page numbers on a live account: a conversation that becomes active during the walk
moves to page 1, pushing the others down by one, so an entry can come round again (repeats of
the previous page are dropped) while the moved conversation itself is not listed again in this
walk (``adapter.scan.walk`` lists what became active during the walk once more, at its end); a
conversation deleted during the walk pulls the others up by one, so one entry can be missed.
A server that ignores ``page=`` or ``before=`` raises ``HelpdeskRejected`` instead of passing
for a complete walk.

Memory: one page at a time (both methods are generators), and the ids of the previous page.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from adapter.errors import HelpdeskRejected, HelpdeskUnavailable
from adapter.helpdesk.chatwoot import ChatwootClient

log = logging.getLogger(__name__)

#: conversations a listing page holds (Kaminari's default, which ConversationFinder pages by)
CONVERSATIONS_PAGE = 25
#: messages a page holds without ``after`` (MessageFinder's latest and ``before=``)
MESSAGES_PAGE = 20
#: the longest Retry-After we honour; a longer one is cut to this
MAX_RETRY_AFTER = 300.0
#: ids and timestamps beyond this are not Chatwoot's (its ids are PostgreSQL integers)
_MAX_ID = 2**63 - 1
_MAX_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z

_T = TypeVar("_T")


@dataclass(frozen=True)
class ListedConversation:
    """One entry of the conversation listing."""

    id: int  # display id (the one the URLs take)
    inbox_id: int | None
    last_activity_at: float  # Unix seconds
    channel: str | None  # meta.channel, e.g. "Channel::Whatsapp"
    raw: Mapping[str, Any] = field(repr=False, compare=False)  # the entry as Chatwoot sent it


class Pacer:
    """At most ``rate`` calls a second (0: no limit); thread-safe.

    Each ``wait()`` takes the next free slot, ``1 / rate`` seconds after the previous one, and
    sleeps until it (outside the lock, so waiting threads queue in order without holding it).
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(rate, bool) or not math.isfinite(rate) or rate < 0:
            raise ValueError("rate must be a finite number of calls a second, at least 0")
        self.rate = float(rate)
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: float | None = None

    def __repr__(self) -> str:
        return f"Pacer(rate={self.rate:g})"

    def wait(self) -> None:
        if self._interval == 0.0:
            return
        with self._lock:
            now = self._clock()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


class ChatwootReader:
    """Pages through one Chatwoot account's listings (see the module docstring).

    For one thread at a time (``requests`` is a plain counter); readers in several threads
    share one :class:`Pacer` and one :class:`ChatwootClient`.
    """

    def __init__(
        self,
        client: ChatwootClient,
        *,
        base_url: str,
        account_id: int,
        token: str,
        pacer: Pacer,
        max_tries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        max_backoff: float = 60.0,
    ) -> None:
        if isinstance(max_tries, bool) or not isinstance(max_tries, int) or max_tries < 1:
            raise ValueError("max_tries must be an int of at least 1")
        if not math.isfinite(max_backoff) or max_backoff < 0:
            raise ValueError("max_backoff must be a finite number of seconds, at least 0")
        self.client = client
        self.base_url = base_url
        self.account_id = account_id
        self.pacer = pacer
        self.max_tries = max_tries
        self.max_backoff = float(max_backoff)
        #: API calls made so far, retries included
        self.requests = 0
        self._token = token
        self._sleep = sleep

    def __repr__(self) -> str:
        return (
            f"ChatwootReader(account_id={self.account_id}, requests={self.requests}, "
            f"pacer={self.pacer!r})"
        )

    # -- conversations --------------------------------------------------------------------

    def conversations(
        self, *, since: float, inbox_ids: Sequence[int] = ()
    ) -> Iterator[ListedConversation]:
        """The conversations active at or after ``since`` (Unix seconds), newest activity first;
        with ``inbox_ids``, those of each inbox in turn (each newest first)."""
        if inbox_ids:
            for inbox_id in dict.fromkeys(inbox_ids):
                yield from self._walk(since, inbox_id)
        else:
            yield from self._walk(since, None)

    def _walk(self, since: float, inbox_id: int | None) -> Iterator[ListedConversation]:
        previous: set[int] = set()
        page = 1
        while True:
            where = f"page {page}" if inbox_id is None else f"page {page} of inbox {inbox_id}"
            listing = partial(
                self.client.list_conversations,
                self.base_url,
                self.account_id,
                self._token,
                page=page,
                inbox_id=inbox_id,
            )
            answer = self._call(listing)
            entries = _listing_payload(answer, self.account_id, where)
            seen: set[int] = set()
            for position, entry in enumerate(entries, 1):
                conversation = self._conversation(entry, f"entry {position} of {where}")
                if conversation is None:
                    continue
                if conversation.last_activity_at < since:
                    return
                seen.add(conversation.id)
                if conversation.id not in previous:  # pushed down a page by new activity
                    yield conversation
            if len(entries) < CONVERSATIONS_PAGE:
                return
            if seen and seen <= previous:
                # stopping quietly would pass the scan as complete and move its watermark
                raise HelpdeskRejected(
                    f"Chatwoot account {self.account_id}: {where} repeats the page before it "
                    "(does the server ignore page=?); the scan cannot go on"
                )
            previous = seen
            page += 1

    def _conversation(self, entry: Any, where: str) -> ListedConversation | None:
        """The listing entry, or None (logged) when it cannot be used."""
        problem = None
        if not isinstance(entry, Mapping):
            problem = f"is {_kind(entry)}, not an object"
        else:
            conversation_id = _positive_id(entry.get("id"))
            activity = _timestamp(entry.get("last_activity_at"))
            if conversation_id is None:
                problem = f"has no usable id ({_kind(entry.get('id'))})"
            elif activity is None:
                problem = (
                    f"(conversation {conversation_id}) has no usable last_activity_at "
                    f"({_kind(entry.get('last_activity_at'))})"
                )
            else:
                meta = entry.get("meta")
                channel = meta.get("channel") if isinstance(meta, Mapping) else None
                return ListedConversation(
                    id=conversation_id,
                    inbox_id=_positive_id(entry.get("inbox_id")),
                    last_activity_at=activity,
                    channel=channel if isinstance(channel, str) else None,
                    raw=entry,
                )
        log.warning(
            "Chatwoot account %s: skipping %s of the conversation listing: it %s",
            self.account_id,
            where,
            problem,
        )
        return None

    # -- messages -------------------------------------------------------------------------

    def messages(self, conversation_id: int, *, since: float) -> Iterator[Mapping[str, Any]]:
        """The conversation's messages created at or after ``since`` (Unix seconds): the latest
        page first, each page oldest first, then the pages before it while they are in the
        window. Messages without a usable ``created_at`` are yielded too (the caller decides);
        entries without a positive integer ``id`` are skipped with a WARNING.
        ``HelpdeskNotFound`` when the conversation is gone."""
        before: int | None = None
        while True:
            where = (
                f"the latest messages of conversation {conversation_id}"
                if before is None
                else f"the messages before {before} of conversation {conversation_id}"
            )
            listing = partial(
                self.client.list_messages,
                self.base_url,
                self.account_id,
                conversation_id,
                self._token,
                before=before,
            )
            answer = self._call(listing)
            entries = _messages_payload(answer, self.account_id, where)
            ids: list[int] = []
            times: list[float] = []
            for position, entry in enumerate(entries, 1):
                message_id = _positive_id(entry.get("id")) if isinstance(entry, Mapping) else None
                if message_id is None or not isinstance(entry, Mapping):
                    what = (
                        f"is {_kind(entry)}, not an object"
                        if not isinstance(entry, Mapping)
                        else f"has no usable id ({_kind(entry.get('id'))})"
                    )
                    log.warning(
                        "Chatwoot account %s: skipping message %d of %s: it %s",
                        self.account_id,
                        position,
                        where,
                        what,
                    )
                    continue
                if before is not None and message_id >= before:
                    continue  # not before what we asked for: seen already
                ids.append(message_id)
                created = _timestamp(entry.get("created_at"))
                if created is not None:
                    times.append(created)
                    if created < since:
                        continue
                yield entry
            if len(entries) < MESSAGES_PAGE or (times and min(times) < since):
                return
            if not ids:
                raise HelpdeskRejected(
                    f"Chatwoot account {self.account_id}: {where} is a full page with nothing "
                    "older than before= (does the server ignore before=?); the conversation "
                    "cannot be read back further"
                )
            before = min(ids)

    # -- retries --------------------------------------------------------------------------

    def _call(self, request: Callable[[], _T]) -> _T:
        """``request()`` paced, counted, and retried while Chatwoot is unavailable (the error's
        message says what was being done: the client puts it there)."""
        for attempt in range(1, self.max_tries + 1):
            self.pacer.wait()
            self.requests += 1
            try:
                return request()
            except HelpdeskUnavailable as exc:
                if attempt == self.max_tries:
                    raise
                delay = self._delay(exc, attempt)
                log.warning(
                    "Chatwoot account %s: try %d of %d failed, trying again in %.3g s: %s",
                    self.account_id,
                    attempt,
                    self.max_tries,
                    delay,
                    exc,
                )
                self._sleep(delay)
        raise AssertionError("unreachable: the last try returns or raises")

    def _delay(self, exc: HelpdeskUnavailable, attempt: int) -> float:
        if exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER)
        return float(min(2.0 ** (attempt - 1), self.max_backoff))


def _listing_payload(answer: Mapping[str, Any], account_id: int, where: str) -> list[Any]:
    data = answer.get("data")
    payload = data.get("payload") if isinstance(data, Mapping) else None
    if not isinstance(payload, list):
        raise HelpdeskRejected(
            f"Chatwoot's conversation listing of account {account_id} ({where}) has no "
            "data.payload list: is the URL a Chatwoot of a version this adapter reads?"
        )
    return payload


def _messages_payload(answer: Mapping[str, Any], account_id: int, where: str) -> list[Any]:
    payload = answer.get("payload")
    if not isinstance(payload, list):
        raise HelpdeskRejected(
            f"Chatwoot's answer with {where} in account {account_id} has no payload list"
        )
    return payload


def _positive_id(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        return None
    return value


def _timestamp(value: object) -> float | None:
    """Unix seconds from an int or float Chatwoot sent; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return seconds if 0 <= seconds <= _MAX_TIME else None


def _kind(value: object) -> str:
    """What a JSON value is, for a log line (never the value: it came from the network)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number out of range"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


__all__ = [
    "CONVERSATIONS_PAGE",
    "MAX_RETRY_AFTER",
    "MESSAGES_PAGE",
    "ChatwootReader",
    "ListedConversation",
    "Pacer",
]
