"""The first step downloads with the settings of issue 14: a private address only at the
account's Chatwoot origin (the stand-in, on 127.0.0.1) or a configured storage host
(``TRANSCRIBER_STORAGE_HOSTS``), and the whole download within
``TRANSCRIBER_DOWNLOAD_DEADLINE_SECONDS``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import BinaryIO

import pytest

from adapter.store import State
from tests.helpdesk.downloading import RawServer, headers
from tests.helpers import sqlite_only
from tests.jobs.pipeline import EN1, Pipeline
from tests.standins.chatwoot_server import fixture_payload

pytestmark = sqlite_only  # the step's logic; the ledger's statements are tests/store's


def serve_en1(w: BinaryIO, release: threading.Event) -> None:
    w.write(headers("200 OK", "Content-Type: audio/ogg", f"Content-Length: {len(EN1)}") + EN1)


@pytest.fixture
def elsewhere() -> Iterator[RawServer]:
    """A server on another port of 127.0.0.1 than the account's Chatwoot."""
    with RawServer() as server:
        server.routes["/voice.oga"] = serve_en1
        yield server


def voice_note_at(pipeline: Pipeline, url: str) -> dict[str, object]:
    pipeline.chatwoot.add_conversation(321, channel="Channel::Telegram")
    return fixture_payload("telegram_voice.json", attachment_urls={55123: url})


def test_another_loopback_port_is_refused(pipeline: Pipeline, elsewhere: RawServer) -> None:
    row = pipeline.transcribe(voice_note_at(pipeline, elsewhere.url("/voice.oga")))
    assert (row.state, row.reason) == (State.failed, "unsafe_url"), row.error
    assert "loopback" in (row.error or "")
    assert elsewhere.hits == []
    assert pipeline.engine_calls() == 0


def test_a_configured_storage_host_is_fetched_from(
    pipeline: Pipeline, elsewhere: RawServer
) -> None:
    pipeline.reconfigure(storage_hosts=f"http://minio.internal:9000,{elsewhere.origin()}")
    row = pipeline.transcribe(voice_note_at(pipeline, elsewhere.url("/voice.oga")))
    assert row.state == State.delivered, row.error
    assert elsewhere.hits == ["/voice.oga"]


def test_a_malformed_storage_hosts_setting_fails_clearly(
    pipeline: Pipeline, elsewhere: RawServer
) -> None:
    pipeline.reconfigure(storage_hosts="minio.internal:9000")
    row = pipeline.transcribe(voice_note_at(pipeline, elsewhere.url("/voice.oga")))
    assert (row.state, row.reason) == (State.failed, "config")
    assert "TRANSCRIBER_STORAGE_HOSTS" in (row.error or "")
    assert elsewhere.hits == []


def test_the_download_deadline_setting_bounds_a_trickle(
    pipeline: Pipeline, elsewhere: RawServer
) -> None:
    def trickle(w: BinaryIO, release: threading.Event) -> None:
        w.write(headers("200 OK", "Content-Type: audio/ogg", "Content-Length: 100"))
        for _ in range(100):  # 20 s, one byte at a time
            w.write(b"a")
            w.flush()
            if release.wait(0.2):
                return

    elsewhere.routes["/voice.oga"] = trickle
    pipeline.reconfigure(
        storage_hosts=elsewhere.origin(), download_deadline_seconds=1.0, max_attempts=1
    )
    row = pipeline.transcribe(voice_note_at(pipeline, elsewhere.url("/voice.oga")))
    assert (row.state, row.reason) == (State.failed, "helpdesk_unavailable"), row.error
    assert "deadline" in (row.error or "")
