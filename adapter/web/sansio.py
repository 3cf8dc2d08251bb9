"""A Chatwoot webhook, from bytes to a decision, without I/O (as gidgethub's ``sansio``).

``parse_webhook(headers, body, secrets, now)`` is a pure function: no database, network or
clock inside. It verifies the signature over the exact bytes (``adapter.web.signing``), parses
the JSON only after that, asks ``channels.decide`` which attachments to transcribe and
``adapter.controls`` what the account wants of them (its inboxes, on-demand mode). It
returns a :class:`Delivery` to record, or a :class:`Rejection` carrying the HTTP status::

    secrets None (unknown or disabled account) → 404
    signature missing, malformed, wrong        → 401     timestamp outside ±300 s → 401
    body not JSON, or not a JSON object        → 400
    otherwise                                   → a Delivery (recorded, then 202), with at most
                                                  ``max_attachments`` audio attachments

``precheck(headers, now)`` is the part of that which needs no body (the signature headers'
presence, form and timestamp): the endpoint asks it before reading the body, so that a request
without a well-formed signature never holds the body's memory.

The endpoint (``adapter.web.webhooks``) does the I/O around it: read the body under a cap,
look up the account's secrets, record, enqueue, answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from adapter.caps import cap_attachments
from adapter.controls import Controls, decide_for
from adapter.observability.metrics import Metric
from adapter.store.intake import MAX_DELIVERY_KEY, Delivery
from adapter.web.signing import SignatureError, verify
from channels import decide

SIGNATURE = "x-chatwoot-signature"
TIMESTAMP = "x-chatwoot-timestamp"
DELIVERY = "x-chatwoot-delivery"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a webhook is refused: the HTTP status, a message for the sender, the metric."""

    status: int
    message: str
    metric: Metric


UNKNOWN_ACCOUNT = Rejection(
    404, "unknown or disabled account", Metric.WEBHOOK_REJECTED_UNKNOWN_ACCOUNT
)
TOO_LARGE = Rejection(413, "body too large", Metric.WEBHOOK_REJECTED_TOO_LARGE)
#: an account that narrows nothing: every inbox, automatic
EVERYTHING = Controls()


def delivery_key(header: str | None, body: bytes) -> str:
    """``X-Chatwoot-Delivery`` when it is usable, else ``sha256:`` of the body."""
    if header:
        header = header.strip()
        if 0 < len(header) <= MAX_DELIVERY_KEY - 4 and header.isascii() and header.isprintable():
            return f"id:{header}"
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _unauthenticated(exc: SignatureError) -> Rejection:
    metric = Metric.rejected("stale" if exc.reason == "stale" else "signature")
    return Rejection(401, f"signature {exc.reason}", metric)


def precheck(headers: Mapping[str, str], now: float) -> Rejection | None:
    """401 when the signature headers are missing, malformed or stale; None when they are fit
    to be checked against the body. No secret is needed, no body read."""
    try:
        # with no secret to try, well-formed fresh headers end in "mismatch": the same checks,
        # in the same order, as the verification that follows once the body is read
        verify(
            (),
            signature=headers.get(SIGNATURE),
            timestamp=headers.get(TIMESTAMP),
            body=b"",
            now=now,
        )
    except SignatureError as exc:
        return None if exc.reason == "mismatch" else _unauthenticated(exc)
    return None  # pragma: no cover - verify raises without a secret


def parse_webhook(
    account_id: int,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes] | None,
    now: float,
    wanted: Controls = EVERYTHING,
    max_attachments: int | None = None,
) -> Delivery | Rejection:
    """What to do with one webhook to ``account_id``. Never raises.

    ``headers`` is looked up with lower-case names (Starlette's headers are case-insensitive);
    ``secrets`` are the account's webhook secrets, None when the account is unknown or disabled;
    ``now`` is the arrival time in Unix seconds; ``wanted`` what the account asks to be
    transcribed (``adapter.controls``: its inboxes, on-demand mode); ``max_attachments`` how
    many audio attachments one message may queue (None: all).
    """
    if secrets is None:
        return UNKNOWN_ACCOUNT
    try:
        verify(
            secrets,
            signature=headers.get(SIGNATURE),
            timestamp=headers.get(TIMESTAMP),
            body=body,
            now=now,
        )
    except SignatureError as exc:
        return _unauthenticated(exc)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return Rejection(400, "body is not JSON", Metric.WEBHOOK_REJECTED_BAD_JSON)
    if not isinstance(payload, dict):
        return Rejection(400, "body is not a JSON object", Metric.WEBHOOK_REJECTED_BAD_JSON)
    decision = cap_attachments(decide_for(payload, decide(payload), wanted), max_attachments)
    return Delivery(account_id, delivery_key(headers.get(DELIVERY), body), decision)


__all__ = [
    "TOO_LARGE",
    "UNKNOWN_ACCOUNT",
    "Delivery",
    "Rejection",
    "delivery_key",
    "parse_webhook",
    "precheck",
]
