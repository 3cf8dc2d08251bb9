"""The console's page of an account's checks (``transcriber doctor --account-id N``), over
HTTP against the stand-in Chatwoot and OpenAI: opening it runs nothing, the button (a POST
with the session's CSRF token) runs the checks and shows each with its fix, nothing is
written into Chatwoot or transcribed, no secret is shown."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from adapter.runtime import Runtime
from tests.console.conftest import csrf_of
from tests.console.connected import (
    BOT_TOKEN,
    NAMES,
    Connected,
    connect_account,
    healthz,
    stand_in_chatwoot,
)
from tests.helpers import ADMIN, OpenAIStandIn, reconfigure, sqlite_only

PAGE = "/console/accounts/3/doctor"
_ROW = re.compile(
    r'<td><span class="state [a-z-]+">(ok|FAIL|skip)</span></td>\s*<th scope="row">([^<]+)</th>'
)


@pytest.fixture
def connected(
    runtime: Runtime, client: TestClient, openai_server: OpenAIStandIn
) -> Iterator[Connected]:
    """Account 3 connected to the stand-ins; after the test, Chatwoot saw no write and OpenAI
    no transcription."""
    with healthz() as public_url, stand_in_chatwoot() as chatwoot:
        rt = reconfigure(runtime, client, public_url=public_url)
        found = connect_account(rt, chatwoot, openai_server)
        yield found
        assert found.writes() == []
        assert not found.transcribed()


def results(html: str) -> dict[str, str]:
    """Each check's result by its name."""
    return {name: result for result, name in _ROW.findall(html)}


def no_secret_in(text: str, found: Connected) -> None:
    for secret in (*found.secrets, ADMIN):
        assert secret not in text


def test_opening_the_page_runs_nothing(client: TestClient, csrf: str, connected: Connected) -> None:
    account = client.get("/console/accounts/3")
    assert f'href="{PAGE}"' in account.text
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Run the checks</button>" in page.text
    assert f'action="{PAGE}"' in page.text and csrf_of(page.text) == csrf
    assert results(page.text) == {}
    assert connected.chatwoot.requests == [] and connected.openai.requests == []


def test_all_well(client: TestClient, csrf: str, connected: Connected) -> None:
    answer = client.post(PAGE, data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 200
    assert "All checks passed." in answer.text
    assert results(answer.text) == dict.fromkeys(NAMES, "ok")
    assert "Run the checks again</button>" in answer.text
    assert [r.path for r in connected.openai.requests] == ["/v1/models"]
    no_secret_in(answer.text, connected)


def test_a_revoked_token_is_named_with_its_fix(
    client: TestClient, csrf: str, connected: Connected
) -> None:
    connected.chatwoot.revoke(BOT_TOKEN)
    answer = client.post(PAGE, data={"csrf": csrf})
    assert answer.status_code == 200  # the checks ran; the page says what failed
    assert '<p class="alert alert-error" role="alert">1 check failed' in answer.text
    found = results(answer.text)
    assert found.pop("API token") == "FAIL"
    assert set(found.values()) == {"ok"}
    row = answer.text.split('<th scope="row">API token</th>', 1)[1].split("</tr>", 1)[0]
    assert "Chatwoot rejects the API token" in row
    assert "transcriber accounts connect" in row  # the fix
    no_secret_in(answer.text, connected)


def test_without_the_csrf_token_nothing_runs(
    client: TestClient, csrf: str, runtime: Runtime, connected: Connected
) -> None:
    for data in ({}, {"csrf": ""}, {"csrf": "wrong-" + csrf[6:]}, {"csrf": csrf + "x"}):
        answer = client.post(PAGE, data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert "Nothing was changed" in answer.text
    assert client.post(f"{PAGE}?csrf={csrf}", follow_redirects=False).status_code == 403
    with TestClient(client.app) as stranger:  # no session at all
        assert stranger.post(PAGE, data={"csrf": csrf}).status_code == 403
        unsigned = stranger.get(PAGE, follow_redirects=False)
        assert unsigned.status_code == 303
        assert (
            unsigned.headers["location"]
            == "/console/sign-in?next=%2Fconsole%2Faccounts%2F3%2Fdoctor"
        )
    assert connected.chatwoot.requests == [] and connected.openai.requests == []


@sqlite_only
def test_an_unknown_account_is_not_found(
    client: TestClient, csrf: str, connected: Connected
) -> None:
    for path in (
        "/console/accounts/9/doctor",
        "/console/accounts/0/doctor",
        "/console/accounts/abc/doctor",
        "/console/accounts/99999999999999999999/doctor",
    ):
        assert client.get(path).status_code == 404, path
        assert client.post(path, data={"csrf": csrf}).status_code == 404, path
    assert connected.chatwoot.requests == []


@sqlite_only
def test_off_without_an_admin_token(
    client: TestClient, runtime: Runtime, connected: Connected
) -> None:
    reconfigure(runtime, client, admin_token=None)
    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE, data={"csrf": "x"}).status_code == 404
    assert connected.chatwoot.requests == []
