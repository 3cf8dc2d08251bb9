"""Real processes: `transcriber worker` on the Redis broker and `transcriber up`, killed with
SIGKILL mid-transcription and restarted — every voice note still ends with exactly one note."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from adapter import accounts as acc
from adapter.settings import Settings
from adapter.store import AccountStore, State, Transcription, get_engine, migrate
from tests.conftest import FIXTURES, REPO
from tests.service.conftest import SECRET, make_settings, signed_headers
from tests.standins.chatwoot_server import ChatwootStandIn, fixture_payload
from tests.standins.openai_server import OpenAIStandIn, Reply

AUDIO = FIXTURES / "audio"
OPENAI_KEY = "sk-test-" + "proc" * 9

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBER_", "OPENAI_"))}
    env.update(
        {
            "TRANSCRIBER_DATABASE_URL": settings.database_url,
            "TRANSCRIBER_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),  # type: ignore[union-attr]
            "TRANSCRIBER_WORK_DIR": str(settings.temp_dir),
            "TRANSCRIBER_STUCK_AFTER_SECONDS": "10",
            "TRANSCRIBER_RECOVERY_INTERVAL_SECONDS": "1",
            "TRANSCRIBER_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "adapter", *args],
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def term(self, timeout: float = 30) -> int:
        if self.popen.poll() is None:
            # only the main process, as Kubernetes does: it tells its children itself
            os.kill(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            if self.popen.poll() is None:
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.handle.close()


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=10)
        proc.handle.close()


@pytest.fixture
def chatwoot() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(account_id=3) as server:
        server.add_conversation(321, channel="Channel::Telegram")
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn(api_key=OPENAI_KEY) as server:
        yield server


def add_account(
    settings: Settings, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    from adapter.secrets import load_keyring

    migrate(settings.database_url)
    acc.create_account(
        AccountStore(get_engine(settings.database_url)),
        load_keyring(settings),
        3,
        acc.parse_changes(
            {
                "chatwoot_url": chatwoot.base_url,
                "api_token": chatwoot.api_token,
                "webhook_secret": SECRET,
                "openai_api_key": OPENAI_KEY,
                "engine": "openai",
                "model": "whisper-1",
                "base_url": openai_server.base_url,
            }
        ),
    )


def payload(chatwoot: ChatwootStandIn) -> bytes:
    url = chatwoot.add_blob(
        "file_37.oga", (AUDIO / "en1.ogg").read_bytes(), content_type="audio/opus"
    )
    return json.dumps(fixture_payload("telegram_voice.json", attachment_urls={55123: url})).encode()


def row_state(settings: Settings, tid: int) -> Transcription:
    with Session(get_engine(settings.database_url)) as session:
        row = session.get(Transcription, tid)
        assert row is not None
        return row


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_worker_on_redis_survives_kill9(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    procs: list[Proc],
) -> None:
    from starlette.testclient import TestClient

    from adapter.web.app import create_app
    from adapter.wiring import build_runtime

    settings = make_settings(database_url, tmp_path, fernet_key, TRANSCRIBER_REDIS_URL=redis_url)
    add_account(settings, chatwoot, openai_server)
    env = env_for(settings, TRANSCRIBER_REDIS_URL=redis_url)
    openai_server.enqueue(Reply.slow(60))  # the first call hangs: the worker dies during it
    worker = Proc(["worker", "--processes", "1", "--threads", "2"], env, tmp_path / "worker1.log")
    procs.append(worker)

    rt = build_runtime(settings, component="test", observability=False)
    try:
        body = payload(chatwoot)
        with TestClient(create_app(rt)) as client:
            response = client.post(
                "/webhooks/chatwoot/3",
                content=body,
                headers=signed_headers(body, delivery=str(uuid.uuid4())),
            )
            assert response.status_code == 202, response.text
            [tid] = response.json()["transcriptions"]
            # and the same delivery again, resent by an impatient proxy
            again = client.post(
                "/webhooks/chatwoot/3",
                content=body,
                headers=signed_headers(body, delivery=str(uuid.uuid4())),
            )
            assert again.json()["status"] == "duplicate"
    finally:
        rt.close()

    wait(lambda: len(openai_server.requests) == 1, 60, "the first engine call")
    assert row_state(settings, tid).state == State.transcribing
    worker.kill9()

    restarted = Proc(
        ["worker", "--processes", "1", "--threads", "2"], env, tmp_path / "worker2.log"
    )
    procs.append(restarted)
    wait(lambda: row_state(settings, tid).state in (State.delivered, State.failed), 120, "delivery")
    row = row_state(settings, tid)
    assert row.state == State.delivered, (row.error, (tmp_path / "worker2.log").read_text()[-2000:])
    time.sleep(2)  # a late duplicate would land here
    assert len(chatwoot.notes(321)) == 1
    assert len(openai_server.requests) == 2  # the killed call, and the one after the restart
    assert chatwoot.violations == []
    assert restarted.term() == 0  # SIGTERM: in-flight work finishes, then a clean exit
    log = (tmp_path / "worker2.log").read_text()
    for secret in (OPENAI_KEY, chatwoot.api_token, SECRET):
        assert secret not in log


def test_up_single_box_restart_after_kill9(
    tmp_path: Path,
    fernet_key: str,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
    procs: list[Proc],
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'box.db'}", tmp_path, fernet_key)
    add_account(settings, chatwoot, openai_server)
    port = free_port()
    env = env_for(settings)
    openai_server.enqueue(Reply.slow(60))
    box = Proc(["up", "--port", str(port), "--threads", "2"], env, tmp_path / "up1.log")
    procs.append(box)
    base = f"http://127.0.0.1:{port}"
    wait(lambda: _ready(base), 60, "`transcriber up` to listen")
    body = payload(chatwoot)
    response = httpx.post(
        f"{base}/webhooks/chatwoot/3",
        content=body,
        headers=signed_headers(body, delivery="d-1"),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    [tid] = response.json()["transcriptions"]
    wait(lambda: len(openai_server.requests) == 1, 60, "the first engine call")
    box.kill9()

    box2 = Proc(["up", "--port", str(port), "--threads", "2"], env, tmp_path / "up2.log")
    procs.append(box2)
    wait(lambda: row_state(settings, tid).state in (State.delivered, State.failed), 120, "delivery")
    assert row_state(settings, tid).state == State.delivered
    assert len(chatwoot.notes(321)) == 1
    assert box2.term() == 0  # SIGTERM: drains and exits cleanly


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
