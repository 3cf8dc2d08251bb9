"""Throwaway PostgreSQL and Redis servers for the restart tests, never the shared ones.

Each runs on a free port of 127.0.0.1 from its own temporary directory, and the test stops and
starts it again at will; leaving the ``with`` block stops it and removes the directory.

    with postgres_server() as pg:        # initdb, then pg_ctl start (as ``postgres`` under root)
        migrate(pg.url)
        pg.stop()                        # pg_ctl stop -m fast: every connection is cut
        pg.start()                       # the same data, the same port
    with redis_server() as redis:        # redis-server --save "" --appendonly no
        redis.restart()                  # everything it held is gone

PostgreSQL's binaries are found in ``/usr/lib/postgresql/<version>/bin`` (the newest), or on
``PATH``. PostgreSQL refuses to run as root: under root its commands run as the ``postgres``
user (or ``TEST_PG_USER``), which owns the directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import redis

#: the database ``postgres_server`` creates
DATABASE = "transcriber"
#: how long a server may take to start or stop, in seconds
STARTUP_TIMEOUT = 30


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str:
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    found = str(versions[-1]) if versions else shutil.which(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; ``url`` is its database ``DATABASE``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="transcriber-pg-"))
        self.data = self.root / "data"
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = os.environ.get("TEST_PG_USER", "postgres")
            account = pwd.getpwnam(self._user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run(
            _pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            args,
            check=True,
            capture_output=True,
            user=self._user,
            cwd=self.root,
            timeout=STARTUP_TIMEOUT,
        )

    def start(self) -> None:
        """Start it and wait until it takes connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        """Stop it as an operator's restart does: open connections are cut at once."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self) -> None:
        self._run(
            _pg_bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            f'CREATE DATABASE "{DATABASE}"',
        )

    def close(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            if (self.data / "postmaster.pid").exists():
                self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started throwaway PostgreSQL with an empty database ``DATABASE``."""
    server = PostgresServer()
    try:
        server.start()
        server.create_database()
        yield server
    finally:
        server.close()


class RedisServer:
    """One ``redis-server`` that keeps nothing on disk: a restart forgets every message."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="transcriber-redis-"))
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it says it takes connections."""
        popen = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--loglevel",
                "notice",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._popen = popen
        ready = threading.Event()

        def read() -> None:
            assert popen.stdout is not None
            for line in popen.stdout:  # read to the end, so that it never blocks on a full pipe
                if b"Ready to accept connections" in line:
                    ready.set()
            ready.set()  # it exited

        threading.Thread(target=read, name=f"redis-{self.port}", daemon=True).start()
        if not ready.wait(STARTUP_TIMEOUT) or popen.poll() is not None:
            raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Stop it (SIGTERM; with nothing to save, it keeps nothing)."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.terminate()
            self._popen.wait(STARTUP_TIMEOUT)
        self._popen = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def close(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.kill()
            self._popen.wait(STARTUP_TIMEOUT)
        self._popen = None
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A started throwaway Redis without persistence."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


__all__ = [
    "DATABASE",
    "PostgresServer",
    "RedisServer",
    "free_port",
    "postgres_server",
    "redis_server",
]
