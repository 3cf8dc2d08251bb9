"""``transcriber worker`` (``adapter.jobs.entry``) as real processes on the Redis broker: a
worker killed with SIGKILL in the middle of its engine call loses its leases, and another
worker's recovery sweep takes the voice note back: exactly one note, with the transcript of the
one engine call that finished.

The processes' leases last 3 s (``tests.processes.env_for``), not the stuck threshold (900 s):
the lease is what gives a dead worker's work back. On PostgreSQL only: several processes
sharing one database is PostgreSQL's deployment (SQLite's is ``transcriber up``, in
``tests/test_single_box.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adapter.store import State
from adapter.web.app import create_app
from adapter.wiring import build_runtime
from tests.helpers import (
    OPENAI_KEY,
    SECRET,
    OpenAIStandIn,
    make_settings,
    signed_headers,
    wait_until,
)
from tests.jobs.pipeline import AUDIO, send, telegram, transcription_calls
from tests.processes import Proc, add_account, env_for, processes, row
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.standins.openai_server import Reply

WORKER = ["worker", "--processes", "1", "--threads", "2"]
HEARD = "Please call me back tomorrow morning"

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_worker_killed_mid_engine_call_loses_its_voice_note_to_another(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> None:
    settings = make_settings(database_url, tmp_path, fernet_key, TRANSCRIBER_REDIS_URL=redis_url)
    add_account(settings, chatwoot, openai_server)
    env = env_for(settings, TRANSCRIBER_REDIS_URL=redis_url)
    # the first call hangs (the worker dies during it); the second one is heard
    openai_server.enqueue(Reply.slow(60), Reply.verbose_json(HEARD, duration=2.0))
    with processes() as procs:
        first = Proc(WORKER, env, tmp_path / "worker1.log")
        procs.append(first)
        rt = build_runtime(settings, component="test", observability=False)
        try:
            payload = telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes())
            with TestClient(create_app(rt)) as client:
                [tid] = send(client, payload)
                # and the same voice note again, resent by an impatient proxy
                body = json.dumps(payload).encode()
                again = client.post(
                    "/webhooks/chatwoot/3", content=body, headers=signed_headers(body)
                )
                assert again.json()["status"] == "duplicate"
        finally:
            rt.close()

        wait_until(
            lambda: transcription_calls(openai_server) == 1,
            60,
            "the first engine call",
            on=openai_server.arrived,
        )
        held = row(settings, tid)
        assert held.state == State.transcribing
        assert held.lease_until is not None  # the chunk's holder holds the transcription too
        second = Proc(WORKER, env, tmp_path / "worker2.log")
        procs.append(second)
        first.kill9()

        wait_until(lambda: chatwoot.notes(321), 60, "the note", on=chatwoot.arrived)
        assert second.term() == 0  # SIGTERM: in-flight work finishes, then a clean exit
    done = row(settings, tid)
    assert done.state == State.delivered, (done.error, second.output()[-2000:])
    assert done.text == HEARD
    [note] = chatwoot.notes(321)  # and no process is left to post a late duplicate
    assert HEARD in note["content"]
    assert transcription_calls(openai_server) == 2  # the killed call, and the one that was heard
    assert chatwoot.violations == []
    for secret in (OPENAI_KEY, chatwoot.api_token, SECRET):
        assert secret not in second.output()
