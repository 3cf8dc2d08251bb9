"""Every setting is documented (the README's configuration table names each variable), and a
bad one is explained in words that name it and never echo a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from adapter.settings import Settings, explain

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def variables() -> list[str]:
    names = []
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.extend(str(choice) for choice in alias.choices)
        elif isinstance(alias, str):
            names.append(alias)
    return names


@pytest.mark.parametrize("name", variables())
def test_every_variable_is_in_the_readme(name: str) -> None:
    assert f"`{name}`" in README, f"{name} is read but not documented in README.md"


def test_every_readme_variable_is_read() -> None:
    documented = {
        word.strip().strip("`")
        for line in README.splitlines()
        if line.startswith("| `")
        for word in line.split("|")[1].split(",")
        if word.strip().startswith("`TRANSCRIBER_")
    }
    assert documented <= set(variables())


def invalid(**values: str) -> str:
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate(values)
    return explain(raised.value)


def test_a_bad_value_is_named_with_what_it_should_be() -> None:
    assert invalid(TRANSCRIBER_ENV="prod") == (
        "TRANSCRIBER_ENV='prod': should be 'development', 'production' or 'test'"
    )
    assert invalid(TRANSCRIBER_MAX_AUDIO_BYTES="-1") == (
        "TRANSCRIBER_MAX_AUDIO_BYTES='-1': should be greater than 0"
    )


def test_a_secret_or_a_url_is_never_echoed() -> None:
    text = invalid(TRANSCRIBER_REDIS_URL="user:hunter2@localhost:6379")
    assert text.startswith("TRANSCRIBER_REDIS_URL: must start with redis://, rediss://, unix://")
    assert "hunter2" not in text and "Value error" not in text
