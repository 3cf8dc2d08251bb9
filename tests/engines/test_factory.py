"""build_engine: the engine an account asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.engines import (
    DEFAULT_LOCAL_MODEL,
    DEFAULT_OPENAI_MODEL,
    LocalEngine,
    OpenAIEngine,
    build_engine,
    local_engine_available,
)
from adapter.engines.factory import _WithLanguage
from adapter.errors import ConfigError, EngineUnavailable
from tests.engines.conftest import AUDIO
from tests.standins.openai_server import OpenAIStandIn, Reply


def test_defaults() -> None:
    assert DEFAULT_OPENAI_MODEL == "whisper-1"
    assert DEFAULT_LOCAL_MODEL == "base"


def test_openai(api_key: str) -> None:
    engine = build_engine("openai", api_key=api_key, model=None, base_url=None)
    assert isinstance(engine, OpenAIEngine)
    assert engine.model == "whisper-1"
    assert engine.base_url == "https://api.openai.com/v1"
    assert api_key not in repr(engine)


@pytest.mark.local_engine
def test_openai_gets_the_local_detector(api_key: str) -> None:
    assert local_engine_available()
    engine = build_engine("openai", api_key=api_key, model="gpt-4o-mini-transcribe", base_url=None)
    assert isinstance(engine, OpenAIEngine)
    assert engine.language_detector is not None
    assert engine.model == "gpt-4o-mini-transcribe"


def test_openai_without_local_extra_has_no_detector(
    api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("adapter.engines.factory.local_engine_available", lambda: False)
    engine = build_engine("openai", api_key=api_key, model=None, base_url=None)
    assert isinstance(engine, OpenAIEngine)
    assert engine.language_detector is None


@pytest.mark.parametrize("key", [None, "", "   "])
def test_openai_needs_a_key(key: str | None) -> None:
    with pytest.raises(ConfigError):
        build_engine("openai", api_key=key, model=None, base_url=None)


def test_local(tmp_path: Path) -> None:
    engine = build_engine("local", api_key="ignored", model=None, base_url=None, model_dir=tmp_path)
    assert isinstance(engine, LocalEngine)
    assert engine.model == "base"
    tiny = build_engine("local", api_key=None, model="tiny.en", base_url=None)
    assert isinstance(tiny, LocalEngine)
    assert tiny.model == "tiny.en"


def test_unknown_kind_and_language() -> None:
    with pytest.raises(ConfigError):
        build_engine("azure", api_key="k", model=None, base_url=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        build_engine("local", api_key=None, model=None, base_url=None, language="klingon")


def test_account_language_is_the_default_hint(api_key: str) -> None:
    with OpenAIStandIn(api_key=api_key) as server:
        engine = build_engine(
            "openai",
            api_key=api_key,
            model="gpt-4o-transcribe",
            base_url=server.base_url,
            language="Spanish",
        )
        assert isinstance(engine, _WithLanguage)
        assert engine.name == "openai"
        assert engine.limits.max_seconds == 1400
        assert engine.transcribe(AUDIO / "es1.ogg").language == "es"
        assert engine.transcribe(AUDIO / "es1.ogg", language="pt").language == "pt"
        assert [request.language for request in server.requests] == ["es", "pt"]
        assert api_key not in repr(engine)


def test_the_account_language_wrapper_passes_the_timeout_on(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    engine = build_engine(
        "openai", api_key=api_key, model=None, base_url=openai_server.base_url, language="es"
    )
    openai_server.enqueue(Reply.slow(10))
    with pytest.raises(EngineUnavailable, match=r"within 0\.3 s"):
        engine.transcribe(AUDIO / "es1.ogg", timeout=0.3)
    assert [request.language for request in openai_server.requests] == ["es"]
