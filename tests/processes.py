"""Real ``transcriber`` processes for tests: started in their own session, their output kept
in a log file and announced line by line (``Proc.printed``), killed with SIGKILL or stopped
with SIGTERM as Kubernetes does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import Session

from adapter import accounts as acc
from adapter.engines import weights
from adapter.secrets import load_keyring
from adapter.settings import Settings
from adapter.store import AccountStore, Transcription, get_engine, migrate
from tests.conftest import REPO
from tests.helpers import OpenAIStandIn, stand_in_account
from tests.standins.chatwoot_server import ChatwootStandIn


class Proc:
    """``python -m adapter ARGS``; ``output()`` is what it printed so far, and ``printed`` is
    notified after every line of it."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.printed = threading.Condition()
        self._lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "adapter", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"read-{log.name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        with self.log.open("ab") as log:
            for line in self.popen.stdout:
                log.write(line)
                log.flush()
                with self.printed:
                    self._lines.append(line.decode("utf-8", "replace"))
                    self.printed.notify_all()

    def output(self) -> str:
        with self.printed:
            return "".join(self._lines)

    def kill9(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._reader.join(10)

    def term(self, timeout: float = 30) -> int:
        """SIGTERM to the main process only, as Kubernetes sends it (it tells its children
        itself); its exit status."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        self._reader.join(10)


@contextmanager
def processes() -> Iterator[list[Proc]]:
    """A list to append started processes to; whatever still runs at the end is killed."""
    started: list[Proc] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.close()


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``transcriber`` process on ``settings``' database and the session's
    model cache: leases last 3 s (renewed every second while the work runs) and lost work is
    looked for every second, so a killed process's work is taken back within about 4 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSCRIBER_", "OPENAI_"))}
    env.update(
        {
            "TRANSCRIBER_DATABASE_URL": settings.database_url,
            "TRANSCRIBER_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),  # type: ignore[union-attr]
            "TRANSCRIBER_WORK_DIR": str(settings.temp_dir),
            "TRANSCRIBER_MODEL_DIR": str(settings.model_dir or weights.default_cache_dir()),
            "TRANSCRIBER_LEASE_SECONDS": "3",
            "TRANSCRIBER_RECOVERY_INTERVAL_SECONDS": "1",
            "TRANSCRIBER_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
        }
    )
    env.update(extra)
    return env


def add_account(settings: Settings, chatwoot: ChatwootStandIn, openai: OpenAIStandIn) -> None:
    """Migrate ``settings``' database and add account 3 on the stand-ins."""
    migrate(settings.database_url)
    store = AccountStore(get_engine(settings.database_url))
    acc.create_account(store, load_keyring(settings), 3, stand_in_account(chatwoot, openai))


def row(settings: Settings, transcription_id: int) -> Transcription:
    """The transcription as the database has it now."""
    with Session(get_engine(settings.database_url)) as session:
        found = session.get(Transcription, transcription_id)
    assert found is not None
    return found
