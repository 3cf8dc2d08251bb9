"""HTTP details shared by the Chatwoot API client and the attachment downloader."""

from __future__ import annotations

import email.utils
import math
import time
from urllib.parse import urlsplit

import httpx

#: connect 5 s, read 15 s (the contract's helpdesk timeouts); writes and pool waits alike
API_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
#: the most a Retry-After can make us wait (a hostile or buggy header says "1e9")
MAX_RETRY_AFTER = 3600.0
USER_AGENT = "helpdesk-transcriber"


def origin(url: str | httpx.URL) -> str:
    """``scheme://host[:port]`` of a URL, the only part of it an error message may show.

    Attachment URLs are signed (whoever has one can fetch the file) and API URLs carry ids;
    paths and queries never go into exception messages or logs.
    """
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "an invalid URL"
    scheme = parts.scheme or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def retry_after(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), capped; else None."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
