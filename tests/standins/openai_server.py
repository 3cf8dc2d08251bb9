"""A stand-in for OpenAI's speech-to-text and chat endpoints: a real HTTP server on 127.0.0.1.

It speaks ``POST /v1/audio/transcriptions`` (multipart: ``file``, ``model``, ``response_format``,
``language``, ``timestamp_granularities[]``), ``POST /v1/audio/translations`` (multipart:
``file``, ``model``, ``response_format``, ``prompt``, ``temperature``; no ``language``),
``POST /v1/chat/completions`` (JSON: ``model``, ``messages``, ``max_tokens`` or
``max_completion_tokens``, ``temperature``) and ``GET /v1/models`` (the free listing ``doctor``
checks a key with: 401 for a missing or wrong key, else a few models; recorded with its path and
no file), closely enough for the real ``openai`` SDK, checks
what it receives as OpenAI does, records every request, and answers from a programmable queue.

    from tests.standins.openai_server import OpenAIStandIn, Reply

    with OpenAIStandIn() as server:               # or the ``openai_server`` fixture below
        server.set_transcript("en1.ogg", "Hello there.", language="english", duration=6.3)
        server.enqueue(Reply.rate_limited(retry_after="7"))   # the first request gets a 429
        engine = OpenAIEngine(key, model="whisper-1", base_url=server.base_url)
        ...                                        # second request: the transcript above
        assert server.requests[-1].filename == "en1.ogg"

Checks, before any queued reply is used (each answers like OpenAI does):
  * no ``Authorization: Bearer …`` → 401; with ``api_key=`` given, a different key → 401
    ``invalid_api_key`` whose message echoes part of the key (as OpenAI's does);
  * no ``file`` or ``model`` field → 400; a file name whose extension OpenAI does not accept →
    400 "Invalid file format"; a file over ``max_bytes`` (25 MiB) → 413;
  * a ``gpt-…`` model asked for anything but ``json``/``text`` → 400 ``unsupported_value``;
  * translations: a ``gpt-…`` model → 400 (OpenAI translates with ``whisper-1`` only), a
    ``language`` field → 400 (the endpoint has none);
  * chat: a body that is not a JSON object → 400; no ``model`` → 400; ``messages`` missing, not
    a list, empty, or holding an item without a known ``role`` or a string/array ``content`` →
    400 naming the item (``messages[1].role``); ``max_tokens``/``max_completion_tokens`` not an
    integer ≥ 1 → 400; a reasoning model (``o1``, ``o3``, ``o4``, ``gpt-5``…) sent
    ``max_tokens`` or a ``temperature`` other than 1 → 400 ``unsupported_parameter`` /
    ``unsupported_value``, as OpenAI answers.

Replies: the queue (``enqueue``) is consumed one reply per request that passed the checks,
whatever its endpoint; when it is empty the answer is a success rendered from the request:
``verbose_json`` (language as an English name, duration, one segment), ``json`` (``{"text": …,
"usage": …}``), or plain ``text``. The transcript is the one set for that file name (or its stem)
with ``set_transcript``, else ``default_text``; a translation (``verbose_json`` says
``"language": "english"``) is the English text set with ``set_translation``, else
``default_translation``. See :class:`Reply` for the canned failures (429 with ``Retry-After``,
429 ``insufficient_quota``, 5xx, 401, slow answers, malformed JSON, HTML error pages) and chat
bodies (:meth:`Reply.chat`: any content, ``finish_reason`` or usage).

A chat success is a ``chat.completion`` with one choice and a ``usage`` block
(``prompt_tokens``, ``completion_tokens``, ``total_tokens``; a token is a word here). Its text is
what ``set_chat_reply`` was given (a text, or a function of the :class:`RecordedRequest`), else
:func:`default_chat_answer`: for a summary prompt (a system message mentioning "summar", not
"translat") three ``- `` lines naming the first words of the data between ``<transcript>`` and
``</transcript>``, for any other prompt that data unchanged (an identity "translation" whose
pieces a test can follow). An answer longer than the request's token limit is cut there,
``finish_reason`` ``length``.

Recorded requests (``server.requests``, a list of :class:`RecordedRequest`; by endpoint:
``transcription_requests``, ``translation_requests``, ``chat_requests``) carry the path, the
model, the file name, size, content type, first bytes and SHA-256, the response format,
language, timestamp granularities and the ``Authorization`` header; a chat request its
``messages`` (:class:`ChatMessage`), its token limit (``max_tokens``) and its whole JSON ``body``.

Concurrency: ``server.flights`` holds one :class:`Flight` per audio request (transcription or
translation) answered (when it started and ended, on the stand-in's ``clock``), and
``server.max_in_flight`` the most requests it held at once, as a rate limiter or a worker pool
sees it. Chat requests are not flights.

Slow server: ``OpenAIStandIn(seconds_per_audio_second=0.01)`` decodes each upload's duration with
PyAV (``RecordedRequest.audio_seconds``) and takes that long times the factor to answer its
default success, a ``verbose_json`` transcript of that duration; an upload PyAV cannot read gets
OpenAI's 400 "Audio file might be corrupted or unsupported".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import PurePosixPath
from types import TracebackType
from typing import TypeVar

import av
import pytest

#: what OpenAI accepts by file name; it rejects ".oga", ".opus" and ".amr" (the brief's facts),
#: which is exactly the mistake this stand-in must catch
ACCEPTED_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "ogg", "wav", "webm")
MAX_BYTES = 26_214_400
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"
TRANSLATIONS_PATH = "/v1/audio/translations"
CHAT_PATH = "/v1/chat/completions"
#: the roles OpenAI accepts in ``messages``
CHAT_ROLES = ("system", "assistant", "user", "function", "tool", "developer")
#: OpenAI's reasoning models: ``max_completion_tokens`` only, ``temperature`` 1 only
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
#: ``GET /v1/models``: free, what ``doctor`` checks a key with
MODELS_PATH = "/v1/models"
MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-mini")


@dataclass(frozen=True)
class ChatMessage:
    """One item of a chat request's ``messages``: its role and its text (parts joined)."""

    role: str
    content: str


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in received (recorded even when it was refused)."""

    path: str
    authorization: str | None
    model: str | None
    filename: str | None
    file_content_type: str | None
    size: int  # bytes of the uploaded file
    head: bytes  # its first 16 bytes: enough to tell Ogg from RIFF from ID3
    sha256: str | None
    response_format: str | None
    language: str | None
    timestamp_granularities: tuple[str, ...]
    fields: dict[str, str] = field(default_factory=dict)  # every plain form field
    audio_seconds: float | None = None  # the upload's duration (decoded in slow-server mode only)
    # chat requests only: the readable messages, the token limit, the whole JSON body
    messages: tuple[ChatMessage, ...] = ()
    max_tokens: int | None = None  # ``max_tokens`` or ``max_completion_tokens``
    body: dict[str, object] | None = None


@dataclass(frozen=True)
class Flight:
    """One transcription request's time in the server: from its headers read to its answer sent."""

    started: float  # on the stand-in's clock (``time.monotonic`` unless given another)
    ended: float
    request: RecordedRequest | None  # None when its body could not be read


