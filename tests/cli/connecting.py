"""Running ``accounts connect`` in tests: the tokens, the arguments, the writes Chatwoot saw."""

from __future__ import annotations

from pathlib import Path

from tests.standins.chatwoot_server import ChatwootStandIn

PUBLIC = "https://transcriber.example.test"
ADMIN_TOKEN = "cw-admin-user-token-" + "a1" * 10
AGENT_TOKEN = "cw-agent-user-token-" + "b2" * 10
SUBSCRIPTIONS = ["message_created", "message_updated", "conversation_updated"]
WRITES = ("POST", "PATCH", "PUT", "DELETE")


def token_file(token: str) -> str:
    """``@PATH`` of a file holding ``token`` (in the test's directory, the ``call``'s cwd): a
    token given as an argument would add a warning line."""
    path = Path(f"token-{abs(hash(token))}")
    path.write_text(token + "\n", encoding="utf-8")
    return f"@{path.resolve()}"


def connect(chatwoot: ChatwootStandIn, *extra: str, token: str = ADMIN_TOKEN) -> list[str]:
    return [
        "accounts",
        "connect",
        "--chatwoot-url",
        chatwoot.base_url,
        "--account-id",
        "3",
        "--user-token",
        token_file(token),
        "--public-url",
        PUBLIC,
        *extra,
    ]


def writes(chatwoot: ChatwootStandIn) -> list[str]:
    return [f"{r.method} {r.path}" for r in chatwoot.requests if r.method in WRITES]


__all__ = [
    "ADMIN_TOKEN",
    "AGENT_TOKEN",
    "PUBLIC",
    "SUBSCRIPTIONS",
    "connect",
    "token_file",
    "writes",
]
