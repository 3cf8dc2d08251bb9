"""``WS /v1/realtime?intent=transcription``: the session's I/O around :class:`LiveSession`.

    upgrade request ─ token (Authorization: Bearer, ?token=, or the subprotocol
        │               openai-insecure-api-key.TOKEN of OpenAI's browser clients)
        │                                                 ─▶ hooks.account_for (thread)
        │ none, wrong, disabled ─▶ HTTP 401 (or, without the denial extension, close 4401)
        │ the check failed (database down) ─▶ HTTP 503 (or close 1013)
        │ intent other than transcription, or a bad conversation_id ─▶ error event, close 4400
        │ the account's streams all open ─▶ HTTP 429 (or close 4429)
        ▼ accepted: {transcription_,}session.created
    receive loop: each frame parsed (protocol.parse_frame) and handled (session); what cannot be
        understood is an ``error`` event and the session goes on. Final transcriptions run one
        at a time, in order (a task per session); partial ones beside them, one at a time.
    until: the client closes, the server shuts down (uvicorn closes 1012), a message over the
        cap (uvicorn closes 1009), or TRANSCRIBER_STREAM_MAX_SECONDS (error session_expired)
    then: the pending utterance committed and every committed one transcribed (events sent
        while the socket is open), close 1000, and hooks.finished (thread) with the transcript

Nothing raised inside reaches uvicorn: a failure is logged and answered with an ``error`` or
``…failed`` event; the endpoint never closes 1011.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from adapter.accounts import engine_settings
from adapter.errors import TranscriberError
from adapter.jobs.step import safe_error
from adapter.live import protocol as p
from adapter.live.hooks import StreamHooks, StreamResult
from adapter.live.parts import LiveParts
from adapter.live.recognizer import (
    FailingRecognizer,
    LocalRecognizer,
    Recognizer,
    recognizer_for,
)
from adapter.live.session import Action, Decode, LiveSession, Send
from adapter.live.vad import silero
from adapter.observability import Metric, metrics
from adapter.observability.redact import register_transcript
from adapter.runtime import Runtime
from adapter.store import Account

log = logging.getLogger(__name__)

PATH = "/v1/realtime"
#: close codes of the contract (4xxx: the HTTP status it stands for)
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_MANY = 4429
CLOSE_NORMAL = 1000
#: committed utterances one stream may have waiting for their transcript
MAX_WAITING_UTTERANCES = 8
#: the token could not be checked now (the database did not answer): try again later
CLOSE_TRY_AGAIN = 1013


#: the WebSocket subprotocols OpenAI's browser clients offer: the key, and the beta flag
KEY_PROTOCOL = "openai-insecure-api-key."
BETA_PROTOCOL = "openai-beta.realtime-v1"
REALTIME_PROTOCOL = "realtime"


def _token(websocket: WebSocket) -> str | None:
    """``Authorization: Bearer``, else ``?token=``, else the subprotocol a browser client of
    OpenAI's offers (``openai-insecure-api-key.TOKEN``)."""
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = websocket.query_params.get("token")
    if query:
        return query
    for offered in websocket.scope.get("subprotocols", []):
        if offered.startswith(KEY_PROTOCOL) and len(offered) > len(KEY_PROTOCOL):
            return str(offered[len(KEY_PROTOCOL) :])
    return None


def _dialect(websocket: WebSocket) -> p.Dialect:
    beta = websocket.headers.get("openai-beta", "")
    if BETA_PROTOCOL in websocket.scope.get("subprotocols", []):
        return "beta"
    return "beta" if "realtime=v1" in beta.replace(" ", "").lower() else "ga"


def _subprotocol(websocket: WebSocket) -> str | None:
    """``realtime`` when the client offered it (a browser fails a handshake that picks none
    of the subprotocols it offered)."""
    return (
        REALTIME_PROTOCOL if REALTIME_PROTOCOL in websocket.scope.get("subprotocols", []) else None
    )


def _conversation_id(websocket: WebSocket) -> int | p.EventError | None:
    raw = websocket.query_params.get("conversation_id")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        return p.EventError(
            "invalid_value", "conversation_id must be a positive whole number", "conversation_id"
        )
    return int(raw)


async def _refuse(websocket: WebSocket, status: int, code: int, message: str) -> None:
    """An HTTP answer instead of the upgrade when the server can send one; else accept and
    close with ``code`` before any event."""
    metrics.incr(Metric.STREAM_REFUSED)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            JSONResponse({"error": {"message": message}}, status_code=status)
        )
        return
    await websocket.accept(_subprotocol(websocket))
    await websocket.close(code, message)


