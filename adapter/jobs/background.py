"""Background helpers every worker process runs: heartbeat, recovery sweep, temp sweep, and
the reconciler (``adapter.scan.reconciler``)."""

from __future__ import annotations

import logging
import random
import threading

from adapter.audio import sweep
from adapter.jobs.liveness import heartbeat_path, start_heartbeat
from adapter.jobs.recovery import SWEEP_JITTER, recover
from adapter.runtime import Runtime
from adapter.scan.reconciler import start_reconciler

log = logging.getLogger(__name__)


def start_recovery(rt: Runtime, period: float) -> threading.Event:
    """Every ``period`` seconds (with jitter), re-enqueue rows whose work was lost."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(period * random.uniform(2 - SWEEP_JITTER, SWEEP_JITTER)):
            try:
                recover(rt)
            except Exception:
                log.exception("recovery sweep failed")

    threading.Thread(target=run, name="recovery", daemon=True).start()
    return stop


def sweep_temp(rt: Runtime) -> None:
    """Remove the per-job directories a killed worker left behind. A work directory that is
    not safe to use (``adapter.workdir``) stops the process here, as it starts."""
    jobs = rt.settings.temp_dir / "jobs"
    try:
        removed = sweep(jobs, older_than_seconds=rt.settings.stuck_after_seconds)
    except Exception:
        log.exception("temporary file sweep failed")
        return
    if removed:
        log.info("removed %d leftover temporary dir(s)", removed)


def start_background(rt: Runtime) -> list[threading.Event]:
    """Sweep leftovers, then start the heartbeat, the recovery loop and the reconciler (unless
    its interval is 0). Returns their stops."""
    sweep_temp(rt)
    stops = [
        start_heartbeat(heartbeat_path(rt.settings.temp_dir)),
        start_recovery(rt, rt.settings.recovery_interval_seconds),
    ]
    reconciler = start_reconciler(rt)
    if reconciler is not None:
        stops.append(reconciler)
    return stops


__all__ = ["start_background", "start_recovery", "sweep_temp"]
