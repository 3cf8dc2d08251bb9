"""``transcriber up``: receiver and worker threads in one process, the single-box default."""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType

import dramatiq
import uvicorn

from adapter.accounts import effective_engine, seal_unbound
from adapter.audio.isolated import warm
from adapter.jobs.background import start_background
from adapter.jobs.recovery import recover
from adapter.runtime import Runtime
from adapter.secrets import ensure_dev_key, load_keyring
from adapter.settings import Settings
from adapter.store import migrate
from adapter.store.db import check_location, describe
from adapter.web.app import create_app, listen_socket
from adapter.web.server import limits
from adapter.wiring import build_runtime

log = logging.getLogger(__name__)

#: how long an idle consumer waits, at most, between polls of an empty queue (ms); Dramatiq's
#: default (1000) adds up to a second to every voice note
WORKER_POLL_MS = 100


def start_worker(broker: dramatiq.Broker, threads: int) -> dramatiq.Worker:
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_POLL_MS)
    worker.start()
    return worker


def _announce(rt: Runtime, host: str, port: int) -> None:
    """Tell the admin what to paste into Chatwoot, and what is still missing."""
    accounts = rt.accounts.all()
    base = f"http://{host}:{port}"
    log.info(
        "database: %s; Chatwoot reaches this service through a public https URL in front of "
        "%s (README: Reaching it from Chatwoot)",
        describe(rt.settings.database_url),
        base,
    )
    if not accounts:
        log.warning(
            "no helpdesk account yet: add one with `transcriber accounts add --account-id N …`, "
            "then point a Chatwoot webhook at %s/webhooks/chatwoot/N",
            base,
        )
    for account in accounts:
        log.info(
            "account %s (%s, engine %s): webhook URL %s/webhooks/chatwoot/%s",
            account.id,
            "enabled" if account.enabled else "disabled",
            effective_engine(account, rt.settings),
            base,
            account.id,
        )


class _Server(uvicorn.Server):
    """uvicorn on a socket bound beforehand (:func:`_listen`), saying when it listens as it
    does on a socket of its own (uvicorn stays silent on given sockets: it expects a
    supervisor to have said so)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if sockets and self.started:
            self._log_started_message(sockets)


def _listen(settings: Settings, host: str, port: int) -> socket.socket:
    """The listening socket, once the port, the database's directory and the keys are known
    to be right: a mistake is one line (``ConfigError``), before any log, thread or file."""
    sock = listen_socket(host, port)
    try:
        check_location(settings.database_url)
        ensure_dev_key(settings)
        load_keyring(settings)
    except BaseException:
        sock.close()
        raise
    return sock


def run_up(settings: Settings, *, host: str, port: int, threads: int) -> int:
    sock = _listen(settings, host, port)
    migrate(settings.database_url)
    rt = build_runtime(settings, component="up", embedded=True)
    seal_unbound(rt.accounts, rt.ledger, rt.keyring)
    warm()  # the decoding processes' fork server, before the first voice note
    worker = start_worker(rt.broker, threads)
    stops = start_background(rt)
    # the in-process broker forgets everything on restart: pick up unfinished rows now
    recover(rt, stuck_after=0)
    if rt.settings.redis_url is None:
        log.warning("no TRANSCRIBER_REDIS_URL: using the in-process broker (single box only)")
    _announce(rt, host, port)
    server = _Server(
        uvicorn.Config(
            create_app(rt),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            **limits(settings),
        )
    )
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, on_term)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        for stop in stops:
            stop.set()
        log.info("stopping workers: in-flight work finishes or is picked up after restart")
        worker.stop(timeout=30_000)
        rt.close()
    return 0


__all__ = ["WORKER_POLL_MS", "run_up", "start_worker"]
