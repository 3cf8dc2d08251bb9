"""A runtime on an in-process broker, and helpers to sign webhooks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits.backends import StubBackend
from starlette.testclient import TestClient

from adapter.runtime import Runtime
from adapter.settings import Settings
from adapter.web.signing import sign
from adapter.wiring import build_runtime

SECRET = "whsec-test-0123456789"
ADMIN = "admin-token-abcdefghijklmnop"


@dataclass
class Clock:
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


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fernet_key: str) -> Settings:
    return make_settings(database_url, tmp_path, fernet_key)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    from adapter.jobs.broker import middleware

    broker = StubBroker(middleware=middleware())
    broker.emit_after("process_boot")
    rt = build_runtime(
        settings, component="test", broker=(broker, StubBackend()), observability=False
    )
    yield rt
    broker.close()
    rt.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(runtime: Runtime, clock: Clock) -> Iterator[TestClient]:
    from adapter.web.app import create_app

    with TestClient(create_app(runtime, clock=clock), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def account(runtime: Runtime) -> int:
    from adapter import accounts as acc

    acc.create_account(
        runtime.accounts,
        runtime.keyring,
        3,
        acc.parse_changes(
            {
                "chatwoot_url": "https://chatwoot.example.test",
                "api_token": "cw-api-token-9876543210",
                "webhook_secret": SECRET,
            }
        ),
    )
    return 3


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


Post = Callable[..., Any]


@pytest.fixture
def post(client: TestClient) -> Post:
    def _post(payload: Any, account_id: int = 3, **kwargs: Any) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return client.post(
            f"/webhooks/chatwoot/{account_id}", content=body, headers=signed_headers(body, **kwargs)
        )

    return _post


def swap_database(runtime: Runtime, url: str | None) -> None:
    """Point the runtime's store at another database (``None``: an unreachable one), or back."""
    from adapter.store import get_engine, make_engine

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
    import dataclasses

    from adapter.jobs.actors import Actors
    from adapter.wiring import policies

    settings = runtime.settings.model_copy(update=changes)
    backoff, chunks = policies(settings)
    changed = dataclasses.replace(runtime, settings=settings, backoff=backoff, chunks=chunks)
    assert isinstance(runtime.queue, Actors)
    runtime.queue.bind(changed)
    if client is not None:
        client.app.state.runtime = changed  # type: ignore[attr-defined]
    return changed
