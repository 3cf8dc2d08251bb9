"""One conversation's messages → the audio to record (pure: no I/O, never raises on input).

Every message goes through ``channels.decide_listed``, the webhooks' rules: incoming, not
private, audio by type, MIME or extension. Messages created after the window's end are not
counted (the reconciler's next scan covers them). This service's own notes in the conversation
(``helpdesk.notes.note_reference``), whenever written, mark their audio as *known* and
*noted*: a lost database or a reinstall never transcribes it again. An
audio attachment Chatwoot lists without a usable ``data_url`` cannot be fetched: it is
*skipped*, with a logged reason, and so is a message that is not what the API promises. A
message with more audio than ``max_attachments`` keeps its first ones (``adapter.caps``), as a
webhook would.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from adapter.caps import cap_attachments
from adapter.helpdesk.notes import NoteReference, header_filename, note_reference
from channels import decide_listed
from channels.base import AudioAttachment, Decision

log = logging.getLogger(__name__)

#: the keys of a scan's summary, in the order the contract prints them
COUNT_KEYS = ("conversations", "messages", "audio", "queued", "known", "skipped")


@dataclass
class Counts:
    """What a scan saw; ``bytes``: the size of the audio it queued (or would queue)."""

    conversations: int = 0
    messages: int = 0
    audio: int = 0
    queued: int = 0
    known: int = 0
    skipped: int = 0
    bytes: int = 0

    def add(self, other: Counts) -> None:
        for name in (*COUNT_KEYS, "bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self, *, with_bytes: bool = False) -> dict[str, int]:
        names = (*COUNT_KEYS, "bytes") if with_bytes else COUNT_KEYS
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Counts:
        values = {k: v for k, v in data.items() if k in (*COUNT_KEYS, "bytes")}
        return cls(**{k: v for k, v in values.items() if isinstance(v, int)})


@dataclass(frozen=True)
class Sifted:
    """One conversation, sifted: ``audio`` still to record (decisions whose attachments no
    note of ours covers), and the counts (``known`` holds the noted ones only)."""

    audio: tuple[Decision, ...]
    counts: Counts = field(default_factory=Counts)
    #: audio our notes already answer: recorded as done, so that no later webhook or scan
    #: transcribes it again (the database that knew it may have been lost)
    noted: tuple[Decision, ...] = ()


def sift(
    messages: Iterable[Mapping[str, Any]],
    conversation: Mapping[str, Any],
    *,
    until: float,
    max_attachments: int | None = None,
) -> Sifted:
    """Sift the messages of one conversation (those created after ``until`` are left out);
    ``max_attachments``: how many audio attachments one message may queue (None: all)."""
    counts = Counts()
    decisions: list[Decision] = []
    notes: dict[int | None, list[NoteReference]] = defaultdict(list)
    for message in messages:
        reference = note_reference(message)
        if reference is not None:  # whenever written: a note after the window still counts
            notes[reference.in_reply_to].append(reference)
        created = message.get("created_at")
        if isinstance(created, int | float) and not isinstance(created, bool) and created > until:
            continue
        counts.messages += 1
        if reference is not None:
            continue
        decision = cap_attachments(decide_listed(message, conversation), max_attachments)
        if decision.status == "accepted":
            decisions.append(decision)
            counts.audio += len(decision.attachments)
        elif decision.reason == "malformed" or _unusable_audio(message, decision):
            counts.skipped += 1
            log.warning(
                "skipped message %s of conversation %s: %s",
                message.get("id"),
                conversation.get("id"),
                "audio without a usable data_url"
                if decision.reason != "malformed"
                else "malformed (no usable message or conversation id)",
            )
    audio, noted = [], []
    noted_ids = {r.attachment_id for refs in notes.values() for r in refs if r.attachment_id}
    for decision in decisions:
        kept = _not_noted(decision, noted_ids, notes.get(decision.message_id, []))
        counts.known += len(decision.attachments) - len(kept)
        if kept:
            audio.append(replace(decision, attachments=kept))
        if len(kept) < len(decision.attachments):
            done = tuple(a for a in decision.attachments if a not in kept)
            noted.append(replace(decision, attachments=done))
    return Sifted(tuple(audio), counts, tuple(noted))


def _not_noted(
    decision: Decision, noted_ids: set[int], answers: list[NoteReference]
) -> tuple[AudioAttachment, ...]:
    """The attachments of ``decision`` that no note of ours in the conversation covers
    (``noted_ids``: the attachment ids our notes name; ``answers``: our notes answering
    this message).

    A note names its attachment id when Chatwoot kept it; otherwise it answers the message,
    and covers every attachment when there are as many such notes as attachments, else the
    ones whose file name its header shows.
    """
    replies = [r for r in answers if r.attachment_id is None]
    names = {r.filename for r in replies if r.filename}
    all_covered = len(replies) >= len(decision.attachments)
    return tuple(
        a
        for a in decision.attachments
        if a.attachment_id not in noted_ids
        and not all_covered
        and not (a.filename and header_filename(a.filename) in names)
    )


def _unusable_audio(message: Mapping[str, Any], decision: Decision) -> bool:
    """An incoming public message with an audio attachment that has no http(s) data_url."""
    if decision.reason != "no_audio":
        return False
    attachments = message.get("attachments")
    if not isinstance(attachments, list):
        return False
    for entry in attachments:
        if not isinstance(entry, Mapping):
            continue
        kind = entry.get("file_type")
        media = entry.get("content_type")
        audio = kind == "audio" or (isinstance(media, str) and media.startswith("audio/"))
        url = entry.get("data_url")
        if audio and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            return True
    return False


__all__ = ["COUNT_KEYS", "Counts", "Sifted", "sift"]
