"""The account form's stream token: write-only (never rendered, not even typed back after an
error), set when filled, removed by its checkbox, refused with the field named when weak or
another account's; the page says only whether one is stored."""

from __future__ import annotations

from starlette.testclient import TestClient

from adapter.runtime import Runtime
from adapter.streams import stream_account
from tests.console import seed
from tests.console.conftest import Seeded, csrf_of

NEW = "st-SEEKRIT-new-0123456789abcdef"


def found(runtime: Runtime, token: str) -> int | None:
    account = stream_account(runtime.accounts, runtime.keyring, token)
    return None if account is None else account.id


def form(client: TestClient, **fields: str) -> dict[str, str]:
    page = client.get("/console/accounts/3")
    assert page.status_code == 200
    return {"csrf": csrf_of(page.text), "chatwoot_url": "https://desk3.example.test", **fields}


def test_the_stream_token_is_set_cleared_and_never_shown(
    client: TestClient, csrf: str, runtime: Runtime, seeded: Seeded
) -> None:
    old = seed.ACCOUNT_SECRETS[3]["stream_token"]
    page = client.get("/console/accounts/3")
    assert 'id="stream_token"' in page.text and 'type="password"' in page.text
    assert "Stream token, for live transcription" in page.text and "(stored)" in page.text
    assert 'id="clear_stream_token"' in page.text and old not in page.text
    assert found(runtime, old) == 3

    saved = client.post("/console/accounts/3", data=form(client, stream_token=NEW))
    assert saved.status_code == 200 and NEW not in saved.text
    assert (found(runtime, NEW), found(runtime, old)) == (3, None)

    empty = client.post("/console/accounts/3", data=form(client, stream_token=""))
    assert empty.status_code == 200 and found(runtime, NEW) == 3  # empty: kept

    cleared = client.post("/console/accounts/3", data=form(client, clear_stream_token="on"))
    assert cleared.status_code == 200 and found(runtime, NEW) is None
    assert 'id="clear_stream_token"' not in cleared.text  # nothing left to remove
    assert found(runtime, seed.ACCOUNT_SECRETS[7]["stream_token"]) == 7


def test_a_weak_or_taken_stream_token_is_refused_and_not_typed_back(
    client: TestClient, csrf: str, runtime: Runtime, seeded: Seeded
) -> None:
    short = "st-SEEKRIT-too-short-23"
    bad = client.post("/console/accounts/3", data=form(client, stream_token=short))
    assert bad.status_code == 422
    assert "Stream token" in bad.text and "at least 24 characters" in bad.text
    assert short not in bad.text
    taken = seed.ACCOUNT_SECRETS[7]["stream_token"]
    bad = client.post("/console/accounts/3", data=form(client, stream_token=taken))
    assert bad.status_code == 409 and "another account has this stream token" in bad.text
    assert taken not in bad.text
    assert found(runtime, seed.ACCOUNT_SECRETS[3]["stream_token"]) == 3
