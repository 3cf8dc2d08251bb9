"""Long recordings as chunks, within one per-account limit, across processes.

Two runtimes on the real Redis broker stand for two worker processes: each has its own actors
and limiter objects, and only Redis and the database are shared. The OpenAI stand-in is a slow
server (its answer takes time in proportion to the audio it hears) and counts the requests it
holds at once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.jobs.broker import QUEUES
from adapter.runtime import Runtime
from adapter.settings import Settings
from adapter.store import State, TranscriptChunk, Transcription
from adapter.web.app import create_app
from adapter.web.signing import sign
from adapter.wiring import build_runtime
from tests.audio import gen
from tests.helpers import sqlite_only
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.standins.openai_server import OpenAIStandIn

pytestmark = [pytest.mark.redis, pytest.mark.slow]

KEY = "sk-test-" + "limits" * 6
SECRET = "whsec-limits-0123456789"
ACCOUNT = 3


def recording(path: Path, seconds: float) -> bytes:
    """Speech-like bursts with pauses, as a call recording: 16 kHz Opus in Ogg."""
    layout = gen.bursts(seconds, burst=4.0, gap=1.5, lead=0.5, freq=220.0)
    return gen.write(path, gen.pattern(layout, 16000), "ogg").read_bytes()


@pytest.fixture(scope="module")
def long_call(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return recording(tmp_path_factory.mktemp("audio") / "call.ogg", 180.0)


@pytest.fixture(scope="module")
def voice_note(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return recording(tmp_path_factory.mktemp("audio") / "note.ogg", 6.0)


def settings_for(
    database_url: str, redis_url: str, tmp_path: Path, fernet_key: str, **extra: Any
) -> Settings:
    values = {
        "TRANSCRIBER_DATABASE_URL": database_url,
        "TRANSCRIBER_REDIS_URL": redis_url,
        "TRANSCRIBER_ENCRYPTION_KEYS": fernet_key,
        "TRANSCRIBER_WORK_DIR": str(tmp_path / "work"),
        "TRANSCRIBER_ENV": "test",
        **extra,
    }
    return Settings.model_validate(values)


class Cluster:
    """Two 'processes': each a runtime with its own broker object and a worker."""

    def __init__(self, settings: Settings, threads: int) -> None:
        self.runtimes = [
            build_runtime(settings, component="test", observability=False) for _ in range(2)
        ]
        self.workers = [
            dramatiq.Worker(rt.broker, worker_threads=threads, worker_timeout=50)
            for rt in self.runtimes
        ]

    def __enter__(self) -> Cluster:
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.stop(timeout=10_000)
        for rt in self.runtimes:
            rt.close()

    def drain(self, timeout_ms: int = 120_000) -> None:
        """Until every message on every queue (delayed and unacknowledged ones included) is
        done: a step may send the next one, so join the queues again until all are empty."""
        broker = self.runtimes[0].broker
        for _ in range(50):
            for queue in QUEUES:
                broker.join(queue, timeout=timeout_ms)
            if all(broker.do_qsize(queue) == 0 for queue in QUEUES):
                return
        raise AssertionError("the queues never drained")


def payload(conversation_id: int, message_id: int, attachment_id: int, url: str) -> dict:
    return {
        "event": "message_created",
        "id": message_id,
        "message_type": "incoming",
        "private": False,
        "content": None,
        "content_attributes": {},
        "account": {"id": ACCOUNT, "name": "Acme"},
        "inbox": {"id": 1, "name": "Email"},
        "conversation": {"id": conversation_id, "channel": "Channel::Email"},
        "attachments": [
            {
                "id": attachment_id,
                "message_id": message_id,
                "file_type": "audio",
                "account_id": ACCOUNT,
                "extension": "ogg",
                "content_type": "audio/ogg",
                "data_url": url,
                "file_size": 0,
            }
        ],
    }


def post(client: TestClient, body: dict) -> int:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    response = client.post(
        f"/webhooks/chatwoot/{ACCOUNT}",
        content=raw,
        headers={
            "X-Chatwoot-Timestamp": stamp,
            "X-Chatwoot-Signature": sign(SECRET.encode(), stamp, raw),
        },
    )
    assert response.status_code == 202, response.text
    [tid] = response.json()["transcriptions"]
    return int(tid)


@pytest.fixture
def chatwoot() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(account_id=ACCOUNT) as server:
        yield server


def add_account(rt: Runtime, chatwoot: ChatwootStandIn, engine: OpenAIStandIn) -> None:
    changes = {
        "chatwoot_url": chatwoot.base_url,
        "api_token": chatwoot.api_token,
        "webhook_secret": SECRET,
        "openai_api_key": KEY,
        "engine": "openai",
        "model": "whisper-1",
        "base_url": engine.base_url,
        "language": "en",
    }
    acc.create_account(rt.accounts, rt.keyring, ACCOUNT, acc.parse_changes(changes))


def rows(rt: Runtime, ids: list[int]) -> list[Transcription]:
    with Session(rt.ledger.engine) as session:
        found = {r.id: r for r in session.exec(select(Transcription))}
    return [found[i] for i in ids]


def chunk_rows(rt: Runtime) -> list[TranscriptChunk]:
    with Session(rt.ledger.engine) as session:
        return list(session.exec(select(TranscriptChunk)))


@pytest.mark.postgres
def test_long_recordings_and_voice_notes_share_the_accounts_limit(
    postgres_url: str,
    redis_url: str,
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    long_call: bytes,
    voice_note: bytes,
) -> None:
    from adapter.store import migrate

    migrate(postgres_url)
    settings = settings_for(
        postgres_url,
        redis_url,
        tmp_path,
        fernet_key,
        TRANSCRIBER_ACCOUNT_CONCURRENCY="2",
        TRANSCRIBER_CHUNK_SECONDS="30",
    )
    with (
        OpenAIStandIn(api_key=KEY, seconds_per_audio_second=0.01) as engine,
        Cluster(settings, threads=4) as cluster,
    ):
        rt = cluster.runtimes[0]
        add_account(rt, chatwoot, engine)
        ids = []
        with TestClient(create_app(rt)) as client:
            for n in range(7):
                audio = long_call if n < 3 else voice_note
                chatwoot.add_conversation(400 + n, channel="Channel::Email")
                url = chatwoot.add_blob(f"rec{n}.ogg", audio, content_type="audio/ogg")
                ids.append(post(client, payload(400 + n, 5000 + n, 9000 + n, url)))
        cluster.drain()
        done = rows(rt, ids)
    assert [r.state for r in done] == [State.delivered] * 7, [(r.state, r.error) for r in done]
    assert engine.max_in_flight == 2  # the limit was reached, never passed
    assert all((r.chunks_total or 0) >= 5 for r in done[:3])  # the long ones were split
    assert len(engine.requests) == sum(r.chunks_total or 0 for r in done)  # none sent twice
    assert all(f.request.audio_seconds is not None for f in engine.flights)
    assert max(f.request.audio_seconds or 0 for f in engine.flights) <= 30.5
    assert [len(chatwoot.notes(400 + n)) for n in range(7)] == [1] * 7
    assert Counter(c.attempts for c in chunk_rows(rt)) == {1: len(engine.requests)}


@sqlite_only
def test_a_long_recording_on_a_slow_server_gets_one_note(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    long_call: bytes,
) -> None:
    """Each chunk's timeout follows its duration: 1 s plus 0.1 s per second of audio. A flat
    1 s timeout would give up on every 30 s chunk, which this server answers in 1.5 s."""
    settings = settings_for(
        database_url,
        redis_url,
        tmp_path,
        fernet_key,
        TRANSCRIBER_CHUNK_SECONDS="30",
        TRANSCRIBER_CHUNK_TIMEOUT_SECONDS="1",
        TRANSCRIBER_CHUNK_TIMEOUT_FACTOR="0.1",
    )
    with (
        OpenAIStandIn(api_key=KEY, seconds_per_audio_second=0.05) as engine,
        Cluster(settings, threads=2) as cluster,
    ):
        rt = cluster.runtimes[0]
        add_account(rt, chatwoot, engine)
        for index in range(10):
            engine.set_transcript(f"chunk-{index:03d}.ogg", f"part {index} word{index}.")
        chatwoot.add_conversation(321, channel="Channel::Email")
        url = chatwoot.add_blob("call.ogg", long_call, content_type="audio/ogg")
        with TestClient(create_app(rt)) as client:
            tid = post(client, payload(321, 6000, 9100, url))
        cluster.drain()
        [row] = rows(rt, [tid])
    assert row.state == State.delivered, row.error
    assert row.chunks_total is not None and row.chunks_total >= 5
    names = Counter(r.filename for r in engine.requests)
    assert sorted(names) == [f"chunk-{i:03d}.ogg" for i in range(row.chunks_total)]
    assert set(names.values()) == {1}  # no chunk sent twice
    [note] = chatwoot.notes(321)
    words = [f"word{i}" for i in range(row.chunks_total)]
    positions = [note["content"].index(w) for w in words]
    assert positions == sorted(positions)  # in the recording's order
    assert row.audio_seconds == pytest.approx(180.0, abs=1.0)
