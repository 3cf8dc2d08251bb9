"""The downloader tests' fixtures: a raw server on 127.0.0.1 and a destination file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpdesk.downloading import RawServer


@pytest.fixture
def raw() -> Iterator[RawServer]:
    with RawServer() as server:
        yield server


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    """Where a download goes, alone in its folder (so leftovers show)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder / "audio.bin"
