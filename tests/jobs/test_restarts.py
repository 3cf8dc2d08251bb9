"""Recovery from restarts of what the service stands on: PostgreSQL stopped while webhooks
arrive (503 for those; the reconciler finds their voice notes later), Redis restarted without
persistence with messages in its queue, Chatwoot down while transcripts wait to be delivered.
Each ends with exactly one note per voice note, and one engine call per voice note.

PostgreSQL and Redis are throwaway servers (``tests/servers.py``) that the test stops and
starts, never the shared ones. A killed worker is ``tests/jobs/test_entry.py``'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits.backends import StubBackend
from pydantic import SecretStr
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter import standins
from adapter.jobs.background import start_recovery
from adapter.jobs.broker import NAMESPACE, middleware
from adapter.scan.reconciler import reconcile
from adapter.store import State, migrate
from adapter.web.app import create_app
from adapter.wiring import build_runtime
from tests.helpers import (
    OpenAIStandIn,
    make_settings,
    signed_headers,
    stand_in_account,
    wait_until,
)
from tests.jobs.pipeline import EN1, Pipeline, send, transcription_calls
from tests.processes import Proc, add_account, env_for, processes, row
from tests.servers import postgres_server, redis_server
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.web.payloads import body_of, voice_note

#: the conversation of ``tests.web.payloads.voice_note``
CONVERSATION = 318
WORKER = ["worker", "--processes", "1", "--threads", "2"]


def voice_notes(
    chatwoot: ChatwootStandIn, count: int, *, storage: standins.ChatwootStandIn | None = None
) -> list[dict[str, Any]]:
    """``count`` WhatsApp voice notes in conversation 318, each its own message and attachment,
    whose audio (``en1.ogg``) is on ``storage`` (Chatwoot's own unless told)."""
    chatwoot.add_conversation(CONVERSATION, channel="Channel::Whatsapp")
    payloads = []
    for n in range(1, count + 1):
        payload = voice_note(n)
        url = (storage or chatwoot).add_blob(f"voice-{n}.ogg", EN1, content_type="audio/ogg")
        for message in [payload, *payload["conversation"]["messages"]]:
            for attachment in message["attachments"]:
                attachment["data_url"] = url
        payloads.append(payload)
    return payloads


def post(client: TestClient, payload: dict[str, Any]) -> Any:
    body = body_of(payload)
    return client.post("/webhooks/chatwoot/3", content=body, headers=signed_headers(body))


# ─── PostgreSQL ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.slow
def test_postgres_stopped_while_webhooks_arrive(
    tmp_path: Path, fernet_key: str, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    first, second = voice_notes(chatwoot, 2)
    with postgres_server() as pg:
        migrate(pg.url)
        settings = make_settings(
            pg.url,
            tmp_path,
            fernet_key,
            TRANSCRIBER_STUCK_AFTER_SECONDS="2",
            TRANSCRIBER_RETRY_BASE_SECONDS="0.05",
        )
        broker = StubBroker(middleware=middleware())
        broker.emit_after("process_boot")
        rt = build_runtime(
            settings, component="test", broker=(broker, StubBackend()), observability=False
        )
        reading = stand_in_account(chatwoot, openai_server).model_copy(
            update={"user_token": SecretStr(chatwoot.user_token)}
        )
        acc.create_account(rt.accounts, rt.keyring, 3, reading)
        worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
        try:
            with TestClient(create_app(rt), raise_server_exceptions=False) as client:
                [lost] = send(client, first)  # recorded and queued; no worker runs yet
                pg.stop()
                refused = post(client, second)
                assert refused.status_code == 503, refused.text  # never 500
                assert client.get("/readyz").status_code == 503
                worker.start()
                with pytest.raises(sa.exc.DBAPIError):  # its message meets no database
                    broker.join("transcribe")

                pg.start()
                assert client.get("/readyz").status_code == 200
                # Chatwoot never sends the refused webhook again, but its message is there:
                # the reconciler finds it
                chatwoot.add_message(CONVERSATION, attachments=second["attachments"])
                (found,) = reconcile(rt)
                assert (found.status, found.counts.queued) == ("ok", 1)
                [later] = [r.id for r in rt.ledger.recent(source="reconcile")]
                stop_sweeps = start_recovery(rt, 0.5)  # sends the first again: 2 s unmoved
                try:
                    wait_until(
                        lambda: len(chatwoot.notes(CONVERSATION)) == 2,
                        30,
                        "a note for each voice note",
                        on=chatwoot.arrived,
                    )
                finally:
                    stop_sweeps.set()
        finally:
            worker.stop(timeout=10_000)
            rt.close()
        rows = [rt.ledger.get(lost), rt.ledger.get(later)]
        assert [r.state if r else None for r in rows] == [State.delivered, State.delivered]
    assert len(chatwoot.notes(CONVERSATION)) == 2  # the worker stopped: nothing more can come
    assert transcription_calls(openai_server) == 2
    assert chatwoot.violations == []


# ─── Redis ───────────────────────────────────────────────────────────────────────────────────


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_redis_restarted_without_persistence_forgets_nothing(
    database_url: str,
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    payloads = voice_notes(chatwoot, 3)
    with redis_server() as redis, processes() as procs:
        settings = make_settings(
            database_url, tmp_path, fernet_key, TRANSCRIBER_REDIS_URL=redis.url
        )
        add_account(settings, chatwoot, openai_server)
        queued = f"{NAMESPACE}:transcribe"
        rt = build_runtime(settings, component="test", observability=False)
        try:
            with TestClient(create_app(rt)) as client:
                ids = [tid for payload in payloads[:2] for tid in send(client, payload)]
                assert redis.client().llen(queued) == 2  # two messages wait; no worker runs
                redis.stop()
                # Redis down: the webhook is recorded all the same, its message is not sent
                ids += send(client, payloads[2])
                assert client.get("/readyz").status_code == 503
                redis.start()  # nothing kept: the two messages are gone
                assert redis.client().llen(queued) == 0
        finally:
            rt.close()

        env = env_for(
            settings, TRANSCRIBER_REDIS_URL=redis.url, TRANSCRIBER_STUCK_AFTER_SECONDS="2"
        )
        worker = Proc(WORKER, env, tmp_path / "worker.log")
        procs.append(worker)
        wait_until(
            lambda: len(chatwoot.notes(CONVERSATION)) == 3,
            60,
            "a note for each voice note",
            on=chatwoot.arrived,
        )
        assert worker.term() == 0
    assert [row(settings, tid).state for tid in ids] == [State.delivered] * 3
    assert len(chatwoot.notes(CONVERSATION)) == 3  # the worker stopped: nothing more can come
    assert transcription_calls(openai_server) == 3
    assert chatwoot.violations == []


# ─── Chatwoot ────────────────────────────────────────────────────────────────────────────────


class DeliveryRetries(logging.Handler):
    """The delivery attempts that failed, per transcription, as the step logs them
    (``adapter.jobs.step.log_retry``); ``logged`` is notified after each."""

    PREFIX = "delivery of transcription "

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.logged = threading.Condition()
        self.failed: dict[int, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        what = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if isinstance(what, str) and what.startswith(self.PREFIX):
            with self.logged:
                tid = int(what.removeprefix(self.PREFIX))
                self.failed[tid] = self.failed.get(tid, 0) + 1
                self.logged.notify_all()


@pytest.fixture
def delivery_retries() -> Iterator[DeliveryRetries]:
    handler = DeliveryRetries()
    logger = logging.getLogger("adapter.jobs")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_chatwoot_down_while_transcripts_are_ready(
    pipeline: Pipeline, delivery_retries: DeliveryRetries
) -> None:
    max_attempts = 2
    # every step retries within 0.2 s: a long outage in a second
    pipeline.reconfigure(max_attempts=max_attempts, retry_max_seconds=0.2)
    chatwoot = pipeline.chatwoot
    with ChatwootStandIn(account_id=3) as storage:  # the audio is not on Chatwoot's own server
        pipeline.reconfigure(storage_hosts=storage.base_url)  # a private storage host: allowed
        payloads = voice_notes(chatwoot, 2, storage=storage)
        chatwoot.down()
        ids = [tid for payload in payloads for tid in pipeline.send(payload)]
        outage = max_attempts + 2
        wait_until(
            lambda: all(delivery_retries.failed.get(tid, 0) >= outage for tid in ids),
            30,
            f"{outage} failed deliveries of each transcript",
            on=delivery_retries.logged,
        )
        chatwoot.up()
        rows = pipeline.finished(ids)
    assert [r.state for r in rows] == [State.delivered, State.delivered], rows[0].error
    assert all(r.delivery_attempts > outage > max_attempts for r in rows)
    assert [r.attempts for r in rows] == [1, 1]  # transcribed once each
    assert len(chatwoot.notes(CONVERSATION)) == 2
    assert len({r.note_message_id for r in rows}) == 2
    assert pipeline.engine_calls() == 2  # the outage never cost a second engine call
    assert chatwoot.violations == []
