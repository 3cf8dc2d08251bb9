"""The error tree. Every outcome the service can name, other than success, is one of these.

    TranscriberError             .reason: a Reason code, stored beside the human message
     ├── TransientError           retry later (optionally after ``retry_after`` seconds)
     │    ├── RateLimited          429 from an engine (not insufficient_quota)
     │    ├── EngineUnavailable    5xx, timeout or connection error talking to an engine
     │    └── HelpdeskUnavailable  5xx, 408, 429, timeout or connection error with Chatwoot
     ├── PermanentError           retrying cannot help: the transcription ends ``failed``
     │    ├── ConfigError          bad or missing configuration
     │    ├── SecretError          a stored secret no key decrypts
     │    ├── BadAudio             empty or corrupt audio
     │    ├── EngineRejected       400/401/403/404/413/insufficient_quota from an engine
     │    ├── HelpdeskRejected     401/403/404/422 (and other 4xx, 3xx) from Chatwoot
     │    │    ├── HelpdeskTokenRejected  401/403 to an API call: the token is revoked, or
     │    │    │                          its user or bot may not do that (bots cannot list)
     │    │    └── HelpdeskNotFound       404 to an API call: the conversation is gone
     │    └── UnsafeURL            an attachment URL pointing somewhere we refuse to fetch
     └── Skipped                  nothing to transcribe: the transcription ends ``skipped``
          ├── AudioTooLarge        over TRANSCRIBER_MAX_AUDIO_BYTES          (too_large)
          ├── NotAudio             a document, an image, no audio stream      (not_audio)
          ├── TooShort             shorter than the account's minimum         (too_short)
          ├── AccountDisabled      the account is disabled or was removed     (disabled)
          ├── NoKey                an openai account with no key anywhere     (no_key)
          └── OverBudget           the account's monthly budget is spent      (budget)

HTTP and SDK errors are mapped onto this tree once, at the edge that sees them (engines,
helpdesk client, downloader). The retry policy (``adapter.jobs.backoff``) reads only the tree;
nothing matches on messages. ``reason`` is a :class:`Reason`: the skip codes are the contract's;
a finer cause given by an edge (``reason="unsupported_format"``) is kept as ``detail``.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a transcription was skipped or failed: the ``reason`` the API and CLI show."""

    # skips (CONTRACT codes)
    too_large = "too_large"
    too_short = "too_short"
    disabled = "disabled"
    no_key = "no_key"
    not_audio = "not_audio"
    budget = "budget"
    # failures
    transient = "transient"
    rate_limited = "rate_limited"
    engine_unavailable = "engine_unavailable"
    helpdesk_unavailable = "helpdesk_unavailable"
    permanent = "permanent"
    config = "config"
    secret = "secret"  # noqa: S105 - a reason code, not a password
    bad_audio = "bad_audio"
    engine_rejected = "engine_rejected"
    helpdesk_rejected = "helpdesk_rejected"
    unsafe_url = "unsafe_url"
    internal = "internal"


class TranscriberError(Exception):
    """Base of every error this service raises on purpose."""

    reason: Reason = Reason.permanent

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        #: a finer cause than ``reason`` (``unsupported_format``, ``empty``…), or None
        self.detail: str | None = None
        if reason is not None:
            if reason in Reason.__members__:
                self.reason = Reason(reason)
            else:
                self.detail = reason

    @property
    def message(self) -> str:
        return str(self)


class TransientError(TranscriberError):
    reason = Reason.transient

    def __init__(
        self, message: str, *, retry_after: float | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class RateLimited(TransientError):
    reason = Reason.rate_limited


class EngineUnavailable(TransientError):
    reason = Reason.engine_unavailable


class HelpdeskUnavailable(TransientError):
    reason = Reason.helpdesk_unavailable


class PermanentError(TranscriberError):
    reason = Reason.permanent


class ConfigError(PermanentError):
    reason = Reason.config


class SecretError(PermanentError):
    reason = Reason.secret


class BadAudio(PermanentError):
    reason = Reason.bad_audio


class EngineRejected(PermanentError):
    reason = Reason.engine_rejected


class HelpdeskRejected(PermanentError):
    reason = Reason.helpdesk_rejected


class HelpdeskTokenRejected(HelpdeskRejected):
    """Chatwoot refused the token (401/403): revoked, mistyped, or without the rights the call
    needs. The message names the kind of token and what to change, never the token."""


class HelpdeskNotFound(HelpdeskRejected):
    """Chatwoot answered 404: the conversation is gone (deleted) or never existed."""


class UnsafeURL(PermanentError):
    reason = Reason.unsafe_url


class Skipped(TranscriberError):
    """Nothing to transcribe: the transcription ends ``skipped`` with ``reason``."""


class AudioTooLarge(Skipped):
    reason = Reason.too_large


class NotAudio(Skipped):
    """The file holds no audio stream at all (a PDF, an image)."""

    reason = Reason.not_audio


class TooShort(Skipped):
    reason = Reason.too_short


class AccountDisabled(Skipped):
    reason = Reason.disabled


class NoKey(Skipped):
    reason = Reason.no_key


class OverBudget(Skipped):
    reason = Reason.budget


__all__ = [
    "AccountDisabled",
    "AudioTooLarge",
    "BadAudio",
    "ConfigError",
    "EngineRejected",
    "EngineUnavailable",
    "HelpdeskNotFound",
    "HelpdeskRejected",
    "HelpdeskTokenRejected",
    "HelpdeskUnavailable",
    "NoKey",
    "NotAudio",
    "OverBudget",
    "PermanentError",
    "RateLimited",
    "Reason",
    "SecretError",
    "Skipped",
    "TooShort",
    "TranscriberError",
    "TransientError",
    "UnsafeURL",
]
