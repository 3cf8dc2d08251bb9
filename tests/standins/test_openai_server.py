"""The OpenAI stand-in checks what it receives as OpenAI does (through the real SDK), records
how many requests it held at once, can answer as slowly as a real server, and speaks the
translations and chat endpoints in the shapes of the SDK's own types."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import openai
import pytest
from openai.types.audio import Translation, TranslationVerbose
from openai.types.chat import ChatCompletion

from tests.engines.conftest import AUDIO
from tests.standins import openai_server as standin
from tests.standins.openai_server import ChatMessage, OpenAIStandIn, Reply, audio_seconds

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
        elsewhere = client.post("/embeddings", json={})
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


# --------------------------------------------------------------------------- translations

# ``audio.translations.create`` warns (DeprecationWarning) at every call: the SDK itself is
# what checks the stand-in's shapes here, so these tests accept its warning.
translations_warn = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


@translations_warn
def test_translations_answer_in_english(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.set_transcript("es1.ogg", "Hola.", language="spanish", duration=4.5)
    openai_server.set_translation("es1.ogg", "Hello.")
    client = _client(openai_server, api_key)
    upload = ("es1.ogg", EN1.read_bytes(), "audio/ogg")
    verbose = client.audio.translations.create(
        file=upload, model="whisper-1", response_format="verbose_json"
    )
    assert (verbose.text, verbose.language, verbose.duration) == ("Hello.", "english", 4.5)
    assert verbose.segments is not None
    assert verbose.segments[0].text.strip() == "Hello."
    assert client.audio.translations.create(file=upload, model="whisper-1").text == "Hello."
    plain = client.audio.translations.create(file=upload, model="whisper-1", response_format="text")
    assert plain.strip() == "Hello."
    other = client.audio.translations.create(file=("other.ogg", b"OggS", "audio/ogg"), model="x")
    assert other.text == openai_server.default_translation


@translations_warn
def test_translation_shapes_validate_against_the_sdks_types(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    upload = {"file": ("a.ogg", EN1.read_bytes(), "audio/ogg")}
    with httpx.Client(base_url=openai_server.base_url, headers=headers) as client:
        verbose = client.post(
            "/audio/translations",
            files=upload,
            data={"model": "whisper-1", "response_format": "verbose_json"},
        )
        plain = client.post("/audio/translations", files=upload, data={"model": "whisper-1"})
    TranslationVerbose.model_validate(verbose.json(), strict=True)
    Translation.model_validate(plain.json(), strict=True)
    assert verbose.json()["task"] == "translate"


@translations_warn
def test_translations_refuse_gpt_models_and_a_language(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    client = _client(openai_server, api_key)
    upload = ("a.ogg", EN1.read_bytes(), "audio/ogg")
    with pytest.raises(openai.BadRequestError) as gpt:
        client.audio.translations.create(file=upload, model="gpt-4o-transcribe")
    assert (gpt.value.code, gpt.value.param) == ("unsupported_value", "model")
    with pytest.raises(openai.BadRequestError) as language:
        client.audio.translations.create(
            file=upload, model="whisper-1", extra_body={"language": "es"}
        )
    assert language.value.param == "language"
    with pytest.raises(openai.BadRequestError, match="Invalid file format"):
        client.audio.translations.create(file=("a.opus", b"OggS", "audio/ogg"), model="whisper-1")


@translations_warn
def test_translations_are_flights_and_recorded_apart(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    client = _client(openai_server, api_key)
    upload = ("en1.ogg", EN1.read_bytes(), "audio/ogg")
    client.audio.transcriptions.create(file=upload, model="whisper-1")
    client.audio.translations.create(file=upload, model="whisper-1", prompt="Names: Zoë.")
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    transcription, translation, chat = openai_server.requests
    assert openai_server.transcription_requests == [transcription]
    assert openai_server.translation_requests == [translation]
    assert openai_server.chat_requests == [chat]
    assert translation.fields["prompt"] == "Names: Zoë."
    assert [flight.request for flight in openai_server.flights] == [transcription, translation]
    assert sum(r.path.endswith("/audio/transcriptions") for r in openai_server.requests) == 1


# --------------------------------------------------------------------------- chat


def _chat(client: openai.OpenAI, content: str = "hello", **kwargs: Any) -> Any:
    arguments: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": content}],
        **kwargs,
    }
    return client.chat.completions.create(**arguments)


def test_chat_answers_a_completion_the_sdk_reads(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    openai_server.set_chat_reply("Bonjour.")
    completion = _chat(_client(openai_server, api_key), max_tokens=20)
    assert completion.choices[0].message.content == "Bonjour."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 1
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    [request] = openai_server.chat_requests
    assert request.messages == (ChatMessage("user", "hello"),)
    assert request.max_tokens == 20
    assert request.body is not None
    assert request.body["model"] == "gpt-4o-mini"
    assert request.authorization == f"Bearer {api_key}"


def test_chat_bodies_validate_against_the_sdks_types(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    openai_server.enqueue(Reply.chat("x", usage=False), Reply.chat(None, finish_reason="length"))
    headers = {"Authorization": f"Bearer {api_key}"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=openai_server.base_url, headers=headers) as client:
        answers = [client.post("/chat/completions", json=body).json() for _ in range(3)]
    for answer in answers:
        ChatCompletion.model_validate(answer, strict=True)
    assert "usage" not in answers[0]
    assert answers[1]["choices"][0]["message"]["content"] is None


def test_chat_default_answers(openai_server: OpenAIStandIn, api_key: str) -> None:
    client = _client(openai_server, api_key)
    data = "Agent: Hello, how can I help?\nCustomer: My order 42 never came."
    summary = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You summarise conversations."},
            {"role": "user", "content": f"Go:\n<transcript>\n{data}\n</transcript>\nThanks."},
        ],
    )
    lines = (summary.choices[0].message.content or "").splitlines()
    assert lines[0] == "- The customer said: Agent: Hello, how can I help?"
    assert all(line.startswith("- ") for line in lines)
    echo = _chat(client, f"Translate:\n<transcript>\n{data}\n</transcript>\nOnly that.")
    assert echo.choices[0].message.content == data
    assert _chat(client, "no tags").choices[0].message.content == "no tags"


def test_chat_reply_from_a_function_and_cut_at_the_limit(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    openai_server.set_chat_reply(lambda request: request.messages[-1].content.upper())
    client = _client(openai_server, api_key)
    assert _chat(client, "one two").choices[0].message.content == "ONE TWO"
    cut = _chat(client, "one two three four", max_tokens=2).choices[0]
    assert (cut.message.content, cut.finish_reason) == ("ONE TWO", "length")
    openai_server.set_chat_reply(None)
    assert _chat(client, "back").choices[0].message.content == "back"


def test_chat_uses_the_reply_queue(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.rate_limited(retry_after="3"), Reply.server_error(503))
    client = _client(openai_server, api_key)
    with pytest.raises(openai.RateLimitError) as limited:
        _chat(client)
    assert limited.value.response.headers["Retry-After"] == "3"
    with pytest.raises(openai.InternalServerError):
        _chat(client)
    assert _chat(client).choices[0].message.content == "hello"


def test_chat_refuses_a_missing_or_wrong_key(openai_server: OpenAIStandIn, api_key: str) -> None:
    with pytest.raises(openai.AuthenticationError) as wrong:
        _chat(_client(openai_server, api_key[:-4] + "Nope"))
    assert wrong.value.code == "invalid_api_key"
    no_key = httpx.post(
        openai_server.base_url + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert no_key.status_code == 401
    assert len(openai_server.chat_requests) == 2  # recorded although refused


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "model", None),
        ({"model": "gpt-4o-mini"}, "messages", "missing_required_parameter"),
        ({"model": "gpt-4o-mini", "messages": "hi"}, "messages", "invalid_type"),
        ({"model": "gpt-4o-mini", "messages": []}, "messages", "empty_array"),
        ({"model": "gpt-4o-mini", "messages": ["hi"]}, "messages[0]", "invalid_type"),
        (
            {"model": "gpt-4o-mini", "messages": [{"content": "hi"}]},
            "messages[0].role",
            "missing_required_parameter",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "boss"}]},
            "messages[1].role",
            "invalid_value",
        ),
        (
            {"model": "gpt-4o-mini", "messages": [{"role": "user"}]},
            "messages[0].content",
            "missing_required_parameter",
        ),
        (
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 7}]},
            "messages[0].content",
            "invalid_type",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "a"}], "max_tokens": 0},
            "max_tokens",
            "integer_below_min_value",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "a"}], "max_tokens": "9"},
            "max_tokens",
            "invalid_type",
        ),
        (
            {
                "model": "gpt-5-mini",
                "messages": [{"role": "user", "content": "a"}],
                "max_tokens": 9,
            },
            "max_tokens",
            "unsupported_parameter",
        ),
        (
            {"model": "o4-mini", "messages": [{"role": "user", "content": "a"}], "temperature": 0},
            "temperature",
            "unsupported_value",
        ),
    ],
)
def test_chat_refuses_what_openai_refuses(
    openai_server: OpenAIStandIn, api_key: str, body: dict[str, Any], param: str, code: str | None
) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    answer = httpx.post(openai_server.base_url + "/chat/completions", json=body, headers=headers)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == (param, code)


def test_chat_refuses_a_body_that_is_not_json(openai_server: OpenAIStandIn, api_key: str) -> None:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    answer = httpx.post(openai_server.base_url + "/chat/completions", content=b"{", headers=headers)
    assert answer.status_code == 400
    assert openai_server.chat_requests[0].body is None


def test_chat_accepts_what_openai_accepts(openai_server: OpenAIStandIn, api_key: str) -> None:
    client = _client(openai_server, api_key)
    reasoning = client.chat.completions.create(
        model="gpt-5-mini",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": None, "refusal": "no"},  # type: ignore[typeddict-item]
            {"role": "user", "content": "again"},
        ],
        max_completion_tokens=5,
    )
    assert reasoning.choices[0].message.content == "again"
    request = openai_server.chat_requests[0]
    assert [m.role for m in request.messages] == ["developer", "user", "assistant", "user"]
    assert request.messages[1].content == "hi"
    assert request.max_tokens == 5
