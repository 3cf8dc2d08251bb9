"""The transcription subset of OpenAI's Realtime API, as data: client events in, server events out.

Pure: no socket, no clock, no randomness of its own (ids come from an :class:`Ids` the caller
hands in). Both generations of the API are spoken, told apart by the event's own name::

    configure   beta: transcription_session.update    session.input_audio_format,
                                                       session.input_audio_transcription,
                                                       session.turn_detection
                GA:   session.update                   session.type "transcription",
                                                       session.audio.input.format,
                                                       ….transcription, ….turn_detection
    audio       input_audio_buffer.append / .commit / .clear (both)
    answered    beta: transcription_session.created / .updated
                GA:   session.created / .updated

Everything else the server says is shared: ``input_audio_buffer.speech_started`` /
``speech_stopped`` / ``committed`` / ``cleared``,
``conversation.item.input_audio_transcription.delta`` / ``completed`` / ``failed``, ``error``.

A client event that cannot be understood is an :class:`EventError`, which the session answers
with an ``error`` event and goes on. The codes (``error.code``)::

    invalid_json         the text frame is not JSON
    invalid_event        not a JSON object, or no string ``type``
    binary_frame         a binary frame (events are JSON text)
    unknown_event_type   a ``type`` that is no Realtime client event
    unsupported_event    a Realtime client event a transcription session does not take
    invalid_audio        ``audio`` missing, not base64, or not whole samples
    unsupported_format   an input format other than pcm16 (24 kHz) or g711_ulaw
    invalid_value        a session field of the wrong type or out of range
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
from dataclasses import dataclass, replace
from typing import Any, Literal

from adapter.engines.languages import to_iso639_1

Dialect = Literal["beta", "ga"]
AudioFormat = Literal["pcm16", "g711_ulaw"]

#: the input formats: beta names, and GA's ``{"type": …}`` for each
FORMATS: dict[AudioFormat, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
}
#: sample rate of each input format
FORMAT_RATES: dict[AudioFormat, int] = {"pcm16": 24_000, "g711_ulaw": 8_000}
#: bytes per sample of each input format
FORMAT_WIDTHS: dict[AudioFormat, int] = {"pcm16": 2, "g711_ulaw": 1}

#: Realtime client events that exist but that a transcription session does not take
UNSUPPORTED_EVENTS = frozenset(
    {
        "conversation.item.create",
        "conversation.item.delete",
        "conversation.item.retrieve",
        "conversation.item.truncate",
        "output_audio_buffer.clear",
        "response.cancel",
        "response.create",
    }
)

_MAX_PROMPT_CHARS = 2_000
_MAX_LANGUAGE_CHARS = 16


@dataclass(frozen=True)
class TurnDetection:
    """Server VAD: a window is speech at ``threshold`` probability; an utterance keeps
    ``prefix_padding_ms`` before its first speech and ends after ``silence_duration_ms`` of
    silence."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500


@dataclass(frozen=True)
class SessionConfig:
    """What the client may set. ``model`` is what the session reports: the account's."""

    format: AudioFormat = "pcm16"
    language: str | None = None
    prompt: str | None = None
    turn_detection: TurnDetection | None = TurnDetection()


# ─── client events ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class EventError:
    """A client event that was not understood; answered with an ``error`` event."""

    code: str
    message: str
    param: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class SessionUpdate:
    """The fields the client sent, applied with :func:`apply_update`."""

    dialect: Dialect
    changes: dict[str, Any]
    event_id: str | None = None


@dataclass(frozen=True)
class Append:
    audio: bytes
    event_id: str | None = None


@dataclass(frozen=True)
class Commit:
    event_id: str | None = None


@dataclass(frozen=True)
class Clear:
    event_id: str | None = None


ClientEvent = SessionUpdate | Append | Commit | Clear


def parse_frame(text: str | None, data: bytes | None = None) -> ClientEvent | EventError:
    """One WebSocket message: a text frame (``text``) or a binary one (``data``)."""
    if text is None:
        return EventError(
            "binary_frame",
            "binary frames are not events: send JSON text frames (audio base64 in "
            "input_audio_buffer.append)",
        )
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        return EventError("invalid_json", "the message is not valid JSON")
    return parse_event(raw)