@dataclass(frozen=True)
class Scripted:
    """What the stand-in "hears" in one file."""

    text: str
    language: str = "english"  # as whisper-1 reports it: an English name
    duration: float = 1.0


@dataclass(frozen=True)
class Reply:
    """One programmed answer. Build them with the class methods."""

    status: int = 200
    body: bytes | None = None  # None: render a success from the request
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds to wait before answering
    echo_key: bool = False  # 401 whose message echoes part of the key sent

    @classmethod
    def success(cls, *, delay: float = 0.0) -> Reply:
        """The default answer: the scripted transcript in the requested format."""
        return cls(delay=delay)

    @classmethod
    def verbose_json(
        cls,
        text: str,
        *,
        language: str | None = "english",
        duration: float | None = 1.0,
        segments: list[dict[str, object]] | None = None,
    ) -> Reply:
        """A whisper-1 ``verbose_json`` body; ``None`` leaves a field out (compatible servers)."""
        body: dict[str, object] = {"task": "transcribe", "text": text}
        if language is not None:
            body["language"] = language
        if duration is not None:
            body["duration"] = duration
        if segments is not None:
            body["segments"] = segments
        return cls.raw(200, json.dumps(body).encode())

    @classmethod
    def json_text(cls, text: str) -> Reply:
        """A gpt-4o-transcribe ``json`` body: the text and token usage, nothing else."""
        return cls.raw(200, json.dumps({"text": text, "usage": _token_usage(text)}).encode())

    @classmethod
    def chat(
        cls,
        content: str | None,
        *,
        finish_reason: str = "stop",
        usage: bool = True,
        refusal: str | None = None,
        model: str = "gpt-4o-mini-2024-07-18",
    ) -> Reply:
        """A ``chat.completion`` with this one choice; ``usage=False`` leaves the usage block
        out (as some self-hosted servers do), ``content=None`` sends ``null``."""
        body = _chat_body(
            content,
            model=model,
            finish_reason=finish_reason,
            usage=_chat_usage(3, len((content or "").split())) if usage else None,
            refusal=refusal,
        )
        return cls.raw(200, json.dumps(body).encode())

    @classmethod
    def plain_text(cls, text: str, *, content_type: str = "text/plain; charset=utf-8") -> Reply:
        """A ``text`` body."""
        return cls.raw(200, text.encode(), content_type=content_type)

    @classmethod
    def raw(
        cls,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """Exactly this answer."""
        return cls(status, body, content_type, tuple((headers or {}).items()), delay)

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """An OpenAI-shaped error: ``{"error": {"message", "type", "param", "code"}}``."""
        error = {"message": message, "type": type, "param": param, "code": code}
        return cls.raw(status, json.dumps({"error": error}).encode(), headers=headers)

    @classmethod
    def rate_limited(
        cls, *, retry_after: str | None = "1", retry_after_ms: str | None = None
    ) -> Reply:
        """429 ``rate_limit_exceeded`` with ``Retry-After`` and/or ``retry-after-ms`` headers."""
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms
        return cls.error(
            429,
            "Rate limit reached for whisper-1 on requests per min (RPM): Limit 3, Used 3.",
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )

    @classmethod
    def insufficient_quota(cls) -> Reply:
        """429 ``insufficient_quota``: the account is out of credit (retrying cannot help)."""
        return cls.error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            type="insufficient_quota",
            code="insufficient_quota",
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls.error(
            status, "The server had an error while processing your request.", type="server_error"
        )

    @classmethod
    def invalid_key(cls) -> Reply:
        """401 ``invalid_api_key`` echoing part of the key sent, as OpenAI does."""
        return cls(status=401, echo_key=True)

    @classmethod
    def slow(cls, seconds: float, then: Reply | None = None) -> Reply:
        """Wait ``seconds`` before answering (``then``, or a success)."""
        base = then or cls()
        return cls(base.status, base.body, base.content_type, base.headers, seconds, base.echo_key)

    @classmethod
    def malformed_json(cls) -> Reply:
        return cls.raw(200, b'{"text": "cut off in the mid')

    @classmethod
    def html_error(cls, status: int = 502) -> Reply:
        """A gateway's HTML error page."""
        page = (
            b"<html><head><title>502 Bad Gateway</title></head><body>"
            b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
        )
        return cls.raw(status, page, content_type="text/html")


def _token_usage(text: str) -> dict[str, object]:
    output = max(1, len(text.split()))
    return {
        "type": "tokens",
        "input_tokens": 50,
        "output_tokens": output,
        "total_tokens": 50 + output,
        "input_token_details": {"audio_tokens": 50, "text_tokens": 0},
    }


def _chat_usage(prompt: int, completion: int) -> dict[str, object]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_body(
    content: str | None,
    *,
    model: str,
    finish_reason: str,
    usage: dict[str, object] | None,
    refusal: str | None = None,
) -> dict[str, object]:
    """A ``chat.completion`` as OpenAI sends it (the shape of the SDK's ``ChatCompletion``)."""
    digest = hashlib.sha256(f"{model}{content}".encode()).hexdigest()
    message: dict[str, object] = {
        "role": "assistant",
        "content": content,
        "refusal": refusal,
        "annotations": [],
    }
    body: dict[str, object] = {
        "id": f"chatcmpl-{digest[:29]}",
        "object": "chat.completion",
        "created": 1767225600,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "service_tier": "default",
        "system_fingerprint": f"fp_{digest[29:39]}",
    }
    if usage is not None:
        body["usage"] = usage
    return body


def _masked(key: str) -> str:
    """How OpenAI shows a wrong key back: a prefix, stars, the last four characters."""
    if len(key) <= 12:
        return "*" * len(key)
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


class OpenAIStandIn:
    """The server. Start it with ``with`` (or ``start()``/``close()``); see the module docstring.

    ``api_key``: when set, any other bearer token gets 401. ``max_bytes``: the upload limit.
    ``default_text``: the transcript of files nobody scripted. ``seconds_per_audio_second``: above
    0, the slow-server mode (see the module docstring). ``clock``: what ``flights`` are timed by.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        max_bytes: int = MAX_BYTES,
        default_text: str = "This is the stand-in transcript.",
        default_translation: str = "This is the stand-in translation.",
        seconds_per_audio_second: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(seconds_per_audio_second) and seconds_per_audio_second >= 0):
            raise ValueError("seconds_per_audio_second must be a finite number, 0 or more")
        self.api_key = api_key
        self.max_bytes = max_bytes
        self.default_text = default_text
        self.default_translation = default_translation
        self._translations: dict[str, str] = {}
        self._chat_answer: ChatAnswer | None = None
        self.seconds_per_audio_second = seconds_per_audio_second
        self.clock = clock
        self.requests: list[RecordedRequest] = []
        self.flights: list[Flight] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._scripts: dict[str, Scripted] = {}
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        #: notified after every recorded request: wait with ``arrived.wait_for(predicate, t)``
        self.arrived = threading.Condition()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- programming it

    def set_transcript(
        self, filename: str, text: str, *, language: str = "english", duration: float = 1.0
    ) -> None:
        """What the server hears in ``filename`` (matched whole, else by its stem)."""
        with self._lock:
            self._scripts[filename] = Scripted(text, language, duration)

    def set_translation(self, filename: str, text: str) -> None:
        """The English text ``/audio/translations`` returns for ``filename`` (matched whole, else
        by its stem); its duration is the one ``set_transcript`` gave, else 1 s."""
        with self._lock:
            self._translations[filename] = text

    def set_chat_reply(self, answer: ChatAnswer | None) -> None:
        """What chat successes say from now on: a text, or a function of the request (None:
        back to :func:`default_chat_answer`)."""
        with self._lock:
            self._chat_answer = answer

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order; then go back to successes."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Queued replies not used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def transcription_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if _endpoint(r.path) == TRANSCRIPTIONS_PATH]

    @property
    def translation_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if _endpoint(r.path) == TRANSLATIONS_PATH]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if _endpoint(r.path) == CHAT_PATH]

    @property
    def max_in_flight(self) -> int:
        """The most transcription requests the server held at once so far."""
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        """Transcription requests in the server now."""
        with self._lock:
            return self._in_flight

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's ``base_url``: ``http://127.0.0.1:PORT/v1``."""
        if self._httpd is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    # -- life cycle

    def start(self) -> OpenAIStandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # quick shutdown
            name="openai-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()  # wakes slow replies
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> OpenAIStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- used by the handler

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
        with self.arrived:
            self.arrived.notify_all()

    @contextlib.contextmanager
    def _flight(self) -> Iterator[_FlightLog]:
        """Count one transcription request in flight; the handler appends what it recorded and
        lands it (``land``) just before its answer goes out, so that a client sending its next
        request at once never finds this one still in flight."""
        flight = _FlightLog(self, self.clock())
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield flight
        finally:
            flight.land()

    def _answer_delay(self, request: RecordedRequest) -> float:
        """The slow-server mode's wait before a default success."""
        if request.audio_seconds is None:
            return 0.0
        return request.audio_seconds * self.seconds_per_audio_second

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else Reply()

    def _translation_for(self, filename: str | None) -> str:
        with self._lock:
            found = _by_name(self._translations, filename)
            return self.default_translation if found is None else found

    def _chat_text(self, request: RecordedRequest) -> str:
        with self._lock:
            answer = self._chat_answer
        if answer is None:
            return default_chat_answer(request)
        return answer if isinstance(answer, str) else answer(request)

    def _script_for(self, filename: str | None) -> Scripted:
        with self._lock:
            found = _by_name(self._scripts, filename)
            return Scripted(self.default_text) if found is None else found

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)


