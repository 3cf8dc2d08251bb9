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
- What the account asks for beyond the transcript comes between the header and the transcript,
  each part under a bold title: the chat model's summary (its lines as escaped bullets), the
  translation (named with its language, the transcript then titled "Original"), and a stereo
  call's turns, one paragraph each, the speaker's label in bold with the time it spoke::

    🎙️ **Transcript** (Spanish · es · 2:31) · call.wav

    **Summary**
    - The customer asks whether order 48213 has shipped.
    - The agent promises to call back on Friday.

    **Translation** (English · en)

    Agent: Good afternoon, how can I help?

    **Original** (Spanish · es)

    **Agent** (0:00): Buenas tardes, ¿en qué puedo ayudarle?

- A transcript made in parts says so, because words at the joins may be off.
- Chatwoot refuses message content over 150,000 characters (``Message`` validation); longer
  transcripts are cut with a visible marker.

``note_payload`` builds exactly the contract's request body::

    {"content": NOTE, "message_type": "outgoing", "private": true,
     "content_attributes": {"in_reply_to": MESSAGE_ID,
                            "transcriber": {"attachment_id": ID, "language": ISO639_1,
                                            "duration": SECONDS}}}

A voice note that cannot be transcribed (it ended ``failed``, or ``skipped`` for a reason agents
should know: ``owes_failure_note``) gets a failure note instead, so that an agent listens to it::

    🎙️ **Not transcribed** · voice_note.ogg

    The recording is too large to transcribe automatically. Please listen to it.

One sentence in plain words per reason (``format_failure_note``); the reason code goes only into
``content_attributes.transcriber.error`` (``failure_note_payload``), with no ``language``.

A live stream's transcript (``adapter.streams``) is a note of the same shape under its own
header (``format_note(..., header=STREAM_NOTE_HEADER)``), posted in the conversation the
stream named; it answers no message and no attachment, so ``stream_note_payload`` carries no
``in_reply_to`` and no ``attachment_id``::

    🎙️ **Live transcript** (English · en · 3:12)

    {"content": NOTE, "message_type": "outgoing", "private": true,
     "content_attributes": {"transcriber": {"source": "stream", "language": ISO639_1,
                                            "duration": SECONDS}}}

``note_reference`` never takes a stream note for the note of a voice note: it covers no audio.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
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
#: how every failure note begins (``note_reference`` recognises them by it too)
FAILURE_NOTE_HEADER = "🎙️ **Not transcribed**"
#: how a live stream's note begins (``note_reference`` knows it answers no audio)
STREAM_NOTE_HEADER = "🎙️ **Live transcript**"
#: ``content_attributes.transcriber.source`` of a stream's note
STREAM_SOURCE = "stream"
#: the skip reasons agents are told about: the others (``disabled``) are an admin's choice
NOTED_SKIPS = frozenset({"not_audio", "too_large", "too_short", "no_key", "budget"})
#: what a failure note says, per reason code; any other failure says ``FAILED_SENTENCE``
FAILURE_SENTENCES: Mapping[str, str] = {
    "too_large": "The recording is too large to transcribe automatically. Please listen to it.",
    "too_short": "The recording is too short to transcribe automatically. Please listen to it.",
    "not_audio": "This attachment has no sound that could be transcribed. Please open it.",
    "no_key": (
        "Automatic transcription is not set up for this account yet. Please listen to the "
        "recording."
    ),
    "budget": (
        "This month's budget for automatic transcription is used up. Please listen to the "
        "recording."
    ),
    "bad_audio": (
        "The recording seems to be empty or damaged, so it could not be transcribed. Please "
        "try to listen to it."
    ),
}
FAILED_SENTENCE = "The recording could not be transcribed automatically. Please listen to it."
#: what a failure note says when the transcript was made but could not be posted
UNDELIVERED_SENTENCE = (
    "The recording was transcribed, but the transcript could not be added to this "
    "conversation. Please listen to it."
)

#: Unicode categories a file name loses in a header: control, format (bidi overrides, zero
#: widths), surrogate and private-use characters, line and paragraph separators
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>#|~])")
_LINE_START_MARKERS = re.compile(r"^(\s*)([-+=]|\d+)([.)]?)(\s)", re.MULTILINE)
#: a list marker a chat model may start a summary line with: - * • or 1. 1)
_LIST_MARKER = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")


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


@dataclass(frozen=True)
class NoteTurn:
    """One speaker's turn as the note shows it."""

    label: str
    start: float
    text: str


