"""Type-checked reads from an untrusted webhook body (sans-I/O, never raises).

The body has been authenticated, so it came from the account's Chatwoot, but nothing
guarantees its shape: a proxy, a Chatwoot fork or a bug can put a string where a dict is
expected, ``true`` where an id is expected, or a ``file:`` URL in ``data_url``. Every helper
here takes ``object`` and returns a well-typed value or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

#: Chatwoot ids are PostgreSQL ``integer``/``bigint`` columns.
MAX_ID = 2**63 - 1
#: Longest URL we pass on; ActiveStorage redirect URLs are a few hundred characters.
MAX_URL_LENGTH = 8192
#: Longest file name we keep (the usual file-system limit).
MAX_FILENAME_LENGTH = 255
#: At most this many entries of a list are looked at; a real message has at most 15 attachments.
MAX_LIST_ITEMS = 100

_EXTENSION = re.compile(r"[a-z0-9]{1,10}")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def mapping(value: object) -> Mapping[object, object] | None:
    """``value`` if it is a mapping (a JSON object), else None."""
    return value if isinstance(value, Mapping) else None


def items(value: object) -> Iterator[object]:
    """The first ``MAX_LIST_ITEMS`` entries of a JSON array; nothing for anything else."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        for index, item in enumerate(value):
            if index >= MAX_LIST_ITEMS:
                return
            yield item


def positive_id(value: object) -> int | None:
    """A Chatwoot id: an ``int`` (not a ``bool``) in 1..2**63-1, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_ID else None


def size(value: object) -> int | None:
    """A byte count: a non-negative ``int`` (not a ``bool``), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_ID else None


def short_text(value: object, limit: int = 64) -> str | None:
    """A string cut to ``limit`` characters, else None."""
    return value[:limit] if isinstance(value, str) else None


def media_type(value: object) -> str | None:
    """``type/subtype``, lower case, no parameters: ``audio/ogg; codecs=opus`` → ``audio/ogg``."""
    if not isinstance(value, str):
        return None
    essence = value.split(";", 1)[0].strip().lower()
    return essence if _MEDIA_TYPE.fullmatch(essence) else None


def extension(value: object) -> str | None:
    """A file extension in lower case without the dot (``".OGG"`` → ``"ogg"``), else None."""
    if not isinstance(value, str):
        return None
    candidate = value.strip().lstrip(".").lower()
    return candidate if _EXTENSION.fullmatch(candidate) else None


def extension_of(filename: str | None) -> str | None:
    """The extension of a file name, else None (``"voice"``, ``".hidden"`` have none)."""
    if not filename or "." not in filename.lstrip("."):
        return None
    return extension(filename.rsplit(".", 1)[1])


def http_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host and no user info, else None.

    Only the syntax is checked here. Whether the host may be fetched (SSRF) is decided by the
    downloader, which resolves it.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        return None
    if _CONTROL.search(value) or " " in value or "\\" in value:
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    if "@" in parts.netloc:  # credentials in an attachment URL: never from Chatwoot
        return None
    return value


def filename_from_url(url: str) -> str | None:
    """The last segment of the URL's path, percent-decoded, or None.

    ``…/redirect/<signed id>/New%20Recording%2012.m4a?disposition=inline`` →
    ``"New Recording 12.m4a"``. Decoded slashes and control characters are dropped so the
    name is safe to show and to use as a file-name hint.
    """
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    segment = path.rsplit("/", 1)[-1]
    name = unquote(segment, errors="replace")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip()
    if not name or name in (".", ".."):
        return None
    return name[-MAX_FILENAME_LENGTH:]


@dataclass(frozen=True)
class AttachmentFacts:
    """What the payload says about one attachment, every field type-checked."""

    attachment_id: int
    url: str
    file_type: str | None  # Chatwoot's file_type: "audio", "file", "image", "video", ...
    content_type: str | None  # media type without parameters, lower case
    payload_extension: str | None  # the payload's ``extension``, normalised
    filename: str | None  # from the URL's path
    file_size: int | None

    @property
    def named_extension(self) -> str | None:
        """The extension the payload gives, else the one of the file name."""
        return self.payload_extension or extension_of(self.filename)


def attachment_facts(raw: object) -> AttachmentFacts | None:
    """Parse one entry of ``attachments``; None when its id or URL is unusable."""
    entry = mapping(raw)
    if entry is None:
        return None
    attachment_id = positive_id(entry.get("id"))
    url = http_url(entry.get("data_url"))
    if attachment_id is None or url is None:
        return None
    file_type = entry.get("file_type")
    return AttachmentFacts(
        attachment_id=attachment_id,
        url=url,
        file_type=file_type.lower()[:32] if isinstance(file_type, str) else None,
        content_type=media_type(entry.get("content_type")),
        payload_extension=extension(entry.get("extension")),
        filename=filename_from_url(url),
        file_size=size(entry.get("file_size")),
    )
