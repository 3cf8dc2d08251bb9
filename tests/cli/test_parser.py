"""``transcriber --help`` documents every command and option, with its default."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from adapter.accounts import OPENAI_MODELS
from adapter.cli import build_parser
from adapter.cli.options import MODEL_DEFAULT
from adapter.engines import DEFAULT_OPENAI_MODEL
from adapter.engines.factory import DEFAULT_LOCAL_MODEL
from adapter.engines.weights import MODEL_NAMES
from adapter.settings import Settings
from tests.cli.helpers import Call, commands, options, run
from tests.test_settings import variables as setting_variables


def test_help_documents_every_command(cli_env: dict[str, str], tmp_path: Path, call: Call) -> None:
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
        "list",
        "demo",
    ):
        assert command in out.stdout
        assert call([command, "--help"]).returncode == 0


#: options that stand in for a setting, whatever their name: their help names the variable
#: (an option of the same name as a setting's field does too)
MIRRORED = {
    "--engine": "TRANSCRIBER_DEFAULT_ENGINE",
    "--base-url": "OPENAI_BASE_URL",
    "--openai-api-key": "OPENAI_API_KEY",
}


def shown(default: object) -> str:
    """A default as a help text writes it: 600.0 is "600"."""
    return f"{default:g}" if isinstance(default, float) else str(default)


def test_every_option_says_what_it_does_and_its_default() -> None:
    """Each option's help describes it, then ends with its default (which is the default the
    grammar applies) or "(required)"; an option that stands in for a setting names its
    environment variable."""
    variables = {name.lower(): name for name in setting_variables()}
    fields = {
        name: field.validation_alias
        for name, field in Settings.model_fields.items()
        if isinstance(field.validation_alias, str)
    }
    checked = 0
    for name, parser in commands(build_parser()):
        assert parser.description, name
        for action in options(parser):
            where = f"{name} {'/'.join(action.option_strings) or action.dest}"
            text = " ".join((action.help or "").split())
            assert text and not text.startswith("("), where  # a description comes first
            checked += 1
            if not action.option_strings:
                continue  # a positional argument has no default to tell
            if action.required:
                assert text.endswith("(required)") and "(default: " not in text, where
                continue
            assert text.count("(default: ") == 1 and text.endswith(")"), where
            said = text[text.index("(default: ") :]
            if not isinstance(action.default, bool | None | list):  # a flag's, or none
                assert shown(action.default) in said, where
            variable = MIRRORED.get(action.option_strings[0]) or fields.get(action.dest)
            if variable is not None and action.default is None:  # the setting fills it in
                assert variable in text, where
                assert variables[variable.lower()] == variable  # a variable the service reads
    assert checked > 60


def test_the_help_of_each_command_shows_its_options(tmp_path: Path) -> None:
    """What the grammar says is what a user reads (one process: argparse's own rendering)."""
    for name, parser in commands(build_parser()):
        text = parser.format_help()
        for action in options(parser):
            assert action.help is not None
            shown = action.option_strings[0] if action.option_strings else str(action.metavar)
            assert shown in text, name
            assert " ".join(action.help.split()[:3]) in " ".join(text.split()), name


def test_model_defaults_and_names_in_the_help_are_the_engines() -> None:
    assert f"{DEFAULT_OPENAI_MODEL} for openai" in MODEL_DEFAULT
    assert f"{DEFAULT_LOCAL_MODEL} for local" in MODEL_DEFAULT
    [model] = [a for a in options(build_parser_of("accounts add")) if a.dest == "model"]
    assert model.help is not None
    assert f"{' or '.join(MODEL_NAMES)} (local)" in model.help
    for name in ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"):
        assert name in model.help and name in OPENAI_MODELS


def build_parser_of(command: str) -> argparse.ArgumentParser:
    return dict(commands(build_parser()))[f"transcriber {command}"]


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
