"""The live endpoint over a real uvicorn server with raw WebSocket clients: who gets in, what a
broken client gets (error events, the session going on, the server staying up), the limits,
the client committing, µ-law, and what a finished stream hands on."""

from __future__ import annotations

import base64
import json
import random
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from adapter.live.hooks import StreamResult
from adapter.observability.metrics import init_metrics, shutdown_metrics
from adapter.settings import Settings
from tests.helpers import wait_until
from tests.live.audio import pcm24, silence24, ulaw8, wer
from tests.live.client import append, close_code, receive, send, session, until
from tests.live.conftest import TOKENS, LiveServer, start_server

pytestmark = [pytest.mark.local_engine]


def refused(server: LiveServer, headers: dict[str, str], query: str) -> int:
    with (
        pytest.raises(InvalidStatus) as caught,
        connect(f"{server.ws_url}?{query}", additional_headers=headers, open_timeout=30),
    ):
        pass
    return caught.value.response.status_code


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer tok-nobody-0123456789abcdef"},
        {"Authorization": f"Bearer {TOKENS[5]}"},  # a disabled account's
        {"Authorization": f"Basic {TOKENS[3]}"},
    ],
)
def test_no_valid_token_no_upgrade(live_server: LiveServer, headers: dict[str, str]) -> None:
    assert refused(live_server, headers, "intent=transcription") == 401


def test_token_in_the_query(live_server: LiveServer) -> None:
    with session(live_server, None, query=f"intent=transcription&token={TOKENS[3]}") as ws:
        created = receive(ws)
        assert created["type"] == "session.created"
        assert created["session"]["type"] == "transcription"
        assert created["session"]["audio"]["input"]["transcription"]["model"] == "tiny.en"


def test_beta_header_beta_names(live_server: LiveServer) -> None:
    with session(live_server, TOKENS[3], beta=True) as ws:
        assert receive(ws)["type"] == "transcription_session.created"
        send(ws, {"type": "transcription_session.update", "session": {"turn_detection": None}})
        updated = receive(ws)
        assert updated["type"] == "transcription_session.updated"
        assert updated["session"]["turn_detection"] is None


@pytest.mark.parametrize(
    "query", ["intent=conversation", "", "intent=transcription&conversation_id=x"]
)
def test_other_intent_error_then_4400(live_server: LiveServer, query: str) -> None:
    with session(live_server, TOKENS[3], query=query) as ws:
        event = receive(ws)
        assert event["type"] == "error"
        assert close_code(ws) == 4400


MALFORMED: list[str | bytes] = [
    "{not json",
    '{"type": "no.such.event"}',
    '{"type": "input_audio_buffer.append", "audio": "%%%"}',
    b"\x00\x01\x02binary",
    json.dumps(
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "audio": {"input": {"format": {"type": "audio/opus"}}},
            },
        }
    ),
    '{"type": "transcription_session.update", "session": {"input_audio_format": "g711_alaw"}}',
    '{"type": "response.create"}',
    "[]",
    '{"type": "input_audio_buffer.commit"}',  # nothing to commit
]


def test_malformed_frames_get_errors_and_the_session_goes_on(live_server: LiveServer) -> None:
    with session(live_server, TOKENS[3]) as ws:
        receive(ws)  # created
        for frame in MALFORMED:
            ws.send(frame)
            event = receive(ws)
            assert event["type"] == "error", (frame, event)
            assert set(event["error"]) == {"type", "code", "message", "param", "event_id"}
        # still a session: the client commits a clip and hears it
        send(ws, {"type": "transcription_session.update", "session": {"turn_detection": None}})
        assert receive(ws)["type"] == "transcription_session.updated"
        append(ws, pcm24("en2.ogg"))
        send(ws, {"type": "input_audio_buffer.commit"})
        events = until(ws, "conversation.item.input_audio_transcription.completed")
        assert events[0]["type"] == "input_audio_buffer.committed"
        assert wer("en2.ogg", events[-1]["transcript"]) <= 0.3


def test_a_message_over_one_mebibyte_closes_1009_and_the_server_stays(
    live_server: LiveServer,
) -> None:
    with session(live_server, TOKENS[3]) as ws:
        receive(ws)
        audio = base64.b64encode(bytes(800_000)).decode()  # 1.07 MB of base64
        ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
        assert close_code(ws) == 1009
    with session(live_server, TOKENS[3]) as ws:
        assert receive(ws)["type"] == "session.created"


def test_commit_clear_and_mulaw(live_server: LiveServer) -> None:
    with session(live_server, TOKENS[3]) as ws:
        receive(ws)
        send(
            ws,
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": None}},
                },
            },
        )
        updated = receive(ws)
        assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        ws.send(
            json.dumps(
                {
                    "type": "input_audio_buffer.append",
                    "audio": base64.b64encode(ulaw8("en1.ogg")).decode(),
                }
            )
        )
        send(ws, {"type": "input_audio_buffer.clear"})
        assert receive(ws)["type"] == "input_audio_buffer.cleared"
        ws.send(
            json.dumps(
                {
                    "type": "input_audio_buffer.append",
                    "audio": base64.b64encode(ulaw8("en3.ogg")).decode(),
                }
            )
        )
        send(ws, {"type": "input_audio_buffer.commit"})
        events = until(ws, "conversation.item.input_audio_transcription.completed")
        assert wer("en3.ogg", events[-1]["transcript"]) <= 0.3


