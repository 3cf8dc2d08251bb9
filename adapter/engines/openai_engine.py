"""The OpenAI engine: ``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` through
the official SDK.

Works with OpenAI and with OpenAI-compatible servers (speaches, LocalAI) through ``base_url``.

* The SDK's own retries are off (``max_retries=0``): Dramatiq owns retries, and the retry policy
  reads the error tree; a request is never sent twice by the SDK.
* Timeouts: the engine's ``timeout`` (120 s by default), or the ``timeout`` of one
  :meth:`OpenAIEngine.transcribe` call, bounds connecting (at most 10 s) and each wait for bytes,
  the longest of which is the wait for the transcript. A call that runs out of it fails as
  :class:`EngineUnavailable`. The caller picks a timeout below its own time limit, so that a hung
  call fails here before the worker kills the actor.
* SDK and HTTP errors are mapped onto ``adapter.errors`` here, once, by :func:`map_status_error`:
  429 → :class:`RateLimited` (with ``Retry-After``) unless the code is ``insufficient_quota``;
  5xx, timeouts and connection errors → :class:`EngineUnavailable`; other 4xx →
  :class:`EngineRejected`. Messages are rebuilt from the status and the error code/type only, so
  they never carry the server's text (OpenAI echoes part of a wrong key), the key, or a URL; the
  mapped error is raised outside the ``except`` block, so no SDK exception rides along as its
  ``__context__`` into logs or Sentry.
* The response is read raw and parsed by :func:`parse_transcription`, which tolerates what
  compatible servers do: JSON without ``language``, ``segments`` or ``duration``, plain text.
* :meth:`OpenAIEngine.translate` is Whisper's translate task (speech in any language → English
  text), with the same file checks, timeouts and error mapping. Only ``whisper-1`` (and the
  Whisper models of compatible servers) do it: a ``gpt-…`` model is refused before any request.
  The SDK marks ``audio.translations.create`` deprecated (OpenAI plans to shut the endpoint down
  on 2027-02-26) and warns at every call; the same request goes through the SDK's generic
  ``post`` instead (see :meth:`OpenAIEngine._translation_request`).
* The pooled SDK clients (:func:`pooled_client`), their timeouts (:func:`sdk_timeout`) and the
  error mapping (:func:`map_sdk_error`) serve ``adapter.chat`` too: one client per key and URL
  per process, whichever of the two asks.

Models: ``whisper-1`` (default) answers ``verbose_json`` with the language (as an English name),
the duration and timestamped segments. The ``gpt-4o(-mini)-transcribe`` models answer ``json``
with the text only, so the language comes from the hint or from ``language_detector`` (the local
engine's, when the ``local`` extra is installed), and they refuse audio over 1400 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx2
import openai

from adapter.engines.base import EngineLimits, Segment, Transcript
from adapter.engines.languages import language_hint, to_iso639_1
from adapter.errors import (
    BadAudio,
    ConfigError,
    EngineRejected,
    EngineUnavailable,
    RateLimited,
    TranscriberError,
)
from adapter.httputil import retry_after, safe_url

log = logging.getLogger(__name__)

DEFAULT_MODEL = "whisper-1"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 120.0
#: the longest wait for a connection, whatever the timeout
CONNECT_TIMEOUT = 10.0

#: OpenAI's upload limit is 25 MiB (26_214_400 bytes); keep a margin for rounding by proxies.
MAX_UPLOAD_BYTES = 25_000_000
#: the gpt-4o transcribe models refuse longer audio
GPT4O_MAX_SECONDS = 1400.0
OPENAI_EXTENSIONS = frozenset({"flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "ogg", "wav", "webm"})
_CONTENT_TYPES = {
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "mp3": "audio/mpeg",
    "mp4": "audio/mp4",
    "mpeg": "audio/mpeg",
    "mpga": "audio/mpeg",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "webm": "audio/webm",
}

LanguageDetector = Callable[[Path], str | None]
#: what one request uploads: the file's name, its open file, its content type
_Upload = tuple[str, IO[bytes], str]
#: one endpoint's request: the upload and the call's timeout → the answer's body, content type
_Send = Callable[[_Upload, openai.Timeout], tuple[bytes, str | None]]


# --------------------------------------------------------------------------- safe messages

_KEY_LIKE = re.compile(
    r"(?i)\b(?:sk|rk|pk|sess)-[A-Za-z0-9_\-*]{4,}"  # OpenAI-style keys, masked or not
    r"|\bbearer\s+\S+"
    r"|\b[A-Za-z0-9_\-]{32,}\b"  # long opaque tokens
)
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def _identifier(value: object) -> str | None:
    """A server-sent error code/type/param, if it is a short plain identifier (else dropped)."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        return None
    return None if _KEY_LIKE.search(value) else value


