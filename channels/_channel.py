"""What a Chatwoot inbox channel is to the decision "which attachments to transcribe".

The audio rule is the contract's and the same for every channel (see ``Channel.is_audio``):
a channel module cannot widen it, because the contract says everything else is ignored, and
it does not narrow it either, because probing the bytes later is the reliable test. What does
differ per channel is how its audio is *named*: WhatsApp voice notes are Ogg/Opus that
Chatwoot labels ``audio/opus`` and may store without an extension, Telegram's are ``.oga``,
Messenger's are ``.mp4``. A channel therefore carries ``extension_hints`` (media type →
extension), used when neither the payload nor the file name gives an extension, so that the
engine is handed a file name it recognises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from channels._payload import AttachmentFacts
from channels.base import AudioAttachment

#: Extensions that make a ``file_type == "file"`` attachment audio (the contract's list).
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {"ogg", "oga", "opus", "mp3", "m4a", "mp4", "aac", "amr", "wav", "webm", "flac", "3gp", "caf"}
)

#: Media type → extension for any channel, used when nothing names the file.
COMMON_EXTENSION_HINTS: Mapping[str, str] = MappingProxyType(
    {
        "audio/aac": "aac",
        "audio/aacp": "aac",
        "audio/x-aac": "aac",
        "audio/amr": "amr",
        "audio/amr-wb": "amr",
        "audio/3gpp": "3gp",
        "audio/3gpp2": "3gp",
        "audio/flac": "flac",
        "audio/x-flac": "flac",
        "audio/m4a": "m4a",
        "audio/x-m4a": "m4a",
        "audio/mp4": "m4a",
        "audio/mp3": "mp3",
        "audio/mpeg": "mp3",
        "audio/mpeg3": "mp3",
        "audio/x-mpeg-3": "mp3",
        "audio/ogg": "ogg",
        "audio/opus": "ogg",
        "application/ogg": "ogg",
        "audio/vnd.wave": "wav",
        "audio/wav": "wav",
        "audio/wave": "wav",
        "audio/x-wav": "wav",
        "audio/webm": "webm",
        "audio/x-caf": "caf",
    }
)


def extension_hints(pairs: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy of a channel's media type → extension table."""
    return MappingProxyType(dict(pairs))


@dataclass(frozen=True)
class Channel:
    """One Chatwoot inbox channel, as far as audio attachments are concerned."""

    #: short, stable, low-cardinality name stored with each transcription ("whatsapp", ...)
    name: str
    #: the ``conversation.channel`` values (Chatwoot class names) this module handles
    chatwoot_types: tuple[str, ...]
    #: media type → extension, consulted before ``COMMON_EXTENSION_HINTS`` when the payload
    #: and the file name give no extension
    extension_hints: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, hash=False
    )

    def is_audio(self, facts: AttachmentFacts) -> bool:
        """The contract's rule, identical for every channel.

        Audio when ``file_type == "audio"``, or the content type starts with ``audio/``, or a
        ``file_type == "file"`` attachment has an audio extension (the payload's
        ``extension``, else the file name's). A ``video/mp4`` with ``file_type: "video"`` is
        not audio.
        """
        if facts.file_type == "audio":
            return True
        if facts.content_type is not None and facts.content_type.startswith("audio/"):
            return True
        return facts.file_type == "file" and facts.named_extension in AUDIO_EXTENSIONS

    def extension(self, facts: AttachmentFacts) -> str | None:
        """The extension to name the file with: the payload's, the file name's, else a hint."""
        named = facts.named_extension
        if named is not None:
            return named
        if facts.content_type is None:
            return None
        return self.extension_hints.get(facts.content_type) or COMMON_EXTENSION_HINTS.get(
            facts.content_type
        )

    def audio_attachment(self, facts: AttachmentFacts) -> AudioAttachment:
        """The receiver's view of one audio attachment of this channel."""
        return AudioAttachment(
            attachment_id=facts.attachment_id,
            url=facts.url,
            filename=facts.filename,
            content_type=facts.content_type,
            extension=self.extension(facts),
            file_size=facts.file_size,
        )