def test_conversation_id_and_whats_handed_on(live_server: LiveServer) -> None:
    hooks = live_server.hooks

    def ours() -> list[tuple[int, StreamResult]]:
        # earlier tests' streams may still be ending: this one is told by its conversation
        return [(a, r) for a, r in hooks.finished_streams if r.conversation_id == 42]

    with session(live_server, TOKENS[3], query="intent=transcription&conversation_id=42") as ws:
        receive(ws)
        # sent faster than spoken, then closed while the speech is still pending
        append(ws, silence24(0.5) + pcm24("en2.ogg"))
    wait_until(ours, 120, "the finished stream", on=hooks.changed)
    [(account_id, result)] = ours()
    assert account_id == 3
    assert result.conversation_id == 42
    assert wer("en2.ogg", result.text) <= 0.3
    assert result.language == "en"
    assert result.engine == "local" and result.model == "tiny.en"
    assert result.duration == pytest.approx(0.5 + len(pcm24("en2.ogg")) / 48000, abs=0.01)
    assert 0 < result.billed_seconds <= result.duration


def test_too_many_streams_429(live_server: LiveServer) -> None:
    slots = live_server.rt.live.slots
    with ExitStack() as opened:
        for _ in range(slots.per_account):
            ws = opened.enter_context(session(live_server, TOKENS[6]))
            assert receive(ws)["type"] == "session.created"
        assert (
            refused(live_server, {"Authorization": f"Bearer {TOKENS[6]}"}, "intent=transcription")
            == 429
        )
    # the other accounts were never limited by this one
    with session(live_server, TOKENS[3]) as ws:
        assert receive(ws)["type"] == "session.created"


@pytest.fixture
def short_server(tmp_path: Path) -> Iterator[LiveServer]:
    yield from start_server(tmp_path, TRANSCRIBER_STREAM_MAX_SECONDS="3")


def test_expiry_session_expired_then_1000(short_server: LiveServer) -> None:
    with session(short_server, TOKENS[3]) as ws:
        receive(ws)
        append(ws, pcm24("en1.ogg")[: 24000 * 2 * 2])  # two seconds of speech, not ended
        events = until(ws, "error", timeout=30)
        assert events[-1]["error"]["code"] == "session_expired"
        # the pending speech is committed and transcribed before the close
        rest = until(ws, "conversation.item.input_audio_transcription.completed")
        assert any(e["type"] == "input_audio_buffer.committed" for e in rest)
        assert close_code(ws) == 1000


def test_an_engine_that_fails_fails_the_item_and_the_session_goes_on(
    live_server: LiveServer,
) -> None:
    with session(live_server, TOKENS[7]) as ws:
        created = receive(ws)
        assert created["session"]["audio"]["input"]["transcription"]["model"] == "whisper-1"
        send(
            ws,
            {
                "type": "session.update",
                "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}},
            },
        )
        receive(ws)
        for _ in range(2):
            append(ws, pcm24("en2.ogg"))
            send(ws, {"type": "input_audio_buffer.commit"})
            failed = until(ws, "conversation.item.input_audio_transcription.failed")[-1]
            assert failed["error"]["code"] == "engine_unavailable"
            assert "sk-test" not in json.dumps(failed)


def junk(rng: random.Random) -> str | bytes:
    """One frame a broken client might send."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 200))
    if kind == 1:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 80)))
    if kind == 2:
        return "[" * rng.randrange(1, 5000)
    event_type = rng.choice(
        [
            "session.update",
            "transcription_session.update",
            "input_audio_buffer.append",
            "input_audio_buffer.commit",
            "input_audio_buffer.clear",
            "response.create",
            "",
        ]
    )
    values: list[object] = [None, 1, -1, 1e308, "x", [], {}, {"type": "audio/pcmu"}, True]
    fields = {
        rng.choice(["session", "audio", "event_id", "type", "format"]): rng.choice(values)
        for _ in range(rng.randrange(3))
    }
    if kind == 3 and event_type == "input_audio_buffer.append":
        fields["audio"] = base64.b64encode(rng.randbytes(rng.randrange(0, 99))).decode()
    return json.dumps({"type": event_type, **fields})


def test_a_storm_of_junk_leaves_the_session_and_the_server_standing(
    live_server: LiveServer,
) -> None:
    rng = random.Random(16)
    with session(live_server, TOKENS[3]) as ws:
        receive(ws)
        for _ in range(120):
            ws.send(junk(rng))
        # every frame is answered or taken; then the session still commits and clears
        send(ws, {"type": "input_audio_buffer.clear", "event_id": "last"})
        events = until(ws, "input_audio_buffer.cleared")
        assert all(
            e["type"] != "error" or e["error"]["type"] == "invalid_request_error" for e in events
        )
    response = httpx.get(f"http://{live_server.host}:{live_server.port}/healthz", timeout=10)
    assert response.status_code == 200


def test_a_browser_client_offers_its_token_as_a_subprotocol(live_server: LiveServer) -> None:
    with connect(
        f"{live_server.ws_url}?intent=transcription",
        subprotocols=[  # type: ignore[list-item]
            "realtime",
            f"openai-insecure-api-key.{TOKENS[3]}",
            "openai-beta.realtime-v1",
        ],
        open_timeout=30,
    ) as ws:
        assert ws.subprotocol == "realtime"
        assert receive(ws)["type"] == "transcription_session.created"


def test_streams_opened_and_refused_are_counted(live_server: LiveServer) -> None:
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(10)
    port = collector.getsockname()[1]
    settings = Settings(_env_file=None, statsd_host="127.0.0.1", statsd_port=port)  # type: ignore[call-arg]
    init_metrics(settings)
    try:
        assert refused(live_server, {}, "intent=transcription") == 401
        with session(live_server, TOKENS[3]) as ws:
            assert receive(ws)["type"] == "session.created"
        seen: list[str] = []
        while not {"transcriber.stream.refused:1|c", "transcriber.stream.opened:1|c"} <= set(seen):
            seen += collector.recv(65535).decode("ascii").splitlines()
    finally:
        shutdown_metrics()
        collector.close()
