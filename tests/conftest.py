"""Fixtures shared by every test: a clean environment, databases, Redis, a runtime on the
in-process broker with its web app, an account, a signed ``post``, and the Chatwoot and OpenAI
stand-ins.

The helpers these fixtures use (``make_settings``, ``signed_headers``, ``SECRET``, …) are in
``tests/helpers.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from cryptography.fernet import Fernet
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits.backends import StubBackend
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.jobs.broker import middleware
from adapter.runtime import Runtime
from adapter.settings import Settings, get_settings
from adapter.store import dispose_engines, get_engine, migrate
from adapter.web.app import create_app
from adapter.wiring import build_runtime
from tests.helpers import (
    OPENAI_KEY,
    SECRET,
    Clock,
    OpenAIStandIn,
    Post,
    make_settings,
    signed_headers,
)
from tests.standins.chatwoot_server import ChatwootStandIn

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")

_PREFIXES = ("TRANSCRIBER_", "OPENAI_", "SENTRY_", "STATSD_")


@pytest.fixture(scope="session", autouse=True)
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``XDG_CACHE_HOME`` for the whole session, in a temporary directory: nothing the tests run
    (this process, or a subprocess whose environment drops ``TRANSCRIBER_*``) caches under
    ``~/.cache``. ``.ci/run`` checks that a fresh HOME stays empty."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        yield cache


@pytest.fixture(scope="session")
def model_dir(cache_home: Path) -> Path:
    """``TRANSCRIBER_MODEL_DIR`` of every test and every process a test starts: the Whisper
    weights are assembled into it once per session, by whichever test first needs them. It is
    also where ``XDG_CACHE_HOME`` puts the default, so a process started without the variable
    finds the same copy."""
    return cache_home / "helpdesk-transcriber" / "models"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, model_dir: Path) -> Iterator[None]:
    """No test sees the developer's configuration, and settings are read afresh; the model
    cache is the session's (``model_dir``)."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRANSCRIBER_MODEL_DIR", str(model_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _pg_server_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (fails, never skips, without a server)."""
    name = f"transcriber_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_URL}: {exc}")
    url = _pg_server_url(name)
    yield url
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty(url: str) -> None:
    """Every row gone and the ids counting from 1 again (as ``TRUNCATE … RESTART IDENTITY``,
    in a hundredth of the time on tables this small)."""
    tables = ["transcript_chunks", "transcriptions", "webhook_deliveries", "accounts"]
    with get_engine(url).begin() as conn:
        for table in tables:
            conn.execute(sa.text(f"DELETE FROM {table}"))
            conn.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1, false)")
            )
        for table in ("account_scans", "conversation_scans", "budget_alerts"):  # no serial ids
            conn.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, made once: each test gets a copy (a copy is ten times
    faster than running the migrations)."""
    path = tmp_path_factory.mktemp("template") / "transcriber.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on SQLite and on PostgreSQL, migrated and empty."""
    if request.param == "sqlite":
        path = tmp_path / "transcriber.db"
        template = request.getfixturevalue("sqlite_template")
        with (
            contextlib.closing(sqlite3.connect(template)) as source,
            contextlib.closing(sqlite3.connect(path)) as copy,
        ):
            source.backup(copy)
        yield f"sqlite:///{path}"
        dispose_engines()
        return
    url = request.getfixturevalue("postgres_url")
    migrate(url)
    _empty(url)
    yield url
    _empty(url)  # for the tests that use ``postgres_url`` itself


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis database of ``TEST_REDIS_URL`` (default 9), emptied before and after (fails,
    never skips, without a server)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Redis is required at {REDIS_URL}: {exc}")
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def fernet_key() -> str:
    return Fernet.generate_key().decode()


# ─── a runtime on the in-process broker, its web app, an account ─────────────────────────────


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fernet_key: str) -> Settings:
    return make_settings(database_url, tmp_path, fernet_key)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
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
    with TestClient(create_app(runtime, clock=clock), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def account(runtime: Runtime) -> int:
    """Account 3, with the webhook secret ``SECRET``."""
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


@pytest.fixture
def post(client: TestClient) -> Post:
    """Sign and post a payload (a dict, or raw bytes) to an account's webhook URL."""

    def _post(payload: Any, account_id: int = 3, **kwargs: Any) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return client.post(
            f"/webhooks/chatwoot/{account_id}", content=body, headers=signed_headers(body, **kwargs)
        )

    return _post


# ─── the stand-ins ───────────────────────────────────────────────────────────────────────────


@pytest.fixture
def chatwoot() -> Iterator[ChatwootStandIn]:
    """The stand-in Chatwoot of account 3, checking every request against the spec."""
    with ChatwootStandIn(account_id=3) as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[OpenAIStandIn]:
    """The stand-in OpenAI, taking ``OPENAI_KEY``."""
    with OpenAIStandIn(api_key=OPENAI_KEY) as server:
        yield server