def parse_event(raw: object) -> ClientEvent | EventError:
    """A decoded JSON value as a client event."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return EventError("invalid_event", "an event is a JSON object with a string 'type'", "type")
    kind: str = raw["type"]
    event_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
    if kind == "input_audio_buffer.append":
        return _append(raw, event_id)
    if kind == "input_audio_buffer.commit":
        return Commit(event_id)
    if kind == "input_audio_buffer.clear":
        return Clear(event_id)
    if kind == "transcription_session.update":
        return _beta_update(raw.get("session"), event_id)
    if kind == "session.update":
        return _ga_update(raw.get("session"), event_id)
    if kind in UNSUPPORTED_EVENTS:
        return EventError(
            "unsupported_event",
            f"{_shown(kind)} is not available in a transcription session",
            "type",
            event_id,
        )
    return EventError("unknown_event_type", f"unknown event type {_shown(kind)}", "type", event_id)


def _shown(value: str) -> str:
    """A client's string quoted for a message, cut short."""
    return repr(value[:60] + ("…" if len(value) > 60 else ""))


def _append(raw: dict[str, Any], event_id: str | None) -> Append | EventError:
    audio = raw.get("audio")
    if not isinstance(audio, str):
        return EventError("invalid_audio", "'audio' must be a base64 string", "audio", event_id)
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        return EventError("invalid_audio", "'audio' is not valid base64", "audio", event_id)
    return Append(data, event_id)


def _beta_update(session: object, event_id: str | None) -> SessionUpdate | EventError:
    if not isinstance(session, dict):
        return EventError("invalid_value", "'session' must be an object", "session", event_id)
    changes: dict[str, Any] = {}
    if "input_audio_format" in session:
        fmt = session["input_audio_format"]
        if fmt not in FORMATS:
            return _unsupported_format(fmt, "session.input_audio_format", event_id)
        changes["format"] = fmt
    failed = _listening(
        changes,
        session,
        ("input_audio_transcription", "session.input_audio_transcription"),
        ("turn_detection", "session.turn_detection"),
        event_id,
    )
    return failed or SessionUpdate("beta", changes, event_id)


def _ga_update(body: object, event_id: str | None) -> SessionUpdate | EventError:
    if not isinstance(body, dict):
        return EventError("invalid_value", "'session' must be an object", "session", event_id)
    if body.get("type", "transcription") != "transcription":
        return EventError(
            "invalid_value",
            "this endpoint serves transcription sessions only: session.type must be "
            "'transcription'",
            "session.type",
            event_id,
        )
    changes: dict[str, Any] = {}
    audio = body.get("audio")
    if audio is None:
        return SessionUpdate("ga", changes, event_id)
    if not isinstance(audio, dict) or not isinstance(audio.get("input", {}), dict):
        return EventError(
            "invalid_value", "'session.audio' must be an object", "session.audio", event_id
        )
    entry: dict[str, Any] = audio.get("input") or {}
    if "format" in entry:
        fmt = _ga_format(entry["format"])
        if fmt is None:
            return _unsupported_format(entry["format"], "session.audio.input.format", event_id)
        changes["format"] = fmt
    failed = _listening(
        changes,
        entry,
        ("transcription", "session.audio.input.transcription"),
        ("turn_detection", "session.audio.input.turn_detection"),
        event_id,
    )
    return failed or SessionUpdate("ga", changes, event_id)


def _listening(
    changes: dict[str, Any],
    given: dict[str, Any],
    transcription: tuple[str, str],
    turn_detection: tuple[str, str],
    event_id: str | None,
) -> EventError | None:
    """Add what ``given`` says of the transcription and the turn detection (each a key and
    the param an error names, beta and GA spell them apart) to ``changes``; the first error."""
    key, param = transcription
    if key in given:
        found = _transcription(given[key], param, event_id)
        if isinstance(found, EventError):
            return found
        changes.update(found)
    key, param = turn_detection
    if key in given:
        turn = _turn_detection(given[key], param, event_id)
        if isinstance(turn, EventError):
            return turn
        changes["turn_detection"] = turn
    return None


