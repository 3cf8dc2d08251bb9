"""``POST /webhooks/chatwoot/{account_id}``: verify, record, enqueue, answer.

Nothing slow happens here: the body is read once under a size cap and handed, with the
signature headers and the arrival time, to the group-commit writer (``adapter.web.batcher``).
The writer takes every webhook waiting at that moment and, in a worker thread, on one
connection and in one transaction: reads their accounts in one query, checks each (account
enabled, HMAC over the exact bytes, JSON parsed only after that, the channel decision: pure
CPU), records the deliveries and their queued transcriptions with a fixed handful of multi-row
statements (``adapter.intake``), commits, sends one broker message per new transcription and
only then answers every request of the batch. Under load, one commit serves many webhooks;
alone, a webhook is written at once.

Failures stay with their webhook: a batch that fails for any reason but an unavailable database
is recorded again one webhook at a time; an unavailable database answers 503 to the whole batch
(a stale pooled connection is retried once first); nothing answers 500, nothing hangs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from adapter.errors import SecretError
from adapter.intake import Delivery, delivery_key, record_batch
from adapter.observability import metrics
from adapter.runtime import Runtime
from adapter.store import Account
from adapter.web.batcher import Batcher
from adapter.web.enqueue import send_many
from adapter.web.signing import SignatureError, verify
from channels import decide

log = logging.getLogger(__name__)

MAX_ACCOUNT_ID = 2**53


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    metric: str


def _error(status: int, message: str, metric: str) -> Outcome:
    return Outcome(status, {"error": message}, metric)


class _TooLarge(Exception):
    pass


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _TooLarge
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


_ACCOUNTS = Account.__table__  # type: ignore[attr-defined]
_secret_cache: dict[tuple[int, str, str | None], list[bytes]] = {}
_SECRET_CACHE_MAX = 4096


def _secrets(rt: Runtime, account_id: int, primary: str, previous: str | None) -> list[bytes]:
    """Decrypted webhook secrets, cached by their ciphertexts (a rotation changes the key)."""
    key = (account_id, primary, previous)
    found = _secret_cache.get(key)
    if found is None:
        found = [rt.keyring.decrypt(primary, what=f"account {account_id} webhook_secret").encode()]
        if previous:
            found.append(
                rt.keyring.decrypt(
                    previous, what=f"account {account_id} previous webhook_secret"
                ).encode()
            )
        if len(_secret_cache) >= _SECRET_CACHE_MAX:
            _secret_cache.clear()
        _secret_cache[key] = found
    return found


@dataclass(frozen=True, slots=True)
class Webhook:
    """One received webhook: what the intake writer needs, nothing of the HTTP layer."""

    account_id: int
    body: bytes
    signature: str | None
    timestamp: str | None
    delivery: str | None
    now: float  # the clock when it arrived, for the timestamp window


class _Unavailable(Exception):
    """The database cannot be written: every webhook of the batch gets 503."""


def _unavailable() -> Outcome:
    return _error(503, "database unavailable", "webhook.rejected.db_unavailable")


def _failed(webhook: Webhook) -> Outcome:
    return _error(503, "temporarily unavailable", "webhook.rejected.db_unavailable")


def process_batch(rt: Runtime, webhooks: Sequence[Webhook]) -> list[Outcome]:
    """Verify and record ``webhooks`` in one transaction, then enqueue their new transcriptions.

    Blocking (the group-commit writer runs it in a worker thread); one outcome per webhook, in
    order; never raises. The 202s are returned only after the commit and the enqueue.
    """
    outcomes, new_ids = _commit(rt, webhooks)
    _enqueue(rt, new_ids)
    return outcomes


def _commit(rt: Runtime, webhooks: Sequence[Webhook]) -> tuple[list[Outcome], list[int]]:
    """The batch in one transaction; if that fails on something other than the database being
    unavailable (one odd row, a bug), each webhook alone, so only the bad one fails."""
    try:
        return _transaction(rt, webhooks)
    except _Unavailable:
        return [_unavailable() for _ in webhooks], []
    except Exception:
        if len(webhooks) == 1:
            log.exception("could not record a delivery to account %s", webhooks[0].account_id)
            return [_failed(webhooks[0])], []
        log.exception("a batch of %d webhooks failed: recording them one by one", len(webhooks))
    outcomes: list[Outcome] = []
    new_ids: list[int] = []
    for position, webhook in enumerate(webhooks):
        try:
            [outcome], ids = _transaction(rt, [webhook])
        except _Unavailable:
            outcomes.extend(_unavailable() for _ in webhooks[position:])
            break
        except Exception:
            log.exception("could not record a delivery to account %s", webhook.account_id)
            outcome, ids = _failed(webhook), []
        outcomes.append(outcome)
        new_ids.extend(ids)
    return outcomes, new_ids


def _transaction(rt: Runtime, webhooks: Sequence[Webhook]) -> tuple[list[Outcome], list[int]]:
    """One connection, one transaction; raises ``_Unavailable`` when the database is."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with rt.db.begin() as conn:
                return _in_transaction(rt, conn, webhooks)
        except DBAPIError as exc:
            if attempt < _ATTEMPTS and (exc.connection_invalidated or _rolled_back(exc)):
                # a pooled connection the server had closed: again on a fresh one; a deadlock
                # or serialization failure with a concurrent writer: again, it will not recur
                continue
            if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
                log.error(
                    "database unavailable for %d webhooks: %s",
                    len(webhooks),
                    type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
                )
                raise _Unavailable from exc
            raise
        except SQLAlchemyTimeout as exc:  # no pooled connection came free
            log.error("database unavailable for %d webhooks: pool timeout", len(webhooks))
            raise _Unavailable from exc
    raise AssertionError("unreachable")


