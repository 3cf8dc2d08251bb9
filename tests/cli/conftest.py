"""The CLI tests' database and environment; the helpers are in ``tests.cli.helpers``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.settings import get_settings
from tests.cli.helpers import PREFIXES, SECRET_VARIABLES, Call, Result
from tests.conftest import REPO


@pytest.hookimpl(tryfirst=True)  # before the markers and the fixture's params are read
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each command here is a subprocess (about a second): the commands' behaviour does not
    depend on the database, which the store's own tests cover on both, so only the tests marked
    ``both_databases`` also run on PostgreSQL."""
    if "database_url" in metafunc.fixturenames and not metafunc.definition.get_closest_marker(
        "both_databases"
    ):
        # as a marker, so that pytest applies it in place of the fixture's own params
        metafunc.definition.add_marker(
            pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
        )


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, fernet_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIXES)}
    env.update(
        {
            "TRANSCRIBER_DATABASE_URL": database_url,
            "TRANSCRIBER_ENCRYPTION_KEYS": fernet_key,
            "TRANSCRIBER_WORK_DIR": str(tmp_path / "work"),
            "PYTHONPATH": str(REPO),
            **SECRET_VARIABLES,
        }
    )
    return env


@pytest.fixture
def call(
    cli_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Call:
    """``transcriber ARGS`` in this process, in ``tmp_path``, with ``cli_env``'s configuration;
    a test changes it with ``monkeypatch`` between calls."""
    monkeypatch.chdir(tmp_path)
    for name, value in cli_env.items():
        if name.startswith(PREFIXES) or name in SECRET_VARIABLES:
            monkeypatch.setenv(name, value)

    def run_main(args: list[str]) -> Result:
        get_settings.cache_clear()
        capsys.readouterr()
        try:
            code = main(args)
        except SystemExit as exited:  # argparse: --help, bad usage
            code = int(exited.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run_main
