"""``POST /webhooks/chatwoot/{account_id}``: verify, record, enqueue, answer.

Nothing slow happens here: the body is read once under a size cap, the HMAC is checked over
the exact bytes, JSON is parsed only after that, and the work is one short transaction plus
one broker message per new attachment.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from adapter.errors import SecretError
from adapter.intake import delivery_key, record
from adapter.observability import metrics
from adapter.runtime import Runtime
from adapter.store import Account
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
            found.append(rt.keyring.decrypt(
                previous, what=f"account {account_id} previous webhook_secret").encode())
        if len(_secret_cache) >= _SECRET_CACHE_MAX:
            _secret_cache.clear()
        _secret_cache[key] = found
    return found


def process(
    rt: Runtime,
    account_id: int,
    body: bytes,
    *,
    signature: str | None,
    timestamp: str | None,
    delivery: str | None,
    now: float,
) -> Outcome:
    """The synchronous part, run in a worker thread: one connection, one transaction."""
    for attempt in (1, 2):
        try:
            with rt.db.begin() as conn:
                outcome, new_ids = _in_transaction(
                    rt, conn, account_id, body, signature=signature, timestamp=timestamp,
                    delivery=delivery, now=now)
            break
        except DBAPIError as exc:
            if attempt == 1 and exc.connection_invalidated:
                continue  # a pooled connection the server had closed: once more on a fresh one
            log.exception("database unavailable for a delivery to account %s", account_id)
            return _error(503, "database unavailable", "webhook.rejected.db_unavailable")
        except SQLAlchemyError:
            log.exception("database unavailable for a delivery to account %s", account_id)
            return _error(503, "database unavailable", "webhook.rejected.db_unavailable")
    for transcription_id in new_ids:
        metrics.incr("transcription.queued")
        try:
            rt.actors.transcribe.send(transcription_id)
        except Exception:
            # the row is committed as queued: the recovery sweep enqueues it again
            log.exception("could not enqueue transcription %s", transcription_id)
    return outcome


def _in_transaction(
    rt: Runtime,
    conn: Connection,
    account_id: int,
    body: bytes,
    *,
    signature: str | None,
    timestamp: str | None,
    delivery: str | None,
    now: float,
) -> tuple[Outcome, tuple[int, ...]]:
    account = conn.execute(
        select(_ACCOUNTS.c.enabled, _ACCOUNTS.c.webhook_secret_enc,
               _ACCOUNTS.c.webhook_secret_previous_enc).where(_ACCOUNTS.c.id == account_id)
    ).first()
    if account is None or not account.enabled:
        return _error(404, "unknown or disabled account", "webhook.rejected.unknown_account"), ()
    try:
        secrets = _secrets(rt, account_id, account.webhook_secret_enc,
                           account.webhook_secret_previous_enc)
    except SecretError as exc:
        log.error("%s", exc)
        return _error(503, "account secrets cannot be decrypted",
                      "webhook.rejected.db_unavailable"), ()
    try:
        verify(secrets, signature=signature, timestamp=timestamp, body=body, now=now)
    except SignatureError as exc:
        reason = "stale" if exc.reason == "stale" else "signature"
        return _error(401, f"signature {exc.reason}", f"webhook.rejected.{reason}"), ()
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return _error(400, "body is not JSON", "webhook.rejected.bad_json"), ()
    if not isinstance(payload, dict):
        return _error(400, "body is not a JSON object", "webhook.rejected.bad_json"), ()
    decision = decide(payload)
    result = record(conn, rt.keyring, account_id, delivery_key(delivery, body), decision)
    outcome = Outcome(
        202,
        {"status": result.status, "transcriptions": list(result.transcription_ids)},
        f"webhook.{result.status}",
    )
    return outcome, result.new_ids


def make_endpoint(clock: Callable[[], float] = time.time) -> Callable[[Request], Any]:
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
        try:
            outcome = await to_thread.run_sync(
                lambda: process(
                    rt,
                    int(raw_id),
                    body,
                    signature=headers.get("x-chatwoot-signature"),
                    timestamp=headers.get("x-chatwoot-timestamp"),
                    delivery=headers.get("x-chatwoot-delivery"),
                    now=clock(),
                )
            )
        except Exception:
            log.exception("unexpected error in the webhook receiver")
            outcome = _error(503, "temporarily unavailable", "webhook.rejected.db_unavailable")
        metrics.incr(outcome.metric)
        return JSONResponse(outcome.body, status_code=outcome.status)

    return receive


__all__ = ["Outcome", "make_endpoint", "process"]
