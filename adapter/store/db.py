"""Database engine, sessions and the schema migrations behind ``transcriber migrate``.

Only ``migrate`` (and ``up`` and ``demo``, which migrate as they start) create a database:
:func:`open_database` is how everything else opens one. It refuses, with one line naming the
database and what to do, a SQLite file that does not exist, a database that does not answer
and a schema that ``transcriber migrate`` has not made or brought up to date. A SQLite file in
a directory that does not exist is refused by every command, ``migrate`` included: a typo in
``TRANSCRIBER_DATABASE_URL`` must not grow a new directory tree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
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


#: what means "the database does not answer" (a 503 and a retry), and nothing else: a bug in
#: a statement stays a bug (the app's 500 handler), not a fake outage
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout, StoreUnavailable)


class DatabaseNotReady(ConfigError):
    """The database a command opens is missing, does not answer, or has an old schema: one
    line that names it (never a password) and says what to do."""


_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL as SQLite opens it (relative to the working directory; no ``~``
    expansion); None for another database or an in-memory one."""
    if not url.startswith("sqlite") or url in ("sqlite://", "sqlite:///:memory:"):
        return None
    return Path(url.split(":///", 1)[1]).resolve() if ":///" in url else None


def describe(url: str) -> str:
    """The database of ``url`` for a message: a SQLite file's path, else host, port and name
    (never the user or the password)."""
    path = sqlite_file(url)
    if path is not None:
        return f"the SQLite database {path}"
    try:
        parts = make_url(url)
    except ArgumentError:
        return "the database of TRANSCRIBER_DATABASE_URL"
    name = f" {parts.database}" if parts.database else ""
    port = f":{parts.port}" if parts.port else ""
    return f"the database{name} at {parts.host or 'localhost'}{port}"


def check_location(url: str) -> None:
    """Refuse a SQLite file whose directory does not exist (every command, ``migrate`` too)."""
    path = sqlite_file(url)
    if path is not None and not path.parent.is_dir():
        raise DatabaseNotReady(
            f"the directory of {describe(url)} does not exist: create it, or set "
            "TRANSCRIBER_DATABASE_URL to a SQLite file in an existing directory"
        )


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` (SQLite or PostgreSQL)."""
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 10}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            check_location(url)
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
    engine = _answering(url)
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


def open_database(url: str) -> Engine:
    """The process-wide engine of an existing, migrated database, for every command but
    ``migrate``, ``up`` and ``demo``: :class:`DatabaseNotReady` when a SQLite file does not
    exist (nothing is created), the database does not answer, or its schema is missing or
    older than this version's (``transcriber migrate`` upgrades it; nothing else does)."""
    path = sqlite_file(url)
    check_location(url)
    if path is not None and not path.is_file():
        raise DatabaseNotReady(
            f"{describe(url)} does not exist: run `transcriber migrate` to create it, or set "
            "TRANSCRIBER_DATABASE_URL to the database you meant"
        )
    engine = _answering(url)
    current = current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    known = {revision.revision for revision in script.walk_revisions()}
    if current is None:
        raise DatabaseNotReady(f"{describe(url)} has no schema yet: run `transcriber migrate`")
    if current != head and current in known:
        raise DatabaseNotReady(
            f"{describe(url)} has schema revision {current}, older than this version's "
            f"{head}: run `transcriber migrate`"
        )
    return engine


def _answering(url: str) -> Engine:
    """The engine of ``url`` once the database answered, else :class:`DatabaseNotReady`."""
    engine = get_engine(url)
    try:
        ping(engine)
    except DBAPIError as exc:
        raise DatabaseNotReady(
            f"cannot open {describe(url)}: {_cause(exc)}; check that it runs and that "
            "TRANSCRIBER_DATABASE_URL is right"
        ) from exc
    return engine


def _cause(exc: DBAPIError) -> str:
    """The driver's own words, first line only: ``Connection refused``, ``database "x" does
    not exist``, ``file is not a database`` (no SQLAlchemy link, no statement)."""
    lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    # psycopg: 'connection failed: connection to server at "h", port 1 failed: Connection refused'
    return first.rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip()


__all__ = [
    "DatabaseNotReady",
    "StoreUnavailable",
    "check_location",
    "describe",
    "dispose_engines",
    "get_engine",
    "in_transaction",
    "make_engine",
    "migrate",
    "open_database",
    "ping",
    "sqlite_file",
]
