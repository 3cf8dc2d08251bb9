"""The OpenAI stand-in checks what it receives as OpenAI does (through the real SDK), records
how many requests it held at once, and can answer as slowly as a real server."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import openai
import pytest

from tests.engines.conftest import AUDIO
from tests.standins import openai_server as standin
from tests.standins.openai_server import OpenAIStandIn, Reply, audio_seconds

api_key = standin.api_key  # the stand-in's fixtures, used by name below
openai_server = standin.openai_server

EN1 = AUDIO / "en1.ogg"


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


# --------------------------------------------------------------------------- concurrency


class _Clock:
    """A clock that moves one second per reading: flights get distinct, ordered times."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.now += 1.0
            return self.now


class _Gated(OpenAIStandIn):
    """A stand-in whose answers meet at a barrier, then wait for ``release``."""

    def __init__(self, parties: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.all_in = threading.Barrier(parties + 1)  # the handlers and the test
        self.release = threading.Event()

    def _wait(self, seconds: float) -> None:
        self.all_in.wait(30)
        self.release.wait(30)


def test_records_the_most_requests_in_flight(api_key: str) -> None:
    with _Gated(3, api_key=api_key, clock=_Clock()) as server:
        server.enqueue(*[Reply.slow(1) for _ in range(3)])
        client = _client(server, api_key)
        upload = ("en1.ogg", EN1.read_bytes(), "audio/ogg")
        calls = [
            threading.Thread(
                target=client.audio.transcriptions.create,
                kwargs={"file": upload, "model": "whisper-1"},
            )
            for _ in range(3)
        ]
        for call in calls:
            call.start()
        server.all_in.wait(30)  # the three requests are in the server at once
        assert (server.in_flight, server.flights) == (3, [])
        server.release.set()
        for call in calls:
            call.join(30)

    assert server.max_in_flight == 3
    assert server.in_flight == 0
    assert len(server.flights) == 3
    latest_start = max(flight.started for flight in server.flights)
    assert all(flight.ended > latest_start for flight in server.flights)  # all overlapped
    assert sorted(id(flight.request) for flight in server.flights) == sorted(
        id(request) for request in server.requests
    )


def test_sequential_requests_never_overlap(openai_server: OpenAIStandIn, api_key: str) -> None:
    client = _client(openai_server, api_key)
    for _ in range(3):
        client.audio.transcriptions.create(
            file=("en1.ogg", EN1.read_bytes(), "audio/ogg"), model="whisper-1"
        )
    assert openai_server.max_in_flight == 1
    first, second, third = openai_server.flights
    assert first.started <= first.ended <= second.started <= second.ended <= third.started
    assert [flight.request for flight in openai_server.flights] == openai_server.requests


def test_other_paths_are_not_flights(openai_server: OpenAIStandIn, api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    assert httpx.post(openai_server.base_url + "/chat/completions", headers=headers).is_error
    assert (openai_server.flights, openai_server.max_in_flight) == ([], 0)


# --------------------------------------------------------------------------- the slow server


@pytest.mark.parametrize(
    ("name", "seconds"),
    [("en1.ogg", 6.27), ("en2.mp3", 5.36), ("en3.m4a", 5.81), ("en1.webm", 6.27)],
)
def test_audio_seconds(name: str, seconds: float) -> None:
    assert audio_seconds((AUDIO / name).read_bytes()) == pytest.approx(seconds, abs=0.05)


@pytest.mark.parametrize("data", [b"", b"OggS" + b"\0" * 60, b"%PDF-1.4 not audio"])
def test_audio_seconds_of_what_is_not_audio(data: bytes) -> None:
    assert audio_seconds(data) is None


class _NoWaiting(OpenAIStandIn):
    """A stand-in that records the waits it is asked for instead of waiting."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.waits: list[float] = []

    def _wait(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_slow_server_waits_in_proportion_and_answers_verbose_json(api_key: str) -> None:
    with _NoWaiting(api_key=api_key, seconds_per_audio_second=0.01) as server:
        server.set_transcript("en1.ogg", "Hello there.", language="english")
        client = _client(server, api_key)
        result = client.audio.transcriptions.create(
            file=("en1.ogg", EN1.read_bytes(), "audio/ogg"),
            model="whisper-1",
            response_format="verbose_json",
        )
    [request] = server.requests
    assert request.audio_seconds == pytest.approx(6.27, abs=0.05)
    assert server.waits == [pytest.approx(request.audio_seconds * 0.01)]
    assert (result.text, result.language) == ("Hello there.", "english")
    assert result.duration == pytest.approx(request.audio_seconds)
    assert result.segments is not None
    assert result.segments[0].end == pytest.approx(request.audio_seconds)


def test_slow_server_adds_its_wait_to_a_queued_delay_only_for_successes(api_key: str) -> None:
    with _NoWaiting(api_key=api_key, seconds_per_audio_second=1.0) as server:
        server.enqueue(Reply.server_error(503), Reply.success(delay=2.0))
        client = _client(server, api_key)
        upload = ("en1.ogg", EN1.read_bytes(), "audio/ogg")
        with pytest.raises(openai.InternalServerError):
            client.audio.transcriptions.create(file=upload, model="whisper-1")
        client.audio.transcriptions.create(file=upload, model="whisper-1")
    seconds = server.requests[1].audio_seconds
    assert seconds is not None
    assert server.waits == [pytest.approx(2.0 + seconds)]  # none for the 503


def test_slow_server_refuses_what_it_cannot_decode(api_key: str) -> None:
    with OpenAIStandIn(api_key=api_key, seconds_per_audio_second=0.01) as server:
        client = _client(server, api_key)
        with pytest.raises(openai.BadRequestError) as caught:
            client.audio.transcriptions.create(
                file=("a.ogg", b"OggS" + b"\0" * 60, "audio/ogg"), model="whisper-1"
            )
    assert caught.value.code == "invalid_value"
    assert "corrupted or unsupported" in str(caught.value)
    assert server.requests[0].audio_seconds is None


def test_the_slow_factor_must_be_finite_and_not_negative() -> None:
    for factor in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds_per_audio_second"):
            OpenAIStandIn(seconds_per_audio_second=factor)
