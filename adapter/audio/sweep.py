"""Removing per-job work directories that a killed worker left behind.

A job removes its own directory on every path it controls; a worker killed mid-job (OOM,
SIGKILL, node loss) cannot. :func:`sweep` removes every directory directly under the root whose
newest entry is older than the given age, so a directory a live job is still writing to is
left alone. Symbolic links are neither followed nor removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def _newest_mtime(directory: str) -> float:
    """The latest modification time of ``directory`` and anything inside it."""
    newest = os.lstat(directory).st_mtime
    for root, dirs, files in os.walk(directory, followlinks=False):
        for name in (*dirs, *files):
            try:
                newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def sweep(workdir_root: Path, older_than_seconds: float, *, now: float | None = None) -> int:
    """Remove directories under ``workdir_root`` untouched for ``older_than_seconds``.

    Returns how many were removed. A missing root removes nothing. ``now`` (seconds since the
    epoch) defaults to the current time.
    """
    if not workdir_root.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - older_than_seconds
    removed = 0
    with os.scandir(workdir_root) as entries:
        candidates = [entry.path for entry in entries if entry.is_dir(follow_symlinks=False)]
    for path in candidates:
        try:
            if _newest_mtime(path) >= cutoff:
                continue
            shutil.rmtree(path)
        except FileNotFoundError:
            continue  # another sweeper or the job itself removed it
        except OSError as exc:
            logger.warning("could not remove a stale work directory: %s", exc.strerror)
            continue
        removed += 1
    if removed:
        logger.info("removed %d stale work director%s", removed, "y" if removed == 1 else "ies")
    return removed
