"""Worker heartbeat: each worker process touches a file; the liveness probe checks its age.

``python -m adapter.jobs.liveness --max-age 120`` exits 0 when the heartbeat is fresh.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from pathlib import Path

from adapter.settings import get_settings

PERIOD_SECONDS = 15.0
FILENAME = "worker.heartbeat"


def heartbeat_path(work_dir: Path | None = None) -> Path:
    """The heartbeat file in ``work_dir`` (default: the configured work directory)."""
    return (work_dir or get_settings().temp_dir) / FILENAME


def beat(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    os.utime(path)


def start_heartbeat(path: Path, period: float = PERIOD_SECONDS) -> threading.Event:
    """Touch ``path`` every ``period`` seconds in a daemon thread; set the event to stop."""
    stop = threading.Event()

    def run() -> None:
        while True:
            with contextlib.suppress(OSError):
                beat(path)
            if stop.wait(period):
                return

    threading.Thread(target=run, name="heartbeat", daemon=True).start()
    return stop


def check(path: Path, max_age: float, now: float | None = None) -> tuple[bool, str]:
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False, f"no heartbeat at {path}"
    if age > max_age:
        return False, f"heartbeat is {age:.0f}s old (limit {max_age:.0f}s)"
    return True, f"heartbeat {age:.0f}s old"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m adapter.jobs.liveness",
        description="Exit 0 when the worker heartbeat is fresh.",
    )
    parser.add_argument("--max-age", type=float, default=120.0, help="seconds (default 120)")
    parser.add_argument("--path", type=Path, default=None, help="heartbeat file")
    args = parser.parse_args(argv)
    ok, message = check(args.path or heartbeat_path(), args.max_age)
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
