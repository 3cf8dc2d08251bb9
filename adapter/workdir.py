"""The work directory: private to the service's user, or refused.

Downloads are converted and cut in per-job folders under ``WORK_DIR/jobs``; the worker's
heartbeat file is ``WORK_DIR/worker.heartbeat``. ``WORK_DIR`` is ``TRANSCRIBER_WORK_DIR``, or
``$TMPDIR/transcriber-UID`` (one per user, as tmux's ``/tmp/tmux-UID``): a name anyone on the
machine can guess, in a directory anyone can write to. So each time it is asked for,
:func:`private_dir` makes sure of it and of its ``jobs`` folder:

- missing: created with mode 0700 (missing parents as ``mkdir -p`` makes them);
- ours, writable by no one else, but readable by group or others (0755, as an older version or
  a umask left it): tightened to 0700, with a warning, since it holds customers' audio;
- a symbolic link, not a directory, owned by another user, or writable by group or others:
  refused with a :class:`~adapter.errors.ConfigError` that names it and says what to do. What
  is in a directory someone else could write to cannot be trusted (a ``jobs`` link to another
  directory for the sweep to empty, a ``worker.heartbeat`` link for the heartbeat to create),
  so such a directory is not repaired, and nothing in it is used or removed.

The checks and the chmod are made on a descriptor opened with ``O_NOFOLLOW``: on the directory
itself, not on whatever a link swapped in between would point to. The parents are the
operator's to choose and are not checked; ``$TMPDIR`` is normally ``/tmp``, whose sticky bit
keeps others from renaming what is ours in it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

from adapter.errors import ConfigError

log = logging.getLogger(__name__)

#: the per-job folders' parent, inside the work directory
JOBS = "jobs"
_PRIVATE = 0o700
_WHAT_TO_DO = (
    "remove it (it holds only temporary files) or set TRANSCRIBER_WORK_DIR to a directory of "
    "this service's own"
)


def default_work_dir() -> Path:
    """``$TMPDIR/transcriber-UID``: the work directory when TRANSCRIBER_WORK_DIR is not set."""
    return Path(tempfile.gettempdir()) / f"transcriber-{os.geteuid()}"


def private_dir(path: Path) -> Path:
    """``path``, made sure of as a private work directory with a private ``jobs`` folder;
    :class:`ConfigError` when it is not safe to use."""
    _make_private(path, parents=True)
    _make_private(path / JOBS, parents=False)
    return path


def _make_private(path: Path, *, parents: bool) -> None:
    try:
        if parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, _PRIVATE)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the work directory {path}: {exc.strerror}; set TRANSCRIBER_WORK_DIR "
            "to a directory this service's user may write to"
        ) from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ConfigError(_refusal(path, exc)) from None
    try:
        _check(path, fd)
    finally:
        os.close(fd)


def _refusal(path: Path, exc: OSError) -> str:
    """Why ``path`` could not be opened as a directory itself."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        return f"the work directory {path} is a symbolic link, which is not followed: {_WHAT_TO_DO}"
    if mode and not stat.S_ISDIR(mode):
        return f"the work directory {path} is not a directory: {_WHAT_TO_DO}"
    return f"cannot open the work directory {path}: {exc.strerror}; {_WHAT_TO_DO}"


def _check(path: Path, fd: int) -> None:
    info = os.fstat(fd)
    me = os.geteuid()
    if info.st_uid != me:
        raise ConfigError(
            f"the work directory {path} belongs to user {info.st_uid}, not to this service's "
            f"user ({me}); its owner could read or replace the audio in it: {_WHAT_TO_DO}"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"the work directory {path} is writable by other users (mode {mode:04o}), so what "
            f"is in it cannot be trusted: {_WHAT_TO_DO}"
        )
    if mode != _PRIVATE:
        os.fchmod(fd, _PRIVATE)
        if mode & 0o077:
            log.warning(
                "the work directory %s was readable by other users (mode %04o): now 0700",
                path,
                mode,
            )


__all__ = ["JOBS", "default_work_dir", "private_dir"]
