"""A live transcription server for the module: uvicorn on 127.0.0.1 in a thread, with the
limits ``up`` and ``serve`` use, over a runtime on a migrated SQLite database holding real
accounts, and stand-in hooks (``Hooks``): tokens mapped to those accounts, finished streams
recorded. The Whisper weights load once per session (the module-scoped server keeps them)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from cryptography.fernet import Fernet
from dramatiq.brokers.stub import StubBroker
from dramatiq.rate_limits.backends import StubBackend

from adapter import accounts as acc
from adapter.jobs.broker import middleware
from adapter.live.hooks import StreamResult
from adapter.runtime import Runtime
from adapter.store import Account, migrate
from adapter.web.app import create_app
from adapter.web.server import limits
from adapter.wiring import build_runtime
from tests.helpers import SECRET, make_settings

#: stream tokens of the accounts the server knows (account id → token)
TOKENS = {
    3: "tok-tiny-en-0123456789abcdef",
    4: "tok-base-0123456789abcdef",
    5: "tok-disabled-0123456789abcdef",
    6: "tok-limits-0123456789abcdef",
    7: "tok-unreachable-0123456789abcdef",
}
#: account 3: the offline tiny.en; 4: the offline base; 5: disabled; 6: for the limit tests;
#: 7: an OpenAI-compatible engine nobody answers for
MODELS = {3: "tiny.en", 4: "base", 5: "tiny.en", 6: "tiny.en", 7: "whisper-1"}
UNREACHABLE = "http://127.0.0.1:9/v1"


@dataclass
class Hooks:
    """The endpoint's hooks over the runtime's real accounts."""

    rt: Runtime
    finished_streams: list[tuple[int, StreamResult]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def account_for(self, token: str) -> Account | None:
        for account_id, known in TOKENS.items():
            if token == known:
                account = self.rt.accounts.get(account_id)
                return account if account is not None and account.enabled else None
        return None

    def finished(self, account: Account, result: StreamResult) -> None:
        with self.changed:
            self.finished_streams.append((account.id, result))
            self.changed.notify_all()


@dataclass
class LiveServer:
    host: str
    port: int
    hooks: Hooks
    rt: Runtime

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1/realtime"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"


def start_server(tmp: Path, **settings_extra: str) -> Iterator[LiveServer]:
    url = f"sqlite:///{tmp / 'transcriber.db'}"
    migrate(url)
    settings = make_settings(url, tmp, Fernet.generate_key().decode(), **settings_extra)
    broker = StubBroker(middleware=middleware())
    broker.emit_after("process_boot")
    rt = build_runtime(
        settings, component="test", broker=(broker, StubBackend()), observability=False
    )
    for account_id, model in MODELS.items():
        acc.create_account(
            rt.accounts,
            rt.keyring,
            account_id,
            acc.parse_changes(
                {
                    "chatwoot_url": "https://chatwoot.example.test",
                    "api_token": "cw-api-token-9876543210",
                    "webhook_secret": SECRET,
                    "model": model,
                    **(
                        {
                            "engine": "openai",
                            "openai_api_key": "sk-test-0123456789",
                            "base_url": UNREACHABLE,
                        }
                        if model == "whisper-1"
                        else {"engine": "local"}
                    ),
                }
            ),
        )
    acc.set_enabled(rt.accounts, 5, False)
    hooks = Hooks(rt)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    config = uvicorn.Config(
        create_app(rt, live_hooks=hooks), log_config=None, access_log=False, **limits(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="uvicorn-live", daemon=True
    )
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
            assert thread.is_alive(), "the server did not start"
        yield LiveServer("127.0.0.1", listener.getsockname()[1], hooks, rt)
    finally:
        server.should_exit = True
        thread.join(60)
        rt.close()
        broker.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(tmp_path_factory.mktemp("live"))