async def _reject(websocket: WebSocket, error: p.EventError) -> None:
    """Accept, say why in an ``error`` event, close 4400."""
    await websocket.accept(_subprotocol(websocket))
    await websocket.send_text(json.dumps(p.error_event(p.Ids(), error)))
    await websocket.close(CLOSE_BAD_REQUEST, error.code)


async def realtime(websocket: WebSocket) -> None:
    rt: Runtime = websocket.app.state.runtime
    hooks: StreamHooks = websocket.app.state.live_hooks
    live = rt.live
    token = _token(websocket)
    try:
        account = await to_thread.run_sync(hooks.account_for, token) if token else None
    except Exception:
        log.exception("a stream token could not be checked")
        await _refuse(websocket, 503, CLOSE_TRY_AGAIN, "temporarily unavailable")
        return
    if account is None:
        await _refuse(websocket, 401, CLOSE_UNAUTHORIZED, "a valid stream token is required")
        return
    intent = websocket.query_params.get("intent")
    if intent != "transcription":
        shown = "no intent" if intent is None else f"intent {intent[:40]!r}"
        await _reject(
            websocket,
            p.EventError(
                "invalid_intent",
                f"this endpoint serves transcription sessions only ({shown}): connect with "
                "?intent=transcription",
                "intent",
            ),
        )
        return
    conversation = _conversation_id(websocket)
    if isinstance(conversation, p.EventError):
        await _reject(websocket, conversation)
        return
    if not live.slots.take(account.id):
        await _refuse(
            websocket,
            429,
            CLOSE_TOO_MANY,
            f"this account has {live.slots.per_account} streams open already",
        )
        return
    try:
        await websocket.accept(_subprotocol(websocket))
        metrics.incr(Metric.STREAM_OPENED)
        await Stream(websocket, rt, live, hooks, account, conversation).run()
    except Exception:
        log.exception("live stream of account %d ended by an error", account.id)
        if websocket.application_state == WebSocketState.CONNECTED:
            try:
                await websocket.close(CLOSE_NORMAL)
            except Exception:  # the client is gone
                log.debug("the stream's socket could not be closed", exc_info=True)
    finally:
        live.slots.give_back(account.id)


