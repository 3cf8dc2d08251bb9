"""An account connected to the stand-ins as ``accounts connect`` leaves it, for the tests of
the doctor's page and of ``GET /api/v1/accounts/{id}/doctor``: the agent bot's token, the
webhook at the public URL with the secret Chatwoot made, an administrator's user token, the
OpenAI stand-in's key. And a stand-in of this service's ``/healthz`` for the public URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from adapter import accounts as acc
from adapter.connect import webhook_url
from adapter.runtime import Runtime
from tests.cli.connecting import ADMIN_TOKEN, SUBSCRIPTIONS, writes
from tests.helpers import OPENAI_KEY, OpenAIStandIn
from tests.standins.chatwoot_server import ChatwootStandIn

BOT_TOKEN = "cw-bot-token-" + "d4" * 10
#: every check of one account, in the order doctor runs them
NAMES = [
    "database",
    "broker",
    "encryption keys",
    "engine",
    "chatwoot",
    "API token",
    "user token",
    "webhook",
    "public URL",
]


class _Health(BaseHTTPRequestHandler):
    """This service's ``/healthz`` as the public URL reaches it."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@contextmanager
def healthz() -> Iterator[str]:
    """A public URL whose ``/healthz`` answers 200, as this service's does."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Connected:
    chatwoot: ChatwootStandIn
    openai: OpenAIStandIn
    #: every secret the account holds
    secrets: tuple[str, ...]

    def writes(self) -> list[str]:
        """What was written into Chatwoot (POST, PATCH, PUT, DELETE)."""
        return writes(self.chatwoot)

    def transcribed(self) -> bool:
        """Whether the OpenAI stand-in was asked for anything but its models' listing."""
        return any(r.path != "/v1/models" for r in self.openai.requests)


def stand_in_chatwoot() -> ChatwootStandIn:
    """Chatwoot account 3 with the bot "Transcriber" (``BOT_TOKEN``) and an administrator
    (``ADMIN_TOKEN``); not started."""
    return ChatwootStandIn(account_id=3, api_token=BOT_TOKEN, user_token=ADMIN_TOKEN)


def connect_account(
    rt: Runtime, chatwoot: ChatwootStandIn, openai: OpenAIStandIn, account_id: int = 3
) -> Connected:
    """The webhook made in Chatwoot at ``rt``'s public URL, and the account stored with
    Chatwoot's secrets (what ``accounts connect`` does, without its reads)."""
    assert rt.settings.public_url is not None
    url = webhook_url(rt.settings.public_url, account_id)
    hook = chatwoot.add_webhook(url, SUBSCRIPTIONS, "Transcriber")
    changes = {
        "chatwoot_url": chatwoot.base_url,
        "api_token": BOT_TOKEN,
        "webhook_secret": hook["secret"],
        "user_token": ADMIN_TOKEN,
        "engine": "openai",
        "model": "whisper-1",
        "openai_api_key": OPENAI_KEY,
        "base_url": openai.base_url,
    }
    acc.create_account(rt.accounts, rt.keyring, account_id, acc.parse_changes(changes))
    return Connected(chatwoot, openai, (BOT_TOKEN, ADMIN_TOKEN, OPENAI_KEY, hook["secret"]))


__all__ = [
    "ADMIN_TOKEN",
    "BOT_TOKEN",
    "NAMES",
    "Connected",
    "connect_account",
    "healthz",
    "stand_in_chatwoot",
]