def _ga_format(value: object) -> AudioFormat | None:
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if kind == "audio/pcm" and value.get("rate", 24000) == 24000:
        return "pcm16"
    if kind == "audio/pcmu":
        return "g711_ulaw"
    return None


def _unsupported_format(value: object, param: str, event_id: str | None) -> EventError:
    shown = _shown(json.dumps(value)) if not isinstance(value, str) else _shown(value)
    return EventError(
        "unsupported_format",
        f"unsupported input audio format {shown}: use pcm16 (audio/pcm, 24000 Hz, mono "
        "s16le) or g711_ulaw (audio/pcmu)",
        param,
        event_id,
    )


def _transcription(value: object, param: str, event_id: str | None) -> dict[str, Any] | EventError:
    """``language`` and ``prompt`` (``model`` is the account's: accepted and not used)."""
    if value is None:
        return {"language": None, "prompt": None}
    if not isinstance(value, dict):
        return EventError("invalid_value", f"'{param}' must be an object or null", param, event_id)
    found: dict[str, Any] = {}
    if "language" in value:
        language = value["language"]
        if language is not None and (
            not isinstance(language, str) or len(language) > _MAX_LANGUAGE_CHARS
        ):
            return EventError(
                "invalid_value", "language must be an ISO 639-1 code", f"{param}.language", event_id
            )
        code = to_iso639_1(language) if isinstance(language, str) and language.strip() else None
        if isinstance(language, str) and language.strip() and code is None:
            return EventError(
                "invalid_value",
                f"unknown language {_shown(language)}: use an ISO 639-1 code like 'en'",
                f"{param}.language",
                event_id,
            )
        found["language"] = code
    if "prompt" in value:
        prompt = value["prompt"]
        if prompt is not None and not isinstance(prompt, str):
            return EventError(
                "invalid_value", "prompt must be a string", f"{param}.prompt", event_id
            )
        found["prompt"] = prompt[:_MAX_PROMPT_CHARS] or None if isinstance(prompt, str) else None
    return found


def _turn_detection(
    value: object, param: str, event_id: str | None
) -> TurnDetection | EventError | None:
    """``null`` turns detection off; an object is server VAD over the defaults
    (``semantic_vad`` is served as server VAD)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return EventError("invalid_value", f"'{param}' must be an object or null", param, event_id)
    kind = value.get("type", "server_vad")
    if kind not in ("server_vad", "semantic_vad"):
        return EventError(
            "invalid_value", "turn_detection.type must be 'server_vad'", f"{param}.type", event_id
        )
    turn = TurnDetection()
    threshold = value.get("threshold")
    if threshold is not None:
        if not _number(threshold) or not 0.0 <= threshold <= 1.0:
            return EventError(
                "invalid_value", "threshold must be between 0 and 1", f"{param}.threshold", event_id
            )
        turn = replace(turn, threshold=float(threshold))
    for name, low, high in (("prefix_padding_ms", 0, 10_000), ("silence_duration_ms", 0, 10_000)):
        number = value.get(name)
        if number is None:
            continue
        if not _number(number) or not low <= number <= high:
            return EventError(
                "invalid_value",
                f"{name} must be between {low} and {high}",
                f"{param}.{name}",
                event_id,
            )
        turn = replace(turn, **{name: int(number)})
    return turn


def _number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def apply_update(config: SessionConfig, update: SessionUpdate) -> SessionConfig:
    """``config`` with the fields the update carries (absent ones unchanged)."""
    return replace(config, **update.changes)


# ─── server events ───────────────────────────────────────────────────────────────────────────


class Ids:
    """Event, item and session ids (``event_…``, ``item_…``, ``sess_…``) as OpenAI makes them."""

    def event(self) -> str:
        return "event_" + secrets.token_hex(10)

    def item(self) -> str:
        return "item_" + secrets.token_hex(10)

    def session(self) -> str:
        return "sess_" + secrets.token_hex(10)


@dataclass(frozen=True)
class SessionInfo:
    """What a created/updated event reports besides the client's settings."""

    id: str
    model: str | None
    expires_at: int


def _transcription_view(config: SessionConfig, info: SessionInfo) -> dict[str, Any]:
    return {"model": info.model, "language": config.language, "prompt": config.prompt or ""}


