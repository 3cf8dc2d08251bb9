"""What must never leave the process, and how to remove it from text and data.

Two layers, applied to every log line and every Sentry event:

1. **Registries of literal values seen at runtime.** Whoever decrypts a secret
   (a helpdesk API token, a webhook secret, an OpenAI key) calls
   :func:`register_secret`; whoever holds a transcript calls
   :func:`register_transcript`. Any later occurrence of those exact values in a
   string becomes ``[redacted]`` / ``[transcript]``. Each registry is a bounded
   LRU (:data:`SECRET_CAPACITY` values), indexed by the value's first
   :data:`MIN_SECRET_LENGTH` characters, so one scan of a string costs one dict
   lookup per character whatever the number of registered values.
2. **Patterns** for things that look secret whether or not they were
   registered: OpenAI-style keys (``sk-…``), ``Bearer``/``Basic`` credentials,
   ``name=value`` / ``"name": "value"`` pairs whose name says token, secret,
   password, signature, cookie, dsn…, Fernet tokens (``gAAAAA…``), JWTs,
   ActiveStorage URLs and signed ids (``…--<hex>``) → ``[attachment-url]``,
   credentials, query strings and fragments of URLs (dropped, by
   :func:`adapter.httputil.safe_url`), and query strings after paths.

:func:`redact_obj` walks dicts and lists: values under secret-looking keys
become ``[redacted]``, values under transcript keys (``text``, ``transcript``,
``content``, ``note``) become ``[transcript]``, every other string goes
through :func:`redact_text`.

Free text is not understood: a transcript sentence in an exception message is
only caught when the transcript was registered. Never put payloads or
transcripts in log messages; the registries are the safety net, not the plan.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from urllib.parse import quote, unquote, urlsplit

from adapter.httputil import safe_url

REDACTED = "[redacted]"
TRANSCRIPT = "[transcript]"
ATTACHMENT_URL = "[attachment-url]"
_MARKERS = (REDACTED, TRANSCRIPT, ATTACHMENT_URL)

#: shorter values are ignored: they would match innocent text
MIN_SECRET_LENGTH = 8
#: transcript pieces shorter than this are not registered (too common: "Thank you.")
MIN_TRANSCRIPT_PIECE = 16
#: values kept per registry; the least recently registered go first
SECRET_CAPACITY = 10_000
TRANSCRIPT_CAPACITY = 10_000

_MAX_DEPTH = 32


class _LiteralRegistry:
    """A bounded LRU set of strings with a prefix index for one-pass scanning."""

    def __init__(self, capacity: int, marker: str) -> None:
        self.capacity = capacity
        self.marker = marker
        self._values: OrderedDict[str, None] = OrderedDict()
        # prefix -> the values starting with it, longest first (tuples: replaced, never
        # mutated, so a scan running in another thread sees a consistent candidate list)
        self._index: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: str) -> None:
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return
            self._values[value] = None
            prefix = value[:MIN_SECRET_LENGTH]
            bucket = (*self._index.get(prefix, ()), value)
            self._index[prefix] = tuple(sorted(bucket, key=len, reverse=True))
            while len(self._values) > self.capacity:
                old, _ = self._values.popitem(last=False)
                self._unindex(old)

    def _unindex(self, value: str) -> None:
        prefix = value[:MIN_SECRET_LENGTH]
        remaining = tuple(v for v in self._index.get(prefix, ()) if v != value)
        if remaining:
            self._index[prefix] = remaining
        else:
            self._index.pop(prefix, None)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._index.clear()

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Merged ``(start, end)`` ranges of ``text`` covered by registered values."""
        index = self._index
        if not index or len(text) < MIN_SECRET_LENGTH:
            return []
        get = index.get
        spans: list[tuple[int, int]] = []
        start = end = -1
        width = MIN_SECRET_LENGTH
        for i in range(len(text) - width + 1):
            candidates = get(text[i : i + width])
            if candidates is None:
                continue
            for candidate in candidates:
                if text.startswith(candidate, i):
                    stop = i + len(candidate)
                    if i <= end:
                        end = max(end, stop)
                    else:
                        if end >= 0:
                            spans.append((start, end))
                        start, end = i, stop
                    break
        if end >= 0:
            spans.append((start, end))
        return spans

    def redact(self, text: str) -> str:
        spans = self.spans(text)
        if not spans:
            return text
        parts: list[str] = []
        position = 0
        for start, end in spans:
            parts.append(text[position:start])
            parts.append(self.marker)
            position = end
        parts.append(text[position:])
        return "".join(parts)


_secrets = _LiteralRegistry(SECRET_CAPACITY, REDACTED)
_transcripts = _LiteralRegistry(TRANSCRIPT_CAPACITY, TRANSCRIPT)


