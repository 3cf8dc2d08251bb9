"""OpenAIEngine: its pure parts (status mapping, answer parsing), then the real openai SDK
against the stand-in server on 127.0.0.1."""

from __future__ import annotations

import logging
import re
import socket
import traceback
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.engines import OpenAIEngine
from adapter.engines.openai_engine import (
    GPT4O_MAX_SECONDS,
    MAX_UPLOAD_BYTES,
    is_gpt_model,
    map_status_error,
    parse_transcription,
)
from adapter.errors import (
    BadAudio,
    ConfigError,
    EngineRejected,
    EngineUnavailable,
    RateLimited,
    TranscriberError,
)
from tests.engines.conftest import AUDIO
from tests.standins.openai_server import OpenAIStandIn, Reply

EN1 = AUDIO / "en1.ogg"


def cause(error: TranscriberError) -> str:
    """The finest reason an error names: the edge's ``detail`` when it gave one, else ``reason``."""
    return error.detail or error.reason


def _engine(server: OpenAIStandIn, key: str, **kwargs: object) -> OpenAIEngine:
    return OpenAIEngine(key, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("status", "code", "error", "reason"),
    [
        (400, None, EngineRejected, "bad_request"),
        (401, "invalid_api_key", EngineRejected, "unauthorized"),
        (403, None, EngineRejected, "forbidden"),
        (404, "model_not_found", EngineRejected, "not_found"),
        (413, None, EngineRejected, "too_large"),
        (415, None, EngineRejected, "unsupported_format"),
        (422, None, EngineRejected, "unprocessable"),
        (418, None, EngineRejected, "http_418"),
        (429, "rate_limit_exceeded", RateLimited, "rate_limited"),
        (429, "insufficient_quota", EngineRejected, "insufficient_quota"),
        (408, None, EngineUnavailable, "engine_unavailable"),
        (500, None, EngineUnavailable, "engine_unavailable"),
        (502, None, EngineUnavailable, "engine_unavailable"),
        (504, None, EngineUnavailable, "engine_unavailable"),
    ],
)
def test_map_status_error(status: int, code: str | None, error: type, reason: str) -> None:
    mapped = map_status_error(status, headers={}, code=code)
    assert type(mapped) is error
    assert cause(mapped) == reason
    assert str(status) in str(mapped)


def test_insufficient_quota_as_type_only() -> None:
    mapped = map_status_error(429, headers={}, error_type="insufficient_quota")
    assert isinstance(mapped, EngineRejected)
    assert cause(mapped) == "insufficient_quota"


def test_rate_limited_reads_retry_after() -> None:
    mapped = map_status_error(429, headers={"Retry-After": "12"}, code="rate_limit_exceeded")
    assert isinstance(mapped, RateLimited)
    assert mapped.retry_after == 12.0


_SHAPE = re.compile(
    r"openai answered HTTP 400(?: \([A-Za-z0-9_.\-, ]+\))?(?: about '[A-Za-z0-9_.\-]+')?"
)


@given(code=st.text(max_size=80), error_type=st.text(max_size=80), param=st.text(max_size=80))
def test_status_messages_hold_only_plain_identifiers(
    code: str, error_type: str, param: str
) -> None:
    message = str(map_status_error(400, headers={}, code=code, error_type=error_type, param=param))
    assert _SHAPE.fullmatch(message), message


def test_key_like_codes_are_dropped() -> None:
    key = "sk-" + "abcdEFGH1234" * 4
    message = str(map_status_error(400, headers={}, code=key, error_type="x" * 40, param=key))
    assert key not in message
    assert "x" * 40 not in message  # a long opaque token


@pytest.mark.parametrize(
    ("body", "content_type", "text", "language", "duration"),
    [
        (
            b'{"text": " hi ", "language": "english", "duration": 2}',
            "application/json",
            "hi",
            "english",
            2.0,
        ),
        (b"plain words\n", "text/plain", "plain words", None, None),
        (b"plain words", None, "plain words", None, None),
        (b'{"text": "x"}', "application/json; charset=utf-8", "x", None, None),
        (b'{"text": "x", "duration": -1}', "application/json", "x", None, None),
        (b'{"text": "x", "duration": true}', "application/json", "x", None, None),
        (b'{"text": "x", "language": "  "}', "application/json", "x", None, None),
        (b"{not json", "text/plain", "{not json", None, None),
        (b'{"text": "x", "segments": "nope"}', "application/json", "x", None, None),
    ],
)
def test_parse_transcription(
    body: bytes,
    content_type: str | None,
    text: str,
    language: str | None,
    duration: float | None,
) -> None:
    parsed = parse_transcription(body, content_type)
    assert (parsed.text, parsed.language, parsed.duration) == (text, language, duration)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{broken", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"text": 3}', "application/json"),
        (b"<html><body>Bad gateway</body></html>", "text/plain"),
        (b"anything", "text/html; charset=utf-8"),
    ],
)
def test_parse_transcription_refuses_non_transcripts(body: bytes, content_type: str) -> None:
    with pytest.raises(EngineUnavailable):
        parse_transcription(body, content_type)


