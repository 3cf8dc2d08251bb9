"""Database engine, sessions and the schema migrations behind ``transcriber migrate``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import StaticPool
from sqlmodel import create_engine

from adapter.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: tries of one transaction when the connection was stale or a concurrent writer deadlocked it
TRANSACTION_ATTEMPTS = 3

R = TypeVar("R")


class StoreUnavailable(Exception):
    """The database cannot be reached or written: the caller answers 503 or retries later."""


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` (SQLite or PostgreSQL)."""
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 10}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            path = url.split(":///", 1)[1]
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a failed statement's message must not carry a transcript or a token
        engine = create_engine(url, hide_parameters=True, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        return create_engine(
            url,
            pool_size=10,
            max_overflow=30,
            pool_recycle=1800,
            pool_use_lifo=True,
            hide_parameters=True,
        )
    raise ConfigError("TRANSCRIBER_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")


def get_engine(url: str) -> Engine:
    """The process-wide engine for ``url``."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def in_transaction(engine: Engine, work: Callable[[Connection], R]) -> R:
    """``work(conn)`` in one transaction, tried again on a fresh connection when the pooled one
    had been closed by the server or a concurrent writer deadlocked it (PostgreSQL SQLSTATE
    class 40). Raises :class:`StoreUnavailable` when the database does not answer."""
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt < TRANSACTION_ATTEMPTS and (exc.connection_invalidated or _rolled_back(exc)):
                continue
            if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
                cause = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
                raise StoreUnavailable(f"database unavailable ({cause})") from exc
            raise
        except PoolTimeout as exc:  # no pooled connection came free
            raise StoreUnavailable("database unavailable (pool timeout)") from exc
    raise AssertionError("unreachable")


def _rolled_back(exc: DBAPIError) -> bool:
    """PostgreSQL SQLSTATE class 40: deadlock detected, serialization failure."""
    return str(getattr(exc.orig, "sqlstate", "") or "").startswith("40")


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> str:
    """Create or upgrade the schema to the newest revision. Idempotent. Returns the revision."""
    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
    return current_revision(engine) or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def ping(engine: Engine) -> None:
    """Raise if the database does not answer."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


__all__ = [
    "StoreUnavailable",
    "dispose_engines",
    "get_engine",
    "in_transaction",
    "make_engine",
    "migrate",
    "ping",
]
