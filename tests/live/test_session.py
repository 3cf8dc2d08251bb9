"""One live session's state machine (adapter.live.session), without sockets or models: a
scripted voice detector says where speech starts and stops, the test plays the recognizer."""

from __future__ import annotations

from typing import Any

import numpy as np

from adapter.live import protocol as p
from adapter.live.audio import FloatArray
from adapter.live.session import Action, Decode, LiveSession, Send
from adapter.live.vad import Started, Stopped, Turn
from adapter.live.whisper import Heard

#: bytes of pcm16 at 24 kHz per second
SECOND = 48_000
RATE = 16_000


class Scripted:
    """A voice detector that turns at the 16 kHz sample positions it is given."""

    def __init__(self, turns: list[tuple[int, Turn]]) -> None:
        self.turns = turns
        self.position = 0

    def feed(self, samples: FloatArray) -> list[Turn]:
        end = self.position + samples.size
        due = [turn for at, turn in self.turns if self.position <= at < end]
        self.position = end
        return due


def make(turns: list[tuple[int, Turn]] | None = None, **config: Any) -> LiveSession:
    detectors: list[Scripted] = []

    def detector(turn: p.TurnDetection, start: int) -> Scripted:
        found = Scripted(turns or [])
        found.position = start
        detectors.append(found)
        return found

    return LiveSession(
        p.SessionConfig(**config), p.SessionInfo("sess_1", "tiny.en", 0), p.Ids(),
        dialect="ga", detector=detector,
    )  # fmt: skip


def tone(seconds: float) -> bytes:
    t = np.arange(int(seconds * 24000)) / 24000
    return (np.sin(2 * np.pi * 300 * t) * 8000).astype("<i2").tobytes()


def kinds(actions: list[Action]) -> list[str]:
    return [a.event["type"] if isinstance(a, Send) else f"decode:{a.final}" for a in actions]


def sent(actions: list[Action], kind: str) -> list[dict[str, Any]]:
    return [a.event for a in actions if isinstance(a, Send) and a.event["type"] == kind]


DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


def test_an_utterance_from_start_to_completed() -> None:
    session = make([(0, Started(0)), (int(3.2 * RATE), Stopped(3 * RATE, int(3.5 * RATE)))])
    actions = session.append(tone(0.5))
    assert kinds(actions) == ["input_audio_buffer.speech_started"]
    item = actions[0].event["item_id"]  # type: ignore[union-attr]
    actions = session.append(tone(0.6))  # 1.1 s of speech: a partial is asked for
    assert kinds(actions) == ["decode:False"]
    assert session.append(tone(0.5)) == []  # one partial at a time
    assert session.heard(item, Heard("Hello I", "en"), final=False) == []  # not agreed yet
    actions = session.append(tone(0.5))
    assert kinds(actions) == ["decode:False"]
    actions = session.heard(item, Heard("Hello, I bought", "en"), final=False)
    assert [e["delta"] for e in sent(actions, DELTA)] == ["Hello, I"]
    actions = session.append(tone(2.0))
    assert kinds(actions) == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "decode:True",
    ]
    final = actions[-1]
    assert isinstance(final, Decode) and final.audio.size == 3 * RATE
    assert actions[0].event["audio_end_ms"] == 3500  # type: ignore[union-attr]
    # a partial that comes back after the commit is dropped
    assert session.heard(item, Heard("Hello I bought a", "en"), final=False) == []
    actions = session.heard(item, Heard("Hello, I bought a blue jacket.", "en"), final=True)
    assert [e["delta"] for e in sent(actions, DELTA)] == [" bought a blue jacket."]
    [completed] = sent(actions, COMPLETED)
    assert completed["transcript"] == "Hello, I bought a blue jacket."
    assert completed["language"] == "en" and completed["usage"]["seconds"] == 3.0
    assert session.transcript() == "Hello, I bought a blue jacket."
    assert session.language() == "en"
    assert session.billed_seconds == 3.0


