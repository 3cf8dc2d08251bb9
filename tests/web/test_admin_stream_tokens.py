"""The admin API's ``stream_token`` (write-only) and ``clear_stream_token``: the token set,
replaced and cleared finds its account (``adapter.streams.stream_account``); answers say only
whether one is set; weak and taken tokens are refused without being echoed."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.runtime import Runtime
from adapter.streams import stream_account
from tests.helpers import ADMIN

AUTH = {"Authorization": f"Bearer {ADMIN}"}
TOKEN = "st-" + "Qz8" * 10
OTHER = "st-" + "Wm5" * 10


def account(account_id: int, **more: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "chatwoot_url": "https://desk.example.test",
        "api_token": "cw-token-" + "a1" * 12,
        "webhook_secret": "whsec-" + "b2" * 12,
        **more,
    }


def found(runtime: Runtime, token: str) -> int | None:
    hit = stream_account(runtime.accounts, runtime.keyring, token)
    return None if hit is None else hit.id


def test_a_stream_token_through_the_admin_api(client: Any, runtime: Runtime) -> None:
    created = client.post("/api/v1/accounts", json=account(21, stream_token=TOKEN), headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["stream_token"] is True
    plain = client.post("/api/v1/accounts", json=account(22), headers=AUTH)
    assert plain.json()["stream_token"] is False
    assert found(runtime, TOKEN) == 21

    replaced = client.patch("/api/v1/accounts/21", json={"stream_token": OTHER}, headers=AUTH)
    assert replaced.status_code == 200, replaced.text
    assert (found(runtime, OTHER), found(runtime, TOKEN)) == (21, None)
    given = client.patch("/api/v1/accounts/22", json={"stream_token": TOKEN}, headers=AUTH)
    assert given.status_code == 200 and found(runtime, TOKEN) == 22

    cleared = client.patch("/api/v1/accounts/21", json={"clear_stream_token": True}, headers=AUTH)
    assert cleared.status_code == 200 and cleared.json()["stream_token"] is False
    assert found(runtime, OTHER) is None and found(runtime, TOKEN) == 22

    answers = [created, plain, replaced, given, cleared]
    answers += [client.get(f"/api/v1/accounts/{i}", headers=AUTH) for i in (21, 22)]
    answers.append(client.get("/api/v1/accounts", headers=AUTH))
    for answer in answers:
        assert TOKEN not in answer.text and OTHER not in answer.text
        assert "stream_token_enc" not in answer.text and "digest" not in answer.text


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        ({"stream_token": "short-token-of-23-chars"}, 422, "at least 24 characters"),
        ({"stream_token": "a token with some spaces in it"}, 422, "without spaces"),
        ({"stream_token": ""}, 422, "stream_token"),
        ({"stream_token": 12345}, 422, "stream_token"),
        ({"stream_token": TOKEN}, 409, "another account has this stream token"),
    ],
)
def test_weak_or_taken_tokens_are_refused(
    client: Any, runtime: Runtime, body: dict[str, Any], status: int, said: str
) -> None:
    assert client.post("/api/v1/accounts", json=account(21, stream_token=TOKEN), headers=AUTH)
    assert client.post("/api/v1/accounts", json=account(22), headers=AUTH).status_code == 201
    answer = client.patch("/api/v1/accounts/22", json=body, headers=AUTH)
    assert answer.status_code == status, answer.text
    assert said in answer.text
    if isinstance(body["stream_token"], str) and body["stream_token"]:
        assert body["stream_token"] not in answer.text
    created = client.post("/api/v1/accounts", json=account(23, **body), headers=AUTH)
    assert created.status_code == status
    assert runtime.accounts.get(23) is None
    assert found(runtime, TOKEN) == 21