# --------------------------------------------------------------------------- error mapping

_REJECTED_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    413: "too_large",
    415: "unsupported_format",
    422: "unprocessable",
}
#: client errors that a later attempt can get past
_TRANSIENT_4XX = frozenset({408, 409, 425})


def map_status_error(
    status: int,
    *,
    headers: Mapping[str, str],
    code: object = None,
    error_type: object = None,
    param: object = None,
    engine: str = "openai",
) -> TranscriberError:
    """The ``adapter.errors`` type for an HTTP error answer from a transcription server.

    The message holds only the status and the code/type/param identifiers the server sent, never
    its free text: pure function, no I/O.
    """
    safe_code = _identifier(code)
    safe_type = _identifier(error_type)
    labels = [label for label in (safe_code, safe_type) if label]
    summary = f"{engine} answered HTTP {status}"
    if labels:
        summary += f" ({', '.join(dict.fromkeys(labels))})"
    safe_param = _identifier(param)
    if safe_param:
        summary += f" about {safe_param!r}"

    if status == 429:
        if "insufficient_quota" in (safe_code, safe_type):
            return EngineRejected(
                summary + ": the account is out of credit", reason="insufficient_quota"
            )
        return RateLimited(summary, retry_after=retry_after(headers))
    if status >= 500 or status in _TRANSIENT_4XX:
        return EngineUnavailable(summary)
    reason = _REJECTED_REASONS.get(status, f"http_{status}")
    if status == 401:
        summary += ": the API key is wrong or revoked"
    return EngineRejected(summary, reason=reason)


def map_sdk_error(exc: openai.OpenAIError, *, engine: str, timeout: float) -> TranscriberError:
    """The ``adapter.errors`` type for anything the SDK raised during one call of ``timeout``
    seconds to ``engine`` (a name for messages: "openai", "chat model"); never its text."""
    if isinstance(exc, openai.APIStatusError):
        return map_status_error(
            exc.status_code,
            headers=dict(exc.response.headers.items()),
            code=exc.code,
            error_type=exc.type,
            param=exc.param,
            engine=engine,
        )
    if isinstance(exc, openai.APITimeoutError):
        return EngineUnavailable(f"{engine} did not answer within {timeout:g} s")
    if isinstance(exc, openai.APIConnectionError):
        return EngineUnavailable(f"cannot connect to {engine}")
    # Anything else the SDK raises before or after the exchange (response validation, ...).
    return EngineUnavailable(f"{engine} call failed: {type(exc).__name__}")


# --------------------------------------------------------------------------- response parsing


@dataclass(frozen=True)
class ParsedTranscription:
    """What a transcription answer said, before language lookup."""

    text: str
    language: str | None  # as the server wrote it: "english", "en", ...
    duration: float | None
    segments: tuple[Segment, ...]