def _turn_view(turn: TurnDetection | None) -> dict[str, Any] | None:
    if turn is None:
        return None
    return {
        "type": "server_vad",
        "threshold": turn.threshold,
        "prefix_padding_ms": turn.prefix_padding_ms,
        "silence_duration_ms": turn.silence_duration_ms,
    }


def session_view(config: SessionConfig, info: SessionInfo, dialect: Dialect) -> dict[str, Any]:
    """The session object of a created/updated event, in the dialect's shape."""
    if dialect == "beta":
        return {
            "id": info.id,
            "object": "realtime.transcription_session",
            "expires_at": info.expires_at,
            "modalities": ["text"],
            "input_audio_format": config.format,
            "input_audio_transcription": _transcription_view(config, info),
            "turn_detection": _turn_view(config.turn_detection),
            "input_audio_noise_reduction": None,
            "include": None,
        }
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": info.id,
        "expires_at": info.expires_at,
        "audio": {
            "input": {
                "format": dict(FORMATS[config.format]),
                "transcription": _transcription_view(config, info),
                "turn_detection": _turn_view(config.turn_detection),
                "noise_reduction": None,
            }
        },
        "include": None,
    }


def session_event(
    ids: Ids,
    config: SessionConfig,
    info: SessionInfo,
    dialect: Dialect,
    what: Literal["created", "updated"],
) -> dict[str, Any]:
    prefix = "transcription_session" if dialect == "beta" else "session"
    return {
        "type": f"{prefix}.{what}",
        "event_id": ids.event(),
        "session": session_view(config, info, dialect),
    }


def error_event(
    ids: Ids, error: EventError, *, kind: str = "invalid_request_error"
) -> dict[str, Any]:
    return {
        "type": "error",
        "event_id": ids.event(),
        "error": {
            "type": kind,
            "code": error.code,
            "message": error.message,
            "param": error.param,
            "event_id": error.event_id,
        },
    }


def speech_started(ids: Ids, item_id: str, audio_start_ms: int) -> dict[str, Any]:
    return {
        "type": "input_audio_buffer.speech_started",
        "event_id": ids.event(),
        "item_id": item_id,
        "audio_start_ms": audio_start_ms,
    }


def speech_stopped(ids: Ids, item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {
        "type": "input_audio_buffer.speech_stopped",
        "event_id": ids.event(),
        "item_id": item_id,
        "audio_end_ms": audio_end_ms,
    }


def committed(ids: Ids, item_id: str, previous_item_id: str | None) -> dict[str, Any]:
    return {
        "type": "input_audio_buffer.committed",
        "event_id": ids.event(),
        "item_id": item_id,
        "previous_item_id": previous_item_id,
    }


def cleared(ids: Ids) -> dict[str, Any]:
    return {"type": "input_audio_buffer.cleared", "event_id": ids.event()}


def delta(ids: Ids, item_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.delta",
        "event_id": ids.event(),
        "item_id": item_id,
        "content_index": 0,
        "delta": text,
    }


def completed(
    ids: Ids, item_id: str, transcript: str, language: str | None, seconds: float
) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.completed",
        "event_id": ids.event(),
        "item_id": item_id,
        "content_index": 0,
        "transcript": transcript,
        "language": language,
        "usage": {"type": "duration", "seconds": round(seconds, 3)},
    }


def failed(ids: Ids, item_id: str, code: str, message: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.failed",
        "event_id": ids.event(),
        "item_id": item_id,
        "content_index": 0,
        "error": {"type": "transcription_error", "code": code, "message": message, "param": None},
    }


__all__ = [
    "FORMATS",
    "FORMAT_RATES",
    "FORMAT_WIDTHS",
    "Append",
    "AudioFormat",
    "Clear",
    "ClientEvent",
    "Commit",
    "Dialect",
    "EventError",
    "Ids",
    "SessionConfig",
    "SessionInfo",
    "SessionUpdate",
    "TurnDetection",
    "apply_update",
    "cleared",
    "committed",
    "completed",
    "delta",
    "error_event",
    "failed",
    "parse_event",
    "parse_frame",
    "session_event",
    "session_view",
    "speech_started",
    "speech_stopped",
]
