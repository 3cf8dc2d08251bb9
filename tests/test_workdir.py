"""The work directory (``adapter.workdir``, ``Settings.temp_dir``): made private (0700, with a
0700 ``jobs`` folder), tightened when it is ours and only readable by others, refused with a
message naming it when it is a link, not a directory, another user's or writable by others;
and the sweep never follows a link out of it."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

import pytest

from adapter.audio import sweep
from adapter.errors import ConfigError
from adapter.settings import Settings
from adapter.workdir import default_work_dir, private_dir

NOBODY = 65534


def settings(work_dir: Path | None = None) -> Settings:
    values = {"TRANSCRIBER_DATABASE_URL": "sqlite://", "TRANSCRIBER_ENV": "test"}
    if work_dir is not None:
        values["TRANSCRIBER_WORK_DIR"] = str(work_dir)
    return Settings.model_validate(values)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def old(path: Path, seconds: float = 7200) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_a_fresh_one_is_created_0700_with_its_jobs_folder(tmp_path: Path) -> None:
    work = tmp_path / "a" / "b" / "work"
    previous = os.umask(0o022)
    try:
        assert private_dir(work) == work
    finally:
        os.umask(previous)
    assert mode(work) == 0o700
    assert mode(work / "jobs") == 0o700
    assert os.lstat(work).st_uid == os.geteuid()
    assert private_dir(work) == work  # again: nothing to do


def test_the_settings_default_is_per_user_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    expected = tmp_path / f"transcriber-{os.geteuid()}"
    assert default_work_dir() == expected
    assert settings().temp_dir == expected
    assert mode(expected) == 0o700 and mode(expected / "jobs") == 0o700
    assert settings(tmp_path / "mine").temp_dir == tmp_path / "mine"
    assert mode(tmp_path / "mine") == 0o700


def test_ours_and_readable_by_others_is_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    work = tmp_path / "work"
    (work / "jobs").mkdir(parents=True)
    work.chmod(0o755)
    (work / "jobs").chmod(0o750)
    with caplog.at_level(logging.WARNING, logger="adapter.workdir"):
        private_dir(work)
    assert mode(work) == 0o700 and mode(work / "jobs") == 0o700
    assert f"the work directory {work} was readable by other users (mode 0755): now 0700" in (
        caplog.text
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
@pytest.mark.parametrize("which", ["work", "jobs"])
def test_another_users_is_refused(tmp_path: Path, which: str) -> None:
    work = tmp_path / "work"
    (work / "jobs").mkdir(parents=True, mode=0o700)
    theirs = work if which == "work" else work / "jobs"
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(ConfigError) as refused:
        private_dir(work)
    assert str(refused.value) == (
        f"the work directory {theirs} belongs to user {NOBODY}, not to this service's user "
        f"({os.geteuid()}); its owner could read or replace the audio in it: remove it (it "
        "holds only temporary files) or set TRANSCRIBER_WORK_DIR to a directory of this "
        "service's own"
    )
    assert os.lstat(theirs).st_uid == NOBODY  # left as it is


@pytest.mark.parametrize("bits", [0o777, 0o1777, 0o770, 0o702])
def test_writable_by_others_is_refused_and_left_alone(tmp_path: Path, bits: int) -> None:
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(bits)
    (work / "planted").write_text("x")
    with pytest.raises(ConfigError) as refused:
        private_dir(work)
    assert f"the work directory {work} is writable by other users (mode {bits:04o})" in str(
        refused.value
    )
    assert "set TRANSCRIBER_WORK_DIR" in str(refused.value)
    assert mode(work) == bits
    assert not (work / "jobs").exists()


def test_a_link_or_a_file_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    link = tmp_path / "work"
    link.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ConfigError, match="is a symbolic link, which is not followed"):
        private_dir(link)
    assert list(elsewhere.iterdir()) == []

    work = tmp_path / "real"
    work.mkdir()
    (work / "jobs").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ConfigError, match=f"the work directory {work / 'jobs'} is a symbolic"):
        private_dir(work)

    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ConfigError, match=f"the work directory {file} is not a directory"):
        private_dir(file)


def test_one_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=f"cannot create the work directory {tmp_path}/file/w"):
        private_dir(tmp_path / "file" / "w")


# ─── the sweep never follows a link ───────────────────────────────────────────────────────────


def _outside(tmp_path: Path) -> Path:
    """A directory outside the work directory that looks like a stale job's."""
    outside = tmp_path / "outside"
    (outside / "precious").mkdir(parents=True)
    (outside / "precious" / "keep.txt").write_text("keep")
    for path in (outside / "precious" / "keep.txt", outside / "precious", outside):
        old(path)
    return outside


def test_a_jobs_folder_that_is_a_link_is_not_swept(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "jobs").symlink_to(outside, target_is_directory=True)

    assert sweep(work / "jobs", older_than_seconds=60) == 0

    assert (outside / "precious" / "keep.txt").read_text() == "keep"


def test_links_inside_a_stale_job_are_removed_not_followed(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    jobs = tmp_path / "work" / "jobs"
    job = jobs / "t1-dead"
    job.mkdir(parents=True)
    (job / "audio").symlink_to(outside / "precious", target_is_directory=True)
    (job / "file").symlink_to(outside / "precious" / "keep.txt")
    for path in (job / "audio", job / "file", job):
        old(path)

    assert sweep(jobs, older_than_seconds=60) == 1

    assert not job.exists()
    assert (outside / "precious" / "keep.txt").read_text() == "keep"


def test_settings_refuse_a_linked_jobs_folder_before_anything_sweeps(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    (work / "jobs").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match="is a symbolic link"):
        sweep(settings(work).temp_dir / "jobs", older_than_seconds=60)
    assert (outside / "precious" / "keep.txt").read_text() == "keep"