def parse_transcription(body: bytes, content_type: str | None) -> ParsedTranscription:
    """Read a 2xx answer: ``verbose_json``, ``json`` or plain text, from OpenAI or a look-alike.

    Raises :class:`EngineUnavailable` for a body that is not a transcription (malformed JSON, an
    HTML page from a proxy): most likely a broken gateway, worth another attempt later.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    text = body.decode("utf-8", errors="replace")
    stripped = text.strip()
    if media == "text/html" or stripped[:15].lower().startswith(("<!doctype html", "<html")):
        raise EngineUnavailable("the engine answered with an HTML page, not a transcription")
    looks_json = media.endswith("json") or stripped.startswith(("{", "["))
    if not looks_json:
        return ParsedTranscription(text=stripped, language=None, duration=None, segments=())
    try:
        data = json.loads(stripped)
    except ValueError:
        if media.endswith("json"):
            raise EngineUnavailable("the engine answered with malformed JSON") from None
        return ParsedTranscription(text=stripped, language=None, duration=None, segments=())
    if isinstance(data, str):
        return ParsedTranscription(text=data.strip(), language=None, duration=None, segments=())
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise EngineUnavailable("the engine answered JSON without a transcript text")

    segments = _segments(data.get("segments"))
    return ParsedTranscription(
        text=data["text"].strip(),
        language=_language(data),
        duration=_duration(data, segments),
        segments=segments,
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _segments(raw: object) -> tuple[Segment, ...]:
    if not isinstance(raw, list):
        return ()
    segments = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        start, end, text = _number(item.get("start")), _number(item.get("end")), item.get("text")
        if start is None or end is None or not isinstance(text, str):
            continue
        segments.append(Segment(start=start, end=end, text=text.strip()))
    return tuple(segments)


def _language(data: dict[str, object]) -> str | None:
    language = data.get("language")
    if isinstance(language, str) and language.strip():
        return language
    languages = data.get("languages")  # gpt-transcribe: [{"code": "en"}, ...]
    if isinstance(languages, list):
        for item in languages:
            if isinstance(item, dict) and isinstance(item.get("code"), str):
                return str(item["code"])
    return None


def _duration(data: dict[str, object], segments: tuple[Segment, ...]) -> float | None:
    duration = _number(data.get("duration"))
    if duration is not None:
        return duration
    usage = data.get("usage")
    if isinstance(usage, dict) and usage.get("type") == "duration":
        seconds = _number(usage.get("seconds"))
        if seconds is not None:
            return seconds
    if segments:
        return max(segment.end for segment in segments)
    return None


# --------------------------------------------------------------------------- clients


_CLIENTS: OrderedDict[tuple[str, str], openai.OpenAI] = OrderedDict()
_CLIENTS_LOCK = threading.Lock()
_MAX_CLIENTS = 64


def pooled_client(api_key: str, base_url: str) -> openai.OpenAI:
    """One pooled SDK client per (key, base URL) per process; the key is not the index.

    A query string in ``base_url`` (``?api-version=…`` for some gateways) becomes the client's
    default query, sent with every request. Every request passes its own timeout.
    """
    fingerprint = hashlib.sha256(api_key.encode("utf-8")).hexdigest()
    cache_key = (fingerprint, base_url)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(cache_key)
        if client is not None:
            _CLIENTS.move_to_end(cache_key)
            return client
        parts = urlsplit(base_url)
        client = openai.OpenAI(
            api_key=api_key,
            base_url=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            default_query=dict(parse_qsl(parts.query, keep_blank_values=True)) or None,
            max_retries=0,
            timeout=sdk_timeout(DEFAULT_TIMEOUT),
        )
        _CLIENTS[cache_key] = client
        while len(_CLIENTS) > _MAX_CLIENTS:  # a rotated key's client is dropped in time
            _CLIENTS.popitem(last=False)
        return client


def sdk_timeout(seconds: float) -> openai.Timeout:
    """One call's timeout: ``seconds`` for each wait, at most ``CONNECT_TIMEOUT`` to connect."""
    return openai.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))


