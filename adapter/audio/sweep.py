"""Removing per-job work directories that a killed worker left behind.

A job removes its own directory on every path it controls; a worker killed mid-job (OOM,
SIGKILL, node loss) cannot. :func:`sweep` removes every directory directly under the root whose
newest entry is older than the given age, so a directory a live job is still writing to is
left alone.

Symbolic links are neither followed nor removed, the root's included: the root is opened with
``O_NOFOLLOW`` and everything below is reached through that descriptor (``os.fwalk``,
``shutil.rmtree(dir_fd=…)``, which unlinks a link inside a job's directory without entering it),
so a link swapped in while it runs leads nowhere either. A root that is a link is not swept.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def _newest_mtime(name: str, root: int) -> float:
    """The latest modification time of directory ``name`` in ``root`` and anything inside it."""
    newest = os.stat(name, dir_fd=root, follow_symlinks=False).st_mtime
    for _, dirs, files, fd in os.fwalk(name, dir_fd=root, follow_symlinks=False):
        for entry in (*dirs, *files):
            try:
                newest = max(newest, os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def _open_root(workdir_root: Path) -> int | None:
    """A descriptor of the root directory itself; None when it is missing or is not one."""
    try:
        return os.open(workdir_root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        try:
            link = stat.S_ISLNK(os.lstat(workdir_root).st_mode)
        except OSError:
            link = False
        logger.warning(
            "not sweeping %s: %s",
            workdir_root,
            "a symbolic link, which is never followed" if link else exc.strerror,
        )
        return None


def sweep(workdir_root: Path, older_than_seconds: float, *, now: float | None = None) -> int:
    """Remove directories under ``workdir_root`` untouched for ``older_than_seconds``.

    Returns how many were removed. A missing root, or one that is a symbolic link, removes
    nothing. ``now`` (seconds since the epoch) defaults to the current time.
    """
    root = _open_root(workdir_root)
    if root is None:
        return 0
    cutoff = (time.time() if now is None else now) - older_than_seconds
    removed = 0
    try:
        with os.scandir(root) as entries:
            candidates = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
        for name in candidates:
            try:
                if _newest_mtime(name, root) >= cutoff:
                    continue
                shutil.rmtree(name, dir_fd=root)
            except FileNotFoundError:
                continue  # another sweeper or the job itself removed it
            except OSError as exc:
                logger.warning("could not remove a stale work directory: %s", exc.strerror)
                continue
            removed += 1
    finally:
        os.close(root)
    if removed:
        logger.info("removed %d stale work director%s", removed, "y" if removed == 1 else "ies")
    return removed