def format_note(
    text: str,
    language: str | None,
    duration: float,
    *,
    filename: str | None = None,
    chunked: bool = False,
    summary: str | None = None,
    translation: str | None = None,
    translation_language: str | None = None,
    turns: Sequence[NoteTurn] = (),
    header: str = NOTE_HEADER,
) -> str:
    """The note content agents read: a one-line header, then the summary, the translation
    and the transcript, each only when there is one (see the module docstring). ``header``:
    what the first line begins with (``STREAM_NOTE_HEADER`` for a live stream)."""
    code = to_iso639_1(language)
    details = ([language_name(code), code] if code is not None else ["language unknown"]) + [
        format_duration(duration)
    ]
    header = f"{header} ({' · '.join(details)})"
    if filename:
        header += f" · {header_filename(filename)}"
    lines = [header]
    if chunked:
        lines.append("_Transcribed in parts; words at the joins may be off._")
    if summary and summary.strip():
        lines.append(f"**Summary**\n{format_summary(summary)}")
    body = _transcript_body(text, turns)
    if translation and translation.strip():
        lines.append(f"**Translation** ({_language_label(translation_language)})")
        lines.append(_paragraphs(translation))
        lines.append(f"**Original** ({_language_label(code)})")
    lines.append(body)
    note = "\n\n".join(lines)
    if len(note) > MAX_NOTE_CHARS:
        note = note[: MAX_NOTE_CHARS - len(TRUNCATED_MARKER)].rstrip("\\") + TRUNCATED_MARKER
    return note


def format_summary(summary: str) -> str:
    """The chat model's summary as Markdown bullets: every line one escaped item, whatever
    list marker the model used (its words cannot become links, headings or HTML)."""
    items = []
    for line in summary.splitlines():
        item = _LIST_MARKER.sub("", line).strip()
        if item:
            items.append(f"- {escape_markdown(item)}")
    return "\n".join(items)


def _transcript_body(text: str, turns: Sequence[NoteTurn]) -> str:
    if turns:
        return "\n\n".join(
            f"**{escape_markdown(t.label)}** ({format_duration(t.start)}): "
            f"{escape_markdown(t.text)}"
            for t in turns
        )
    body = text.strip()
    return escape_markdown(body) if body else "_No speech detected._"


def _paragraphs(text: str) -> str:
    """Text whose lines are paragraphs (a translation of speaker turns), escaped."""
    return "\n\n".join(escape_markdown(line.strip()) for line in text.splitlines() if line.strip())


def _language_label(code: str | None) -> str:
    code = to_iso639_1(code)
    return f"{language_name(code)} · {code}" if code else "language unknown"


def header_filename(filename: str) -> str:
    """A file name as the note's header shows it: one line without control or format
    characters (a NUL, an escape sequence, a right-to-left override), at most 120 characters,
    escaped."""
    visible = "".join(" " if unicodedata.category(c) in _INVISIBLE else c for c in filename)
    return escape_markdown(" ".join(visible.split())[:120])


def owes_failure_note(outcome: str, reason: str | None) -> bool:
    """Whether a transcription ending ``outcome`` (``failed``, ``skipped``…) for ``reason``
    tells its agents so with a failure note."""
    return outcome == "failed" or (outcome == "skipped" and reason in NOTED_SKIPS)


def failure_code(outcome: str, reason: str | None) -> str:
    """The code a failure note carries: the reason code, or ``failed`` for a failure without
    one."""
    return reason or ("failed" if outcome == "failed" else outcome)


