"""A raw WebSocket client of the live endpoint (the ``websockets`` package, synchronous): what
a client that is not the SDK, or a broken one, sends."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.live.conftest import LiveServer

#: how long a test waits for one event before failing (generous: a shared, busy machine)
EVENT_TIMEOUT = 60.0


@contextmanager
def session(
    server: LiveServer,
    token: str | None,
    *,
    query: str = "intent=transcription",
    beta: bool = False,
) -> Iterator[ClientConnection]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    with connect(
        f"{server.ws_url}?{query}", additional_headers=headers, max_size=None, open_timeout=30
    ) as ws:
        yield ws


def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    ws.send(json.dumps(event))


def append(ws: ClientConnection, pcm: bytes) -> None:
    send(ws, {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})


def receive(ws: ClientConnection, timeout: float = EVENT_TIMEOUT) -> dict[str, Any]:
    message = ws.recv(timeout)
    assert isinstance(message, str)
    event: dict[str, Any] = json.loads(message)
    return event


def until(ws: ClientConnection, kind: str, timeout: float = EVENT_TIMEOUT) -> list[dict[str, Any]]:
    """Events up to and including the first of ``kind``."""
    seen = []
    while True:
        event = receive(ws, timeout)
        seen.append(event)
        if event["type"] == kind:
            return seen


def close_code(ws: ClientConnection, timeout: float = EVENT_TIMEOUT) -> int | None:
    """Read until the server closes; its close code."""
    try:
        while True:
            ws.recv(timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


__all__ = ["EVENT_TIMEOUT", "append", "close_code", "receive", "send", "session", "until"]