_ATTEMPTS = 3


def _rolled_back(exc: DBAPIError) -> bool:
    """PostgreSQL SQLSTATE class 40: deadlock detected, serialization failure."""
    return str(getattr(exc.orig, "sqlstate", "") or "").startswith("40")


_ACCOUNTS_BY_ID = select(
    _ACCOUNTS.c.id,
    _ACCOUNTS.c.enabled,
    _ACCOUNTS.c.webhook_secret_enc,
    _ACCOUNTS.c.webhook_secret_previous_enc,
).where(_ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))


def _in_transaction(
    rt: Runtime, conn: Connection, webhooks: Sequence[Webhook]
) -> tuple[list[Outcome], list[int]]:
    accounts = {
        int(row[0]): row
        for row in conn.execute(_ACCOUNTS_BY_ID, {"ids": sorted({w.account_id for w in webhooks})})
    }
    outcomes: list[Outcome | None] = []
    to_record: list[tuple[int, Delivery]] = []
    for index, webhook in enumerate(webhooks):
        checked = _check(rt, accounts.get(webhook.account_id), webhook)
        if isinstance(checked, Outcome):
            outcomes.append(checked)
        else:
            outcomes.append(None)
            to_record.append((index, checked))
    new_ids: list[int] = []
    if to_record:
        results = record_batch(conn, rt.keyring, [delivery for _, delivery in to_record])
        for (index, _), result in zip(to_record, results, strict=True):
            outcomes[index] = Outcome(
                202,
                {"status": result.status, "transcriptions": list(result.transcription_ids)},
                _ACCEPTED_METRICS[result.status],
            )
            new_ids.extend(result.new_ids)
    return [o if o is not None else _failed(webhooks[i]) for i, o in enumerate(outcomes)], new_ids


_ACCEPTED_METRICS = {status: f"webhook.{status}" for status in ("accepted", "duplicate", "ignored")}


def _check(rt: Runtime, account: Row[Any] | None, webhook: Webhook) -> Outcome | Delivery:
    """Account, signature, JSON, decision (pure CPU): a rejection, or the delivery to record."""
    account_id = webhook.account_id
    if account is None or not account.enabled:
        return _error(404, "unknown or disabled account", "webhook.rejected.unknown_account")
    try:
        secrets = _secrets(
            rt, account_id, account.webhook_secret_enc, account.webhook_secret_previous_enc
        )
    except SecretError as exc:
        log.error("%s", exc)
        return _error(503, "account secrets cannot be decrypted", "webhook.rejected.db_unavailable")
    try:
        verify(
            secrets,
            signature=webhook.signature,
            timestamp=webhook.timestamp,
            body=webhook.body,
            now=webhook.now,
        )
    except SignatureError as exc:
        reason = "stale" if exc.reason == "stale" else "signature"
        return _error(401, f"signature {exc.reason}", f"webhook.rejected.{reason}")
    try:
        payload = json.loads(webhook.body)
    except (ValueError, RecursionError):
        return _error(400, "body is not JSON", "webhook.rejected.bad_json")
    if not isinstance(payload, dict):
        return _error(400, "body is not a JSON object", "webhook.rejected.bad_json")
    return Delivery(account_id, delivery_key(webhook.delivery, webhook.body), decide(payload))


def _enqueue(rt: Runtime, transcription_ids: Sequence[int]) -> None:
    """One broker message (ids only) per new transcription, after the commit.

    A message that cannot be sent is logged: its row is committed as queued and the recovery
    sweep enqueues it again.
    """
    if transcription_ids:
        metrics.incr("transcription.queued", len(transcription_ids))
        send_many(rt.actors.transcribe, transcription_ids)


def make_endpoint(clock: Callable[[], float] = time.time) -> Callable[[Request], Any]:
    """The webhook endpoint; its work goes through one group-commit writer per runtime."""
    writer: tuple[Runtime, Batcher[Webhook, Outcome]] | None = None

    def batcher(rt: Runtime) -> Batcher[Webhook, Outcome]:
        nonlocal writer
        if writer is None or writer[0] is not rt:
            # PostgreSQL: while one batch waits for the database, a second one (once as big)
            # is checked and written on another connection. SQLite takes one writer at a time
            # anyway, and a second would fail its snapshot upgrade rather than wait.
            in_flight = 2 if rt.settings.database_url.startswith("postgresql") else 1
            writer = (rt, Batcher(partial(process_batch, rt), _failed, max_in_flight=in_flight))
        return writer[1]

    async def receive(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        metrics.incr("webhook.received")
        raw_id = request.path_params.get("account_id", "")
        if not raw_id.isascii() or not raw_id.isdigit() or not 0 < int(raw_id) < MAX_ACCOUNT_ID:
            metrics.incr("webhook.rejected.unknown_account")
            return JSONResponse({"error": "unknown or disabled account"}, status_code=404)
        try:
            body = await _read_capped(request, rt.settings.max_webhook_bytes)
        except _TooLarge:
            metrics.incr("webhook.rejected.too_large")
            return JSONResponse({"error": "body too large"}, status_code=413)
        except ClientDisconnect:
            return Response(status_code=400)
        headers = request.headers
        webhook = Webhook(
            int(raw_id),
            body,
            headers.get("x-chatwoot-signature"),
            headers.get("x-chatwoot-timestamp"),
            headers.get("x-chatwoot-delivery"),
            clock(),
        )
        try:
            outcome = await batcher(rt).submit(webhook)
        except Exception:
            log.exception("unexpected error in the webhook receiver")
            outcome = _failed(webhook)
        metrics.incr(outcome.metric)
        return JSONResponse(outcome.body, status_code=outcome.status)

    return receive


__all__ = ["Outcome", "Webhook", "make_endpoint", "process_batch"]