def format_failure_note(
    reason: str | None, *, filename: str | None = None, transcribed: bool = False
) -> str:
    """The failure note agents read: a one-line header naming the file, then one sentence in
    plain words saying why there is no transcript and that they should listen to it
    (``transcribed``: there is one, which could not be posted)."""
    header = FAILURE_NOTE_HEADER
    shown = header_filename(filename) if filename else ""
    if shown:
        header += f" · {shown}"
    if transcribed:
        sentence = UNDELIVERED_SENTENCE
    else:
        sentence = FAILURE_SENTENCES.get(reason or "", FAILED_SENTENCE)
    return f"{header}\n\n{sentence}"


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
    that begins with ``NOTE_HEADER`` (or ``FAILURE_NOTE_HEADER``: a failure note also means
    the audio is done with) and answers (``in_reply_to``) the audio message, the header naming
    the file. A live stream's note (``transcriber.source`` ``stream``, or its header) answers
    no audio: None, as for anyone else's message.
    """
    if message.get("private") is not True:
        return None
    attributes = message.get("content_attributes")
    attributes = attributes if isinstance(attributes, Mapping) else {}
    reply = _positive(attributes.get("in_reply_to"))
    ours = attributes.get("transcriber")
    if isinstance(ours, Mapping) and ours.get("source") == STREAM_SOURCE:
        return None
    if isinstance(ours, Mapping) and _positive(ours.get("attachment_id")) is not None:
        return NoteReference(reply, _positive(ours.get("attachment_id")), None)
    content = message.get("content")
    if not isinstance(content, str):
        return None
    header = content.split("\n", 1)[0]
    if header.startswith(STREAM_NOTE_HEADER):
        return None
    if header.startswith(FAILURE_NOTE_HEADER):
        rest = header.removeprefix(FAILURE_NOTE_HEADER)
        found, name = rest.startswith(" · "), rest.removeprefix(" · ")
    elif header.startswith(NOTE_HEADER):
        _, separator, name = header.partition(") · ")
        found = bool(separator)
    else:
        return None
    return NoteReference(reply, None, name.strip() if found else None)


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class TranscriberAttributes(TypedDict):
    attachment_id: int
    language: str | None
    duration: float


class FailureAttributes(TypedDict):
    attachment_id: int
    error: str


class NoteContentAttributes(TypedDict):
    in_reply_to: int
    transcriber: TranscriberAttributes | FailureAttributes


class NotePayload(TypedDict):
    content: str
    message_type: Literal["outgoing"]
    private: Literal[True]
    content_attributes: NoteContentAttributes


class StreamAttributes(TypedDict):
    source: Literal["stream"]
    language: str | None
    duration: float


class StreamContentAttributes(TypedDict):
    transcriber: StreamAttributes


class StreamNotePayload(TypedDict):
    content: str
    message_type: Literal["outgoing"]
    private: Literal[True]
    content_attributes: StreamContentAttributes


def _private_reply(
    note: str, message_id: int, transcriber: TranscriberAttributes | FailureAttributes
) -> NotePayload:
    return {
        "content": note,
        "message_type": "outgoing",
        "private": True,
        "content_attributes": {"in_reply_to": message_id, "transcriber": transcriber},
    }


def _seconds(duration: float) -> float:
    return round(duration, 2) if math.isfinite(duration) else 0.0


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
    return _private_reply(
        note,
        message_id,
        {
            "attachment_id": attachment_id,
            "language": to_iso639_1(language),
            "duration": _seconds(duration),
        },
    )


def stream_note_payload(note: str, *, language: str | None, duration: float) -> StreamNotePayload:
    """The JSON body of a live stream's note (``format_note(..., header=STREAM_NOTE_HEADER)``):
    a private note in reply to nothing, ``transcriber`` = ``{"source": "stream", "language",
    "duration"}`` (the contract's "Live transcription")."""
    return {
        "content": note,
        "message_type": "outgoing",
        "private": True,
        "content_attributes": {
            "transcriber": {
                "source": "stream",
                "language": to_iso639_1(language),
                "duration": _seconds(duration),
            }
        },
    }


def failure_note_payload(
    note: str, *, message_id: int, attachment_id: int, error: str
) -> NotePayload:
    """The JSON body of a failure note (``format_failure_note``'s output): in reply to the
    audio message, ``transcriber.error`` the reason code (``failure_code``), no language."""
    return _private_reply(note, message_id, {"attachment_id": attachment_id, "error": error})


__all__ = [
    "CHATWOOT_MAX_CONTENT",
    "FAILED_SENTENCE",
    "FAILURE_NOTE_HEADER",
    "FAILURE_SENTENCES",
    "MAX_NOTE_CHARS",
    "NOTED_SKIPS",
    "NOTE_HEADER",
    "STREAM_NOTE_HEADER",
    "STREAM_SOURCE",
    "TRUNCATED_MARKER",
    "UNDELIVERED_SENTENCE",
    "NotePayload",
    "NoteReference",
    "NoteTurn",
    "StreamNotePayload",
    "escape_markdown",
    "failure_code",
    "failure_note_payload",
    "format_duration",
    "format_failure_note",
    "format_note",
    "format_summary",
    "header_filename",
    "language_name",
    "note_payload",
    "note_reference",
    "owes_failure_note",
    "stream_note_payload",
]
