"""A path with a trailing slash is 404, never a redirect (issue 14): Starlette's
``redirect_slashes`` answered ``POST /webhooks/chatwoot/3/`` with a 307 whose ``Location`` came
from the request's Host header."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ADMIN, signed_headers, sqlite_only


@sqlite_only
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/webhooks/chatwoot/3/"),
        ("POST", "/webhooks/chatwoot/3//"),
        ("GET", "/healthz/"),
        ("GET", "/readyz/"),
        ("GET", "/api/v1/accounts/"),
        ("GET", "/api/v1/transcriptions/"),
        ("GET", "/api/v1/usage/"),
        ("GET", "/console/usage/"),
        ("GET", "/console/transcriptions/"),
    ],
)
def test_a_trailing_slash_is_404_never_a_redirect(
    client: Any, account: int, method: str, path: str
) -> None:
    body = b"{}"
    headers = {
        **signed_headers(body),
        "Host": "attacker.example",
        "Authorization": f"Bearer {ADMIN}",
    }
    answer = client.request(method, path, content=body, headers=headers, follow_redirects=False)
    assert answer.status_code == 404, (path, answer.status_code)
    assert "location" not in answer.headers


@sqlite_only
def test_the_paths_without_the_slash_still_answer(client: Any, account: int) -> None:
    body = b"{}"
    assert (
        client.post("/webhooks/chatwoot/3", content=body, headers=signed_headers(body)).status_code
        == 202
    )
    assert client.get("/healthz").status_code == 200
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert client.get("/api/v1/accounts", headers=admin).status_code == 200


@sqlite_only
def test_the_console_answers_on_both_forms_without_the_host(client: Any) -> None:
    """``/console/`` is one of the console's own routes: the same answer as ``/console``, and
    whatever it redirects to is a path of this service, not one built from the Host header."""
    headers = {"Host": "attacker.example"}
    bare = client.get("/console", headers=headers, follow_redirects=False)
    slash = client.get("/console/", headers=headers, follow_redirects=False)
    assert bare.status_code == slash.status_code
    for answer in (bare, slash):
        assert "attacker.example" not in answer.headers.get("location", "")
