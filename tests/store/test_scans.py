"""Scan state (``adapter.store.scans``) and the intake of found audio (``Ledger.record_found``),
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from adapter import accounts as acc
from adapter.runtime import Runtime
from adapter.store import ScanStore, State
from channels.base import AudioAttachment, Decision

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def found(message_id: int, *attachment_ids: int) -> Decision:
    attachments = tuple(
        AudioAttachment(a, f"https://chat.example.test/blob/{a}", "v.ogg", "audio/ogg", "ogg", 10)
        for a in attachment_ids
    )
    return Decision(
        "accepted", "audio", "message_created", "whatsapp", 7, message_id, attachments, inbox_id=4
    )


def test_one_scan_per_account_at_a_time(runtime: Runtime) -> None:
    first = runtime.scans.claim(3, "worker-a")
    assert first is not None
    assert runtime.scans.claim(3, "worker-b") is None
    assert runtime.scans.claim(4, "worker-b") is not None  # other accounts go on
    assert runtime.scans.renew(first)
    assert runtime.scans.finish(
        first, status="ok", error=None, counts={"queued": 2}, watermark=T0, found=2
    )
    again = runtime.scans.claim(3, "worker-b")
    assert again is not None
    assert not runtime.scans.renew(first)  # a finished lease is gone
    scan = runtime.scans.get(3)
    assert scan is not None
    assert scan.watermark == T0 and scan.found_total == 2 and scan.status == "ok"
    assert json.loads(scan.counts_json or "") == {"queued": 2}


def test_a_lease_that_ran_out_is_taken_over(runtime: Runtime) -> None:
    short = ScanStore(runtime.scans.engine, lease_seconds=-1)  # expired at once
    dead = short.claim(3, "killed-worker")
    assert dead is not None
    taken = runtime.scans.claim(3, "successor")
    assert taken is not None
    # the killed worker's late finish cannot move the watermark
    assert not short.finish(dead, status="ok", error=None, counts={}, watermark=T0)
    scan = runtime.scans.get(3)
    assert scan is not None and scan.watermark is None and scan.lease_owner == "successor"


def test_a_failed_scan_keeps_the_watermark(runtime: Runtime) -> None:
    lease = runtime.scans.claim(3, "a")
    assert lease is not None
    runtime.scans.finish(lease, status="ok", error=None, counts={}, watermark=T0)
    lease = runtime.scans.claim(3, "a")
    assert lease is not None
    runtime.scans.finish(lease, status="failed", error="Chatwoot 503", counts={}, watermark=None)
    scan = runtime.scans.get(3)
    assert scan is not None
    assert (scan.watermark, scan.status, scan.error) == (T0, "failed", "Chatwoot 503")


def test_a_scan_just_finished_by_another_process_is_not_repeated(runtime: Runtime) -> None:
    lease = runtime.scans.claim(3, "a")
    assert lease is not None
    runtime.scans.finish(lease, status="ok", error=None, counts={}, watermark=T0)
    assert runtime.scans.claim(3, "b", idle_for=60) is None
    assert runtime.scans.claim(3, "b", idle_for=0) is not None


def test_covered_conversations_are_remembered_and_updated(runtime: Runtime) -> None:
    assert runtime.scans.covered(3, 7) is None
    runtime.scans.cover(
        3,
        7,
        last_activity_at=100,
        since=T0,
        until=T0 + timedelta(hours=1),
        counts={"messages": 4},
    )
    runtime.scans.cover(
        3,
        7,
        last_activity_at=200,
        since=T0,
        until=T0 + timedelta(hours=2),
        counts={"messages": 5},
    )
    covered = runtime.scans.covered(3, 7)
    assert covered is not None
    assert covered.last_activity_at == 200
    assert (covered.since, covered.until) == (T0, T0 + timedelta(hours=2))
    assert covered.counts == {"messages": 5}
    assert runtime.scans.covered(4, 7) is None


def test_found_audio_is_recorded_once_with_its_source(runtime: Runtime) -> None:
    encrypt = runtime.keyring.seal_url
    result = runtime.ledger.record_found(
        3, [found(10, 100, 101), found(11, 100)], encrypt, source="reconcile"
    )
    assert len(result.new_ids) == 2 and result.known == ()
    again = runtime.ledger.record_found(3, [found(10, 100, 101)], encrypt, source="backfill")
    assert again.new_ids == () and sorted(again.known) == [100, 101]
    rows = [runtime.ledger.get(i) for i in result.new_ids]
    assert {(r.source, r.inbox_id, r.state) for r in rows if r} == {("reconcile", 4, "queued")}
    assert runtime.ledger.known_attachments(3, [100, 101, 102]) == {100, 101}
    assert runtime.ledger.known_attachments(4, [100]) == set()
    assert [r.id for r in runtime.ledger.recent(source="reconcile")] == sorted(
        result.new_ids, reverse=True
    )
    assert runtime.ledger.recent(source="webhook") == []


def test_ignored_decisions_record_nothing(runtime: Runtime) -> None:
    ignored = Decision("ignored", "private", "message_created", "api", 7, 10)
    result = runtime.ledger.record_found(3, [ignored], runtime.keyring.seal_url, source="backfill")
    assert result.new_ids == () and result.known == ()


def test_deleting_an_account_forgets_its_scans(runtime: Runtime) -> None:
    changes = acc.parse_changes(
        {
            "chatwoot_url": "https://x.example.test",
            "api_token": "t" * 20,
            "webhook_secret": "s" * 20,
        }
    )
    acc.create_account(runtime.accounts, runtime.keyring, 3, changes)
    lease = runtime.scans.claim(3, "a")
    assert lease is not None
    runtime.scans.finish(lease, status="ok", error=None, counts={}, watermark=T0)
    runtime.scans.cover(3, 7, last_activity_at=1, since=T0, until=T0, counts={})
    runtime.accounts.delete(3)
    assert runtime.scans.get(3) is None
    assert runtime.scans.covered(3, 7) is None


def test_noted_audio_is_recorded_as_delivered_and_never_queued(runtime: Runtime) -> None:
    result = runtime.ledger.record_found(
        3, [found(10, 100)], runtime.keyring.seal_url, source="backfill", noted=[found(11, 101)]
    )
    assert len(result.new_ids) == 1
    rows = {r.attachment_id: r for r in runtime.ledger.recent()}
    assert (rows[101].state, rows[101].reason, rows[101].source) == (
        "delivered",
        "noted",
        "backfill",
    )
    assert rows[100].state == "queued"
    again = runtime.ledger.record_found(
        3, [found(11, 101)], runtime.keyring.seal_url, source="reconcile"
    )
    assert again.new_ids == () and again.known == (101,)


def test_found_audio_no_message_announces_is_due_for_the_next_sweep(runtime: Runtime) -> None:
    sent = runtime.ledger.record_found(
        3, [found(10, 100)], runtime.keyring.seal_url, source="backfill"
    )
    left = runtime.ledger.record_found(
        3, [found(11, 101)], runtime.keyring.seal_url, source="backfill", due=True
    )
    assert runtime.ledger.lost(stuck_after=3600) == [(left.new_ids[0], State.queued)]
    assert sent.new_ids[0] not in [i for i, _ in runtime.ledger.lost(stuck_after=3600)]
