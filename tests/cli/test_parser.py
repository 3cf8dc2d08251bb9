"""``transcriber --help`` documents every command and option, with its default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from adapter.cli import build_parser
from adapter.cli.options import MODEL_DEFAULT
from adapter.engines import DEFAULT_OPENAI_MODEL
from adapter.engines.factory import DEFAULT_LOCAL_MODEL
from tests.cli.helpers import commands, options, run


def test_help_documents_every_command(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = run(["--help"], cli_env, tmp_path)
    assert out.returncode == 0
    for command in (
        "up",
        "serve",
        "worker",
        "migrate",
        "accounts",
        "keys",
        "transcribe",
        "status",
        "retry",
        "demo",
    ):
        assert command in out.stdout
        assert run([command, "--help"], cli_env, tmp_path).returncode == 0


def test_every_option_says_what_it_does_and_its_default() -> None:
    checked = 0
    for name, parser in commands(build_parser()):
        assert parser.description, name
        for action in options(parser):
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), where
            if action.option_strings:  # a positional argument has no default to tell
                assert "(default: " in action.help or action.required, where
                assert "(required)" in action.help or not action.required, where
            checked += 1
    assert checked > 40


def test_the_help_of_each_command_shows_its_options(tmp_path: Path) -> None:
    """What the grammar says is what a user reads (one process: argparse's own rendering)."""
    for name, parser in commands(build_parser()):
        text = parser.format_help()
        for action in options(parser):
            assert action.help is not None
            shown = action.option_strings[0] if action.option_strings else str(action.metavar)
            assert shown in text, name
            assert " ".join(action.help.split()[:3]) in " ".join(text.split()), name


def test_model_defaults_in_the_help_are_the_engines() -> None:
    assert f"{DEFAULT_OPENAI_MODEL} for openai" in MODEL_DEFAULT
    assert f"{DEFAULT_LOCAL_MODEL} for local" in MODEL_DEFAULT


def test_the_console_script_and_python_m_agree(cli_env: dict[str, str], tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("transcriber")
    by_script = subprocess.run(
        [str(script), "accounts", "add", "--help"],
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_script.returncode == 0, by_script.stderr
    by_module = run(["accounts", "add", "--help"], cli_env, tmp_path)
    assert by_script.stdout == by_module.stdout
    assert "--webhook-secret SECRET" in by_script.stdout