def _registrable(value: str, minimum: int) -> bool:
    return len(value) >= minimum and not any(value in marker for marker in _MARKERS)


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is redacted wherever it shows up later.

    Call it with every secret the process decrypts or reads (API tokens, webhook
    secrets, OpenAI keys, the admin token). Values shorter than
    :data:`MIN_SECRET_LENGTH` are ignored. The stripped and URL-quoted forms are
    registered too. Of a URL (a Redis URL, a Sentry DSN) only the user and password
    are secret: they are registered, not the URL, whose host an error message may
    name. Never raises.
    """
    if not isinstance(value, str):
        return
    for secret in _url_credentials(value.strip()) if "://" in value else (value,):
        for form in {secret, secret.strip(), quote(secret.strip(), safe="")}:
            if _registrable(form, MIN_SECRET_LENGTH):
                _secrets.add(form)


def _url_credentials(url: str) -> tuple[str, ...]:
    """The user and password of a URL, raw and percent-decoded; the whole value when it does
    not parse as a URL (it is then kept secret as a whole)."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return (url,)
    if not parts.scheme or not parts.netloc:
        return (url,)
    found = [v for v in (user, password) if v]
    return tuple({*found, *(unquote(v) for v in found)})


_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")


def register_transcript(text: str | None) -> None:
    """Remember a transcript so that it (or any of its sentences) is redacted later.

    Call it when an engine returns text and when a stored transcript is loaded for
    delivery. The whole text and each sentence of at least
    :data:`MIN_TRANSCRIPT_PIECE` characters are registered. Never raises.
    """
    if not isinstance(text, str):
        return
    text = text.strip()
    pieces = {text}
    pieces.update(piece.strip() for piece in _SENTENCE_END.split(text))
    for piece in pieces:
        if _registrable(piece, MIN_TRANSCRIPT_PIECE):
            _transcripts.add(piece)


def clear_registries() -> None:
    """Forget every registered secret and transcript (for tests)."""
    _secrets.clear()
    _transcripts.clear()


# --- patterns -------------------------------------------------------------------------------

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`\\]+")
_SIGNED_ID = re.compile(r"[A-Za-z0-9_\-+/=%]{8,}--[0-9a-f]{32,}")
_ACTIVE_STORAGE_PATH = re.compile(r"/rails/active_storage/[^\s\"'<>`\\]*")
_PATH_QUERY = re.compile(r"(/[^\s?#\"'<>`\\]*)[?#][^\s\"'<>`\\]*")

_NAMED = (
    r"[A-Za-z0-9_.\-]*(?:token|secret|passw(?:or)?d|pwd|signature|authorization|cookie|dsn"
    r"|credential|api[_\-]?keys?|private[_\-]?keys?|encryption[_\-]?keys?|access[_\-]?keys?)"
    r"[A-Za-z0-9_.\-]*"
)
# name = value, name: value, "name": "value", \"name\": \"value\", (b'name', b'value')
_NAMED_VALUE = re.compile(
    r"(?i)\b(" + _NAMED + r")"
    r"((?:\\?[\"']?\s*[:=]|[\"']\s*,)\s*(?:(?-i:b)(?=[\"']))?)"
    r"(\"[^\"]*\"|'[^']*'|\\\"(?:[^\"\\]|\\[^\"])*\\\"|(?!\[redacted\])[^\s\"',;&(){}\[\]\\]+)"
)
_BEARER = re.compile(r"\b([Bb]earer|BEARER|Basic)\s+(?!\[redacted\])[A-Za-z0-9\-._~+/]{8,}=*")
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")
_FERNET = re.compile(r"\bgAAAAA[A-Za-z0-9_\-]{20,}={0,2}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*")
_HMAC = re.compile(r"(?i)\b(sha(?:1|256|512)=)[0-9a-f]{32,}")


def _redact_url(match: re.Match[str]) -> str:
    url = match.group(0)
    if "/rails/active_storage/" in url or _SIGNED_ID.search(url):
        return ATTACHMENT_URL
    return safe_url(url)  # no credentials, query or fragment


#: a word of prose (``Value``, ``key``, ``missing``): what follows ``name:`` in a sentence such
#: as "api_token: Value error" or "ENCRYPTION_KEYS: key 1 is not valid", not a secret
_PROSE_WORD = re.compile(r"[A-Za-z][a-z]{0,19}[.!?]?")


def _redact_named_value(match: re.Match[str]) -> str:
    value = match.group(3)
    if "=" not in match.group(2) and _PROSE_WORD.fullmatch(value):
        return match.group(0)  # "name: word" is a sentence; "name=word" is an assignment
    if value.startswith('\\"'):
        quote_ = '\\"'
    elif value[:1] in "\"'":
        quote_ = value[0]
    else:
        quote_ = ""
    return match.group(1) + match.group(2) + quote_ + REDACTED + quote_


def _redact_credentials(match: re.Match[str]) -> str:
    """``Bearer <token>`` masked; ``Basic authentication`` is a phrase, left alone."""
    if _PROSE_WORD.fullmatch(match.group(0).split(None, 1)[1]):
        return match.group(0)
    return match.group(1) + " " + REDACTED