class Outbox:
    """Sends events while the socket is open; once it is not, drops them."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.open = True
        self._lock = asyncio.Lock()

    async def send(self, event: dict[str, Any]) -> None:
        if not self.open:
            return
        async with self._lock:
            try:
                await self.websocket.send_text(json.dumps(event, ensure_ascii=False))
            except Exception:
                self.open = False

    async def close(self, code: int) -> None:
        if not self.open:
            return
        self.open = False
        try:
            await self.websocket.close(code)
        except Exception:
            log.debug("the stream's socket was already closed", exc_info=True)


class Stream:
    """One accepted stream (module docstring)."""

    def __init__(
        self,
        websocket: WebSocket,
        rt: Runtime,
        live: LiveParts,
        hooks: StreamHooks,
        account: Account,
        conversation_id: int | None,
    ) -> None:
        self.websocket = websocket
        self.rt = rt
        self.live = live
        self.hooks = hooks
        self.account = account
        self.conversation_id = conversation_id
        self.out = Outbox(websocket)
        self.ids = p.Ids()
        self.started_at = datetime.now(UTC)
        self._finals: asyncio.Queue[Decode | None] = asyncio.Queue(MAX_WAITING_UTTERANCES)
        self._partial: asyncio.Task[None] | None = None

    def _recognizer(self) -> Recognizer:
        try:
            settings = engine_settings(self.account, self.rt.keyring, self.rt.settings)
            recognizer = recognizer_for(settings, self.live.local, self.rt.settings.temp_dir)
        except TranscriberError as exc:
            log.warning("account %d streams without an engine: %s", self.account.id, exc)
            return FailingRecognizer(exc, self.account.engine or "none", self.account.model)
        silero()
        return recognizer

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.live.max_seconds
        self.recognizer = await to_thread.run_sync(self._recognizer)
        if isinstance(self.recognizer, LocalRecognizer):
            # the model loads while the first words are spoken, before any utterance waits
            self.live.local.pool.submit(self.recognizer.whisper.load, urgent=True)
        info = p.SessionInfo(
            self.ids.session(), self.recognizer.model, int(time.time() + self.live.max_seconds)
        )
        self.machine = LiveSession(
            p.SessionConfig(),
            info,
            self.ids,
            dialect=_dialect(self.websocket),
            partials=self.recognizer.partials,
        )
        await self.out.send(self.machine.created())
        worker = asyncio.create_task(self._final_worker())
        expired = False
        try:
            expired = await self._receive(deadline)
        finally:
            await self._finish(worker, expired)

    async def _receive(self, deadline: float) -> bool:
        """Handle the client's frames until it goes; True when the session expired."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return True
            try:
                message = await asyncio.wait_for(self.websocket.receive(), remaining)
            except TimeoutError:
                return True
            if message["type"] == "websocket.disconnect":
                self.out.open = False
                return False
            event = p.parse_frame(message.get("text"), message.get("bytes"))
            try:
                if isinstance(event, p.EventError):
                    actions = self.machine.error(event)
                else:
                    actions = self.machine.handle(event)
            except Exception:
                log.exception("a live event could not be handled")
                actions = [Send(_server_error(self.ids, "the event could not be handled"))]
            await self._perform(actions)

    async def _finish(self, worker: asyncio.Task[None], expired: bool) -> None:
        try:
            if expired:
                await self.out.send(
                    p.error_event(
                        self.ids,
                        p.EventError(
                            "session_expired",
                            "the session reached its maximum duration "
                            f"({self.live.max_seconds:g} s)",
                        ),
                    )
                )
            await self._perform(self.machine.finish())
        except Exception:
            log.exception("the pending audio of a stream could not be committed")
        await self._finals.put(None)
        await worker
        if self._partial is not None:
            self._partial.cancel()
        await self.out.close(CLOSE_NORMAL)
        result = StreamResult(
            conversation_id=self.conversation_id,
            text=self.machine.transcript(),
            language=self.machine.language(),
            duration=round(self.machine.received_seconds(), 3),
            billed_seconds=round(self.machine.billed_seconds, 3),
            engine=self.recognizer.engine,
            model=self.recognizer.model,
            started_at=self.started_at,
        )
        log.info(
            "live stream of account %d ended: %.1f s received, %d items%s",
            self.account.id,
            result.duration,
            len(self.machine.items),
            " (expired)" if expired else "",
        )
        try:
            await to_thread.run_sync(self.hooks.finished, self.account, result)
        except Exception:
            log.exception(
                "the end of a live stream of account %d was not recorded", self.account.id
            )

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                await self.out.send(action.event)
            elif action.final:
                # a client sending faster than its utterances are transcribed waits here: its
                # frames stay unread (uvicorn stops reading the socket) until one is done
                await self._finals.put(action)
            elif self._partial is None or self._partial.done():
                self._partial = asyncio.create_task(self._partial_decode(action))
            else:  # one partial at a time; the session asks again
                self.machine.partial_failed()

    def _language(self) -> str | None:
        return self.machine.config.language or self.recognizer.language

    async def _final_worker(self) -> None:
        """Transcribe the committed utterances in order, until ``None``; nothing it meets
        stops it (the stream's end waits for it)."""
        while (job := await self._finals.get()) is not None:
            try:
                await self._perform(await self._final(job))
            except Exception:
                log.exception("a live utterance's answer could not be sent")

    async def _final(self, job: Decode) -> list[Action]:
        started = time.monotonic()
        try:
            heard = await self.recognizer.transcribe(
                job.audio,
                language=self._language(),
                prompt=self.machine.config.prompt,
                final=True,
            )
        except TranscriberError as exc:
            return self.machine.failed(job.item_id, exc.reason.value, safe_error(exc))
        except Exception:
            log.exception("a live utterance could not be transcribed")
            return self.machine.failed(
                job.item_id, "transcription_failed", "the utterance could not be transcribed"
            )
        register_transcript(heard.text)  # the caller's words: never in a log line from now on
        metrics.incr(Metric.STREAM_UTTERANCES)
        metrics.timing(Metric.STREAM_FINAL_LATENCY, (time.monotonic() - started) * 1000)
        return self.machine.heard(job.item_id, heard, final=True)

    async def _partial_decode(self, job: Decode) -> None:
        try:
            heard = await self.recognizer.transcribe(
                job.audio, language=self._language(), prompt=self.machine.config.prompt, final=False
            )
        except Exception:
            log.debug("a partial transcription failed", exc_info=True)
            self.machine.partial_failed()
            return
        await self._perform(self.machine.heard(job.item_id, heard, final=False))


def _server_error(ids: p.Ids, message: str) -> dict[str, Any]:
    return p.error_event(ids, p.EventError("internal_error", message), kind="server_error")


def routes() -> list[WebSocketRoute]:
    return [WebSocketRoute(PATH, realtime)]


__all__ = ["PATH", "routes"]