#: what chat successes say: a text, or a function of the request
ChatAnswer = str | Callable[[RecordedRequest], str]
_T = TypeVar("_T")


def _endpoint(path: str) -> str:
    return path.split("?", 1)[0]


def _by_name(table: Mapping[str, _T], filename: str | None) -> _T | None:
    """``table``'s entry for ``filename``, else for a name with the same stem."""
    if not filename:
        return None
    if filename in table:
        return table[filename]
    stem = PurePosixPath(filename).stem
    for name, value in table.items():
        if PurePosixPath(name).stem == stem:
            return value
    return None


_DATA = re.compile(r"<transcript>\n?(.*?)\n?</transcript>", re.DOTALL)


def default_chat_answer(request: RecordedRequest) -> str:
    """A deterministic answer derived from a chat request: for a summary prompt (a system or
    developer message mentions "summar" and not "translat") three ``- `` lines naming the data's
    first words and length; otherwise the data unchanged. The data is what the last user message
    holds between ``<transcript>`` and ``</transcript>`` (the whole message without one)."""
    users = [m.content for m in request.messages if m.role == "user"]
    last = users[-1] if users else ""
    found = _DATA.search(last)
    data = found.group(1) if found else last
    system = " ".join(m.content for m in request.messages if m.role in ("system", "developer"))
    if "summar" not in system.lower() or "translat" in system.lower():
        return data
    words = data.split()
    return (
        f"- The customer said: {' '.join(words[:6]) or 'nothing'}\n"
        f"- {len(words)} words were said\n"
        "- No action was promised"
    )