def _redact_patterns(text: str) -> str:
    if "://" in text:
        text = _URL.sub(_redact_url, text)
    if "/rails/active_storage/" in text:
        text = _ACTIVE_STORAGE_PATH.sub(ATTACHMENT_URL, text)
    if "--" in text:
        text = _SIGNED_ID.sub(ATTACHMENT_URL, text)
    if "?" in text or "#" in text:
        text = _PATH_QUERY.sub(r"\1", text)
    text = _BEARER.sub(_redact_credentials, text)
    text = _NAMED_VALUE.sub(_redact_named_value, text)
    if "sk-" in text:
        text = _OPENAI_KEY.sub(REDACTED, text)
    if "gAAAAA" in text:
        text = _FERNET.sub(REDACTED, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if "=" in text:
        text = _HMAC.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact_text(text: str) -> str:
    """``text`` without registered secrets, transcripts, and secret-looking patterns."""
    if not text:
        return text
    text = _secrets.redact(text)
    text = _transcripts.redact(text)
    return _redact_patterns(text)


# --- log messages ---------------------------------------------------------------------------


def _int_or_redacted(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return REDACTED


def describe_actor_message(obj: object) -> str | None:
    """``actor(41, 2, note=[redacted])`` for a Dramatiq message, else ``None``.

    Actors take integer ids; anything else in a message's arguments is hidden, so
    a log line or an error report that prints a message never carries more.
    """
    actor = getattr(obj, "actor_name", None)
    args = getattr(obj, "args", None)
    kwargs = getattr(obj, "kwargs", None)
    if not isinstance(actor, str) or not isinstance(args, list | tuple):
        return None
    if not isinstance(kwargs, Mapping):
        return None
    parts = [_int_or_redacted(arg) for arg in args]
    parts += [f"{key}={_int_or_redacted(value)}" for key, value in kwargs.items()]
    return f"{actor}({', '.join(parts)})"


def _log_arg(value: object) -> object:
    described = describe_actor_message(value)
    return value if described is None else described


def format_log_message(msg: object, args: object) -> str:
    """What ``LogRecord.getMessage`` returns, with actor messages reduced and redacted.

    Raises like ``getMessage`` when the arguments do not fit the format.
    """
    text = str(msg)
    if args:
        safe: object
        if isinstance(args, Mapping):
            safe = {key: _log_arg(value) for key, value in args.items()}
        elif isinstance(args, tuple):
            safe = tuple(_log_arg(value) for value in args)
        else:
            safe = args
        text = text % safe
    return redact_text(text)


# --- structures -----------------------------------------------------------------------------

_SECRET_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "key",
        "keys",
        "apikey",
        "authorization",
        "auth",
        "dsn",
        "signature",
        "signatures",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "session",
        "sig",
    }
)
_SECRET_NAMES = frozenset(
    {"api_access_token", "set_cookie", "x_chatwoot_signature", "signed_id", "private_key"}
)
_TRANSCRIPT_NAMES = frozenset(
    {"text", "transcript", "transcripts", "transcript_text", "content", "note", "notes"}
)
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _normalise_key(key: str) -> str:
    return _WORD_SPLIT.sub("_", _CAMEL.sub("_", key).lower()).strip("_")


def key_kind(key: object) -> str | None:
    """``"secret"``, ``"transcript"`` or ``None`` for a mapping key."""
    if not isinstance(key, str):
        return None
    name = _normalise_key(key)
    if name in _TRANSCRIPT_NAMES:
        return "transcript"
    if name in _SECRET_NAMES or any(word in _SECRET_WORDS for word in name.split("_")):
        return "secret"
    return None


def redact_obj(obj: object) -> object:
    """A redacted deep copy of ``obj``: dicts, lists, tuples and sets are walked.

    Strings go through :func:`redact_text`; numbers, booleans and ``None`` are kept;
    bytes are replaced by their length; any other object by its redacted ``str``.
    """
    return _walk(obj, 0, set())


def _walk(obj: object, depth: int, seen: set[int]) -> object:
    if obj is None or isinstance(obj, bool | int | float):
        return obj
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return f"[{len(bytes(obj))} bytes]"
    if depth >= _MAX_DEPTH or id(obj) in seen:
        return "[...]"
    if isinstance(obj, Mapping):
        seen.add(id(obj))
        out: dict[str, object] = {}
        for key, value in obj.items():
            name = key if isinstance(key, str) else redact_text(str(key))
            kind = key_kind(name)
            if value is None or isinstance(value, bool) or kind is None:
                out[name] = _walk(value, depth + 1, seen)
            else:
                out[name] = REDACTED if kind == "secret" else TRANSCRIPT
        seen.discard(id(obj))
        return out
    if isinstance(obj, list | tuple | set | frozenset):
        seen.add(id(obj))
        items = [_walk(item, depth + 1, seen) for item in obj]
        seen.discard(id(obj))
        return items
    try:
        described = describe_actor_message(obj)
        return redact_text(str(obj)) if described is None else described
    except Exception:
        return REDACTED


__all__ = [
    "ATTACHMENT_URL",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "SECRET_CAPACITY",
    "TRANSCRIPT",
    "clear_registries",
    "describe_actor_message",
    "format_log_message",
    "key_kind",
    "redact_obj",
    "redact_text",
    "register_secret",
    "register_transcript",
]
