"""One live session's state: audio in, events and transcription requests out (no I/O).

The endpoint feeds it client events and the recognizer's answers; it answers with
:class:`Send` (a server event) and :class:`Decode` (transcribe this audio of this item, finally
or partially). An item is one utterance::

    server VAD          speech_started(item) ─ deltas while spoken ─ speech_stopped ─ committed
                        ─ (the final decode) ─ [a last delta] ─ completed | failed
    turn_detection null append … commit ─ committed ─ (the final decode) ─ [delta] ─ completed

Deltas only ever append: a word is sent once two partial transcripts in a row agree on it and
on every word before it (local agreement), so a word Whisper is still unsure of waits. When the
final transcript extends what was sent, its remaining words go out as one last delta before
``completed``; ``completed`` always carries the item's whole final text.

What is kept: in server VAD mode, the audio of the utterance being spoken and, between
utterances, only the prefix padding; with the client committing, everything since the last
commit, up to :data:`MAX_BUFFER_SECONDS` (then committed as if the client had).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adapter.live import protocol as p
from adapter.live.audio import RATE, Decoder, FloatArray
from adapter.live.vad import Detector, Started, Stopped, VoiceDetector
from adapter.live.whisper import Heard

#: a commit of less audio than this is refused (as OpenAI does)
MIN_COMMIT_SECONDS = 0.1
#: a buffer the client does not commit is committed at this length
MAX_BUFFER_SECONDS = 120.0
#: a partial transcript is asked for after this much more speech
PARTIAL_EVERY_SECONDS = 1.0
#: and only from this much speech on
PARTIAL_FROM_SECONDS = 1.0
#: extra audio kept before the VAD's prefix padding between utterances (its own look-back)
_MARGIN_SECONDS = 0.5

_WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class Send:
    event: dict[str, Any]


@dataclass(frozen=True)
class Decode:
    item_id: str
    audio: FloatArray = field(repr=False)
    final: bool


Action = Send | Decode


@dataclass
class Item:
    id: str
    seconds: float = 0.0
    committed: bool = False
    done: bool = False
    #: the text sent as deltas, and how many words of the hypotheses it covers
    sent: str = ""
    sent_words: int = 0
    last_words: list[str] = field(default_factory=list)
    transcript: str = ""
    language: str | None = None


def _key(word: str) -> str:
    return "".join(_WORD.findall(word.lower()))


def _agreed(a: list[str], b: list[str]) -> int:
    """How many leading words ``a`` and ``b`` share (compared without case or punctuation)."""
    count = 0
    for left, right in zip(a, b, strict=False):
        if _key(left) != _key(right):
            break
        count += 1
    return count


class LiveSession:
    def __init__(
        self,
        config: p.SessionConfig,
        info: p.SessionInfo,
        ids: p.Ids,
        *,
        dialect: p.Dialect,
        partials: bool = True,
        detector: Callable[[p.TurnDetection, int], Detector] | None = None,
    ) -> None:
        self.config = config
        self.info = info
        self.ids = ids
        self.dialect: p.Dialect = dialect
        self.partials = partials
        self._detector = detector or _silero
        self._decoder = Decoder(config.format)
        self._vad = self._detector(config.turn_detection, 0) if config.turn_detection else None
        #: uncommitted 16 kHz audio; ``_base`` is the absolute index of its first sample
        self._audio = np.zeros(0, dtype=np.float32)
        self._base = 0
        #: the current utterance: its item and its first sample
        self._speech: Item | None = None
        self._speech_start = 0
        self._last_partial = 0
        self._partial_pending = False
        self.items: list[Item] = []
        self._by_id: dict[str, Item] = {}
        #: seconds of audio whose final transcript the engine made
        self.billed_seconds = 0.0

    # ─── what the session reports ───────────────────────────────────────────────────────

    @property
    def position(self) -> int:
        return self._base + self._audio.size

    def received_seconds(self) -> float:
        return self._decoder.seconds_in()

    def created(self) -> dict[str, Any]:
        return p.session_event(self.ids, self.config, self.info, self.dialect, "created")

    def transcript(self) -> str:
        return " ".join(i.transcript for i in self.items if i.done and i.transcript)

    def language(self) -> str | None:
        """The language most of the transcript's seconds were in."""
        seconds: dict[str, float] = {}
        for item in self.items:
            if item.done and item.transcript and item.language:
                seconds[item.language] = seconds.get(item.language, 0.0) + item.seconds
        return max(seconds, key=lambda k: seconds[k]) if seconds else None

    def outstanding(self) -> bool:
        """Some committed item has no final transcript yet."""
        return any(i.committed and not i.done for i in self.items)

    # ─── client events ──────────────────────────────────────────────────────────────────

    def handle(self, event: p.ClientEvent) -> list[Action]:
        if isinstance(event, p.Append):
            return self.append(event.audio)
        if isinstance(event, p.Commit):
            return self.commit(event.event_id)
        if isinstance(event, p.Clear):
            return self.clear()
        return self.reconfigure(event)

    def error(self, error: p.EventError) -> list[Action]:
        return [Send(p.error_event(self.ids, error))]

    def reconfigure(self, update: p.SessionUpdate) -> list[Action]:
        before = self.config
        self.config = p.apply_update(self.config, update)
        if self.config.format != before.format:
            self._decoder = Decoder(self.config.format)
        if self.config.turn_detection != before.turn_detection:
            self._turns_changed(before.turn_detection)
        return [Send(p.session_event(self.ids, self.config, self.info, update.dialect, "updated"))]

    def _turns_changed(self, before: p.TurnDetection | None) -> None:
        turn = self.config.turn_detection
        if turn is None:
            # the utterance being spoken stays in the buffer, for the client to commit
            self._vad = None
            if self._speech is not None:
                self._drop_before(self._speech_start)
                self._forget_speech()
            return
        self._vad = self._detector(turn, self.position)

    def append(self, data: bytes) -> list[Action]:
        samples = self._decoder(data)
        if samples.size == 0:
            return []
        self._audio = np.concatenate([self._audio, samples])
        actions: list[Action] = []
        if self._vad is None:
            if self._audio.size >= MAX_BUFFER_SECONDS * RATE:
                actions += self._commit_buffer()
            return actions
        for turn in self._vad.feed(samples):
            if isinstance(turn, Started):
                actions += self._started(turn)
            elif isinstance(turn, Stopped):
                actions += self._stopped(turn)
        if self._speech is None:
            keep = int((self.config.turn_detection or p.TurnDetection()).prefix_padding_ms * 16)
            self._drop_before(self.position - keep - int(_MARGIN_SECONDS * RATE))
        else:
            actions += self._maybe_partial()
        return actions

    def commit(self, event_id: str | None = None) -> list[Action]:
        if self._vad is not None:
            if self._speech is None:
                return self._commit_empty(event_id)
            end = self.position
            item = self._speech
            self._forget_speech()
            self._vad = self._detector(self.config.turn_detection or p.TurnDetection(), end)
            return self._commit_item(item, self._speech_start, end)
        if self._audio.size < MIN_COMMIT_SECONDS * RATE:
            return self._commit_empty(event_id)
        return self._commit_buffer()

    def clear(self) -> list[Action]:
        self._drop_before(self.position)
        if self._speech is not None:
            self._forget_speech()
        if self.config.turn_detection is not None:
            self._vad = self._detector(self.config.turn_detection, self.position)
        return [Send(p.cleared(self.ids))]

    def finish(self) -> list[Action]:
        """The stream ends: what is pending is committed (and then transcribed)."""
        if self._speech is not None:
            item, start = self._speech, self._speech_start
            self._forget_speech()
            self._vad = None
            return self._commit_item(item, start, self.position)
        if self._vad is None and self._audio.size >= MIN_COMMIT_SECONDS * RATE:
            return self._commit_buffer()
        return []

    # ─── the recognizer's answers ───────────────────────────────────────────────────────

    def heard(self, item_id: str, heard: Heard, *, final: bool) -> list[Action]:
        item = self._by_id.get(item_id)
        if item is None or item.done:
            return []
        if not final:
            self._partial_pending = False
            if item.committed:
                return []
            return self._partial(item, heard.text.split())
        item.done = True
        self.billed_seconds += item.seconds
        item.transcript = heard.text.strip()
        item.language = heard.language
        actions: list[Action] = []
        words = item.transcript.split()
        if _agreed(item.sent.split(), words) == item.sent_words and len(words) > item.sent_words:
            rest = " ".join(words[item.sent_words :])
            actions.append(Send(p.delta(self.ids, item.id, (" " if item.sent else "") + rest)))
        actions.append(
            Send(p.completed(self.ids, item.id, item.transcript, item.language, item.seconds))
        )
        return actions

    def partial_failed(self) -> None:
        self._partial_pending = False

    def failed(self, item_id: str, code: str, message: str) -> list[Action]:
        item = self._by_id.get(item_id)
        if item is None or item.done:
            return []
        item.done = True
        return [Send(p.failed(self.ids, item.id, code, message))]

    # ─── inside ─────────────────────────────────────────────────────────────────────────

    def _new_item(self) -> Item:
        item = Item(self.ids.item())
        self.items.append(item)
        self._by_id[item.id] = item
        return item

    def _started(self, turn: Started) -> list[Action]:
        item = self._new_item()
        self._speech = item
        self._speech_start = max(turn.sample, self._base)
        self._last_partial = self._speech_start
        return [Send(p.speech_started(self.ids, item.id, _ms(self._speech_start)))]

    def _stopped(self, turn: Stopped) -> list[Action]:
        item = self._speech
        if item is None:
            return []
        start = self._speech_start
        self._forget_speech()
        actions: list[Action] = [Send(p.speech_stopped(self.ids, item.id, _ms(turn.detected)))]
        return actions + self._commit_item(item, start, min(turn.sample, self.position))

    def _forget_speech(self) -> None:
        self._speech = None
        self._partial_pending = False

    def _commit_item(self, item: Item, start: int, end: int) -> list[Action]:
        audio = self._slice(start, end)
        self._drop_before(end)
        return self._committed(item, audio)

    def _commit_buffer(self) -> list[Action]:
        audio = self._audio
        self._drop_before(self.position)
        return self._committed(self._new_item(), audio)

    def _committed(self, item: Item, audio: FloatArray) -> list[Action]:
        previous = [i.id for i in self.items if i.committed]
        item.committed = True
        item.seconds = audio.size / RATE
        return [
            Send(p.committed(self.ids, item.id, previous[-1] if previous else None)),
            Decode(item.id, audio, final=True),
        ]

    def _commit_empty(self, event_id: str | None) -> list[Action]:
        return self.error(
            p.EventError(
                "input_audio_buffer_commit_empty",
                f"the input audio buffer holds less than {int(MIN_COMMIT_SECONDS * 1000)} ms "
                "of audio (with server VAD, commit while speech is detected)",
                None,
                event_id,
            )
        )

    def _maybe_partial(self) -> list[Action]:
        item = self._speech
        if item is None or not self.partials or self._partial_pending:
            return []
        spoken = self.position - self._speech_start
        if spoken < PARTIAL_FROM_SECONDS * RATE:
            return []
        if self.position - self._last_partial < PARTIAL_EVERY_SECONDS * RATE:
            return []
        self._last_partial = self.position
        self._partial_pending = True
        return [Decode(item.id, self._slice(self._speech_start, self.position), final=False)]

    def _partial(self, item: Item, words: list[str]) -> list[Action]:
        agreed = _agreed(item.last_words, words)
        item.last_words = words
        if agreed <= item.sent_words or _agreed(item.sent.split(), words) < item.sent_words:
            return []
        new = " ".join(words[item.sent_words : agreed])
        text = (" " if item.sent else "") + new
        item.sent += text
        item.sent_words = agreed
        return [Send(p.delta(self.ids, item.id, text))]

    def _slice(self, start: int, end: int) -> FloatArray:
        return self._audio[max(start - self._base, 0) : max(end - self._base, 0)].copy()

    def _drop_before(self, sample: int) -> None:
        cut = min(max(sample - self._base, 0), self._audio.size)
        if cut:
            self._audio = self._audio[cut:]
            self._base += cut


def _silero(turn: p.TurnDetection, start: int) -> Detector:
    return VoiceDetector(turn, start=start)


def _ms(sample: int) -> int:
    return int(sample * 1000 // RATE)


__all__ = ["Action", "Decode", "Item", "LiveSession", "Send"]
