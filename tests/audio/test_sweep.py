"""sweep(): stale per-job directories go, live ones and everything else stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from adapter.audio import sweep


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.utime(os.path.join(root, name), (then, then), follow_symlinks=False)
    os.utime(path, (then, then))


def test_removes_only_directories_older_than_the_age(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    for name in ("killed-1", "killed-2", "live", "busy"):
        (root / name / "prepared").mkdir(parents=True)
        (root / name / "prepared" / "chunk-000.ogg").write_bytes(b"x")
    (root / "stray-file").write_text("not a job directory")
    _age(root / "killed-1", 7200)
    _age(root / "killed-2", 4000)
    _age(root / "busy", 7200)
    (root / "busy" / "prepared" / "chunk-001.ogg").write_bytes(b"just written")
    _age(root / "stray-file", 7200)

    removed = sweep(root, older_than_seconds=3600)

    assert removed == 2
    assert sorted(p.name for p in root.iterdir()) == ["busy", "live", "stray-file"]


def test_symlinks_are_neither_followed_nor_removed(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    root.mkdir()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    (root / "link").symlink_to(precious, target_is_directory=True)
    _age(precious, 7200)

    assert sweep(root, older_than_seconds=60) == 0
    assert (precious / "keep.txt").exists()


def test_injected_clock_and_missing_root(tmp_path: Path) -> None:
    root = tmp_path / "jobs"
    (root / "job").mkdir(parents=True)

    assert sweep(root, 60, now=time.time()) == 0
    assert sweep(root, 60, now=time.time() + 120) == 1
    assert sweep(tmp_path / "nowhere", 60) == 0
