"""``POST /webhooks/chatwoot/{account_id}``: verify, record, enqueue, answer.

Before the body is read, what needs no body is refused, cheapest first, with ``Connection:
close`` (the unread body is never parsed): an account id that is not one (404), a declared
``Content-Length`` over the limit (413), signature headers missing, malformed or stale (401,
``sansio.precheck``), an account not known to be enabled (404, :class:`KnownAccounts`). So
only a request with well-formed, fresh signature headers for an enabled account has its body
read. Such headers can be made up without the secret (the signature is checked over the
body), so what stalled bodies can hold is bounded by the connection cap times the body limit,
for at most the request deadline (``adapter.web.server``; the README says so).

The endpoint reads the body once under a size cap and hands it, with the headers and the
arrival time, to the group-commit writer (``adapter.web.batcher``). The writer takes every
webhook waiting at that moment and, in a worker thread: reads their accounts' secrets in one
query, runs the sans-I/O core on each (``adapter.web.sansio.parse_webhook``: signature over
the exact bytes, JSON, the channel decision), records the accepted deliveries and their queued
transcriptions in one transaction (``Ledger.record``), sends one broker message per new
transcription and only then answers every request of the batch. Under load, one commit serves
many webhooks; alone, a webhook is written at once.

Failures stay with their webhook: a batch that fails for any reason but an unavailable database
is recorded again one webhook at a time; an unavailable database answers 503 to the whole batch.
Nothing answers 500, nothing hangs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from anyio import to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from adapter.accounts import open_secret
from adapter.controls import LABEL_REASON, controls_of
from adapter.errors import SecretError
from adapter.observability import Metric, metrics
from adapter.runtime import Runtime
from adapter.store import Delivery, IntakeResult, StoreUnavailable, WebhookSecrets
from adapter.web.batcher import Batcher
from adapter.web.body import BodyTooLarge, declared_too_large, read_capped
from adapter.web.sansio import TOO_LARGE, UNKNOWN_ACCOUNT, Rejection, parse_webhook, precheck

log = logging.getLogger(__name__)

MAX_ACCOUNT_ID = 2**53
_SECRET_CACHE_MAX = 4096


@dataclass(frozen=True)
class Outcome:
    """The answer to one webhook."""

    status: int
    body: dict[str, Any]
    metric: Metric


def _rejected(rejection: Rejection) -> Outcome:
    return Outcome(rejection.status, {"error": rejection.message}, rejection.metric)


UNAVAILABLE = Outcome(
    503, {"error": "database unavailable"}, Metric.WEBHOOK_REJECTED_DB_UNAVAILABLE
)
FAILED = Outcome(503, {"error": "temporarily unavailable"}, Metric.WEBHOOK_REJECTED_DB_UNAVAILABLE)
NO_SECRETS = Outcome(
    503, {"error": "account secrets cannot be decrypted"}, Metric.WEBHOOK_REJECTED_DB_UNAVAILABLE
)
_ACCEPTED_METRICS = {
    "accepted": Metric.WEBHOOK_ACCEPTED,
    "duplicate": Metric.WEBHOOK_DUPLICATE,
    "ignored": Metric.WEBHOOK_IGNORED,
}


def _recorded(result: IntakeResult) -> Outcome:
    body = {"status": result.status, "transcriptions": list(result.transcription_ids)}
    return Outcome(202, body, _ACCEPTED_METRICS[result.status])


@dataclass(frozen=True, slots=True)
class Webhook:
    """One received webhook: what the writer needs, nothing of the HTTP layer."""

    account_id: int
    body: bytes
    headers: Mapping[str, str]
    now: float  # the clock when it arrived, for the timestamp window


class SecretCache:
    """Decrypted webhook secrets, keyed by their ciphertexts (a rotation changes the key)."""

    def __init__(self) -> None:
        self._found: dict[tuple[int, str, str | None], list[bytes]] = {}

    def get(self, rt: Runtime, account: WebhookSecrets) -> list[bytes]:
        key = (account.account_id, account.secret_enc, account.previous_enc)
        found = self._found.get(key)
        if found is None:
            # the previous secret is that field's older value: sealed with the same label
            found = [
                open_secret(rt.keyring, account.account_id, "webhook_secret", token).encode()
                for token in (account.secret_enc, account.previous_enc)
                if token
            ]
            if len(self._found) >= _SECRET_CACHE_MAX:
                self._found.clear()
            self._found[key] = found
        return found


class KnownAccounts:
    """The accounts this process believes enabled, so that a webhook to any other is refused
    before its body is read.

    It only ever saves a query, never decides alone: an account in it may have been disabled
    since (the batch reads every account again, answers 404 and forgets it); an account not in
    it is looked up at once, one query by primary key, before the answer is 404, so a new or
    re-enabled account is never refused. It holds enabled ids only: its size is the number
    of enabled accounts, whatever ids are tried. At most ``LOOKUPS`` look-ups run at once: a
    flood of webhooks to made-up ids waits its turn (each bounded by the request deadline)
    instead of taking every database connection and worker thread from the real ones.
    """

    LOOKUPS = 2

    def __init__(self) -> None:
        self._enabled: set[int] = set()
        self._lookups = asyncio.Semaphore(self.LOOKUPS)

    def seen(self, asked: Iterable[int], found: Mapping[int, WebhookSecrets]) -> None:
        """What a read of the accounts ``asked`` for ``found`` (enabled or not, or absent)."""
        for account_id in asked:
            account = found.get(account_id)
            if account is not None and account.enabled:
                self._enabled.add(account_id)
            else:
                self._enabled.discard(account_id)

    async def enabled(self, rt: Runtime, account_id: int) -> bool:
        """Whether ``account_id`` is an enabled account (``StoreUnavailable``)."""
        if account_id in self._enabled:
            return True
        async with self._lookups:
            if account_id in self._enabled:  # a look-up while this one waited found it
                return True
            found = await to_thread.run_sync(rt.accounts.webhook_secrets, [account_id])
        self.seen([account_id], found)
        return account_id in self._enabled


def process_batch(
    rt: Runtime,
    webhooks: Sequence[Webhook],
    cache: SecretCache | None = None,
    known: KnownAccounts | None = None,
) -> list[Outcome]:
    """Verify and record ``webhooks``, then enqueue their new transcriptions.

    Blocking (the writer runs it in a worker thread); one outcome per webhook, in order; never
    raises. The 202s are returned only after the commit and the enqueue. ``known`` learns
    which of the batch's accounts are enabled.
    """
    try:
        accounts = rt.accounts.webhook_secrets(w.account_id for w in webhooks)
    except StoreUnavailable as exc:
        log.error("%s: %d webhooks answered 503", exc, len(webhooks))
        return [UNAVAILABLE for _ in webhooks]
    if known is not None:
        known.seen((w.account_id for w in webhooks), accounts)
    cache = cache or SecretCache()
    checked = [_check(rt, cache, accounts.get(w.account_id), w) for w in webhooks]
    outcomes, new_ids, reads = _record(rt, checked)
    if new_ids:
        metrics.incr(Metric.TRANSCRIPTION_QUEUED, len(new_ids))
        rt.queue.transcribe_many(new_ids)
    for account_id, conversation_id in reads:
        rt.queue.on_demand(account_id, conversation_id)
    return outcomes


def _check(
    rt: Runtime, cache: SecretCache, account: WebhookSecrets | None, webhook: Webhook
) -> Outcome | Delivery:
    """A rejection, or the delivery to record (pure CPU but for the secrets' decryption)."""
    if account is None or not account.enabled:
        return _rejected(UNKNOWN_ACCOUNT)
    try:
        secrets = cache.get(rt, account)
    except SecretError as exc:
        log.error("%s", exc)
        return NO_SECRETS
    wanted = controls_of(account.inbox_ids, account.mode, None, None)
    parsed = parse_webhook(
        webhook.account_id,
        webhook.headers,
        webhook.body,
        secrets,
        webhook.now,
        wanted,
        max_attachments=rt.settings.max_attachments,
    )
    return _rejected(parsed) if isinstance(parsed, Rejection) else parsed


Group = list[tuple[int, Delivery]]


def _record(
    rt: Runtime, checked: list[Outcome | Delivery]
) -> tuple[list[Outcome], list[int], list[tuple[int, int]]]:
    """Record the deliveries in one transaction; if that fails on something other than the
    database being unavailable (one odd row, a bug), each alone, so only the bad one fails.
    The outcomes, the new transcriptions, and the (account, conversation) an on-demand label
    asks to read."""
    deliveries: Group = [(i, d) for i, d in enumerate(checked) if isinstance(d, Delivery)]
    outcomes = [c if isinstance(c, Outcome) else FAILED for c in checked]
    if not deliveries:
        return outcomes, [], []
    first = _try_record(rt, deliveries)
    if first is FAILED and len(deliveries) > 1:
        log.error("a batch of %d deliveries failed: recording them one by one", len(deliveries))
        attempts = [([item], _try_record(rt, [item])) for item in deliveries]
    else:
        attempts = [(deliveries, first)]
    new_ids: list[int] = []
    reads: list[tuple[int, int]] = []
    for group, result in attempts:
        for position, (index, delivery) in enumerate(group):
            if isinstance(result, Outcome):
                outcomes[index] = result
                continue
            outcomes[index] = _recorded(result[position])
            new_ids.extend(result[position].new_ids)
            decision = delivery.decision
            if decision.reason == LABEL_REASON and result[position].status == "accepted":
                assert decision.conversation_id is not None
                reads.append((delivery.account_id, decision.conversation_id))
    return outcomes, new_ids, reads


def _try_record(rt: Runtime, group: Group) -> list[IntakeResult] | Outcome:
    """The group's results, or the one outcome every delivery of it gets (503)."""
    try:
        return rt.ledger.record([d for _, d in group], rt.keyring.seal_url)
    except StoreUnavailable as exc:
        log.error("%s: %d webhooks answered 503", exc, len(group))
        return UNAVAILABLE
    except Exception:
        log.exception("could not record %d deliveries", len(group))
        return FAILED


def make_endpoint(clock: Callable[[], float] = time.time) -> Callable[[Request], Any]:
    """The webhook endpoint; its work goes through one group-commit writer per runtime."""
    writer: tuple[Runtime, Batcher[Webhook, Outcome]] | None = None
    cache = SecretCache()
    known = KnownAccounts()

    def batcher(rt: Runtime) -> Batcher[Webhook, Outcome]:
        nonlocal writer
        if writer is None or writer[0] is not rt:
            # PostgreSQL: while one batch waits for the database, a second one (once as big)
            # is checked and written on another connection. SQLite takes one writer at a time
            # anyway, and a second would fail its snapshot upgrade rather than wait.
            in_flight = 2 if rt.settings.database_url.startswith("postgresql") else 1
            handle = partial(process_batch, rt, cache=cache, known=known)
            writer = (rt, Batcher(handle, lambda _: FAILED, max_in_flight=in_flight))
        return writer[1]

    async def receive(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        metrics.incr(Metric.WEBHOOK_RECEIVED)
        arrived = clock()
        early = await _before_the_body(rt, known, request, arrived)
        if early is not None:
            return _answer(early, close=True)
        try:
            body = await read_capped(request, rt.settings.max_webhook_bytes)
        except BodyTooLarge:
            return _answer(_rejected(TOO_LARGE), close=True)
        except ClientDisconnect:
            return Response(status_code=400)
        webhook = Webhook(int(request.path_params["account_id"]), body, request.headers, arrived)
        try:
            outcome = await batcher(rt).submit(webhook)
        except Exception:
            log.exception("unexpected error in the webhook receiver")
            outcome = FAILED
        return _answer(outcome)

    return receive


async def _before_the_body(
    rt: Runtime, known: KnownAccounts, request: Request, now: float
) -> Outcome | None:
    """The answer to a webhook that can be refused before its body is read, cheapest check
    first (module docstring); None: read the body."""
    raw_id = request.path_params.get("account_id", "")
    if not raw_id.isascii() or not raw_id.isdigit() or not 0 < int(raw_id) < MAX_ACCOUNT_ID:
        return _rejected(UNKNOWN_ACCOUNT)
    if declared_too_large(request, rt.settings.max_webhook_bytes):
        return _rejected(TOO_LARGE)
    unsigned = precheck(request.headers, now)
    if unsigned is not None:
        return _rejected(unsigned)
    try:
        enabled = await known.enabled(rt, int(raw_id))
    except StoreUnavailable as exc:
        log.error("%s: a webhook answered 503", exc)
        return UNAVAILABLE
    return None if enabled else _rejected(UNKNOWN_ACCOUNT)


def _answer(outcome: Outcome, *, close: bool = False) -> Response:
    """The outcome as JSON; ``close``: the body was not read, so the connection is closed
    after the answer rather than parse what the client still sends."""
    metrics.incr(outcome.metric)
    headers = {"connection": "close"} if close else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


__all__ = [
    "KnownAccounts",
    "Outcome",
    "SecretCache",
    "Webhook",
    "make_endpoint",
    "process_batch",
]
