"""The chat model's part of a note is stored only under the delivery's claim: an attempt that
lost its claim while the chat model wrote stores nothing and posts nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from adapter import accounts as acc
from adapter.jobs.extras import settle
from adapter.runtime import Runtime
from adapter.store import Claim
from adapter.streams import StreamResult, finish_stream


def test_a_lost_claim_stores_no_extras(runtime: Runtime, account: int) -> None:
    rt = runtime
    acc.update_account(rt.accounts, rt.keyring, account, acc.parse_changes({"translate_to": "de"}))
    stored = rt.accounts.get(account)
    assert stored is not None
    said = StreamResult(
        conversation_id=321,
        text="Hola, quiero saber dónde está mi pedido.",
        language="es",
        duration=3.0,
        billed_seconds=3.0,
        engine="local",
        model="base",
        started_at=datetime.now(UTC),
    )
    tid = finish_stream(rt, stored, said)  # transcribed, its note queued (no worker runs here)
    assert tid is not None
    claim = rt.ledger.claim_delivery(tid)
    assert claim is not None
    row = rt.ledger.get(tid)
    assert row is not None and row.extras_at is None

    stale = Claim(tid, claim.attempt + 1)  # another attempt holds the row now
    assert settle(rt, stale, row, stored) is None
    after = rt.ledger.get(tid)
    assert after is not None and after.extras_at is None and after.extras_error is None

    held = settle(rt, claim, row, stored)  # the holder settles them: no chat model, said why
    assert held is not None and held.extras_at is not None
    assert "no chat model" in (held.extras_error or "")
