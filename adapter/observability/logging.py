"""Structured logs: one JSON object per line on stderr, redacted on the way out.

Each line carries ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``, then the
fields bound with :func:`log_context` (``transcription_id``, ``delivery_id``,
``account_id``, ``attempt``, ``state``, ``engine``…), then the ``extra=`` fields of
the call, then ``exc_type``/``exc`` (the traceback) when there is one. The message,
every field and the traceback go through :mod:`adapter.observability.redact` at
format time, so a secret passed by mistake still never reaches the stream.

Usage::

    configure_logging(settings)            # once per process, first thing
    log = logging.getLogger(__name__)
    with log_context(transcription_id=tid, account_id=acc, attempt=n):
        log.info("transcribed", extra={"engine": "openai", "duration_ms": 812})

uvicorn must be started with ``log_config=None`` so that its records propagate to
the root logger configured here instead of its own handlers.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

from adapter.observability.redact import (
    REDACTED,
    format_log_message,
    redact_obj,
    redact_text,
)

if TYPE_CHECKING:
    from adapter.settings import Settings

#: loggers whose INFO lines print request URLs (signed attachment ids, queries)
NOISY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "openai",
    "urllib3",
    "hpack",
    "multipart",
    "faster_whisper",
)

_EMPTY: Mapping[str, object] = MappingProxyType({})
_context: ContextVar[Mapping[str, object]] = ContextVar("transcriber_log_context", default=_EMPTY)

_RESERVED = frozenset({"ts", "level", "logger", "msg", "exc", "exc_type", "stack"})
# standard LogRecord attributes, plus uvicorn's ANSI duplicate of the message
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` to every record logged inside the block (this thread/task only)."""
    token = _context.set(MappingProxyType({**_context.get(), **fields}))
    try:
        yield
    finally:
        _context.reset(token)


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Formats a record as one redacted JSON object (no newline inside)."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = format_log_message(record.msg, record.args)
        except Exception:
            message = f"{record.msg!s} [unformattable arguments]"
        payload: dict[str, object] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": message,
        }
        fields: dict[str, object] = dict(_context.get())
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                fields[key] = value
        for key, value in fields.items():
            payload[f"field_{key}" if key in _RESERVED else key] = value
        if record.exc_info and record.exc_info[0] is not None:
            payload["exc_type"] = record.exc_info[0].__name__
            payload["exc"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        head = {key: payload.pop(key) for key in ("ts", "level", "logger")}
        body = redact_obj(payload)
        if isinstance(body, dict):
            head.update(body)
        return json.dumps(head, ensure_ascii=False, default=_fallback, separators=(",", ":"))


def _fallback(value: object) -> str:
    try:
        return redact_text(str(value))
    except Exception:
        return REDACTED


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at emit time (so capture and redirection work)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        # The stdlib version prints the record's raw msg and args: they may hold secrets.
        line = {
            "level": "ERROR",
            "logger": __name__,
            "msg": "log record dropped",
            "dropped_logger": record.name,
        }
        with suppress(Exception):  # nowhere left to report to
            sys.stderr.write(json.dumps(line) + "\n")


def _level(name: str) -> int:
    level = logging.getLevelName(str(name).strip().upper())
    return level if isinstance(level, int) else logging.INFO


def configure_logging(settings: Settings | None = None, *, level: str | None = None) -> None:
    """Send every log record to stderr as redacted JSON. Idempotent.

    Replaces the handler installed by a previous call (never stacks a second one),
    leaves other handlers alone, sets the root level from ``TRANSCRIBER_LOG_LEVEL``
    (or ``level``), and raises :data:`NOISY_LOGGERS` to WARNING.
    """
    chosen = level or (settings.log_level if settings is not None else "INFO")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(_level(chosen))
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def unconfigure_logging() -> None:
    """Remove the handler installed by :func:`configure_logging` (for tests)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)


__all__ = [
    "NOISY_LOGGERS",
    "JsonFormatter",
    "configure_logging",
    "log_context",
    "unconfigure_logging",
]
