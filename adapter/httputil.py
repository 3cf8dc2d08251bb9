"""HTTP helpers shared by every outbound client: Chatwoot's API, attachment downloads, OpenAI.

* :func:`retry_after` — how long a server asked us to wait (``Retry-After``, ``retry-after-ms``).
* :func:`safe_url`, :func:`origin` — what of a URL may appear in a log line or an error message.
  A URL can carry credentials (``https://user:pw@…``), signatures and keys in its query
  (``?X-Amz-Signature=…``, ``?api-key=…``) and fragments; these never leave :func:`safe_url`.
  Attachment URLs are signed bearer credentials even in their path, so clients that fetch them
  show only their :func:`origin`.
* :data:`USER_AGENT` — what our own HTTP clients call themselves.

Pure functions over strings and header mappings: no I/O, the clock is injectable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

#: the most a ``Retry-After`` can make us wait (a hostile or buggy header says "1e9")
MAX_RETRY_AFTER = 3600.0
#: what :func:`safe_url` and :func:`origin` show for a string no URL parser accepts
INVALID_URL = "an invalid URL"
USER_AGENT = "helpdesk-transcriber"


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait before trying again, as the server's headers say; None when they don't.

    ``Retry-After`` is delta-seconds or an HTTP-date (measured from ``now``, a Unix time,
    default the current time); when it is absent or unreadable, OpenAI's ``retry-after-ms``
    (milliseconds) is read. Header names match in any case. The answer is finite, at least 0
    and at most :data:`MAX_RETRY_AFTER`.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    seconds = _retry_after_value(lowered.get("retry-after"), now)
    if seconds is None:
        millis = _number(lowered.get("retry-after-ms"))
        seconds = None if millis is None else millis / 1000.0
    if seconds is None:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _retry_after_value(value: str | None, now: float | None) -> float | None:
    seconds = _number(value)
    if seconds is not None or value is None:
        return seconds
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": no time zone, so no instant to wait for
        return None
    return when.timestamp() - (time.time() if now is None else now)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _split(url: str) -> tuple[str, str, str] | None:
    """``(scheme, host[:port], path)`` of ``url``: no userinfo, query or fragment; None if bad."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced "[" in the host, characters that fold into "/?#@:"
        return None
    return parts.scheme, parts.netloc.rpartition("@")[2], parts.path


def safe_url(url: str | httpx.URL, *, path: bool = True) -> str:
    """``url`` without credentials, query string or fragment (and without its path if not
    ``path``): safe to log. A string no parser accepts becomes :data:`INVALID_URL`.

    ``https://user:pw@api.example.test:8443/v1?key=s3cret#x`` → ``https://api.example.test:8443/v1``
    """
    parts = _split(str(url))
    if parts is None:
        return INVALID_URL
    scheme, host, rest = parts
    if not path:
        return f"{scheme or '?'}://{host or '?'}"
    return urlunsplit((scheme, host, rest, "", ""))


def origin(url: str | httpx.URL) -> str:
    """``scheme://host[:port]`` of ``url`` (``?`` for a part it lacks): all that an error
    message about a signed URL may show."""
    return safe_url(url, path=False)


__all__ = ["INVALID_URL", "MAX_RETRY_AFTER", "USER_AGENT", "origin", "retry_after", "safe_url"]
