"""``adapter.helpdesk.admin`` over ``httpx.MockTransport``: shapes read, errors mapped onto the
tree with advice naming the token, hostile answers, and no token in any message."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapter.errors import (
    HelpdeskNotFound,
    HelpdeskRejected,
    HelpdeskTokenRejected,
    HelpdeskUnavailable,
)
from adapter.helpdesk.admin import ChatwootAdmin, probe_api_token
from adapter.helpdesk.chatwoot import ChatwootClient

TOKEN = "user-token-" + "u" * 20
URL = "https://chat.example.test"


def admin_with(answer: Callable[[httpx.Request], httpx.Response]) -> ChatwootAdmin:
    client = ChatwootClient(transport=httpx.MockTransport(answer))
    return ChatwootAdmin(client, base_url=URL, account_id=3, token=TOKEN)


def json_answer(status: int, body: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


def test_webhooks_read_both_shapes_and_secrets() -> None:
    hook = {"id": 4, "url": "https://t/x", "name": "n", "subscriptions": ["message_created"],
            "secret": "s3cret-value"}  # fmt: skip
    [real] = admin_with(json_answer(200, {"payload": {"webhooks": [hook]}})).webhooks()
    assert (real.id, real.secret, real.has_secret) == (4, "s3cret-value", True)
    assert "s3cret" not in repr(real)
    old = {k: v for k, v in hook.items() if k != "secret"}
    [spec] = admin_with(json_answer(200, [old])).webhooks()
    assert (spec.secret, spec.has_secret) == (None, False)


def test_the_webhook_body_is_wrapped() -> None:
    seen: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        hook = {"id": 1, "url": "https://t/x", "subscriptions": ["message_created"], "secret": "s"}
        return httpx.Response(200, json={"payload": {"webhook": hook}})

    admin_with(answer).create_webhook("https://t/x", name="n", subscriptions=["message_created"])
    assert seen == [{"webhook": {"url": "https://t/x", "name": "n",
                                 "subscriptions": ["message_created"]}}]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "error", "said"),
    [
        (401, {"error": "Invalid Access Token"}, HelpdeskTokenRejected, "no such token"),
        (401, {"error": "You are not authorized to do this action"}, HelpdeskTokenRejected,
         "administrator"),
        (401, {"error": "Access to this endpoint is not authorized for bots"},
         HelpdeskTokenRejected, "agent bot's token"),
        (401, {"error": "You are not authorized to access this account"},
         HelpdeskTokenRejected, "not a member"),
        (404, {"error": "Resource could not be found"}, HelpdeskNotFound, "account id (3)"),
        (422, {"message": "Url has already been taken"}, HelpdeskRejected, "already been taken"),
        (500, {"error": TOKEN}, HelpdeskUnavailable, "500"),
        (429, "Retry later", HelpdeskUnavailable, "429"),
    ],
)  # fmt: skip
def test_statuses_map_onto_the_tree(status: int, body: Any, error: type, said: str) -> None:
    with pytest.raises(error) as raised:
        admin_with(json_answer(status, body)).webhooks()
    assert said in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert "--user-token" in str(raised.value) or status not in (401, 403)


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: httpx.Response(200, text="<p>x</p>", headers={"content-type": "text/html"}),
        lambda r: httpx.Response(200, json={"payload": {"webhooks": "no"}}),
        lambda r: httpx.Response(200, json={"webhooks": []}),
        lambda r: httpx.Response(302, headers={"location": "/app/login"}),
    ],
)  # fmt: skip
def test_hostile_answers_are_rejected_in_words(
    answer: Callable[[httpx.Request], httpx.Response],
) -> None:
    admin = admin_with(answer)
    with pytest.raises(HelpdeskRejected) as raised:
        admin.webhooks()
    assert "\n" not in str(raised.value)


def test_entries_without_ids_are_skipped() -> None:
    bots = [{"id": 1, "name": "Transcriber", "account_id": 3, "access_token": "t" * 20},
            {"name": "no id"}, "junk", {"id": True}]  # fmt: skip
    [bot] = admin_with(json_answer(200, bots)).agent_bots()
    assert (bot.id, bot.account_id) == (1, 3)


def test_profile_role_in_the_account() -> None:
    body = {"id": 9, "name": "Ana", "accounts": [{"id": 3, "role": "agent"}, {"id": 4}]}
    profile = admin_with(json_answer(200, body)).profile()
    assert (profile.role, profile.account_ids) == ("agent", (3, 4))
    other = admin_with(json_answer(200, {"id": 9, "accounts": [{"id": 4}]})).profile()
    assert other.role is None


def test_version_is_none_when_not_said() -> None:
    assert admin_with(json_answer(404, {"error": "x"})).version() is None
    assert admin_with(lambda r: httpx.Response(200, text="hi")).version() is None
    assert admin_with(json_answer(200, {"version": "4.15.1"})).version() == "4.15.1"


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (404, {"error": "Resource could not be found"}, "accepted"),
        (401, {"error": "Invalid Access Token"}, "rejected"),
        (401, {"error": "Access to this endpoint is not authorized for bots"}, "bots_cannot_read"),
        (401, {"error": "Bot is not authorized to access this account"}, "wrong_account"),
    ],
)
def test_probe_api_token(status: int, body: Any, verdict: str) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    client = ChatwootClient(transport=httpx.MockTransport(answer))
    probe = probe_api_token(client, base_url=URL, account_id=3, token=TOKEN)
    assert probe.verdict == verdict
    assert [r.method for r in seen] == ["GET"]
    assert seen[0].url.path == "/api/v1/accounts/3/conversations/2147483647"
