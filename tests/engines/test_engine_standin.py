"""The OpenAI stand-in checks what it receives as OpenAI does (through the real SDK)."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.engines.conftest import AUDIO
from tests.standins.openai_server import OpenAIStandIn, Reply


def _client(server: OpenAIStandIn, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=server.base_url, max_retries=0, timeout=5)


def test_refuses_a_file_format_openai_refuses(openai_server: OpenAIStandIn, api_key: str) -> None:
    with pytest.raises(openai.BadRequestError, match="Invalid file format"):
        _client(openai_server, api_key).audio.transcriptions.create(
            file=("voice.opus", b"OggS" + b"\0" * 60, "audio/ogg"), model="whisper-1"
        )
    assert openai_server.requests[0].filename == "voice.opus"


def test_refuses_oga_like_openai(openai_server: OpenAIStandIn, api_key: str) -> None:
    with pytest.raises(openai.BadRequestError):
        _client(openai_server, api_key).audio.transcriptions.create(
            file=("voice.oga", (AUDIO / "en1.ogg").read_bytes(), "audio/ogg"), model="whisper-1"
        )
    result = _client(openai_server, api_key).audio.transcriptions.create(
        file=("voice.ogg", (AUDIO / "en1.ogg").read_bytes(), "audio/ogg"), model="whisper-1"
    )
    assert result.text == openai_server.default_text


def test_refuses_a_wrong_key_echoing_part_of_it(openai_server: OpenAIStandIn, api_key: str) -> None:
    wrong = api_key[:-4] + "Nope"
    with pytest.raises(openai.AuthenticationError) as caught:
        _client(openai_server, wrong).audio.transcriptions.create(
            file=("a.ogg", b"OggS", "audio/ogg"), model="whisper-1"
        )
    assert caught.value.code == "invalid_api_key"
    assert "Nope" in str(caught.value)  # as OpenAI does: why the engine must scrub
    assert openai_server.requests[0].authorization == f"Bearer {wrong}"


def test_refuses_verbose_json_for_gpt_models(openai_server: OpenAIStandIn, api_key: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(openai_server, api_key).audio.transcriptions.create(
            file=("a.ogg", b"OggS", "audio/ogg"),
            model="gpt-4o-transcribe",
            response_format="verbose_json",
        )
    assert caught.value.code == "unsupported_value"


def test_refuses_missing_fields_and_unknown_paths(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=openai_server.base_url, headers=headers) as client:
        no_file = client.post("/audio/transcriptions", data={"model": "whisper-1"})
        no_model = client.post("/audio/transcriptions", files={"file": ("a.ogg", b"OggS")})
        elsewhere = client.post("/chat/completions", json={})
        no_key = httpx.post(
            openai_server.base_url + "/audio/transcriptions",
            files={"file": ("a.ogg", b"OggS")},
            data={"model": "whisper-1"},
        )
    assert (no_file.status_code, no_model.status_code) == (400, 400)
    assert elsewhere.status_code == 404
    assert no_key.status_code == 401


def test_over_the_limit_is_413(api_key: str) -> None:
    with (
        OpenAIStandIn(api_key=api_key, max_bytes=10) as server,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        _client(server, api_key).audio.transcriptions.create(
            file=("a.ogg", b"OggS" + b"\0" * 20, "audio/ogg"), model="whisper-1"
        )
    assert caught.value.status_code == 413


def test_replies_in_order_then_successes(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.set_transcript("en1.ogg", "scripted", language="german", duration=2.5)
    openai_server.enqueue(Reply.server_error(503), Reply.plain_text("second"))
    client = _client(openai_server, api_key)
    upload = ("en1.ogg", (AUDIO / "en1.ogg").read_bytes(), "audio/ogg")
    with pytest.raises(openai.InternalServerError):
        client.audio.transcriptions.create(file=upload, model="whisper-1")
    assert (
        client.audio.transcriptions.create(file=upload, model="whisper-1", response_format="text")
        == "second"
    )
    verbose = client.audio.transcriptions.create(
        file=upload, model="whisper-1", response_format="verbose_json"
    )
    assert (verbose.text, verbose.language, verbose.duration) == ("scripted", "german", 2.5)
    assert openai_server.pending == 0
    assert len(openai_server.requests) == 3