@given(body=st.binary(max_size=300), content_type=st.one_of(st.none(), st.text(max_size=40)))
def test_parse_transcription_never_raises_anything_else(
    body: bytes, content_type: str | None
) -> None:
    try:
        parsed = parse_transcription(body, content_type)
    except EngineUnavailable:
        return
    assert isinstance(parsed.text, str)
    assert parsed.duration is None or parsed.duration >= 0


@pytest.mark.parametrize(
    ("model", "gpt"),
    [
        ("whisper-1", False),
        ("gpt-4o-transcribe", True),
        ("gpt-4o-mini-transcribe", True),
        ("Systran/faster-whisper-small", False),
    ],
)
def test_is_gpt_model(model: str, gpt: bool) -> None:
    assert is_gpt_model(model) is gpt


# --------------------------------------------------------------------------- successes


def test_whisper1_verbose_json(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.set_transcript("en1.ogg", "Hello, I bought a jacket.", duration=6.27)
    engine = _engine(openai_server, api_key, model="whisper-1")

    transcript = engine.transcribe(EN1)

    assert transcript.text == "Hello, I bought a jacket."
    assert transcript.language == "en"
    assert transcript.duration == pytest.approx(6.27)
    assert [(s.start, s.end, s.text) for s in transcript.segments] == [
        (0.0, 6.27, "Hello, I bought a jacket.")
    ]
    [request] = openai_server.requests
    assert request.model == "whisper-1"
    assert request.filename == "en1.ogg"
    assert request.file_content_type == "audio/ogg"
    assert request.size == EN1.stat().st_size
    assert request.head.startswith(b"OggS")
    assert request.response_format == "verbose_json"
    assert request.timestamp_granularities == ("segment",)
    assert request.language is None
    assert request.authorization == f"Bearer {api_key}"


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("english", "en"),
        ("spanish", "es"),
        ("Portuguese", "pt"),
        ("haitian creole", "ht"),
        ("javanese", "jv"),
        ("es", "es"),
        ("klingon", None),
    ],
)
def test_language_names_become_iso_codes(
    openai_server: OpenAIStandIn, api_key: str, reported: str, expected: str | None
) -> None:
    openai_server.set_transcript("en1.ogg", "text", language=reported)
    transcript = _engine(openai_server, api_key, model="whisper-1").transcribe(EN1)
    assert transcript.language == expected


@pytest.mark.parametrize("name", ["en1.ogg", "en1.webm", "en1.wav", "en2.mp3", "en3.m4a"])
def test_file_is_uploaded_under_its_own_name(
    openai_server: OpenAIStandIn, api_key: str, name: str
) -> None:
    path = AUDIO / name
    _engine(openai_server, api_key, model="whisper-1").transcribe(path)
    [request] = openai_server.requests
    assert request.filename == name
    assert request.size == path.stat().st_size
    assert request.file_content_type is not None
    assert request.file_content_type.startswith("audio/")


