"""Background helpers every worker process runs: heartbeat, recovery sweep, temp sweep."""

from __future__ import annotations

import logging
import random
import threading

from adapter.jobs.liveness import heartbeat_path, start_heartbeat
from adapter.runtime import Runtime
from adapter.settings import get_settings

log = logging.getLogger(__name__)


def start_recovery(period: float) -> threading.Event:
    """Every ``period`` seconds (with jitter), re-enqueue rows whose work was lost."""
    from adapter.jobs.ops import recover
    from adapter.runtime import current

    stop = threading.Event()

    def run() -> None:
        while not stop.wait(period * random.uniform(0.8, 1.2)):
            try:
                recover(current())
            except Exception:
                log.exception("recovery sweep failed")

    threading.Thread(target=run, name="recovery", daemon=True).start()
    return stop


def _sweep_temp() -> None:
    from adapter.audio import sweep

    settings = get_settings()
    try:
        removed = sweep(settings.temp_dir / "jobs", older_than_seconds=settings.stuck_after_seconds)
    except Exception:
        log.exception("temporary file sweep failed")
        return
    if removed:
        log.info("removed %d leftover temporary dir(s)", removed)


def start_background(rt: Runtime) -> list[threading.Event]:
    """Sweep leftovers, then start the heartbeat and the recovery loop. Returns their stops."""
    _sweep_temp()
    return [
        start_heartbeat(heartbeat_path(rt.settings.temp_dir)),
        start_recovery(rt.settings.recovery_interval_seconds),
    ]