@dataclass
class _Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def _parse_multipart(body: bytes, content_type: str) -> list[_Part]:
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise ValueError("no multipart boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        chunk = chunk.removeprefix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a part without headers")
        headers = Message()
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        field_name = headers.get_param("name", header="content-disposition")
        filename = headers.get_param("filename", header="content-disposition")
        parts.append(
            _Part(
                name=field_name if isinstance(field_name, str) else "",
                filename=filename if isinstance(filename, str) else None,
                content_type=headers.get("content-type"),
                data=data.removesuffix(b"\r\n"),
            )
        )
    return parts


class _FlightLog:
    """One transcription request being answered (see ``OpenAIStandIn._flight``)."""

    def __init__(self, standin: OpenAIStandIn, started: float) -> None:
        self.standin = standin
        self.started = started
        self.recorded: list[RecordedRequest] = []
        self.landed = False

    def land(self) -> None:
        """The answer is about to go out: the request is no longer in flight (once)."""
        if self.landed:
            return
        self.landed = True
        ended = self.standin.clock()
        with self.standin._lock:
            self.standin._in_flight -= 1
            request = self.recorded[0] if self.recorded else None
            self.standin.flights.append(Flight(self.started, ended, request))


class _Handler(BaseHTTPRequestHandler):
    # header and body go out as separate writes: without this, each answer on a kept-alive
    # connection waits ~40 ms for a delayed ACK (Nagle), which distorts timings
    disable_nagle_algorithm = True
    standin: OpenAIStandIn
    protocol_version = "HTTP/1.1"
    #: the transcription request being answered, if any
    _flight_log: _FlightLog | None = None

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read ``requests`` instead

    def do_GET(self) -> None:
        self._drain()
        if self.path.split("?", 1)[0] != MODELS_PATH:
            self._json(404, _error_body(f"Invalid URL (GET {self.path})", "invalid_request_error"))
            return
        authorization = self.headers.get("Authorization")
        self.standin._record(_listing(self.path, authorization))
        key = authorization[7:] if authorization and authorization.startswith("Bearer ") else ""
        if not key:
            self._json(401, _error_body("You didn't provide an API key.", "invalid_request_error"))
        elif self.standin.api_key is not None and key != self.standin.api_key:
            message = f"Incorrect API key provided: {_masked(key)}."
            self._json(401, _error_body(message, "invalid_request_error", code="invalid_api_key"))
        else:
            data = [
                {"id": name, "object": "model", "created": 1677610602, "owned_by": "openai"}
                for name in MODELS
            ]
            self._json(200, json.dumps({"object": "list", "data": data}).encode())

    def do_POST(self) -> None:
        endpoint = _endpoint(self.path)
        if endpoint in (TRANSCRIPTIONS_PATH, TRANSLATIONS_PATH):
            with self.standin._flight() as flight:
                self._flight_log = flight
                body = self._read_body()
                if body is not None:
                    self._audio(body, translate=endpoint == TRANSLATIONS_PATH)
            return
        body = self._read_body()
        if body is None:
            return
        if endpoint == CHAT_PATH:
            self._chat(body)
        else:
            self._json(404, _error_body(f"Invalid URL (POST {self.path})", "invalid_request_error"))

    def _read_body(self) -> bytes | None:
        """The request body, or None (and the connection closed) when it cannot be read."""
        try:
            return self._drain()
        except (ValueError, OSError):
            self.close_connection = True
            return None

    def _audio(self, body: bytes, *, translate: bool) -> RecordedRequest:
        """Record a transcription or translation request, then answer it; what was recorded."""
        authorization = self.headers.get("Authorization")
        try:
            parts = _parse_multipart(body, self.headers.get("Content-Type", ""))
        except ValueError:
            parts = []
        fields = {
            p.name: p.data.decode("utf-8", errors="replace") for p in parts if p.filename is None
        }
        files = [p for p in parts if p.name == "file"]
        upload = files[0] if files else None
        slow = upload is not None and self.standin.seconds_per_audio_second > 0
        recorded = RecordedRequest(
            path=self.path,
            authorization=authorization,
            model=fields.get("model"),
            filename=upload.filename if upload else None,
            file_content_type=upload.content_type if upload else None,
            size=len(upload.data) if upload else 0,
            head=upload.data[:16] if upload else b"",
            sha256=hashlib.sha256(upload.data).hexdigest() if upload else None,
            response_format=fields.get("response_format"),
            language=fields.get("language"),
            timestamp_granularities=tuple(
                p.data.decode() for p in parts if p.name == "timestamp_granularities[]"
            ),
            fields=fields,
            audio_seconds=audio_seconds(upload.data) if upload is not None and slow else None,
        )
        self.standin._record(recorded)
        if self._flight_log is not None:
            self._flight_log.recorded.append(recorded)
        refusal = self._check(recorded, authorization, upload, translate=translate)
        if refusal is None and slow and recorded.audio_seconds is None:
            refusal = Reply.error(
                400,
                "Audio file might be corrupted or unsupported",
                code="invalid_value",
                param="file",
            )
        self._send(refusal or self.standin._next_reply(), recorded)
        return recorded

    # -- checks OpenAI makes

    def _authorization(self, authorization: str | None) -> Reply | None:
        """OpenAI's 401s: no bearer token, or (with ``api_key`` set) another one."""
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:]:
            return Reply.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if self.standin.api_key is not None and authorization[7:] != self.standin.api_key:
            return Reply.invalid_key()
        return None

    def _check(
        self,
        request: RecordedRequest,
        authorization: str | None,
        upload: _Part | None,
        *,
        translate: bool,
    ) -> Reply | None:
        refused = self._authorization(authorization)
        if refused is not None:
            return refused
        if upload is None:
            return Reply.error(400, "you must provide a file", param="file")
        if not request.model:
            return Reply.error(400, "you must provide a model parameter", param="model")
        extension = PurePosixPath(upload.filename or "").suffix.lower().lstrip(".")
        if extension not in ACCEPTED_EXTENSIONS:
            return Reply.error(
                400,
                f"Invalid file format. Supported formats: {list(ACCEPTED_EXTENSIONS)}",
                param="file",
            )
        if request.size > self.standin.max_bytes:
            return Reply.error(
                413,
                f"Maximum content size limit ({self.standin.max_bytes}) exceeded "
                f"({request.size} bytes read)",
                type="server_error",
            )
        if translate:
            return _translation_check(request)
        response_format = request.response_format or "json"
        if request.model.startswith("gpt-") and response_format not in ("json", "text"):
            return Reply.error(
                400,
                f"response_format '{response_format}' is not compatible with model "
                f"'{request.model}'. Use 'json' or 'text' instead.",
                code="unsupported_value",
                param="response_format",
            )
        return None

    # -- chat

    def _chat(self, raw: bytes) -> RecordedRequest:
        """Record a chat request, check it as OpenAI does, then answer it."""
        authorization = self.headers.get("Authorization")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        data = body if isinstance(body, dict) else {}
        model = data.get("model")
        limit = data.get("max_completion_tokens", data.get("max_tokens"))
        recorded = RecordedRequest(
            path=self.path,
            authorization=authorization,
            model=model if isinstance(model, str) else None,
            filename=None,
            file_content_type=None,
            size=len(raw),
            head=raw[:16],
            sha256=hashlib.sha256(raw).hexdigest(),
            response_format=None,
            language=None,
            timestamp_granularities=(),
            messages=_readable_messages(data.get("messages")),
            max_tokens=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
            body=data if isinstance(body, dict) else None,
        )
        self.standin._record(recorded)
        refusal = self._authorization(authorization) or _chat_check(body)
        self._send(refusal or self.standin._next_reply(), recorded)
        return recorded

    def _chat_success(self, request: RecordedRequest) -> dict[str, object]:
        text = self.standin._chat_text(request)
        words = text.split()
        finish_reason = "stop"
        if request.max_tokens is not None and len(words) > request.max_tokens:
            text, finish_reason = " ".join(words[: request.max_tokens]), "length"
        prompt = sum(len(m.content.split()) + 4 for m in request.messages)
        return _chat_body(
            text,
            model=request.model or "",
            finish_reason=finish_reason,
            usage=_chat_usage(prompt, len(text.split())),
        )

    # -- answering

    def _send(self, reply: Reply, request: RecordedRequest) -> None:
        delay = reply.delay
        if reply.body is None and not reply.echo_key:  # a success rendered from the request
            delay += self.standin._answer_delay(request)
        if delay:
            self.standin._wait(delay)
        status, body, content_type = reply.status, reply.body, reply.content_type
        if reply.echo_key:
            key = (request.authorization or "")[7:]
            body = _error_body(
                f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        elif body is None:
            status, body, content_type = self._success(request)
        if self._flight_log is not None:
            self._flight_log.land()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", f"req_{hashlib.sha256(body).hexdigest()[:24]}")
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up (a timeout test): nothing to answer
            self.close_connection = True

    def _success(self, request: RecordedRequest) -> tuple[int, bytes, str]:
        if _endpoint(request.path) == CHAT_PATH:
            return 200, json.dumps(self._chat_success(request)).encode(), "application/json"
        script = self.standin._script_for(request.filename)
        response_format = request.response_format or "json"
        model = request.model or ""
        task = "transcribe"
        if _endpoint(request.path) == TRANSLATIONS_PATH:
            task = "translate"  # whisper-1 writes English and says so, whatever it heard
            script = Scripted(
                self.standin._translation_for(request.filename), "english", script.duration
            )
        if request.audio_seconds is not None:  # the slow server hears the real duration
            body = _verbose_body(script.text, script.language, request.audio_seconds, task=task)
        elif response_format in ("text", "srt", "vtt"):
            return 200, (script.text + "\n").encode(), "text/plain; charset=utf-8"
        elif response_format == "verbose_json":
            body = _verbose_body(script.text, script.language, script.duration, task=task)
        elif task == "translate":
            body = {"text": script.text}
        elif model.startswith("gpt-"):
            body = {"text": script.text, "usage": _token_usage(script.text)}
        else:
            body = {
                "text": script.text,
                "usage": {"type": "duration", "seconds": math.ceil(script.duration)},
            }
        return 200, json.dumps(body).encode(), "application/json"

    def _json(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drain(self) -> bytes:
        """The whole request body (``Content-Length`` or chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)  # the CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


def _translation_check(request: RecordedRequest) -> Reply | None:
    """What ``/audio/translations`` refuses beyond the checks every upload gets."""
    model = request.model or ""
    if model.startswith("gpt-"):
        return Reply.error(
            400,
            f"The model '{model}' does not support translations. Use 'whisper-1' instead.",
            code="unsupported_value",
            param="model",
        )
    if "language" in request.fields:
        return Reply.error(
            400, "Unrecognized request argument supplied: language", param="language"
        )
    return None


def _readable_messages(raw: object) -> tuple[ChatMessage, ...]:
    """The chat messages as far as they are readable (what a test asserts on)."""
    if not isinstance(raw, list):
        return ()
    messages = []
    for item in raw:
        if isinstance(item, dict):
            role, content = item.get("role"), item.get("content")
            if isinstance(content, list):
                content = "".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
            messages.append(
                ChatMessage(
                    role if isinstance(role, str) else "",
                    content if isinstance(content, str) else "",
                )
            )
    return tuple(messages)


def _chat_check(body: object) -> Reply | None:
    """What OpenAI refuses in a ``/chat/completions`` body (400, naming the parameter)."""
    if not isinstance(body, dict):
        return Reply.error(400, "We could not parse the JSON body of your request.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return Reply.error(400, "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if messages is None:
        return _missing("messages")
    if not isinstance(messages, list):
        return _invalid_type("messages", "an array", messages)
    if not messages:
        return Reply.error(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            code="empty_array",
            param="messages",
        )
    for index, message in enumerate(messages):
        refused = _message_check(f"messages[{index}]", message)
        if refused is not None:
            return refused
    return _limits_check(model, body)


def _message_check(where: str, message: object) -> Reply | None:
    if not isinstance(message, dict):
        return _invalid_type(where, "an object", message)
    role = message.get("role")
    if role is None:
        return _missing(f"{where}.role")
    if role not in CHAT_ROLES:
        supported = ", ".join(f"'{r}'" for r in CHAT_ROLES)
        return Reply.error(
            400,
            f"Invalid value: {json.dumps(role)}. Supported values are: {supported}.",
            code="invalid_value",
            param=f"{where}.role",
        )
    content = message.get("content")
    if content is None:
        return None if role == "assistant" else _missing(f"{where}.content")
    if isinstance(content, str):
        return None
    if isinstance(content, list) and content and all(isinstance(p, dict) for p in content):
        return None
    return _invalid_type(f"{where}.content", "one of a string or array of objects", content)


def _limits_check(model: str, body: dict[str, object]) -> Reply | None:
    """Token limits and temperature, as OpenAI checks them (stricter for reasoning models)."""
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            return _invalid_type(name, "an integer", value)
        if value < 1:
            return Reply.error(
                400,
                f"Invalid '{name}': integer below minimum value. Expected a value >= 1, "
                f"but got {value} instead.",
                code="integer_below_min_value",
                param=name,
            )
    if not model.startswith(REASONING_PREFIXES):
        return None
    if body.get("max_tokens") is not None:
        return Reply.error(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            code="unsupported_parameter",
            param="max_tokens",
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return Reply.error(
            400,
            f"Unsupported value: 'temperature' does not support {temperature} with this "
            "model. Only the default (1) value is supported.",
            code="unsupported_value",
            param="temperature",
        )
    return None


def _missing(param: str) -> Reply:
    return Reply.error(
        400,
        f"Missing required parameter: '{param}'.",
        code="missing_required_parameter",
        param=param,
    )


def _invalid_type(param: str, expected: str, value: object) -> Reply:
    names = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string"}
    got = "null" if value is None else names.get(type(value), type(value).__name__)
    return Reply.error(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
        code="invalid_type",
        param=param,
    )


def _listing(path: str, authorization: str | None) -> RecordedRequest:
    """The record of a ``GET /v1/models``: no file, no model."""
    return RecordedRequest(
        path=path.split("?", 1)[0],
        authorization=authorization,
        model=None,
        filename=None,
        file_content_type=None,
        size=0,
        head=b"",
        sha256=None,
        response_format=None,
        language=None,
        timestamp_granularities=(),
    )


def _verbose_body(
    text: str, language: str, duration: float, *, task: str = "transcribe"
) -> dict[str, object]:
    """whisper-1's ``verbose_json``: the text in one segment spanning ``duration``."""
    segment = {
        "id": 0,
        "seek": 0,
        "start": 0.0,
        "end": duration,
        "text": " " + text,
        "tokens": [50364, 2425, 50564],
        "temperature": 0.0,
        "avg_logprob": -0.25,
        "compression_ratio": 1.1,
        "no_speech_prob": 0.01,
    }
    return {
        "task": task,
        "language": language,
        "duration": duration,
        "text": text,
        "segments": [segment],
        "usage": {"type": "duration", "seconds": math.ceil(duration)},
    }


def audio_seconds(data: bytes) -> float | None:
    """The duration of an audio file's bytes, read with PyAV; None when it holds no audio."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            streams = [stream for stream in container.streams if stream.type == "audio"]
            if not streams:
                return None
            if container.duration is not None:
                return float(container.duration / av.time_base)
            stream = streams[0]
            ticks = 0
            for packet in container.demux(stream):
                ticks += packet.duration or 0
            return float(ticks * stream.time_base) if stream.time_base else None
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def fake_api_key() -> str:
    """A realistic-looking fake OpenAI key, built at run time: no key-like literal is committed."""
    return "-".join(["sk", "proj", "Zq" * 10 + "Xy7" * 6 + "Kp4W"])


def _error_body(message: str, type: str, *, code: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": type, "param": None, "code": code}}
    ).encode()


@pytest.fixture
def api_key() -> str:
    """The fake key the ``openai_server`` fixture expects (see :func:`fake_api_key`)."""
    return fake_api_key()


@pytest.fixture
def openai_server(api_key: str) -> Iterator[OpenAIStandIn]:
    """A started :class:`OpenAIStandIn` expecting ``api_key``, closed after the test.

    Reuse both from a conftest or a test module:
    ``from tests.standins.openai_server import api_key, openai_server``.
    """
    with OpenAIStandIn(api_key=api_key) as server:
        yield server


__all__ = [
    "ACCEPTED_EXTENSIONS",
    "CHAT_PATH",
    "MAX_BYTES",
    "TRANSCRIPTIONS_PATH",
    "TRANSLATIONS_PATH",
    "ChatAnswer",
    "ChatMessage",
    "Flight",
    "OpenAIStandIn",
    "RecordedRequest",
    "Reply",
    "Scripted",
    "api_key",
    "audio_seconds",
    "default_chat_answer",
    "fake_api_key",
    "openai_server",
]
