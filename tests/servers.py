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
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

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
    """One PostgreSQL cluster in a temporary directory; ``url`` is its database ``DATABASE``,
    created when it first starts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="transcriber-pg-"))
        self.data = self.root / "data"
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = os.environ.get("TEST_PG_USER", "postgres")
            account = pwd.getpwnam(self._user)
            os.chown(self.root, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, name: str, options: str, *args: str) -> None:
        """PostgreSQL's command ``name`` with ``options`` (separated by spaces), then ``args``."""
        subprocess.run(
            [_pg_bin(name), *options.split(), *args],
            check=True,
            capture_output=True,
            user=self._user,
            cwd=self.root,
            timeout=STARTUP_TIMEOUT,
        )

    def start(self) -> None:
        """Start it (a new cluster the first time) and wait until it takes connections."""
        first = not self.data.exists()
        if first:
            self._run(
                "initdb", "-U postgres -A trust -E UTF8 --no-locale --no-sync -D", str(self.data)
            )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(self.root / "log")
        self._run("pg_ctl", "-w start -o", options, "-l", log, "-D", str(self.data))
        if first:
            where = f"-h 127.0.0.1 -p {self.port} -U postgres -d postgres -c"
            self._run("psql", where, f'CREATE DATABASE "{DATABASE}"')

    def stop(self) -> None:
        """Stop it as an operator's restart does: open connections are cut at once."""
        self._run("pg_ctl", "-m fast -w stop -D", str(self.data))

    def close(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-m immediate stop -D", str(self.data))
        shutil.rmtree(self.root, ignore_errors=True)


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
        options = "--bind 127.0.0.1 --save '' --appendonly no --loglevel notice --port"
        popen = subprocess.Popen(
            ["redis-server", *shlex.split(options), str(self.port), "--dir", str(self.root)],
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


Server = TypeVar("Server", PostgresServer, RedisServer)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """``server`` started; stopped and its directory removed when the block ends."""
    try:
        server.start()
        yield server
    finally:
        server.close()


def postgres_server() -> contextlib.AbstractContextManager[PostgresServer]:
    """A started throwaway PostgreSQL with an empty database ``DATABASE``."""
    return running(PostgresServer())


def redis_server() -> contextlib.AbstractContextManager[RedisServer]:
    """A started throwaway Redis without persistence."""
    return running(RedisServer())


__all__ = [
    "DATABASE",
    "PostgresServer",
    "RedisServer",
    "free_port",
    "postgres_server",
    "redis_server",
    "running",
]
