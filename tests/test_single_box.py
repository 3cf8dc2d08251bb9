"""``transcriber up`` (``adapter.single_box``): receiver and worker threads in one process on
SQLite, killed with SIGKILL mid-transcription and started again: the voice note still ends
with exactly one note. On a busy port, one line and nothing made."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import httpx
import pytest

from adapter.store import State
from tests.cli.helpers import PREFIXES, one_line_failure, run
from tests.conftest import REPO
from tests.helpers import (
    OPENAI_KEY,
    SECRET,
    OpenAIStandIn,
    make_settings,
    signed_headers,
    wait_until,
)
from tests.jobs.pipeline import AUDIO, telegram, transcription_calls
from tests.processes import Proc, add_account, env_for, processes, row
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.standins.openai_server import Reply

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_restarts_after_kill9(
    tmp_path: Path, fernet_key: str, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'box.db'}", tmp_path, fernet_key)
    add_account(settings, chatwoot, openai_server)
    port = free_port()
    up = ["up", "--port", str(port), "--threads", "2"]
    env = env_for(settings, TRANSCRIBER_LOG_LEVEL="INFO")  # INFO: it says when it listens
    openai_server.enqueue(Reply.slow(60))  # the first call hangs: the process dies during it
    with processes() as procs:
        box = Proc(up, env, tmp_path / "up1.log")
        procs.append(box)
        wait_until(
            lambda: "Uvicorn running on" in box.output(),
            60,
            "`transcriber up` to listen",
            on=box.printed,
        )
        body = json.dumps(telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes())).encode()
        response = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/chatwoot/3",
            content=body,
            headers=signed_headers(body, delivery="d-1"),
            timeout=10,
        )
        assert response.status_code == 202, response.text
        [tid] = response.json()["transcriptions"]
        wait_until(
            lambda: transcription_calls(openai_server) == 1,
            60,
            "the first engine call",
            on=openai_server.arrived,
        )
        box.kill9()

        box2 = Proc(up, env, tmp_path / "up2.log")  # picks up unfinished rows as it starts
        procs.append(box2)
        wait_until(lambda: chatwoot.notes(321), 60, "the note", on=chatwoot.arrived)
        assert box2.term() == 0  # SIGTERM: drains and exits cleanly
    assert row(settings, tid).state == State.delivered
    assert len(chatwoot.notes(321)) == 1
    assert chatwoot.violations == []
    for secret in (OPENAI_KEY, chatwoot.api_token, SECRET):
        assert secret not in box.output() + box2.output()


def test_up_on_a_busy_port_is_one_line_and_makes_nothing(
    tmp_path: Path, cli_env_for_up: dict[str, str]
) -> None:
    """Before this, `up` exited 3 with the cause among ten JSON log lines."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run(["up", "--port", str(port)], cli_env_for_up, tmp_path)
    assert one_line_failure(out) == (
        f"transcriber: port {port} on 127.0.0.1 is in use: Address already in use; stop what "
        "listens there, or choose another --port"
    )
    assert list(tmp_path.iterdir()) == []  # no database, no key


@pytest.fixture
def cli_env_for_up() -> dict[str, str]:
    """The environment of a first `up`: no configuration at all (./transcriber.db, a key to
    generate)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)} | {
        "PYTHONPATH": str(REPO)
    }
