"""What a note holds beyond the transcript, per account, decided without I/O.

Each part is opt-in (``accounts add|update``; all off by default):

- ``--summary-min-seconds S``: audio at least ``S`` seconds long gets a summary at the top of
  its note, written by the chat model (``adapter.chat``);
- ``--translate-to CODE``: a transcript in another language gets a translation. The chat
  model translates into any language; an account without one gets English from the engine's
  translate task (Whisper's), done chunk by chunk with the transcription, and nothing for any
  other language (the note goes out without it, the reason recorded);
- ``--speakers NAME,NAME``: a stereo call recording whose channels carry different speakers is
  transcribed per channel and shown as turns with these labels (both channels are billed);
- ``--redact cards,iban,email,phone``: those are masked (``adapter.redaction``) in every text
  stored, posted or sent to the chat model; ``--phone-region CC`` also reads national phone
  numbers of that region (without it only numbers written with ``+`` are found).

Where it happens: per chunk (``jobs/chunk.py``: masking, the engine's translation), when the
chunks are joined (``jobs/chunk.join``: turns, masking across chunk seams) and before the note
is posted (``jobs/extras.py``: the chat model's summary and translation, stored once, so a
helpdesk outage never pays for them twice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from adapter.engines.base import Transcript
from adapter.redaction import redact, redact_pieces

#: how a transcript gets its translation
Route = Literal["none", "chat", "engine", "unavailable"]
#: the one target the engine's translate task (Whisper's) writes
ENGINE_TARGET = "en"
#: what an account without a chat model stores (``--chat-model off``)
NO_CHAT_MODEL = "off"


@dataclass(frozen=True)
class Extras:
    summary_min_seconds: float = 0.0
    translate_to: str | None = None
    redact: frozenset[str] = frozenset()
    phone_region: str | None = None
    #: the labels of a stereo call's two channels; None: channels are mixed, as for any file
    speakers: tuple[str, str] | None = None

    def wants_summary(self, audio_seconds: float | None) -> bool:
        """A summary is due for audio this long."""
        minimum = self.summary_min_seconds
        return minimum > 0 and audio_seconds is not None and audio_seconds >= minimum

    def wants_translation(self, language: str | None) -> bool:
        """A transcript in ``language`` is to be translated (an unknown language is not)."""
        return self.translate_to is not None and language not in (None, self.translate_to)

    def translation_route(self, language: str | None, *, chat: bool) -> Route:
        """How a transcript in ``language`` is translated; ``chat``: the account has a chat
        model."""
        if not self.wants_translation(language):
            return "none"
        if chat:
            return "chat"
        return "engine" if self.translate_to == ENGINE_TARGET else "unavailable"

    def engine_translates(self, *, chat: bool) -> bool:
        """Whether each chunk not in English is also sent to the engine's translate task."""
        return not chat and self.translate_to == ENGINE_TARGET

    def mask(self, text: str) -> str:
        """``text`` with the account's kinds masked (unchanged when it masks nothing)."""
        if not self.redact or not text:
            return text
        return redact(text, self.redact, region=self.phone_region).text

    def mask_transcript(self, transcript: Transcript) -> Transcript:
        """A transcript with its text and its timed segments masked, the segments read as one
        text (a number said across two segments is found)."""
        if not self.redact:
            return transcript
        texts = redact_pieces(
            [s.text for s in transcript.segments], self.redact, region=self.phone_region
        )
        segments = tuple(
            replace(s, text=t) for s, t in zip(transcript.segments, texts, strict=True)
        )
        return replace(transcript, text=self.mask(transcript.text), segments=segments)


def parse_speakers(stored: str | None) -> tuple[str, str] | None:
    """The labels as stored (``"Agent,Customer"``), or None."""
    if not stored:
        return None
    first, _, second = stored.partition(",")
    return (first, second)


__all__ = [
    "ENGINE_TARGET",
    "NO_CHAT_MODEL",
    "Extras",
    "Route",
    "parse_speakers",
]
