"""The admin API refuses a ``chatwoot_url`` or ``base_url`` on a cloud metadata or link-local
address (issue 14), on create and on update, with a 422 naming the field; private and named
hosts stay accepted (a self-hosted Chatwoot, a local OpenAI-compatible server)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import sqlite_only
from tests.web.test_admin import AUTH, NEW, secrets_absent

pytestmark = sqlite_only  # validation: the database is not reached

REFUSED = [
    "http://169.254.169.254/v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://[fd00:ec2::254]/v1",
    "http://100.100.100.200/v1",
    "http://2852039166/v1",
    "http://0xa9fea9fe/v1",
    "http://169.254.169.254./v1",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://metadata/v1",
    "http://[fe80::1%25eth0]/v1",
    "http://169.254.1.1:8080/v1",
    "http://0.0.0.0:8000/v1",
    "http://[::]:8000/v1",
]


@pytest.mark.parametrize("url", REFUSED)
@pytest.mark.parametrize("field", ["base_url", "chatwoot_url"])
def test_metadata_and_link_local_urls_are_422(client: Any, field: str, url: str) -> None:
    if field == "chatwoot_url":
        url = url.rsplit("/v1", 1)[0].removesuffix("/computeMetadata")
    response = client.post("/api/v1/accounts", json={**NEW, field: url}, headers=AUTH)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert f"{field}: must not point to" in error
    secrets_absent(response.text)
    assert client.get("/api/v1/accounts/21", headers=AUTH).status_code == 404


def test_an_account_cannot_be_moved_there(client: Any) -> None:
    assert client.post("/api/v1/accounts", json=NEW, headers=AUTH).status_code == 201
    for field in ("base_url", "chatwoot_url"):
        patched = client.patch(
            "/api/v1/accounts/21", json={field: "http://169.254.169.254"}, headers=AUTH
        )
        assert patched.status_code == 422, patched.text
        assert "a cloud metadata address" in patched.json()["error"]
    view = client.get("/api/v1/accounts/21", headers=AUTH).json()
    assert view["chatwoot_url"] == "https://desk.example.test"


@pytest.mark.parametrize(
    "changes",
    [
        {"chatwoot_url": "http://10.0.0.5:3000"},
        {"chatwoot_url": "http://chatwoot:3000"},
        {"engine": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "my-whisper"},
        {"engine": "openai", "base_url": "http://speaches.internal:8000/v1", "model": "x"},
    ],
)
def test_private_and_named_hosts_are_accepted(client: Any, changes: dict[str, str]) -> None:
    response = client.post("/api/v1/accounts", json={**NEW, **changes}, headers=AUTH)
    assert response.status_code == 201, response.text
