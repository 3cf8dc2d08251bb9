"""OpenAIEngine.translate: Whisper's translate task through the real openai SDK against the
stand-in server on 127.0.0.1 (``POST /v1/audio/translations``)."""

from __future__ import annotations

import traceback
import warnings
from pathlib import Path

import pytest

from adapter.engines import OpenAIEngine
from adapter.errors import (
    BadAudio,
    EngineRejected,
    EngineUnavailable,
    RateLimited,
    TranscriberError,
)
from tests.engines.conftest import AUDIO
from tests.standins.openai_server import OpenAIStandIn, Reply

EN1 = AUDIO / "en1.ogg"


def _engine(server: OpenAIStandIn, key: str, **kwargs: object) -> OpenAIEngine:
    return OpenAIEngine(key, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


def _everything_about(error: BaseException) -> str:
    return "\n".join(
        [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    )


def test_translate_is_english_with_timed_segments(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    openai_server.set_transcript("en1.ogg", "Hola, ¿qué tal?", language="spanish", duration=6.3)
    openai_server.set_translation("en1.ogg", "Hello, how are you?")
    transcript = _engine(openai_server, api_key).translate(EN1)

    assert transcript.text == "Hello, how are you?"
    assert transcript.language == "en"  # what it is written in, not what was spoken
    assert transcript.duration == pytest.approx(6.3)
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.0, 6.3, "Hello, how are you?")
    ]
    [request] = openai_server.requests
    assert request.path == "/v1/audio/translations"
    assert (request.model, request.response_format) == ("whisper-1", "verbose_json")
    assert (request.filename, request.file_content_type) == ("en1.ogg", "audio/ogg")
    assert request.size == EN1.stat().st_size
    assert "language" not in request.fields
    assert request.timestamp_granularities == ()
    assert request.authorization == f"Bearer {api_key}"
    assert openai_server.transcription_requests == []


def test_translate_raises_no_sdk_deprecation_warning(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    # The SDK's audio.translations.create warns at every call; the engine does not use it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _engine(openai_server, api_key).translate(EN1)
    assert len(openai_server.translation_requests) == 1


@pytest.mark.parametrize("model", ["gpt-4o-transcribe", "gpt-4o-mini-transcribe"])
def test_gpt_models_are_refused_without_a_request(
    openai_server: OpenAIStandIn, api_key: str, model: str
) -> None:
    with pytest.raises(EngineRejected) as caught:
        _engine(openai_server, api_key, model=model).translate(EN1)
    assert caught.value.detail == "unsupported"
    assert openai_server.requests == []


def test_a_compatible_servers_whisper_model_is_sent(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    openai_server.enqueue(Reply.raw(200, b'{"text": " Hello. "}'))  # no segments, no duration
    engine = _engine(openai_server, api_key, model="Systran/faster-whisper-small")
    transcript = engine.translate(EN1)
    assert (transcript.text, transcript.language, transcript.duration) == ("Hello.", "en", 0.0)
    assert openai_server.requests[0].model == "Systran/faster-whisper-small"


def test_the_base_urls_query_goes_along(openai_server: OpenAIStandIn, api_key: str) -> None:
    base_url = openai_server.base_url + "?api-version=2024-06-01"
    OpenAIEngine(api_key, base_url=base_url).translate(EN1)
    assert openai_server.requests[0].path == "/v1/audio/translations?api-version=2024-06-01"


@pytest.mark.parametrize(
    ("reply", "error", "reason"),
    [
        (Reply.rate_limited(retry_after="7"), RateLimited, "rate_limited"),
        (Reply.insufficient_quota(), EngineRejected, "insufficient_quota"),
        (Reply.server_error(503), EngineUnavailable, "engine_unavailable"),
        (Reply.html_error(), EngineUnavailable, "engine_unavailable"),
        (Reply.malformed_json(), EngineUnavailable, "engine_unavailable"),
        (Reply.error(400, "Invalid file format."), EngineRejected, "bad_request"),
        (Reply.error(404, "no", code="model_not_found"), EngineRejected, "not_found"),
    ],
)
def test_errors_are_mapped(
    openai_server: OpenAIStandIn,
    api_key: str,
    reply: Reply,
    error: type[TranscriberError],
    reason: str,
) -> None:
    openai_server.enqueue(reply)
    with pytest.raises(error) as caught:
        _engine(openai_server, api_key).translate(EN1)
    assert type(caught.value) is error
    assert (caught.value.detail or caught.value.reason) == reason
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7.0
    assert caught.value.__cause__ is None
    # no SDK exception rides along (a JSON error may, suppressed: it is our own parsing's)
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert len(openai_server.requests) == 1  # the SDK did not retry


def test_the_key_never_shows(openai_server: OpenAIStandIn, api_key: str) -> None:
    wrong = api_key[:-6] + "Wr0ngK"
    with pytest.raises(EngineRejected) as caught:
        _engine(openai_server, wrong).translate(EN1)
    assert caught.value.detail == "unauthorized"
    seen = _everything_about(caught.value)
    assert wrong not in seen
    assert wrong[-4:] not in seen
    assert "Incorrect API key" not in seen
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_a_calls_timeout_bounds_it(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.slow(10))
    engine = _engine(openai_server, api_key)
    with pytest.raises(EngineUnavailable, match=r"did not answer within 0\.3 s"):
        engine.translate(EN1, timeout=0.3)
    assert len(openai_server.requests) == 1
    assert engine.translate(EN1).text == openai_server.default_translation


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_a_calls_timeout_must_be_positive(
    openai_server: OpenAIStandIn, api_key: str, timeout: float
) -> None:
    with pytest.raises(ValueError, match="positive"):
        _engine(openai_server, api_key).translate(EN1, timeout=timeout)
    assert openai_server.requests == []


def test_files_are_checked_before_sending(
    openai_server: OpenAIStandIn, api_key: str, tmp_path: Path
) -> None:
    engine = _engine(openai_server, api_key)
    opus = tmp_path / "voice.opus"
    opus.write_bytes(EN1.read_bytes())
    with pytest.raises(EngineRejected) as caught:
        engine.translate(opus)
    assert caught.value.detail == "unsupported_format"
    (tmp_path / "empty.ogg").write_bytes(b"")
    with pytest.raises(BadAudio):
        engine.translate(tmp_path / "empty.ogg")
    with pytest.raises(BadAudio):
        engine.translate(tmp_path / "missing.ogg")
    assert openai_server.requests == []


def test_translate_and_transcribe_share_the_engines_client(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    engine = _engine(openai_server, api_key)
    openai_server.set_translation("en1.ogg", "In English.")
    assert engine.transcribe(EN1).text == openai_server.default_text
    assert engine.translate(EN1).text == "In English."
    assert [r.path for r in openai_server.requests] == [
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
    ]
