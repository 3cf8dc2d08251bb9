"""Every setting is documented: the README's configuration table names each variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import AliasChoices

from adapter.settings import Settings

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
