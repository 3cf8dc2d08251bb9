"""The error tree. Every failure the service can name is one of these.

    TranscriberError
     ├── TransientError          retry later (optionally after ``retry_after`` seconds)
     │    ├── RateLimited         429 from an engine or the helpdesk
     │    ├── EngineUnavailable   5xx, timeout or connection error talking to an engine
     │    └── HelpdeskUnavailable 5xx, 429, timeout or connection error talking to Chatwoot
     └── PermanentError          retrying cannot help; the reason is stored
          ├── ConfigError         bad or missing configuration
          ├── SecretError         a stored secret no key decrypts
          ├── BadAudio            empty, corrupt or not audio
          ├── AudioTooLarge       over TRANSCRIBER_MAX_AUDIO_BYTES
          ├── EngineRejected      400/401/403/404/413/insufficient_quota from an engine
          ├── HelpdeskRejected    401/403/404/422 from Chatwoot
          └── UnsafeURL           an attachment URL pointing somewhere we refuse to fetch

HTTP and SDK errors are mapped onto this tree once, at the edge that sees them
(engines, helpdesk client, downloader). Retry policy reads only the tree.
"""

from __future__ import annotations


class TranscriberError(Exception):
    """Base of every error this service raises on purpose."""

    #: short machine-readable reason, stored with a failed or skipped transcription
    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class TransientError(TranscriberError):
    reason = "transient"

    def __init__(
        self, message: str, *, retry_after: float | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class RateLimited(TransientError):
    reason = "rate_limited"


class EngineUnavailable(TransientError):
    reason = "engine_unavailable"


class HelpdeskUnavailable(TransientError):
    reason = "helpdesk_unavailable"


class PermanentError(TranscriberError):
    reason = "permanent"


class ConfigError(PermanentError):
    reason = "config"


class SecretError(PermanentError):
    reason = "secret"


class BadAudio(PermanentError):
    reason = "bad_audio"


class AudioTooLarge(PermanentError):
    reason = "too_large"


class EngineRejected(PermanentError):
    reason = "engine_rejected"


class HelpdeskRejected(PermanentError):
    reason = "helpdesk_rejected"


class UnsafeURL(PermanentError):
    reason = "unsafe_url"


__all__ = [
    "AudioTooLarge",
    "BadAudio",
    "ConfigError",
    "EngineRejected",
    "EngineUnavailable",
    "HelpdeskRejected",
    "HelpdeskUnavailable",
    "PermanentError",
    "RateLimited",
    "SecretError",
    "TranscriberError",
    "TransientError",
    "UnsafeURL",
]


class NotAudio(BadAudio):
    """The file holds no audio stream at all (a PDF, an image): the row is ``skipped``."""

    reason = "not_audio"


__all__ += ["NotAudio"]
