"""Fixtures shared by every test: a clean environment, databases, Redis, a runtime."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")

_PREFIXES = ("TRANSCRIBER_", "OPENAI_", "SENTRY_", "STATSD_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's configuration, and settings are read afresh."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    from adapter.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _pg_server_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{dbname}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (fails, never skips, without a server)."""
    import sqlalchemy as sa

    name = f"transcriber_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_URL}: {exc}")
    url = _pg_server_url(name)
    yield url
    from adapter.store import dispose_engines

    dispose_engines()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    import sqlalchemy as sa

    from adapter.store import get_engine

    engine = get_engine(url)
    tables = ["transcript_chunks", "transcriptions", "webhook_deliveries", "accounts"]
    with engine.begin() as conn:
        if url.startswith("postgresql"):
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on SQLite and on PostgreSQL, migrated and empty."""
    from adapter.store import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'transcriber.db'}"
        migrate(url)
        yield url
        from adapter.store import dispose_engines

        dispose_engines()
        return
    url = request.getfixturevalue("postgres_url")
    migrate(url)
    _truncate(url)
    yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Redis database 9, emptied before and after (fails, never skips, without a server)."""
    import redis

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
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
