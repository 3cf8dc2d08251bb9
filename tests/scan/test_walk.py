"""Backfill and reconciliation against the stand-in Chatwoot (real HTTP, checked against the
spec), on SQLite and on PostgreSQL: what is queued, what is known, what a second run does,
and every fault of the issue."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapter import accounts as acc
from adapter.helpdesk.notes import format_note
from adapter.helpdesk.reader import ChatwootReader, Pacer
from adapter.runtime import Runtime
from adapter.scan.reconciler import reconcile, target_of
from adapter.scan.sift import Counts
from adapter.scan.walk import Target, Walk, walk_for
from adapter.scan.window import Window
from adapter.store import utcnow
from adapter.web.webhooks import process_batch
from tests.helpers import SECRET, transcriptions
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.web.payloads import VOICE_NOTE, webhook

ACCOUNT = 3
#: the backfill scenes' clock (their windows are days wide); reconcile tests read the clock
#: themselves, since a first reconciliation looks back only minutes
NOW = time.time()
DAY = 86_400


@pytest.fixture
def chatwoot() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(account_id=ACCOUNT) as server:
        yield server


def add_account(rt: Runtime, chatwoot: ChatwootStandIn, **extra: Any) -> None:
    fields = {
        "chatwoot_url": chatwoot.base_url,
        "api_token": chatwoot.api_token,
        "webhook_secret": SECRET,
        "user_token": chatwoot.user_token,
        **extra,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    acc.create_account(rt.accounts, rt.keyring, ACCOUNT, acc.parse_changes(fields))


def voice(chatwoot: ChatwootStandIn, name: str = "voice.oga", size: int = 2048) -> dict[str, Any]:
    url = chatwoot.add_blob(name, b"OggS" + bytes(size - 4), content_type="audio/ogg")
    return {
        "file_type": "audio",
        "extension": None,
        "content_type": "audio/ogg",
        "data_url": url,
        "file_size": size,
    }


def conversation_with_audio(
    chatwoot: ChatwootStandIn, conversation_id: int, at: float, **kind: Any
) -> dict[str, Any]:
    chatwoot.add_conversation(
        conversation_id,
        channel="Channel::Whatsapp",
        inbox_id=kind.pop("inbox_id", 1),
        last_activity_at=at - 60,
    )
    return chatwoot.add_message(
        conversation_id, attachments=[voice(chatwoot)], created_at=at, **kind
    )


def walk(rt: Runtime, chatwoot: ChatwootStandIn, token: str | None = None) -> Walk:
    reader = ChatwootReader(
        rt.chatwoot,
        base_url=chatwoot.base_url,
        account_id=ACCOUNT,
        token=token or chatwoot.user_token,
        pacer=Pacer(0),
        sleep=lambda _: None,
    )
    return walk_for(rt, reader)


def window(days: float) -> Window:
    now = datetime.now(UTC)
    return Window(now - timedelta(days=days), now)


def attachment_ids(rt: Runtime, **filters: Any) -> set[int]:
    return {r.attachment_id for r in rt.ledger.recent(limit=1000, **filters)}


@pytest.fixture
def history(runtime: Runtime, chatwoot: ChatwootStandIn) -> dict[str, Any]:
    """The acceptance scene: 30 conversations with a voice note each in the window (two
    listing pages), one whose audio is older than its latest 20 messages, one that already
    holds our note, outgoing/private/text-only ones, and conversations outside the window."""
    add_account(runtime, chatwoot)
    expected: set[int] = set()
    for n in range(30):
        message = conversation_with_audio(chatwoot, 100 + n, NOW - DAY - n * 600)
        expected.add(message["attachments"][0]["id"])
    deep = conversation_with_audio(chatwoot, 200, NOW - 2 * DAY)
    for i in range(25):
        chatwoot.add_message(200, content=f"and then {i}", created_at=NOW - 2 * DAY + 60 + i)
    expected.add(deep["attachments"][0]["id"])
    noted = conversation_with_audio(chatwoot, 201, NOW - 3 * DAY)
    chatwoot.add_message(
        201,
        message_type=1,
        private=True,
        content=format_note("hola", "es", 4.0, filename="voice.oga"),
        content_attributes={"in_reply_to": noted["id"]},
        created_at=NOW - 3 * DAY + 30,
    )
    conversation_with_audio(chatwoot, 202, NOW - DAY, message_type=1)  # outgoing
    conversation_with_audio(chatwoot, 203, NOW - DAY, private=True)
    chatwoot.add_conversation(204, last_activity_at=NOW - DAY)
    chatwoot.add_message(204, content="text only", created_at=NOW - DAY + 1)
    for n in range(3):  # before the window
        conversation_with_audio(chatwoot, 300 + n, NOW - 20 * DAY)
    return {"expected": expected, "noted": noted["attachments"][0]["id"]}


def test_backfill_queues_exactly_the_right_audio_and_a_second_run_nothing(
    runtime: Runtime, chatwoot: ChatwootStandIn, history: dict[str, Any]
) -> None:
    first = walk(runtime, chatwoot).run(Target(ACCOUNT, window(7), "backfill"))
    assert first == Counts(
        conversations=35,
        messages=30 + 26 + 2 + 3,  # the 30, the deep one, the noted one, the other three
        audio=32,
        queued=31,
        known=1,
        skipped=0,
        bytes=31 * 2048,
    )
    queued = {r.attachment_id for r in runtime.ledger.recent(limit=1000, state="queued")}
    assert queued == history["expected"]
    (noted,) = runtime.ledger.recent(state="delivered")  # recorded done: never sent
    assert (noted.attachment_id, noted.reason) == (history["noted"], "noted")

    before = len(chatwoot.requests)
    second = walk(runtime, chatwoot).run(Target(ACCOUNT, window(7), "backfill"))
    assert second.queued == 0
    assert (second.conversations, second.audio, second.known) == (35, 32, 32)
    listing_only = [r for r in chatwoot.requests[before:] if "/messages" in r.path]
    assert listing_only == []  # scanned conversations are passed without reading messages
    assert len(attachment_ids(runtime)) == 32


def test_a_dry_run_counts_and_records_nothing(
    runtime: Runtime, chatwoot: ChatwootStandIn, history: dict[str, Any]
) -> None:
    dry = walk(runtime, chatwoot).run(Target(ACCOUNT, window(7), "backfill", dry_run=True))
    assert (dry.queued, dry.known, dry.bytes) == (31, 1, 31 * 2048)
    assert attachment_ids(runtime) == set()
    assert runtime.scans.covered(ACCOUNT, 100) is None  # a real run reads everything


def test_only_the_inboxes_asked_for(runtime: Runtime, chatwoot: ChatwootStandIn) -> None:
    add_account(runtime, chatwoot)
    one = conversation_with_audio(chatwoot, 10, NOW - 100, inbox_id=1)
    conversation_with_audio(chatwoot, 11, NOW - 100, inbox_id=2)
    counts = walk(runtime, chatwoot).run(Target(ACCOUNT, window(1), "backfill", inbox_ids=(1,)))
    assert counts.queued == 1
    assert attachment_ids(runtime) == {one["attachments"][0]["id"]}


def test_an_agent_token_sees_only_its_inboxes(runtime: Runtime, chatwoot: ChatwootStandIn) -> None:
    add_account(runtime, chatwoot)
    chatwoot.add_user_token("agent-token-1", role="agent", inbox_ids=[2])
    conversation_with_audio(chatwoot, 10, NOW - 100, inbox_id=1)
    theirs = conversation_with_audio(chatwoot, 11, NOW - 100, inbox_id=2)
    counts = walk(runtime, chatwoot, token="agent-token-1").run(
        Target(ACCOUNT, window(1), "backfill")
    )
    assert (counts.conversations, counts.queued) == (1, 1)
    assert attachment_ids(runtime) == {theirs["attachments"][0]["id"]}


def test_429s_during_a_scan_are_survived(runtime: Runtime, chatwoot: ChatwootStandIn) -> None:
    add_account(runtime, chatwoot)
    for n in range(3):
        conversation_with_audio(chatwoot, 10 + n, NOW - 100 - n)
    chatwoot.fail(429, times=3, path="/api/", retry_after=1)
    counts = walk(runtime, chatwoot).run(Target(ACCOUNT, window(1), "backfill"))
    assert counts.queued == 3
    assert [r.status for r in chatwoot.requests].count(429) == 3


def test_a_conversation_deleted_mid_scan_is_skipped(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot)
    conversation_with_audio(chatwoot, 10, NOW - 100)
    conversation_with_audio(chatwoot, 11, NOW - 200)
    chatwoot.fail(404, times=1, path=f"/api/v1/accounts/{ACCOUNT}/conversations/10/messages")
    counts = walk(runtime, chatwoot).run(Target(ACCOUNT, window(1), "backfill"))
    assert (counts.conversations, counts.queued, counts.skipped) == (2, 1, 1)


def test_a_late_webhook_for_found_audio_is_a_duplicate(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot)
    payload = copy.deepcopy(VOICE_NOTE)
    chatwoot.add_conversation(payload["conversation"]["id"], channel="Channel::Whatsapp")
    attachment = {**payload["attachments"][0]}
    message = chatwoot.add_message(
        payload["conversation"]["id"], attachments=[attachment], created_at=time.time() - 100
    )
    (result,) = reconcile(runtime)
    assert (result.status, result.counts.queued) == ("ok", 1)
    payload["id"] = message["id"]
    payload["attachments"][0]["id"] = message["attachments"][0]["id"]
    (outcome,) = process_batch(runtime, [webhook(payload, account_id=ACCOUNT)])
    assert outcome.body["status"] == "duplicate"
    (row,) = runtime.ledger.recent()
    assert row.source == "reconcile" and outcome.body["transcriptions"] == [row.id]


def test_reconcile_moves_the_watermark_and_says_what_it_found(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot)
    conversation_with_audio(chatwoot, 10, time.time() - 5)
    (result,) = reconcile(runtime)
    assert (result.status, result.counts.queued) == ("ok", 1)
    scan = runtime.scans.get(ACCOUNT)
    assert scan is not None and scan.found_total == 1
    assert result.window is not None and scan.watermark == result.window.until
    (again,) = reconcile(runtime)
    assert (again.status, again.counts.queued) == ("ok", 0)
    assert again.window is not None and again.window.since < result.window.until  # overlap


def test_an_account_without_a_user_token_says_why(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot, user_token=None)
    conversation_with_audio(chatwoot, 10, time.time() - 5)
    (result,) = reconcile(runtime)
    assert result.status == "no_user_token"
    assert "--user-token" in (result.error or "")
    assert runtime.ledger.recent() == []
    assert not any(
        "/conversations?" in r.path or r.path.endswith("/conversations") for r in chatwoot.requests
    )


@pytest.mark.parametrize("token", ["bot", "revoked"])
def test_a_rejected_token_marks_the_account_and_others_go_on(
    runtime: Runtime, chatwoot: ChatwootStandIn, token: str
) -> None:
    user_token = chatwoot.api_token if token == "bot" else "revoked-token-123"
    add_account(runtime, chatwoot, user_token=user_token)
    conversation_with_audio(chatwoot, 10, time.time() - 5)
    with ChatwootStandIn(account_id=4) as other:
        fields = {
            "chatwoot_url": other.base_url,
            "api_token": other.api_token,
            "webhook_secret": SECRET,
            "user_token": other.user_token,
        }
        acc.create_account(runtime.accounts, runtime.keyring, 4, acc.parse_changes(fields))
        conversation_with_audio(other, 10, time.time() - 5)
        result, fine = reconcile(runtime)
    assert (fine.account_id, fine.status, fine.counts.queued) == (4, "ok", 1)
    assert result.status == "token_rejected"
    assert "--user-token" in (result.error or "")
    assert user_token not in (result.error or "")
    scan = runtime.scans.get(ACCOUNT)
    assert scan is not None and scan.watermark is None and scan.status == "token_rejected"


def test_a_scan_that_fails_keeps_its_watermark_and_the_next_one_resumes(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot)
    conversation_with_audio(chatwoot, 10, time.time() - 5)
    chatwoot.fail(503, times=6, path="/api/", retry_after=0)  # every one of the reader's tries
    (failed,) = reconcile(runtime)
    assert failed.status == "failed" and "503" in (failed.error or "")
    scan = runtime.scans.get(ACCOUNT)
    assert scan is not None and scan.watermark is None
    (result,) = reconcile(runtime)
    assert (result.status, result.counts.queued) == ("ok", 1)
    assert utcnow() - timedelta(minutes=1) < (result.window.until if result.window else utcnow())


def test_a_conversation_that_becomes_active_during_the_walk_is_still_read(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot)
    expected = {
        conversation_with_audio(chatwoot, 100 + n, NOW - 3600 - n * 60)["attachments"][0]["id"]
        for n in range(30)
    }
    moved = []

    def customer_writes(counts: Counts) -> None:
        if counts.conversations == 1:  # while page 1 is being read, page 2's last one moves up
            moved.append(chatwoot.add_message(129, content="are you there?"))

    scan = walk(runtime, chatwoot)
    scan.progress = customer_writes
    counts = scan.run(Target(ACCOUNT, window(1), "backfill"))
    assert moved and counts.queued == 30
    assert attachment_ids(runtime) == expected


def test_a_disabled_account_is_not_reconciled_and_its_watermark_follows_the_clock(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot, enabled=False)
    runtime.accounts.change(  # added an hour ago; disabled since
        ACCOUNT, lambda a: setattr(a, "created_at", utcnow() - timedelta(hours=1))
    )
    conversation_with_audio(chatwoot, 10, time.time() - 400)  # refused while disabled
    assert reconcile(runtime) == []
    assert not any(r.path.startswith("/api/") for r in chatwoot.requests)
    scan = runtime.scans.get(ACCOUNT)
    assert scan is not None and scan.status == "disabled" and scan.watermark is not None
    acc.set_enabled(runtime.accounts, ACCOUNT, True)
    (result,) = reconcile(runtime)
    assert result.window is not None and result.window.since < scan.watermark
    assert result.counts.queued == 0  # refused on purpose, not a lost webhook


def test_the_reconciler_reads_only_the_accounts_inboxes(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot, inboxes=[2])
    conversation_with_audio(chatwoot, 10, time.time() - 5, inbox_id=1)
    conversation_with_audio(chatwoot, 11, time.time() - 5, inbox_id=2)
    (result,) = reconcile(runtime)
    assert (result.status, result.counts.queued) == ("ok", 1)
    assert [r.conversation_id for r in transcriptions(runtime)] == [11]


def test_an_on_demand_account_is_reconciled_only_where_labelled(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot, mode="on_demand")
    conversation_with_audio(chatwoot, 10, time.time() - 5)
    conversation_with_audio(chatwoot, 11, time.time() - 5)
    chatwoot.label(11, "vip", "transcribe")
    (result,) = reconcile(runtime)
    assert (result.status, result.counts.queued) == ("ok", 1)
    found = transcriptions(runtime)
    assert [(r.conversation_id, r.source) for r in found] == [(11, "reconcile")]
    # labelled later, without new activity: the next pass reads it (it was never covered)
    chatwoot.label(10, "transcribe")
    (again,) = reconcile(runtime)
    assert again.counts.queued == 1
    assert sorted(r.conversation_id for r in transcriptions(runtime)) == [10, 11]


def test_backfill_refuses_an_inbox_the_account_does_not_transcribe(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot, inboxes=[2])
    account = runtime.accounts.get(ACCOUNT)
    assert account is not None
    with pytest.raises(ValueError, match=r"transcribes only inbox\(es\) 2 \(--inboxes\)"):
        target_of(account, window(1), "backfill", inbox_ids=(1,))
    assert target_of(account, window(1), "backfill").inbox_ids == (2,)
    assert target_of(account, window(1), "backfill", inbox_ids=(1, 2)).inbox_ids == (2,)


def test_a_message_queues_at_most_max_attachments(
    runtime: Runtime, chatwoot: ChatwootStandIn
) -> None:
    add_account(runtime, chatwoot)
    chatwoot.add_conversation(
        10, channel="Channel::Whatsapp", inbox_id=1, last_activity_at=NOW - 60
    )
    many = [voice(chatwoot, f"v{n}.oga") for n in range(20)]
    chatwoot.add_message(10, attachments=many, created_at=NOW - 100)
    counts = walk(runtime, chatwoot).run(Target(ACCOUNT, window(1), "backfill"))
    assert (counts.audio, counts.queued) == (15, 15) == (runtime.settings.max_attachments,) * 2
    assert len(attachment_ids(runtime)) == 15
