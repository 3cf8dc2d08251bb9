"""OpenAI's own Realtime clients (the ``openai`` SDK, GA and beta) against the live endpoint,
streaming the shared speech samples in real time to the offline engine."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import jiwer
import pytest
from openai import AsyncOpenAI

from tests.live.audio import chunks, pcm24, silence24, wer, words
from tests.live.conftest import TOKENS, LiveServer

pytestmark = [pytest.mark.local_engine, pytest.mark.slow]

CHUNK_SECONDS = 0.1


async def stream_clip(
    server: LiveServer,
    name: str,
    *,
    token: str,
    beta: bool = False,
    language: str | None = None,
    tail_seconds: float = 2.0,
) -> tuple[list[Any], dict[str, float]]:
    """Stream ``name`` (then ``tail_seconds`` of silence) at real-time pace through the SDK;
    the events received until every committed item completed, and when (seconds on the
    monotonic clock) the speech was all sent and each item completed."""
    # the beta client always says wss:// unless given the WebSocket URL itself
    client = AsyncOpenAI(
        base_url=server.base_url,
        websocket_base_url=server.base_url.replace("http://", "ws://"),
        api_key=token,
        max_retries=0,
    )
    realtime = client.beta.realtime if beta else client.realtime
    kwargs: dict[str, Any] = {"extra_query": {"intent": "transcription"}}
    if beta:
        kwargs["model"] = "whisper-1"
    events: list[Any] = []
    times: dict[str, float] = {}
    async with realtime.connect(**kwargs) as connection:
        if beta:
            await connection.send(
                {
                    "type": "transcription_session.update",
                    "session": {"input_audio_transcription": {"language": language}},
                }
            )
        else:
            await connection.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "transcription",
                        "audio": {"input": {"transcription": {"language": language}}},
                    },
                }
            )

        start = time.monotonic()
        times["start"] = start

        async def send() -> None:
            pieces = chunks(pcm24(name), CHUNK_SECONDS) + chunks(silence24(tail_seconds))
            speech = len(chunks(pcm24(name), CHUNK_SECONDS))
            for index, piece in enumerate(pieces):
                # real time: each piece leaves when its audio would have been spoken
                delay = start + index * CHUNK_SECONDS - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if index == speech:
                    times["speech_sent"] = time.monotonic()
                await connection.send(
                    {"type": "input_audio_buffer.append", "audio": base64.b64encode(piece).decode()}
                )

        sender = asyncio.create_task(send())
        committed: set[str] = set()
        completed: set[str] = set()
        while not (sender.done() and committed and committed == completed):
            try:
                event = await asyncio.wait_for(connection.recv(), 0.5)
            except TimeoutError:
                continue
            events.append(event)
            if event.type == "input_audio_buffer.committed":
                committed.add(event.item_id)
            if event.type == "conversation.item.input_audio_transcription.completed":
                completed.add(event.item_id)
                times.setdefault("first_completed", time.monotonic())
                times[event.item_id] = time.monotonic()
        await sender
    return events, times


def latencies(events: list[Any], times: dict[str, float]) -> list[float]:
    """Seconds from the end of each utterance's speech (speech_stopped's audio_end_ms less the
    500 ms of silence that ends it) to its completed event."""
    ends = {
        e.item_id: e.audio_end_ms / 1000 - 0.5
        for e in events
        if e.type == "input_audio_buffer.speech_stopped"
    }
    return [round(times[item] - times["start"] - end, 2) for item, end in ends.items()]


def transcript(events: list[Any]) -> str:
    return " ".join(
        e.transcript
        for e in events
        if e.type == "conversation.item.input_audio_transcription.completed"
    )


def test_ga_client_streams_english_with_deltas(live_server: LiveServer) -> None:
    events, times = asyncio.run(stream_clip(live_server, "en1.ogg", token=TOKENS[3]))
    kinds = [e.type for e in events]
    assert kinds[0] == "session.created"
    assert "session.updated" in kinds
    assert "input_audio_buffer.speech_started" in kinds
    assert "input_audio_buffer.speech_stopped" in kinds
    deltas = [e for e in events if e.type == "conversation.item.input_audio_transcription.delta"]
    assert len(deltas) >= 2, kinds
    heard = transcript(events)
    print("heard:", heard, "latencies:", latencies(events, times))
    assert wer("en1.ogg", heard) <= 0.3, heard
    # the deltas of an item, joined, are a text close to what completed says of it (the
    # partial transcripts are greedy, the final one a beam search: a word may differ)
    final = [e for e in events if e.type == "conversation.item.input_audio_transcription.completed"]
    for item in final:
        text = "".join(d.delta for d in deltas if d.item_id == item.item_id)
        said = words(item.transcript).split()
        assert jiwer.wer(" ".join(said[: len(words(text).split())]), words(text)) <= 0.5
        assert getattr(item, "language", None) == "en"


def test_beta_client_streams_spanish_with_base(live_server: LiveServer) -> None:
    events, times = asyncio.run(stream_clip(live_server, "es1.ogg", token=TOKENS[4], beta=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "transcription_session.created"
    assert "transcription_session.updated" in kinds
    heard = transcript(events)
    print("heard:", heard, "latencies:", latencies(events, times))
    assert wer("es1.ogg", heard) <= 0.45, heard
    languages = {
        getattr(e, "language", None)
        for e in events
        if e.type == "conversation.item.input_audio_transcription.completed"
    }
    assert languages == {"es"}


def test_four_streams_at_once_all_complete(live_server: LiveServer) -> None:
    clips = ["en1.ogg", "en2.ogg", "en3.ogg", "en2.ogg"]

    async def together() -> list[tuple[list[Any], dict[str, float]]]:
        return await asyncio.gather(
            *(stream_clip(live_server, clip, token=TOKENS[3]) for clip in clips)
        )

    for clip, (events, times) in zip(clips, asyncio.run(together()), strict=True):
        heard = transcript(events)
        print(clip, "heard:", heard, "latencies:", latencies(events, times))
        assert wer(clip, heard) <= 0.3, heard
