"""Live transcription in a real ``transcriber up``: its uvicorn protocols (the receiver's and
the WebSocket's), the account's stream token (``adapter.streams``), an OpenAI-compatible
engine called once per utterance (the stand-in), and the one note on close."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from websockets.sync.client import connect

from adapter import accounts as acc
from adapter.secrets import load_keyring
from adapter.standins import MESSAGES_OP
from adapter.store import AccountStore, get_engine
from tests.helpers import OpenAIStandIn, make_settings, wait_until
from tests.live.audio import pcm24, silence24
from tests.live.client import append, close_code, receive, until
from tests.processes import Proc, add_account, env_for, processes
from tests.standins.chatwoot_server import ChatwootStandIn

pytestmark = [pytest.mark.slow]

TOKEN = "live-stream-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_streams_through_the_engine_and_leaves_one_note(
    tmp_path: Path, fernet_key: str, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'box.db'}", tmp_path, fernet_key)
    add_account(settings, chatwoot, openai_server)
    acc.update_account(
        AccountStore(get_engine(settings.database_url)),
        load_keyring(settings),
        3,
        acc.parse_changes({"stream_token": TOKEN}),
    )
    chatwoot.add_conversation(321)
    openai_server.set_transcript("utterance.wav", "I would like to change my delivery address.")
    port = free_port()
    env = env_for(settings, TRANSCRIBER_LOG_LEVEL="INFO")
    with processes() as procs:
        box = Proc(["up", "--port", str(port), "--threads", "1"], env, tmp_path / "up.log")
        procs.append(box)
        wait_until(
            lambda: "Uvicorn running on" in box.output(), 60, "`up` to listen", on=box.printed
        )
        url = f"ws://127.0.0.1:{port}/v1/realtime?intent=transcription&conversation_id=321"
        with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert receive(ws)["type"] == "session.created"
            append(ws, pcm24("en2.ogg") + silence24(1.0))
            events = until(ws, "conversation.item.input_audio_transcription.completed")
            assert events[-1]["transcript"] == "I would like to change my delivery address."
            # a second utterance, still pending when the client leaves
            append(ws, pcm24("en2.ogg"))
        wait_until(lambda: chatwoot.notes(321), 60, "the stream's note", on=chatwoot.arrived)
        assert box.term() == 0
    [note] = chatwoot.notes(321)
    assert note["private"] is True
    assert note["content"].count("I would like to change my delivery address.") == 2
    name = f"{MESSAGES_OP[0]} {MESSAGES_OP[1]}"
    [sent] = [r.json for r in chatwoot.requests if r.operation == name and r.status == 200]
    assert sent["content_attributes"]["transcriber"]["source"] == "stream"
    assert len(openai_server.transcription_requests) == 2
    assert chatwoot.violations == []
    assert TOKEN not in box.output()


def test_a_shutdown_transcribes_what_a_stream_held_and_its_note_follows(
    tmp_path: Path, fernet_key: str, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'box.db'}", tmp_path, fernet_key)
    add_account(settings, chatwoot, openai_server)
    acc.update_account(
        AccountStore(get_engine(settings.database_url)),
        load_keyring(settings),
        3,
        acc.parse_changes({"stream_token": TOKEN}),
    )
    chatwoot.add_conversation(321)
    openai_server.set_transcript("utterance.wav", "The package was damaged when it arrived.")
    port = free_port()
    env = env_for(settings, TRANSCRIBER_LOG_LEVEL="INFO")
    up = ["up", "--port", str(port), "--threads", "1"]
    with processes() as procs:
        box = Proc(up, env, tmp_path / "up1.log")
        procs.append(box)
        wait_until(
            lambda: "Uvicorn running on" in box.output(), 60, "`up` to listen", on=box.printed
        )
        url = f"ws://127.0.0.1:{port}/v1/realtime?intent=transcription&conversation_id=321"
        with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
            assert receive(ws)["type"] == "session.created"
            append(ws, pcm24("en3.ogg"))  # spoken, never ended by silence
            assert until(ws, "input_audio_buffer.speech_started")
            assert box.term() == 0  # SIGTERM: the stream is closed, what it held transcribed
            assert close_code(ws) == 1012
        assert len(openai_server.transcription_requests) == 1
        # the note is posted by this process, or owed and posted by the next
        if not chatwoot.notes(321):
            box2 = Proc(up, env, tmp_path / "up2.log")
            procs.append(box2)
            wait_until(lambda: chatwoot.notes(321), 60, "the stream's note", on=chatwoot.arrived)
            assert box2.term() == 0
    [note] = chatwoot.notes(321)
    assert "The package was damaged when it arrived." in note["content"]