def test_a_final_that_disagrees_with_the_deltas_sends_no_last_delta() -> None:
    session = make([(0, Started(0)), (int(2.5 * RATE), Stopped(2 * RATE, int(2.5 * RATE)))])
    item = session.append(tone(1.1))[0].event["item_id"]  # type: ignore[union-attr]
    session.heard(item, Heard("Hello Autumn", "en"), final=False)
    session.append(tone(1.0))
    assert sent(session.heard(item, Heard("Hello Autumn", "en"), final=False), DELTA)
    session.append(tone(1.0))
    actions = session.heard(item, Heard("Hello, I bought", "en"), final=True)
    assert kinds(actions) == [COMPLETED]


def test_the_client_commits_and_clears() -> None:
    session = make(turn_detection=None)
    [error] = sent(session.commit("ev1"), "error")
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"
    assert error["error"]["event_id"] == "ev1"
    session.append(tone(0.5))
    assert kinds(session.clear()) == ["input_audio_buffer.cleared"]
    session.append(tone(0.7))
    actions = session.commit()
    assert kinds(actions) == ["input_audio_buffer.committed", "decode:True"]
    first = actions[0].event  # type: ignore[union-attr]
    assert first["previous_item_id"] is None
    assert actions[1].audio.size == int(0.7 * RATE)  # type: ignore[union-attr]
    session.append(tone(0.3))
    second = session.commit()[0].event  # type: ignore[union-attr]
    assert second["previous_item_id"] == first["item_id"]
    session.append(tone(0.2))
    assert kinds(session.finish()) == ["input_audio_buffer.committed", "decode:True"]


def test_the_end_commits_the_utterance_being_spoken() -> None:
    session = make([(0, Started(0))])
    session.append(tone(1.0))
    actions = session.finish()
    assert kinds(actions) == ["input_audio_buffer.committed", "decode:True"]
    assert actions[1].audio.size == RATE  # type: ignore[union-attr]
    assert session.finish() == []


def test_turning_detection_off_keeps_the_utterance_for_the_client() -> None:
    session = make([(0, Started(0))])
    session.append(tone(1.0))
    update = p.parse_event(
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}},
        }
    )
    assert isinstance(update, p.SessionUpdate)
    [updated] = sent(session.reconfigure(update), "session.updated")
    assert updated["session"]["audio"]["input"]["turn_detection"] is None
    session.append(tone(0.5))
    actions = session.commit()
    assert actions[1].audio.size == int(1.5 * RATE)  # type: ignore[union-attr]


def test_a_failed_item() -> None:
    session = make(turn_detection=None)
    session.append(tone(0.5))
    item = session.commit()[0].event["item_id"]  # type: ignore[union-attr]
    [failed] = sent(
        session.failed(item, "engine_unavailable", "down"),
        "conversation.item.input_audio_transcription.failed",
    )
    assert failed["error"]["code"] == "engine_unavailable"
    assert session.heard(item, Heard("late", "en"), final=True) == []
    assert session.transcript() == "" and session.billed_seconds == 0


def test_silence_between_utterances_is_not_kept() -> None:
    session = make()
    for _ in range(50):
        session.append(bytes(SECOND))  # 50 s, no speech
    assert session._audio.size < RATE  # the prefix padding and a margin only
    assert session.received_seconds() == 50.0


def test_an_uncommitted_buffer_is_committed_at_its_limit() -> None:
    session = make(turn_detection=None)
    actions: list[Action] = []
    for _ in range(121):
        actions += session.append(bytes(SECOND))
    assert kinds(actions) == ["input_audio_buffer.committed", "decode:True"]


def test_mulaw_and_a_format_change() -> None:
    session = make(turn_detection=None, format="g711_ulaw")
    session.append(b"\xff" * 8000)  # one second of µ-law silence at 8 kHz
    actions = session.commit()
    assert actions[1].audio.size == RATE  # type: ignore[union-attr]
