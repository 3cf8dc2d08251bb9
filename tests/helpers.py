"""What tests in every directory share: signed webhooks, settings, a runtime changed in place,
rows read back, and the only two ways a test waits.

Waiting: ``drain(broker, worker)`` until the in-process broker has no work left (Dramatiq's
``broker.join`` + ``worker.join``), or ``wait_until(predicate, timeout, what, on=condition)``
until something a ``threading.Condition`` announces (a stand-in's recorded request, a line a
process printed) makes ``predicate`` true. Neither reads a clock in a loop.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlmodel import Session, select
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.jobs.actors import Actors
from adapter.jobs.broker import QUEUES
from adapter.runtime import Runtime
from adapter.settings import Settings
from adapter.store import Transcription, WebhookDelivery, get_engine, make_engine
from adapter.web.signing import sign
from adapter.wiring import policies
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.standins.openai_server import OpenAIStandIn

SECRET = "whsec-test-0123456789"
ADMIN = "admin-token-abcdefghijklmnop"
OPENAI_KEY = "sk-test-" + "e2e" * 12

#: for a test whose answer comes before any row is written: SQLite is enough
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: ``post(payload, account_id=3, **signed_headers_options)``: the ``post`` fixture
Post = Callable[..., Any]


@dataclass
class Clock:
    """An injectable clock: a test sets ``now``."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


def make_settings(database_url: str, tmp_path: Path, fernet_key: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "TRANSCRIBER_DATABASE_URL": database_url,
        "TRANSCRIBER_ENCRYPTION_KEYS": fernet_key,
        "TRANSCRIBER_ADMIN_TOKEN": ADMIN,
        "TRANSCRIBER_WORK_DIR": str(tmp_path / "work"),
        "TRANSCRIBER_ENV": "test",
    }
    values.update(extra)
    return Settings.model_validate(values)


def signed_headers(
    body: bytes,
    *,
    secret: str = SECRET,
    timestamp: float | None = None,
    delivery: str | None = None,
) -> dict[str, str]:
    stamp = str(int(time.time() if timestamp is None else timestamp))
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Signature": sign(secret.encode(), stamp, body),
    }
    if delivery is not None:
        headers["X-Chatwoot-Delivery"] = delivery
    return headers


def swap_database(runtime: Runtime, url: str | None) -> None:
    """Point the runtime's store at another database (``None``: an unreachable one), or back."""
    engine = (
        make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        if url is None
        else get_engine(url)
    )
    runtime.ledger.engine = engine
    runtime.accounts.engine = engine


def reconfigure(runtime: Runtime, client: TestClient | None = None, **changes: Any) -> Runtime:
    """The same runtime with some settings changed (and the policies built from them); the
    actors and the test client's app are bound to it."""
    settings = runtime.settings.model_copy(update=changes)
    backoff, chunks = policies(settings)
    changed = dataclasses.replace(runtime, settings=settings, backoff=backoff, chunks=chunks)
    assert isinstance(runtime.queue, Actors)
    runtime.queue.bind(changed)
    if client is not None:
        client.app.state.runtime = changed  # type: ignore[attr-defined]
    return changed


def stand_in_account(chatwoot: ChatwootStandIn, openai: OpenAIStandIn) -> acc.AccountChanges:
    """An account on the stand-ins (webhook secret ``SECRET``), transcribing with OpenAI's
    ``whisper-1`` under ``OPENAI_KEY``: for ``accounts.create_account``."""
    return acc.parse_changes(
        {
            "chatwoot_url": chatwoot.base_url,
            "api_token": chatwoot.api_token,
            "webhook_secret": SECRET,
            "openai_api_key": OPENAI_KEY,
            "engine": "openai",
            "model": "whisper-1",
            "base_url": openai.base_url,
        }
    )


def transcriptions(rt: Runtime) -> list[Transcription]:
    """Every transcription row, oldest first."""
    with Session(rt.ledger.engine) as session:
        return list(session.exec(select(Transcription).order_by(Transcription.id)))  # type: ignore[arg-type]


def deliveries(rt: Runtime) -> list[WebhookDelivery]:
    with Session(rt.ledger.engine) as session:
        return list(session.exec(select(WebhookDelivery)))


def queued_ids(rt: Runtime, queue: str = "transcribe") -> list[int]:
    """The argument of every message waiting on one of the in-process broker's queues: an id,
    and nothing else."""
    ids: list[int] = []
    for data in list(rt.broker.queues[queue].queue):  # type: ignore[attr-defined]
        message = dramatiq.Message.decode(data)
        assert message.actor_name == queue and message.kwargs == {}
        [transcription_id] = message.args
        ids.append(int(transcription_id))
    return ids


# ─── waiting ─────────────────────────────────────────────────────────────────────────────────


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, *, on: threading.Condition
) -> None:
    """Return once ``predicate()`` is true; fail after ``timeout`` seconds naming ``what``.

    ``predicate`` is tried now and again each time ``on`` is notified: whatever changes what it
    reads must notify ``on`` (the stand-ins' ``arrived``, a process's ``printed``).
    """
    with on:
        if not on.wait_for(predicate, timeout):
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def drain(broker: StubBroker, worker: dramatiq.Worker, timeout: float = 60.0) -> None:
    """Return once the in-process broker has no work left, delayed retries included.

    A step may send the next one (transcribe → chunk → deliver), so every queue is joined, then
    the worker, again until none has an unfinished message. A message that ended in the dead
    letters raises its actor's exception here.
    """
    deadline = time.monotonic() + timeout
    while True:
        for queue in QUEUES:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise AssertionError(f"the queues still had work after {timeout:g} s")
            broker.join(queue, timeout=left_ms)
        worker.join()
        if all(q.unfinished_tasks == 0 for q in broker.queues.values()):
            return


__all__ = [
    "ADMIN",
    "OPENAI_KEY",
    "SECRET",
    "Clock",
    "OpenAIStandIn",
    "Post",
    "deliveries",
    "drain",
    "make_settings",
    "queued_ids",
    "reconfigure",
    "signed_headers",
    "sqlite_only",
    "stand_in_account",
    "swap_database",
    "transcriptions",
    "wait_until",
]
