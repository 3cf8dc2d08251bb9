"""Language names and codes → ISO 639-1."""

from __future__ import annotations

import pytest

from adapter.engines.languages import LANGUAGE_NAMES, language_hint, language_name, to_iso639_1
from adapter.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("english", "en"),
        ("English", "en"),
        ("  SPANISH ", "es"),
        ("haitian creole", "ht"),
        ("Haitian  Creole", "ht"),
        ("castilian", "es"),
        ("mandarin", "zh"),
        ("cantonese", "zh"),
        ("javanese", "jv"),
        ("myanmar", "my"),
        ("burmese", "my"),
        ("lao", "lo"),
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("pt_BR", "pt"),
        ("zh-Hant-TW", "zh"),
        ("zh_Hans", "zh"),
        ("ES-es", "es"),
        (" fr ", "fr"),
        ("123", None),
        ("not a language", None),
        ("jw", "jv"),
        ("yue", "zh"),
        ("haw", None),
        ("hawaiian", None),
        ("klingon", None),
        ("xx", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_to_iso639_1(value: str | None, expected: str | None) -> None:
    assert to_iso639_1(value) == expected


@pytest.mark.parametrize(("code", "name"), sorted(LANGUAGE_NAMES.items()))
def test_every_whisper_name_round_trips(code: str, name: str) -> None:
    assert len(code) == 2
    assert to_iso639_1(name.lower()) == code
    assert to_iso639_1(code.upper()) == code


def test_the_table_covers_whispers_languages() -> None:
    # Whisper's 100 languages less Hawaiian (no ISO 639-1 code) and Cantonese (folded into zh)
    assert len(LANGUAGE_NAMES) >= 98
    assert all(code == code.lower() and len(code) == 2 for code in LANGUAGE_NAMES)


def test_language_name() -> None:
    assert language_name("es") == "Spanish"
    assert language_name("english") == "English"
    assert language_name("xx") is None
    assert language_name(None) is None


@pytest.mark.parametrize(
    ("hint", "code"), [(None, None), ("", None), ("  ", None), ("ES", "es"), ("Spanish", "es")]
)
def test_language_hint(hint: str | None, code: str | None) -> None:
    assert language_hint(hint) == code


@pytest.mark.parametrize("hint", ["klingon", "xx", "haw"])
def test_an_unknown_hint_is_a_config_error(hint: str) -> None:
    with pytest.raises(ConfigError, match="ISO 639-1"):
        language_hint(hint)


@pytest.mark.local_engine
def test_every_faster_whisper_code_is_known() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    unmapped = {code for code in _LANGUAGE_CODES if to_iso639_1(code) is None}
    assert unmapped == {"haw"}
    assert len(LANGUAGE_NAMES) == len(_LANGUAGE_CODES) - 2  # haw has no code, yue is zh
