"""The console's fixtures: seeded rows on both databases, and a signed-in test client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adapter.runtime import Runtime
from tests.console import seed
from tests.helpers import ADMIN

#: the words of the seeded transcripts a search can find
XSS = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


@dataclass(frozen=True)
class Seeded:
    hello: int  # account 3, en: "hello … invoice"
    hola: int  # account 3, es
    bonjour: int  # account 7, fr, with XSS in the text
    failed: int  # account 3, failed
    failed_7: int  # account 7, failed
    queued: int  # account 7, queued


@pytest.fixture
def seeded(runtime: Runtime, tmp_path: Path) -> Seeded:
    seed.add_accounts(runtime)
    hello = seed.delivered(runtime, tmp_path, 3, 101, "Hello, I need a copy of my invoice", "en")
    hola = seed.delivered(runtime, tmp_path, 3, 102, "Hola, quiero cambiar mi pedido", "es", 95)
    bonjour = seed.delivered(
        runtime, tmp_path, 7, 701, f"Bonjour {XSS} livraison", "fr", 12, "local", "base"
    )
    failed = seed.failed(runtime, 3, 103, "the engine refused the file <b>bad</b>")
    failed_7 = seed.failed(runtime, 7, 702, "the engine refused this one too")
    queued = seed.queued(runtime, 7, 703)
    return Seeded(hello, hola, bonjour, failed, failed_7, queued)


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, token: str = ADMIN) -> str:
    """Sign in through the form; the CSRF token of the session."""
    answer = client.post("/console/sign-in", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = client.get("/console")
    assert page.status_code == 200
    return csrf_of(page.text)


@pytest.fixture
def csrf(client: TestClient) -> str:
    """The test client, signed in: its session's CSRF token."""
    return sign_in(client)
