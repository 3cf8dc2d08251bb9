"""The private note agents read, and the exact JSON that posts it (sans-I/O).

A note looks like this in the Chatwoot dashboard (Markdown, which Chatwoot renders)::

    🎙️ **Transcript** (Spanish · es · 0:11) · voice_note.ogg

    Hola, quería saber si mi pedido ya salió.

- The header says what the agent needs before reading: that this is a machine transcript, the
  language (name and code) and the length of the recording, and which file it came from when
  a message carried several.
- The transcript follows as a paragraph, its Markdown characters escaped so that words the
  customer said cannot become links, headings or HTML.
- Nothing recognised: the note says "No speech detected" instead of posting an empty body.
- A transcript made in parts says so, because words at the joins may be off.
- Chatwoot refuses message content over 150,000 characters (``Message`` validation); longer
  transcripts are cut with a visible marker.

``note_payload`` builds exactly the contract's request body::

    {"content": NOTE, "message_type": "outgoing", "private": true,
     "content_attributes": {"in_reply_to": MESSAGE_ID,
                            "transcriber": {"attachment_id": ID, "language": ISO639_1,
                                            "duration": SECONDS}}}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypedDict

from adapter.engines.languages import language_name as _engine_language_name
from adapter.engines.languages import to_iso639_1

#: Chatwoot's ``validates :content, length: { maximum: 150_000 }`` on messages.
CHATWOOT_MAX_CONTENT = 150_000
#: We stay well below it; the full text stays available from the admin API.
MAX_NOTE_CHARS = 100_000
TRUNCATED_MARKER = "\n\n_[Transcript truncated: the full text is in the transcriber.]_"
#: how every transcript note begins (``note_reference`` recognises notes by it)
NOTE_HEADER = "🎙️ **Transcript**"

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#|~])")
_LINE_START_MARKERS = re.compile(r"^(\s*)([-+=]|\d+)([.)]?)(\s)", re.MULTILINE)


def language_name(code: str | None) -> str:
    """The English name of a language, for the note's header; ``"Unknown language"`` if none.

    ``"es"``, ``"ES-es"`` and ``"Spanish"`` all give ``"Spanish"``.
    """
    return _engine_language_name(code) or "Unknown language"


def format_duration(seconds: float) -> str:
    """``11.4`` → ``"0:11"``, ``3725`` → ``"1:02:05"``; negative or not finite → ``"0:00"``."""
    total = round(seconds) if math.isfinite(seconds) and seconds > 0 else 0
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def escape_markdown(text: str) -> str:
    """Make transcript text render as the words it is, not as Markdown or HTML."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    return _LINE_START_MARKERS.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker, punctuation, space = match.groups()
    if marker.isdigit():  # "1. " / "1) " start an ordered list: escape the punctuation
        return f"{indent}{marker}\\{punctuation}{space}" if punctuation else match.group(0)
    return f"{indent}\\{marker}{punctuation}{space}"


def format_note(
    text: str,
    language: str | None,
    duration: float,
    *,
    filename: str | None = None,
    chunked: bool = False,
) -> str:
    """The note content agents read: a one-line header, then the transcript."""
    code = to_iso639_1(language)
    details = ([language_name(code), code] if code is not None else ["language unknown"]) + [
        format_duration(duration)
    ]
    header = f"{NOTE_HEADER} ({' · '.join(details)})"
    if filename:
        header += f" · {header_filename(filename)}"
    lines = [header]
    if chunked:
        lines.append("_Transcribed in parts; words at the joins may be off._")
    body = text.strip()
    lines.append(escape_markdown(body) if body else "_No speech detected._")
    note = "\n\n".join(lines)
    if len(note) > MAX_NOTE_CHARS:
        note = note[: MAX_NOTE_CHARS - len(TRUNCATED_MARKER)].rstrip("\\") + TRUNCATED_MARKER
    return note


def header_filename(filename: str) -> str:
    """A file name as the note's header shows it (one line, at most 120 characters, escaped)."""
    return escape_markdown(" ".join(filename.split())[:120])


@dataclass(frozen=True)
class NoteReference:
    """What one of this service's notes, read back from Chatwoot, says it transcribed."""

    in_reply_to: int | None  # the audio message
    attachment_id: int | None  # from ``content_attributes.transcriber``, when Chatwoot kept it
    filename: str | None  # as the header shows it


def note_reference(message: Mapping[str, object]) -> NoteReference | None:
    """If ``message`` (from Chatwoot's API or a webhook) is one of our notes, what it answers.

    The contract's mark is ``content_attributes.transcriber.attachment_id``. Chatwoot's message
    builder keeps only the ``content_attributes`` keys it knows (``in_reply_to``, ``items``), so
    a real Chatwoot returns our notes without it; they are then recognised as a private message
    that begins with ``NOTE_HEADER`` and answers (``in_reply_to``) the audio message, the
    header naming the file.
    """
    if message.get("private") is not True:
        return None
    attributes = message.get("content_attributes")
    attributes = attributes if isinstance(attributes, Mapping) else {}
    reply = _positive(attributes.get("in_reply_to"))
    ours = attributes.get("transcriber")
    if isinstance(ours, Mapping) and _positive(ours.get("attachment_id")) is not None:
        return NoteReference(reply, _positive(ours.get("attachment_id")), None)
    content = message.get("content")
    if not isinstance(content, str) or not content.startswith(NOTE_HEADER):
        return None
    header = content.split("\n", 1)[0]
    _, found, name = header.partition(") · ")
    return NoteReference(reply, None, name.strip() if found else None)


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class TranscriberAttributes(TypedDict):
    attachment_id: int
    language: str | None
    duration: float


class NoteContentAttributes(TypedDict):
    in_reply_to: int
    transcriber: TranscriberAttributes


class NotePayload(TypedDict):
    content: str
    message_type: Literal["outgoing"]
    private: Literal[True]
    content_attributes: NoteContentAttributes


def note_payload(
    note: str,
    *,
    message_id: int,
    attachment_id: int,
    language: str | None,
    duration: float,
) -> NotePayload:
    """The contract's JSON body for ``POST …/conversations/{id}/messages``.

    ``note`` is ``format_note``'s output. ``language`` is normalised to a code (``None``
    stays ``null``); ``duration`` is seconds rounded to 0.01 (0 when not finite).
    """
    return {
        "content": note,
        "message_type": "outgoing",
        "private": True,
        "content_attributes": {
            "in_reply_to": message_id,
            "transcriber": {
                "attachment_id": attachment_id,
                "language": to_iso639_1(language),
                "duration": round(duration, 2) if math.isfinite(duration) else 0.0,
            },
        },
    }


__all__ = [
    "CHATWOOT_MAX_CONTENT",
    "MAX_NOTE_CHARS",
    "NOTE_HEADER",
    "TRUNCATED_MARKER",
    "NotePayload",
    "NoteReference",
    "escape_markdown",
    "format_duration",
    "format_note",
    "header_filename",
    "language_name",
    "note_payload",
    "note_reference",
]