def positive_seconds(value: float, what: str) -> float:
    """``value`` as a float; ``TypeError``/``ValueError`` (naming ``what``) unless it is a
    positive, finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive, finite number of seconds")
    return float(value)


# --------------------------------------------------------------------------- the engine


def is_gpt_model(model: str) -> bool:
    """True for OpenAI's GPT transcribe models, which answer ``json`` only (no language)."""
    return model.startswith("gpt-")


class OpenAIEngine:
    """Speech to text through the OpenAI API or a compatible server.

    ``api_key`` is only handed to the SDK client, never logged nor shown by ``repr``.
    ``timeout`` (seconds) is the default of every call (see the module docstring).
    ``language_detector`` fills in the language when the server reports none (the gpt-4o
    models) and no hint was given.
    """

    name = "openai"

    def __init__(
        self,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        language_detector: LanguageDetector | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigError("the openai engine needs an API key")
        if not model or not model.strip():
            raise ConfigError("the openai engine needs a model name")
        try:
            self.timeout = positive_seconds(timeout, "the openai timeout")
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self.model = model.strip()
        self.base_url = (base_url or DEFAULT_BASE_URL).strip()
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise ConfigError(f"the openai base URL must be http(s): {safe_url(self.base_url)}")
        self.language_detector = language_detector
        gpt = is_gpt_model(self.model)
        self.response_format: Literal["json", "verbose_json"] = "json" if gpt else "verbose_json"
        self.limits = EngineLimits(
            max_bytes=MAX_UPLOAD_BYTES,
            max_seconds=GPT4O_MAX_SECONDS if gpt else None,
            accepted_extensions=OPENAI_EXTENSIONS,
        )
        self._client = pooled_client(api_key, self.base_url)

    def __repr__(self) -> str:
        return f"OpenAIEngine(model={self.model!r}, base_url={safe_url(self.base_url)!r})"

    def transcribe(
        self, path: Path, *, language: str | None = None, timeout: float | None = None
    ) -> Transcript:
        """Upload ``path`` (named with its real extension) and return its transcript.

        ``timeout`` (seconds) replaces the engine's own for this one request; running out of it
        raises :class:`EngineUnavailable`, and the request is not sent again. A ``timeout``
        that is not a positive number is a bug of the caller: ``ValueError``.
        """
        seconds = self.timeout if timeout is None else positive_seconds(timeout, "timeout")
        extension = self._check_file(path)
        hint = language_hint(language)

        def send(upload: _Upload, timeout: openai.Timeout) -> tuple[bytes, str | None]:
            return self._transcription_request(upload, hint, timeout)

        body, content_type = self._post(path, extension, seconds, send)
        parsed = parse_transcription(body, content_type)
        detected = to_iso639_1(parsed.language) or hint
        if detected is None and self.language_detector is not None:
            detected = self._detect(path)
        return Transcript(
            text=parsed.text,
            language=detected,
            duration=parsed.duration if parsed.duration is not None else 0.0,
            segments=parsed.segments,
        )

    def translate(self, path: Path, *, timeout: float | None = None) -> Transcript:
        """The speech of ``path`` in English (``POST /audio/translations``, ``verbose_json``).

        The transcript's ``language`` is ``"en"`` (what it is written in), its segments timed
        on the audio like :meth:`transcribe`'s. A ``gpt-…`` model raises
        :class:`EngineRejected` (reason ``unsupported``) without a request: OpenAI translates
        with ``whisper-1`` only. ``timeout`` as for :meth:`transcribe`.
        """
        seconds = self.timeout if timeout is None else positive_seconds(timeout, "timeout")
        if is_gpt_model(self.model):
            raise EngineRejected(
                f"{self.model} does not translate audio: OpenAI translates with whisper-1 only",
                reason="unsupported",
            )
        extension = self._check_file(path)
        body, content_type = self._post(path, extension, seconds, self._translation_request)
        parsed = parse_transcription(body, content_type)
        return Transcript(
            text=parsed.text,
            language="en",
            duration=parsed.duration if parsed.duration is not None else 0.0,
            segments=parsed.segments,
        )

    def _check_file(self, path: Path) -> str:
        """``path``'s extension, once the file is known to be one this engine takes."""
        extension = path.suffix.lower().lstrip(".")
        if extension not in self.limits.accepted_extensions:
            raise EngineRejected(
                f"{self.name} does not take .{extension or '?'} files", reason="unsupported_format"
            )
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise BadAudio(f"no such audio file: {path.name}", reason="missing_file") from None
        if size == 0:
            raise BadAudio(f"{path.name} is empty", reason="empty")
        if self.limits.max_bytes is not None and size > self.limits.max_bytes:
            raise EngineRejected(
                f"{path.name} has {size} bytes, over the {self.limits.max_bytes} bytes "
                f"{self.name} takes",
                reason="too_large",
            )
        return extension

    def _post(
        self, path: Path, extension: str, timeout: float, send: _Send
    ) -> tuple[bytes, str | None]:
        """Upload ``path`` with ``send`` (one endpoint's request): the answer's body and content
        type, or the mapped error."""
        failure: TranscriberError | None = None
        try:
            with path.open("rb") as audio:
                return send((path.name, audio, _CONTENT_TYPES[extension]), sdk_timeout(timeout))
        except openai.OpenAIError as exc:
            # Build the mapped error here but raise it below, outside this block, so that the
            # SDK exception (whose message may echo the key) is not chained to it.
            failure = map_sdk_error(exc, engine=self.name, timeout=timeout)
        except OSError as exc:
            failure = BadAudio(
                f"cannot read {path.name}: {exc.strerror or type(exc).__name__}",
                reason="unreadable",
            )
        if failure is None:  # pragma: no cover - every path above returns or sets it
            raise AssertionError("unreachable")
        raise failure

    def _transcription_request(
        self, upload: _Upload, hint: str | None, timeout: openai.Timeout
    ) -> tuple[bytes, str | None]:
        verbose = self.response_format == "verbose_json"
        raw = self._client.audio.transcriptions.with_raw_response.create(
            file=upload,
            model=self.model,
            response_format=self.response_format,
            timestamp_granularities=["segment"] if verbose else openai.omit,
            language=hint if hint is not None else openai.omit,
            timeout=timeout,
        )
        response = raw.http_response
        return response.content, response.headers.get("content-type")

    def _translation_request(
        self, upload: _Upload, timeout: openai.Timeout
    ) -> tuple[bytes, str | None]:
        """``POST /audio/translations`` through the SDK's generic ``post`` (its documented way to
        any endpoint): the same multipart body ``audio.translations.create`` sends, with the
        client's key, base URL, query and error types. ``create`` itself warns
        (``DeprecationWarning``) at every call, and a ``warnings.catch_warnings`` around it would
        not be thread-safe: the filters it swaps are the whole process's."""
        response = self._client.post(
            "/audio/translations",
            cast_to=httpx2.Response,
            body={"model": self.model, "response_format": "verbose_json"},
            files=[("file", upload)],
            options={"headers": {"Content-Type": "multipart/form-data"}, "timeout": timeout},
        )
        return response.content, response.headers.get("content-type")

    def _detect(self, path: Path) -> str | None:
        detector = self.language_detector
        if detector is None:
            return None
        try:
            return to_iso639_1(detector(path))
        except Exception:
            # The transcript is paid for already: losing the language must not lose it.
            log.warning("language detection failed for %s", path.name, exc_info=True)
            return None


__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "GPT4O_MAX_SECONDS",
    "MAX_UPLOAD_BYTES",
    "OPENAI_EXTENSIONS",
    "LanguageDetector",
    "OpenAIEngine",
    "ParsedTranscription",
    "is_gpt_model",
    "map_sdk_error",
    "map_status_error",
    "parse_transcription",
    "pooled_client",
    "positive_seconds",
    "sdk_timeout",
]