def test_language_hint_is_sent(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.set_transcript("es1.ogg", "Hola", language="spanish")
    transcript = _engine(openai_server, api_key, model="whisper-1").transcribe(
        AUDIO / "es1.ogg", language="ES"
    )
    assert openai_server.requests[0].language == "es"
    assert transcript.language == "es"


def test_gpt4o_json_calls_the_detector(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.set_transcript("en2.mp3", "Please call me back.")
    asked: list[Path] = []

    def detector(path: Path) -> str | None:
        asked.append(path)
        return "en"

    engine = _engine(
        openai_server, api_key, model="gpt-4o-mini-transcribe", language_detector=detector
    )
    transcript = engine.transcribe(AUDIO / "en2.mp3")

    assert transcript.text == "Please call me back."
    assert transcript.language == "en"
    assert transcript.duration == 0.0  # gpt-4o models report no duration
    assert transcript.segments == ()
    assert asked == [AUDIO / "en2.mp3"]
    [request] = openai_server.requests
    assert request.response_format == "json"
    assert request.timestamp_granularities == ()
    assert engine.limits.max_seconds == GPT4O_MAX_SECONDS


def test_gpt4o_without_detector_has_no_language(openai_server: OpenAIStandIn, api_key: str) -> None:
    transcript = _engine(openai_server, api_key, model="gpt-4o-transcribe").transcribe(EN1)
    assert transcript.language is None
    assert transcript.text == openai_server.default_text


def test_gpt4o_hint_wins_over_detector(openai_server: OpenAIStandIn, api_key: str) -> None:
    def detector(path: Path) -> str | None:
        raise AssertionError("not needed with a hint")

    engine = _engine(
        openai_server, api_key, model="gpt-4o-mini-transcribe", language_detector=detector
    )
    assert engine.transcribe(EN1, language="de").language == "de"
    assert openai_server.requests[0].language == "de"


def test_failing_detector_keeps_the_transcript(
    openai_server: OpenAIStandIn, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    def detector(path: Path) -> str | None:
        raise BadAudio("cannot decode", reason="undecodable")

    engine = _engine(
        openai_server, api_key, model="gpt-4o-mini-transcribe", language_detector=detector
    )
    with caplog.at_level(logging.WARNING, logger="adapter.engines.openai_engine"):
        transcript = engine.transcribe(EN1)
    assert transcript.text == openai_server.default_text
    assert transcript.language is None
    assert "language detection failed" in caplog.text


def test_whisper1_limits(openai_server: OpenAIStandIn, api_key: str) -> None:
    limits = _engine(openai_server, api_key, model="whisper-1").limits
    assert limits.max_seconds is None
    assert limits.max_bytes == MAX_UPLOAD_BYTES < 26_214_400
    assert limits.accepted_extensions == frozenset(
        {"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "ogg", "wav", "webm"}
    )


@pytest.mark.parametrize(
    ("reply", "text", "language", "duration", "segments"),
    [
        (Reply.plain_text("just text\n"), "just text", None, 0.0, 0),
        (Reply.json_text("only json"), "only json", None, 0.0, 0),
        (Reply.verbose_json("no language", language=None), "no language", None, 1.0, 0),
        (
            Reply.verbose_json(
                "from segments",
                duration=None,
                segments=[
                    {"start": 0.0, "end": 1.5, "text": " from"},
                    {"start": 1.5, "end": 2.75, "text": " segments"},
                    {"start": "bad", "text": 3},
                ],
            ),
            "from segments",
            "en",
            2.75,
            2,
        ),
        (Reply.verbose_json("bare", language=None, duration=None), "bare", None, 0.0, 0),
        (Reply.raw(200, b'"a JSON string"'), "a JSON string", None, 0.0, 0),
        (
            Reply.raw(200, b'{"text": "usage", "usage": {"type": "duration", "seconds": 4}}'),
            "usage",
            None,
            4.0,
            0,
        ),
        (
            Reply.raw(200, b'{"text": "gpt-transcribe", "languages": [{"code": "fr"}]}'),
            "gpt-transcribe",
            "fr",
            0.0,
            0,
        ),
        (Reply.plain_text("[Music] hi", content_type="text/plain"), "[Music] hi", None, 0.0, 0),
    ],
)
def test_compatible_server_variations(
    openai_server: OpenAIStandIn,
    api_key: str,
    reply: Reply,
    text: str,
    language: str | None,
    duration: float,
    segments: int,
) -> None:
    openai_server.enqueue(reply)
    transcript = _engine(openai_server, api_key, model="Systran/faster-whisper-small").transcribe(
        EN1
    )
    assert transcript.text == text
    assert transcript.language == language
    assert transcript.duration == pytest.approx(duration)
    assert len(transcript.segments) == segments


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("reply", "error", "reason", "retry_after"),
    [
        (Reply.rate_limited(retry_after="7"), RateLimited, "rate_limited", 7.0),
        (Reply.rate_limited(retry_after="1.5"), RateLimited, "rate_limited", 1.5),
        (
            Reply.rate_limited(retry_after=None, retry_after_ms="250"),
            RateLimited,
            "rate_limited",
            0.25,
        ),
        (Reply.rate_limited(retry_after="2", retry_after_ms="9000"), RateLimited, None, 2.0),
        (Reply.rate_limited(retry_after=None), RateLimited, "rate_limited", None),
        (Reply.insufficient_quota(), EngineRejected, "insufficient_quota", None),
        (Reply.server_error(500), EngineUnavailable, "engine_unavailable", None),
        (Reply.server_error(503), EngineUnavailable, "engine_unavailable", None),
        (Reply.html_error(502), EngineUnavailable, "engine_unavailable", None),
        (
            Reply.raw(200, b"<!DOCTYPE html><p>login</p>", content_type="text/html"),
            EngineUnavailable,
            None,
            None,
        ),
        (Reply.malformed_json(), EngineUnavailable, "engine_unavailable", None),
        (Reply.raw(200, b'{"no": "text"}'), EngineUnavailable, None, None),
        (Reply.error(400, "Invalid file format."), EngineRejected, "bad_request", None),
        (Reply.error(403, "Country not supported"), EngineRejected, "forbidden", None),
        (
            Reply.error(404, "The model does not exist", code="model_not_found"),
            EngineRejected,
            "not_found",
            None,
        ),
        (Reply.error(413, "Maximum content size"), EngineRejected, "too_large", None),
        (Reply.error(422, "Unprocessable"), EngineRejected, "unprocessable", None),
        (Reply.error(409, "Conflict"), EngineUnavailable, None, None),
    ],
)
def test_error_mapping(
    openai_server: OpenAIStandIn,
    api_key: str,
    reply: Reply,
    error: type[TranscriberError],
    reason: str | None,
    retry_after: float | None,
) -> None:
    openai_server.enqueue(reply)
    engine = _engine(openai_server, api_key, model="whisper-1")
    with pytest.raises(error) as caught:
        engine.transcribe(EN1)
    assert type(caught.value) is error
    if reason is not None:
        assert cause(caught.value) == reason
    if error is RateLimited:
        assert caught.value.retry_after == retry_after  # type: ignore[attr-defined]
    assert len(openai_server.requests) == 1  # the SDK did not retry


def test_server_side_size_limit_is_too_large(api_key: str) -> None:
    with (
        OpenAIStandIn(api_key=api_key, max_bytes=1000) as server,
        pytest.raises(EngineRejected) as caught,
    ):
        _engine(server, api_key, model="whisper-1").transcribe(EN1)
    assert cause(caught.value) == "too_large"


def test_timeout_is_engine_unavailable(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.slow(10))
    engine = _engine(openai_server, api_key, model="whisper-1", timeout=0.3)
    with pytest.raises(EngineUnavailable, match=r"did not answer within 0\.3 s"):
        engine.transcribe(EN1)
    assert len(openai_server.requests) == 1


def test_a_calls_timeout_bounds_that_call_only(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.slow(10))
    engine = _engine(openai_server, api_key, model="whisper-1")  # its own timeout: 120 s
    with pytest.raises(EngineUnavailable, match=r"did not answer within 0\.3 s"):
        engine.transcribe(EN1, timeout=0.3)
    assert len(openai_server.requests) == 1  # the SDK did not send it again
    assert engine.transcribe(EN1).text == openai_server.default_text  # the default is back


def test_a_slow_server_runs_out_of_the_calls_timeout(api_key: str) -> None:
    # The stand-in takes one second per second of audio: en1.ogg would take about 6 s.
    with OpenAIStandIn(api_key=api_key, seconds_per_audio_second=1.0) as server:
        engine = _engine(server, api_key, model="whisper-1")
        with pytest.raises(EngineUnavailable):
            engine.transcribe(EN1, timeout=0.3)
        assert len(server.requests) == 1
        assert server.requests[0].audio_seconds == pytest.approx(6.3, abs=0.5)


def test_a_calls_timeout_can_be_longer_than_the_engines(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    openai_server.enqueue(Reply.slow(0.5))
    engine = _engine(openai_server, api_key, model="whisper-1", timeout=0.1)
    assert engine.transcribe(EN1, timeout=30).text == openai_server.default_text
    assert len(openai_server.requests) == 1


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), float("inf")])
def test_a_calls_timeout_must_be_positive(
    openai_server: OpenAIStandIn, api_key: str, timeout: float
) -> None:
    with pytest.raises(ValueError, match="positive"):
        _engine(openai_server, api_key).transcribe(EN1, timeout=timeout)
    assert openai_server.requests == []


def test_connection_refused_is_engine_unavailable(api_key: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = OpenAIEngine(api_key, model="whisper-1", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(EngineUnavailable, match="cannot connect"):
        engine.transcribe(EN1)


# --------------------------------------------------------------------------- the key stays secret


def _everything_about(error: BaseException) -> str:
    return "\n".join(
        [
            str(error),
            repr(error),
            repr(error.args),
            "".join(traceback.format_exception(error)),
            repr(vars(error)),
        ]
    )


def test_wrong_key_never_shows(openai_server: OpenAIStandIn, api_key: str) -> None:
    wrong = api_key[:-6] + "Wr0ngK"
    engine = _engine(openai_server, wrong, model="whisper-1")
    with pytest.raises(EngineRejected) as caught:
        engine.transcribe(EN1)

    assert cause(caught.value) == "unauthorized"
    assert "401" in str(caught.value)
    seen = _everything_about(caught.value)
    assert wrong not in seen
    assert wrong[-4:] not in seen  # OpenAI's message echoes the last four characters
    assert "Incorrect API key" not in seen
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert wrong not in repr(engine)


def test_invalid_key_reply_never_shows(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.invalid_key())
    with pytest.raises(EngineRejected) as caught:
        _engine(openai_server, api_key, model="whisper-1").transcribe(EN1)
    seen = _everything_about(caught.value)
    assert api_key not in seen
    assert api_key[:8] + "*" not in seen
    assert api_key[-4:] not in seen


@pytest.mark.parametrize(
    "reply",
    [
        Reply.rate_limited(),
        Reply.insufficient_quota(),
        Reply.server_error(),
        Reply.malformed_json(),
        Reply.html_error(),
        Reply.slow(10),
    ],
)
def test_no_failure_carries_the_key_or_the_url(
    openai_server: OpenAIStandIn, api_key: str, reply: Reply
) -> None:
    openai_server.enqueue(reply)
    base_url = openai_server.base_url + "?token=query-secret"
    engine = OpenAIEngine(api_key, model="whisper-1", base_url=base_url, timeout=0.3)
    with pytest.raises(TranscriberError) as caught:
        engine.transcribe(EN1)
    assert openai_server.pending == 0  # the programmed reply was the answer
    assert openai_server.requests[0].path.endswith("?token=query-secret")
    seen = _everything_about(caught.value)
    assert api_key not in seen
    assert "query-secret" not in seen
    assert "query-secret" not in repr(engine)


def test_key_like_error_codes_are_dropped(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.error(400, "bad", code=api_key, type="sk-live-" + "q" * 30))
    with pytest.raises(EngineRejected) as caught:
        _engine(openai_server, api_key, model="whisper-1").transcribe(EN1)
    assert api_key not in str(caught.value)
    assert "sk-live" not in str(caught.value)


# --------------------------------------------------------------------------- refused before sending


@pytest.mark.parametrize("name", ["voice.opus", "voice.amr", "voice.oga", "voice"])
def test_unaccepted_extension_is_not_sent(
    openai_server: OpenAIStandIn, api_key: str, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(EN1.read_bytes())
    with pytest.raises(EngineRejected) as caught:
        _engine(openai_server, api_key, model="whisper-1").transcribe(path)
    assert cause(caught.value) == "unsupported_format"
    assert openai_server.requests == []


def test_oversized_file_is_not_sent(
    openai_server: OpenAIStandIn, api_key: str, tmp_path: Path
) -> None:
    path = tmp_path / "long.ogg"
    with open(path, "wb") as sparse:
        sparse.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(EngineRejected) as caught:
        _engine(openai_server, api_key, model="whisper-1").transcribe(path)
    assert cause(caught.value) == "too_large"
    assert openai_server.requests == []


def test_empty_and_missing_files_are_bad_audio(
    openai_server: OpenAIStandIn, api_key: str, tmp_path: Path
) -> None:
    engine = _engine(openai_server, api_key, model="whisper-1")
    (tmp_path / "empty.ogg").write_bytes(b"")
    with pytest.raises(BadAudio):
        engine.transcribe(tmp_path / "empty.ogg")
    with pytest.raises(BadAudio):
        engine.transcribe(tmp_path / "missing.ogg")
    assert openai_server.requests == []


def test_unknown_language_hint_is_a_config_error(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    with pytest.raises(ConfigError):
        _engine(openai_server, api_key, model="whisper-1").transcribe(EN1, language="xx-klingon")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 0.0},
        {"timeout": float("inf")},
        {"timeout": "60"},
        {"model": " "},
        {"base_url": "ftp://example.test/v1"},
    ],
)
def test_bad_configuration(api_key: str, kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"model": "whisper-1", **kwargs}
    with pytest.raises(ConfigError):
        OpenAIEngine(api_key, **arguments)  # type: ignore[arg-type]


def test_empty_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        OpenAIEngine("  ", model="whisper-1")


def test_one_client_per_key_and_url(openai_server: OpenAIStandIn, api_key: str) -> None:
    first = _engine(openai_server, api_key, model="whisper-1")
    second = _engine(openai_server, api_key, model="gpt-4o-transcribe")
    other = _engine(openai_server, api_key + "2", model="whisper-1")
    assert first._client is second._client
    assert first._client is not other._client
