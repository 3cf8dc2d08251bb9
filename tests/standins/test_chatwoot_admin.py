"""The stand-in Chatwoot's account settings (``adapter.standins.chatwoot_admin``): Chatwoot's
permission rules for administrator, agent and bot tokens, webhooks with and without secrets,
the uniqueness rules, and answers that fit the spec."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapter.standins.chatwoot_admin import (
    AGENT_BOTS_OP,
    CREATE_AGENT_BOT_OP,
    CREATE_DEFINITION_OP,
    CREATE_WEBHOOK_OP,
    DEFINITIONS_OP,
)
from tests.standins.chatwoot_server import ChatwootStandIn, spec_violations

ADMIN = "admin-token-0123456789"
AGENT = "agent-token-0123456789"
HOOK = {"webhook": {"url": "https://t.example.test/webhooks/chatwoot/1", "name": "t",
                    "subscriptions": ["message_created"]}}  # fmt: skip


@pytest.fixture
def standin() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(user_token=ADMIN) as server:
        server.add_user_token(AGENT, role="agent", inbox_ids=[1])
        server.add_inbox(2)
        yield server


@pytest.fixture
def http(standin: ChatwootStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=standin.base_url, timeout=5) as client:
        yield client


def call(
    http: httpx.Client, method: str, path: str, token: str | None, body: Any = None
) -> httpx.Response:
    headers = {} if token is None else {"api_access_token": token}
    return http.request(method, f"/api/v1{path}", headers=headers, json=body)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/accounts/1/webhooks", None),
        ("POST", "/accounts/1/webhooks", HOOK),
        ("POST", "/accounts/1/agent_bots", {"name": "x"}),
        ("POST", "/accounts/1/custom_attribute_definitions",
         {"attribute_display_name": "X", "attribute_key": "x", "attribute_model": 0}),
        ("POST", "/accounts/1/inboxes/1/set_agent_bot", {"agent_bot": 1}),
    ],
)  # fmt: skip
def test_admin_only_calls_refuse_agents_and_bots(
    standin: ChatwootStandIn, http: httpx.Client, method: str, path: str, body: Any
) -> None:
    agent = call(http, method, path, AGENT, body)
    assert (agent.status_code, agent.json()) == (
        401,
        {"error": "You are not authorized to do this action"},
    )
    bot = call(http, method, path, standin.api_token, body)
    assert bot.status_code == 401
    assert bot.json()["error"] == "Access to this endpoint is not authorized for bots"
    unknown = call(http, method, path, "nobody-0123456789", body)
    assert unknown.json() == {"error": "Invalid Access Token"}
    assert call(http, method, path, ADMIN, body).status_code == 200
    assert standin.violations == []


def test_agents_may_list_bots_and_definitions(standin: ChatwootStandIn, http: httpx.Client) -> None:
    bots = call(http, "GET", "/accounts/1/agent_bots", AGENT)
    assert bots.status_code == 200
    assert "secret" not in bots.json()[0]  # shown to administrators only
    assert call(http, "GET", "/accounts/1/custom_attribute_definitions", AGENT).status_code == 200
    assert call(http, "GET", "/profile", standin.api_token).status_code == 401


def test_answers_fit_the_spec(standin: ChatwootStandIn, http: httpx.Client) -> None:
    created = call(http, "POST", "/accounts/1/agent_bots", ADMIN, {"name": "Transcriber"})
    assert spec_violations(CREATE_AGENT_BOT_OP, created.json(), response_status=200) == []
    assert created.json()["access_token"]
    listed = call(http, "GET", "/accounts/1/agent_bots", ADMIN)
    assert spec_violations(AGENT_BOTS_OP, listed.json(), response_status=200) == []
    hook = call(http, "POST", "/accounts/1/webhooks", ADMIN, HOOK).json()["payload"]["webhook"]
    assert spec_violations(CREATE_WEBHOOK_OP, hook, response_status=200) == []
    assert hook["secret"]
    body = {"attribute_display_name": "L", "attribute_key": "transcript_language",
            "attribute_model": 0, "attribute_display_type": 0}  # fmt: skip
    definition = call(http, "POST", "/accounts/1/custom_attribute_definitions", ADMIN, body)
    # the spec types regex_pattern, regex_cue, default_value and attribute_values as strings;
    # Chatwoot's jbuilder sends null, null, null and an array (the model's jsonb): as here
    loose = ("None is not of type 'string'", "[] is not of type 'string'")
    found = spec_violations(CREATE_DEFINITION_OP, definition.json(), response_status=200)
    assert [v for v in found if not v.endswith(loose)] == []
    listed = call(http, "GET", "/accounts/1/custom_attribute_definitions", ADMIN)
    found = spec_violations(DEFINITIONS_OP, listed.json(), response_status=200)
    assert [v for v in found if not v.endswith(loose)] == []
    assert standin.violations == []


def test_webhook_rules(standin: ChatwootStandIn, http: httpx.Client) -> None:
    first = call(http, "POST", "/accounts/1/webhooks", ADMIN, HOOK)
    secret = first.json()["payload"]["webhook"]["secret"]
    again = call(http, "POST", "/accounts/1/webhooks", ADMIN, HOOK)
    assert again.status_code == 422
    assert again.json() == {"message": "Url has already been taken", "attributes": ["url"]}
    bad = {"webhook": {"url": "ftp://x", "subscriptions": []}}
    refused = call(http, "POST", "/accounts/1/webhooks", ADMIN, bad)
    assert refused.json()["message"] == "Url is invalid, Subscriptions Invalid events"
    hook_id = first.json()["payload"]["webhook"]["id"]
    events = ["message_created", "conversation_updated"]
    updated = call(
        http,
        "PATCH",
        f"/accounts/1/webhooks/{hook_id}",
        ADMIN,
        {"webhook": {"subscriptions": events}},
    )
    assert updated.json()["payload"]["webhook"]["subscriptions"] == events
    assert updated.json()["payload"]["webhook"]["secret"] == secret  # made once, at creation
    listed = call(http, "GET", "/accounts/1/webhooks", ADMIN).json()
    assert [h["id"] for h in listed["payload"]["webhooks"]] == [hook_id]
    assert standin.violations == []


def test_a_flat_body_is_wrapped_like_rails_does(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    flat = HOOK["webhook"]
    assert call(http, "POST", "/accounts/1/webhooks", ADMIN, flat).status_code == 200
    assert standin.violations == []
    typo = call(http, "POST", "/accounts/1/webhooks", ADMIN, {**flat, "subscription": []})
    assert typo.status_code == 422  # the spec check: not a property


def test_an_old_chatwoot_has_no_secrets() -> None:
    with ChatwootStandIn(user_token=ADMIN, version="4.10.1") as old, httpx.Client() as http:
        headers = {"api_access_token": ADMIN}
        url = f"{old.base_url}/api/v1/accounts/1/webhooks"
        created = http.post(url, headers=headers, json=HOOK).json()["payload"]["webhook"]
        assert "secret" not in created
        assert http.get(f"{old.base_url}/api").json()["version"] == "4.10.1"


def test_definitions_are_unique_per_key_and_model(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    body = {"attribute_display_name": "L", "attribute_key": "lang", "attribute_model": 0}
    path = "/accounts/1/custom_attribute_definitions"
    assert call(http, "POST", path, ADMIN, body).status_code == 200
    again = call(http, "POST", path, ADMIN, body)
    assert again.json()["message"] == "Attribute key has already been taken"
    contact = call(http, "POST", path, ADMIN, {**body, "attribute_model": 1})
    assert contact.status_code == 200
    standard = call(http, "POST", path, ADMIN, {**body, "attribute_key": "status"})
    assert standard.status_code == 422


def test_set_agent_bot_checks_inbox_bot_then_role(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    def set_bot(inbox_id: int, token: str, bot_id: int) -> httpx.Response:
        path = f"/accounts/1/inboxes/{inbox_id}/set_agent_bot"
        return call(http, "POST", path, token, {"agent_bot": bot_id})

    assert set_bot(9, ADMIN, 1).status_code == 404
    assert set_bot(1, ADMIN, 99).status_code == 404
    assert set_bot(2, AGENT, 1).status_code == 401  # not the agent's inbox
    done = call(http, "POST", "/accounts/1/inboxes/2/set_agent_bot", ADMIN, {"agent_bot": 1})
    assert (done.status_code, done.content) == (200, b"")
    assert standin.inbox_bot(2) == 1
    shown = call(http, "GET", "/accounts/1/inboxes/2/agent_bot", ADMIN).json()
    assert shown["agent_bot"]["id"] == 1


def test_profile_and_revocation(standin: ChatwootStandIn, http: httpx.Client) -> None:
    profile = call(http, "GET", "/profile", AGENT).json()
    assert [(a["id"], a["role"]) for a in profile["accounts"]] == [(1, "agent")]
    standin.revoke(AGENT)
    assert call(http, "GET", "/profile", AGENT).json() == {"error": "Invalid Access Token"}
    standin.revoke(standin.api_token)
    standin.add_conversation(1)
    shown = call(http, "GET", "/accounts/1/conversations/1", standin.api_token)
    assert shown.json() == {"error": "Invalid Access Token"}


def test_a_created_bots_token_writes_notes_as_that_bot(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    standin.add_conversation(7)
    bot = call(http, "POST", "/accounts/1/agent_bots", ADMIN, {"name": "Transcriber"}).json()
    note = {"content": "hi", "message_type": "outgoing", "private": True}
    answer = call(http, "POST", "/accounts/1/conversations/7/messages", bot["access_token"], note)
    assert answer.status_code == 200
    assert answer.json()["sender"]["id"] == bot["id"]
    assert answer.json()["sender"]["name"] == "Transcriber"
