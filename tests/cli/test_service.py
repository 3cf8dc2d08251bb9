"""``transcriber worker``: Dramatiq's CLI on the service's actors, polling idle queues every
100 ms. (``up`` runs in tests/test_single_box.py, the Redis worker in tests/jobs/test_entry.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter import single_box
from adapter.cli import service
from tests.cli.helpers import run

pytestmark = pytest.mark.redis


def environ(pid: int) -> dict[str, str]:
    """The environment a process started with (Linux)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture
def worker(cli_env: dict[str, str], redis_url: str, tmp_path: Path) -> Iterator[int]:
    """A running ``transcriber worker`` whose worker process has said it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapter", "worker", "--threads", "1", "--shutdown-timeout", "5"],
        env=dict(cli_env, TRANSCRIBER_REDIS_URL=redis_url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # wait on its own words, not on the clock
        seen.append(line)
        if "Worker process is ready for action" in line:
            break
    else:
        pytest.fail("the worker never became ready:\n" + "".join(seen))
    yield proc.pid
    os.kill(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_worker_polls_idle_queues_every_100_ms(worker: int, cli_env: dict[str, str]) -> None:
    # `transcriber worker` became Dramatiq's CLI: the same process, SIGTERM goes to Dramatiq
    cmdline = Path(f"/proc/{worker}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:4] == [b"-m", b"dramatiq", b"adapter.jobs.entry"]
    # Dramatiq and its worker process started with the variable set…
    [process] = children(worker)
    for pid in (worker, process):
        assert environ(pid)["dramatiq_worker_timeout"] == "100"
    # …which Dramatiq reads as its workers' idle timeout when it is first imported
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import inspect, dramatiq; "
            "print(inspect.signature(dramatiq.Worker).parameters['worker_timeout'].default)",
        ],
        env=environ(process),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "100", probe.stderr


def test_worker_and_up_poll_alike() -> None:
    assert service.WORKER_POLL_MS == single_box.WORKER_POLL_MS == 100


def test_worker_needs_redis(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run(["worker"], cli_env, tmp_path)
    assert out.returncode == 1
    assert "TRANSCRIBER_REDIS_URL" in out.stderr
