"""The console over plain HTTP: sign-in, the cookie, CSRF on every POST, no secret anywhere,
hostile input, a database that is down. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.exc import ProgrammingError
from starlette.testclient import TestClient

from adapter.accounts import open_secret
from adapter.runtime import Runtime
from adapter.store import utcnow
from adapter.store.accounts import SECRET_FIELDS
from adapter.usage.budget import month_of
from adapter.web.app import create_app
from adapter.web.console import reads
from adapter.web.console.session import COOKIE_NAME
from tests.console import seed
from tests.console.conftest import XSS, Seeded, csrf_of, sign_in
from tests.helpers import ADMIN, reconfigure, sqlite_only, swap_database

PAGES = [
    "/console",
    "/console/overview/panel",
    "/console/usage",
    "/console/transcriptions",
    "/console/accounts",
]


def cookie_header(answer: Any) -> str:
    [header] = [v for k, v in answer.headers.multi_items() if k.lower() == "set-cookie"]
    return str(header)


# ─── sign-in ─────────────────────────────────────────────────────────────────────────────────


@sqlite_only
def test_unsigned_pages_lead_to_the_sign_in_form(client: TestClient) -> None:
    for path in [
        "/console",
        "/console/usage",
        "/console/transcriptions?q=x",
        "/console/accounts/3",
        "/console/accounts/3/doctor",
        "/console/transcriptions/1",
    ]:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/sign-in?next=%2Fconsole")
    assert client.get("/console/overview/panel").status_code == 401
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    assert '<label for="token">' in form.text and 'type="password"' in form.text
    assert 'href="#main"' in form.text and "<main" in form.text


@sqlite_only
@pytest.mark.parametrize("data", [{"token": "wrong-token"}, {"token": ""}, {}, {"tok": ADMIN}])
def test_a_wrong_or_missing_token_gets_the_form_again(client: TestClient, data: Any) -> None:
    answer = client.post("/console/sign-in", data=data, follow_redirects=False)
    assert answer.status_code == 401
    assert "That is not the admin token." in answer.text
    assert "set-cookie" not in answer.headers
    assert client.get("/console", follow_redirects=False).status_code == 303


@sqlite_only
def test_signing_in_sets_a_strict_http_only_cookie(client: TestClient) -> None:
    answer = client.post(
        "/console/sign-in",
        data={"token": ADMIN, "next": "/console/accounts"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/accounts"
    header = cookie_header(answer)
    attributes = [part.strip().lower() for part in header.split(";")]
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/console" in attributes
    assert "max-age=43200" in attributes
    assert "secure" not in attributes  # plain http here: a Secure cookie would never come back
    assert ADMIN not in header
    assert client.get("/console").status_code == 200


@sqlite_only
def test_the_cookie_is_secure_over_https(runtime: Runtime) -> None:
    with TestClient(create_app(runtime), base_url="https://console.example.test") as https:
        answer = https.post("/console/sign-in", data={"token": ADMIN}, follow_redirects=False)
        assert answer.status_code == 303
        assert "secure" in [p.strip().lower() for p in cookie_header(answer).split(";")]
        assert https.get("/console").status_code == 200


@sqlite_only
@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("https://evil.example/", "/console"),
        ("//evil.example", "/console"),
        ("/\\evil.example", "/console"),
        ("/%2fevil.example", "/console"),
        ("/consolex", "/console"),
        ("/console/../x\\y", "/console"),
        ("/console/../x", "/console"),
        ("/console/%2e%2e/evil", "/console"),
        ("/console/%2E%2E%2f%2E%2E/evil", "/console"),
        ("/console/..%5cevil", "/console"),
        ("/console//evil.example", "/console"),
        ("/console/./accounts", "/console"),
        ("%2fconsole/accounts", "/console"),
        ("javascript:alert(1)", "/console"),
        ("/console/sign-in?next=//evil.example", "/console"),
        ("/console", "/console"),
        ("/console/", "/console/"),
        ("/console/accounts", "/console/accounts"),
        (
            "/console/transcriptions?q=a%20b&state=failed",
            "/console/transcriptions?q=a%20b&state=failed",
        ),
        ("/console/accounts#x", "/console/accounts"),
    ],
)
def test_sign_in_goes_only_to_console_pages(client: TestClient, target: str, location: str) -> None:
    answer = client.post(
        "/console/sign-in", data={"token": ADMIN, "next": target}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == location


@sqlite_only
def test_a_changed_admin_token_ends_every_session(client: TestClient, runtime: Runtime) -> None:
    sign_in(client)
    reconfigure(runtime, client, admin_token=SecretStr("a-new-admin-token-0987654321"))
    assert client.get("/console", follow_redirects=False).status_code == 303
    sign_in(client, "a-new-admin-token-0987654321")


@sqlite_only
def test_a_tampered_cookie_is_not_a_session(client: TestClient) -> None:
    sign_in(client)
    value = client.cookies.get(COOKIE_NAME)
    assert value
    client.cookies.clear()
    client.cookies.set(
        COOKIE_NAME, value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path="/console"
    )
    assert client.get("/console", follow_redirects=False).status_code == 303


@sqlite_only
def test_sign_out_clears_the_cookie(client: TestClient, csrf: str) -> None:
    assert client.post("/console/sign-out", data={}).status_code == 403
    assert client.get("/console").status_code == 200  # still signed in
    answer = client.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in"
    assert "max-age=0" in cookie_header(answer).lower()
    assert client.get("/console", follow_redirects=False).status_code == 303


@sqlite_only
def test_a_signed_out_cookie_replayed_is_refused(
    client: TestClient, runtime: Runtime, seeded: Seeded
) -> None:
    csrf = sign_in(client)
    kept = client.cookies.get(COOKIE_NAME)
    assert kept
    with TestClient(create_app(runtime)) as other:  # another session stays signed in
        sign_in(other)
        assert client.post("/console/sign-out", data={"csrf": csrf}).status_code == 200
        client.cookies.set(COOKIE_NAME, kept, path="/console")  # the old cookie, replayed
        for path in ["/console", "/console/accounts", f"/console/transcriptions/{seeded.failed}"]:
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/console/sign-in?next=")
        assert client.get("/console/overview/panel").status_code == 401
        sign_in_form = client.get("/console/sign-in", follow_redirects=False)
        assert sign_in_form.status_code == 200 and 'type="password"' in sign_in_form.text
        refused = client.post(
            f"/console/transcriptions/{seeded.failed}/retry",
            data={"csrf": csrf},
            follow_redirects=False,
        )
        assert refused.status_code == 403
        assert seed.state_of(runtime, seeded.failed) == "failed"
        assert client.post("/console/sign-out", data={"csrf": csrf}).status_code == 403
        assert other.get("/console").status_code == 200
    sign_in(client)  # and signing in again works


@sqlite_only
def test_five_wrong_tokens_from_one_address_are_throttled(client: TestClient) -> None:
    for _ in range(5):
        answer = client.post("/console/sign-in", data={"token": "wrong"}, follow_redirects=False)
        assert answer.status_code == 401
    refused = client.post("/console/sign-in", data={"token": ADMIN}, follow_redirects=False)
    assert refused.status_code == 429
    assert "Too many wrong tokens" in refused.text and "The token was not checked" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
    assert "set-cookie" not in refused.headers
    assert client.get("/console", follow_redirects=False).status_code == 303


@sqlite_only
def test_a_successful_sign_in_resets_the_count(client: TestClient) -> None:
    for _ in range(4):
        client.post("/console/sign-in", data={"token": "wrong"}, follow_redirects=False)
    sign_in(client)
    for _ in range(4):
        answer = client.post("/console/sign-in", data={"token": "wrong"}, follow_redirects=False)
        assert answer.status_code == 401
    sign_in(client)


@sqlite_only
def test_the_console_is_off_without_an_admin_token(client: TestClient, runtime: Runtime) -> None:
    sign_in(client)
    reconfigure(runtime, client, admin_token=None)
    for path in [
        *PAGES,
        "/console/sign-in",
        "/console/static/console.css",
        "/console/transcriptions/1",
        "/console/accounts/3",
        "/console/accounts/3/doctor",
        "/console/nothing",
    ]:
        assert client.get(path, follow_redirects=False).status_code == 404, path
    for path in [
        "/console/sign-in",
        "/console/sign-out",
        "/console/transcriptions/1/retry",
        "/console/transcriptions/retry-failed",
        "/console/accounts/3",
        "/console/accounts/3/enabled",
        "/console/accounts/3/doctor",
    ]:
        assert client.post(path, data={"token": ADMIN}).status_code == 404, path


# ─── pages ───────────────────────────────────────────────────────────────────────────────────


def test_every_page_renders_the_seeded_rows(client: TestClient, csrf: str, seeded: Seeded) -> None:
    overview = client.get("/console")
    assert overview.status_code == 200
    assert 'id="count-failed">2<' in overview.text
    assert 'id="count-queued">1<' in overview.text
    panel = client.get("/console/overview/panel")
    assert panel.status_code == 200 and "<html" not in panel.text
    listing = client.get("/console/transcriptions")
    assert listing.status_code == 200
    for tid in (seeded.hello, seeded.hola, seeded.bonjour, seeded.failed, seeded.queued):
        assert f'href="/console/transcriptions/{tid}"' in listing.text
    detail = client.get(f"/console/transcriptions/{seeded.hello}")
    assert "Hello, I need a copy of my invoice" in detail.text
    assert "whisper-1" in detail.text
    assert "Retry transcription" not in detail.text
    failed = client.get(f"/console/transcriptions/{seeded.failed}")
    assert "engine_rejected" in failed.text and "Retry transcription" in failed.text
    accounts = client.get("/console/accounts")
    assert "Account 3" in accounts.text and "Account 7" in accounts.text
    assert client.get("/console/accounts/7").status_code == 200
    usage = client.get("/console/usage")
    assert usage.status_code == 200
    for response in (overview, listing, detail, accounts, usage):
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["cache-control"] == "no-store"


def test_filters_narrow_the_list(client: TestClient, csrf: str, seeded: Seeded) -> None:
    def ids(query: str) -> set[int]:
        answer = client.get(f"/console/transcriptions?{query}")
        assert answer.status_code == 200, answer.text
        return {
            t
            for t in (
                seeded.hello,
                seeded.hola,
                seeded.bonjour,
                seeded.failed,
                seeded.failed_7,
                seeded.queued,
            )
            if f'href="/console/transcriptions/{t}"' in answer.text
        }

    assert ids("state=failed") == {seeded.failed, seeded.failed_7}
    assert ids("account=7") == {seeded.bonjour, seeded.failed_7, seeded.queued}
    assert ids("account=3&state=delivered") == {seeded.hello, seeded.hola}
    assert ids("source=reconcile") == set()
    assert ids("language=es") == {seeded.hola}
    assert ids("q=invoice") == {seeded.hello}
    assert ids("q=pedido") == {seeded.hola}
    assert ids("since=2000-01-01&until=2999-12-31") == {
        seeded.hello,
        seeded.hola,
        seeded.bonjour,
        seeded.failed,
        seeded.failed_7,
        seeded.queued,
    }
    assert ids("until=2000-01-01") == set()


def test_the_list_is_paged(client: TestClient, csrf: str, runtime: Runtime) -> None:
    seed.add_accounts(runtime)
    made = [seed.queued(runtime, 3, 1000 + n) for n in range(55)]
    first = client.get("/console/transcriptions")
    assert f'href="/console/transcriptions/{made[-1]}"' in first.text
    assert f'href="/console/transcriptions/{made[4]}"' not in first.text
    older = f"/console/transcriptions?before={made[5]}"
    assert older.replace("?", "?") in first.text.replace("&amp;", "&")
    second = client.get(older)
    assert f'href="/console/transcriptions/{made[0]}"' in second.text
    assert f'href="/console/transcriptions/{made[5]}"' not in second.text


# ─── CSRF: every state-changing POST ─────────────────────────────────────────────────────────


def _posts(seeded: Seeded) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/console/transcriptions/{seeded.failed}/retry", {}),
        ("/console/transcriptions/retry-failed", {"account_id": ""}),
        (
            "/console/accounts/3",
            {"chatwoot_url": "https://changed.example.test", "api_token": "cw-api-SEEKRIT-changed"},
        ),
        ("/console/accounts/3/enabled", {"enabled": "false"}),
        ("/console/accounts/3", {"inboxes": "5", "mode": "on_demand", "min_seconds": "9"}),
        ("/console/accounts/3/doctor", {}),
        ("/console/sign-out", {}),
    ]


def _snapshot(runtime: Runtime, seeded: Seeded) -> tuple[Any, ...]:
    account = runtime.accounts.get(3)
    assert account is not None
    return (
        seed.state_of(runtime, seeded.failed),
        seed.state_of(runtime, seeded.failed_7),
        account.chatwoot_url,
        account.api_token_enc,
        account.enabled,
        account.inbox_ids,
        account.mode,
        account.min_seconds,
    )


def test_every_post_without_the_csrf_token_is_refused(
    client: TestClient, csrf: str, runtime: Runtime, seeded: Seeded
) -> None:
    before = _snapshot(runtime, seeded)
    for path, data in _posts(seeded):
        for token in (None, "", "wrong-" + csrf[6:], csrf + "x", csrf.upper()):
            body = data if token is None else {**data, "csrf": token}
            answer = client.post(path, data=body, follow_redirects=False)
            assert answer.status_code == 403, (path, token)
            assert "Nothing was changed" in answer.text
        # the token in the URL is not the form's
        answer = client.post(f"{path}?csrf={csrf}", data=data, follow_redirects=False)
        assert answer.status_code == 403
    assert _snapshot(runtime, seeded) == before
    assert client.get("/console").status_code == 200  # and the session is still there


def test_another_sessions_token_is_refused(
    client: TestClient, runtime: Runtime, seeded: Seeded
) -> None:
    with TestClient(create_app(runtime)) as other:
        theirs = sign_in(other)
    mine = sign_in(client)
    assert theirs != mine
    answer = client.post(f"/console/transcriptions/{seeded.failed}/retry", data={"csrf": theirs})
    assert answer.status_code == 403
    assert seed.state_of(runtime, seeded.failed) == "failed"


def test_retry_one_and_retry_failures_of_one_account(
    client: TestClient, csrf: str, runtime: Runtime, seeded: Seeded
) -> None:
    answer = client.post(
        f"/console/transcriptions/{seeded.failed}/retry",
        data={"csrf": csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert seed.state_of(runtime, seeded.failed) == "queued"
    page = client.get(answer.headers["location"])
    assert "Queued again" in page.text
    again = client.post(f"/console/transcriptions/{seeded.hello}/retry", data={"csrf": csrf})
    assert again.status_code == 200 and "Only failed or skipped" in again.text
    assert seed.state_of(runtime, seeded.hello) == "delivered"
    bulk = client.post(
        "/console/transcriptions/retry-failed",
        data={"csrf": csrf, "account_id": "7"},
        follow_redirects=False,
    )
    assert bulk.status_code == 303
    assert seed.state_of(runtime, seeded.failed_7) == "queued"
    assert bulk.headers["location"] == "/console/transcriptions?notice=bulk"
    assert "The failures were sent again" in client.get(bulk.headers["location"]).text
    none_left = client.post(
        "/console/transcriptions/retry-failed",
        data={"csrf": csrf, "account_id": "7"},
        follow_redirects=False,
    )
    assert none_left.headers["location"] == "/console/transcriptions?notice=bulk_none"
    assert "no failed transcription" in client.get(none_left.headers["location"]).text
    forged = client.get("/console/transcriptions?notice=bulk&count=987654321")
    assert forged.status_code == 200 and "987654321" not in forged.text


def test_account_form_replaces_secrets_only_when_filled(
    client: TestClient, csrf: str, runtime: Runtime, seeded: Seeded
) -> None:
    def stored(field: str) -> str:
        account = runtime.accounts.get(3)
        assert account is not None
        column = SECRET_FIELDS[field]
        return open_secret(runtime.keyring, 3, column, getattr(account, field))

    page = client.get("/console/accounts/3")
    form = {
        "csrf": csrf_of(page.text),
        "chatwoot_url": "https://desk3.example.test",
        "engine": "openai",
        "model": "whisper-1",
        "language": "",
        "remove_silence": "off",
        "failure_notes": "on",
        "api_token": "",
        "webhook_secret": "",
        "openai_api_key": "sk-SEEKRIT-new-key-000",
    }
    answer = client.post("/console/accounts/3", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert stored("api_token_enc") == seed.ACCOUNT_SECRETS[3]["api_token"]
    assert stored("openai_api_key_enc") == "sk-SEEKRIT-new-key-000"
    account = runtime.accounts.get(3)
    assert account is not None and account.remove_silence is False
    assert "sk-SEEKRIT-new-key-000" not in client.get("/console/accounts/3").text

    bad = client.post("/console/accounts/3", data={**form, "model": "no-such-model"})
    assert bad.status_code == 422 and "no-such-model" in bad.text
    bad = client.post("/console/accounts/3", data={**form, "chatwoot_url": "ftp://x"})
    assert bad.status_code == 422 and "chatwoot_url" in bad.text
    assert 'value="sk-SEEKRIT' not in bad.text

    off = client.post("/console/accounts/3/enabled", data={"csrf": csrf, "enabled": "false"})
    assert off.status_code == 200 and "Account disabled" in off.text
    account = runtime.accounts.get(3)
    assert account is not None and account.enabled is False
    client.post("/console/accounts/3/enabled", data={"csrf": csrf, "enabled": "true"})
    account = runtime.accounts.get(3)
    assert account is not None and account.enabled is True


def test_enable_and_disable_take_only_true_or_false(
    client: TestClient, csrf: str, runtime: Runtime, seeded: Seeded
) -> None:
    def enabled() -> bool:
        account = runtime.accounts.get(3)
        assert account is not None
        return account.enabled

    for value in (None, "", "TRUE", "False", "yes", "0", "1", "on", " true", "true\x00"):
        data = {"csrf": csrf} if value is None else {"csrf": csrf, "enabled": value}
        answer = client.post("/console/accounts/3/enabled", data=data, follow_redirects=False)
        assert answer.status_code == 400, value
        assert "Nothing was changed" in answer.text
        assert enabled() is True, value
    off = client.post(
        "/console/accounts/3/enabled",
        data={"csrf": csrf, "enabled": "false"},
        follow_redirects=False,
    )
    assert off.status_code == 303 and enabled() is False
    for value in ("", "FALSE", "true "):
        answer = client.post("/console/accounts/3/enabled", data={"csrf": csrf, "enabled": value})
        assert answer.status_code == 400 and enabled() is False, value


# ─── secrets ─────────────────────────────────────────────────────────────────────────────────


def test_no_page_cookie_or_log_holds_a_secret(
    client: TestClient, runtime: Runtime, seeded: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [ADMIN, *seed.all_secrets()]
    accounts = {a.id: a for a in runtime.accounts.all()}
    ciphertexts = [
        value
        for a in accounts.values()
        for value in (
            a.api_token_enc,
            a.webhook_secret_enc,
            a.openai_api_key_enc,
            a.user_token_enc,
            a.stream_token_enc,
            a.stream_token_digest,
        )
        if value
    ]
    seen: list[str] = []
    seen.append(client.get("/console/sign-in").text)
    seen.append(client.post("/console/sign-in", data={"token": "wrong"}).text)
    answer = client.post("/console/sign-in", data={"token": ADMIN}, follow_redirects=False)
    seen.append(str(answer.headers))
    seen.append(str(client.cookies.get(COOKIE_NAME)))
    paths = [
        *PAGES,
        "/console/accounts/3",
        "/console/accounts/7",
        "/console/accounts/3/doctor",
        *(
            f"/console/transcriptions/{t}"
            for t in (seeded.hello, seeded.failed, seeded.bonjour, seeded.queued)
        ),
    ]
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, path
        seen.append(page.text)
        seen.append(str(page.headers))
    csrf = csrf_of(seen[-2])
    seen.append(
        client.post(
            "/console/accounts/3",
            data={"csrf": csrf, "chatwoot_url": "ftp://bad", "api_token": "cw-api-SEEKRIT-typed"},
        ).text
    )
    seen.append(client.post("/console/sign-out", data={"csrf": csrf}).text)
    seen.append(caplog.text)
    everything = "\n".join(seen)
    for secret in [*secrets, "cw-api-SEEKRIT-typed", *ciphertexts]:
        assert secret not in everything, secret
    assert "SEEKRIT" not in everything


# ─── hostile input ───────────────────────────────────────────────────────────────────────────

#: dates at the calendar's ends (the day after 9999-12-31 does not exist) or not plain days
OUT_OF_RANGE_DATES = [
    "until=9999-12-31",
    "since=9999-12-31",
    "since=0001-01-01",
    "until=0001-01-01",
    "since=0001-01-01T00:00:00%2B05:00",
    "until=9999-12-31T23:59:59-05:00",
    "since=1899-12-31&until=9999-01-01",
]


def test_hostile_input_is_escaped_and_never_a_500(
    client: TestClient, csrf: str, seeded: Seeded
) -> None:
    detail = client.get(f"/console/transcriptions/{seeded.bonjour}")
    assert detail.status_code == 200
    assert XSS not in detail.text
    assert "&lt;script&gt;alert(" in detail.text
    listing = client.get("/console/transcriptions")
    assert "<script>alert" not in listing.text and "<img src=x" not in listing.text
    failed = client.get(f"/console/transcriptions/{seeded.failed}")
    assert "<b>bad</b>" not in failed.text and "&lt;b&gt;bad&lt;/b&gt;" in failed.text

    hostile = '"><script>alert(1)</script>'
    answer = client.get(
        "/console/transcriptions",
        params={"q": hostile, "language": hostile, "state": hostile, "account": hostile},
    )
    assert answer.status_code == 400
    assert "<script>alert(1)</script>" not in answer.text
    search = client.get("/console/transcriptions", params={"q": hostile})
    assert search.status_code == 200 and "<script>alert(1)</script>" not in search.text
    for query in [
        "q=" + "a" * 60_000,
        "q=%00%ff%fe",
        "q=" + "%22" * 300,
        "q=a%20OR%201%3D1--",
        "q=%27%3B%20DROP%20TABLE%20transcriptions%3B--",
        "q=***&q=(((",
        "account=-1",
        "account=1e9",
        "account=99999999999999999999999",
        "account=%EF%BC%91",
        "state=deleted",
        "source=%00",
        "language=eng",
        "since=2024-02-30",
        "until=yesterday",
        "since=" + "9" * 50,
        "before=0",
        "before=abc",
        "before=-5",
        "&".join(f"x{n}=y" for n in range(2000)),
        "days=%0a",
        *OUT_OF_RANGE_DATES,
    ]:
        for path in ("/console/transcriptions", "/console/usage", "/console"):
            answer = client.get(f"{path}?{query}")
            assert answer.status_code in (200, 400), (path, query[:40], answer.status_code)
    for query in OUT_OF_RANGE_DATES:
        answer = client.get(f"/console/transcriptions?{query}")
        assert answer.status_code == 400, query
        assert "must be a date (YYYY-MM-DD) from 1900-01-01 to 9998-12-31" in answer.text
    for path in [
        "/console/transcriptions/abc",
        "/console/transcriptions/0",
        "/console/transcriptions/-1",
        "/console/transcriptions/99999999999999999999",
        "/console/transcriptions/%EF%BC%91",
        "/console/transcriptions/424242",
        "/console/accounts/abc",
        "/console/accounts/0",
        "/console/accounts/424242",
        "/console/static/../templates/base.html",
        "/console/static/nothing.js",
    ]:
        assert client.get(path).status_code == 404, path
    for path in [
        "/console/transcriptions/abc/retry",
        "/console/transcriptions/424242/retry",
        "/console/accounts/424242",
        "/console/accounts/424242/enabled",
    ]:
        answer = client.post(path, data={"csrf": csrf, "chatwoot_url": "https://x.test"})
        assert answer.status_code == 404, path
    bulk = client.post(
        "/console/transcriptions/retry-failed", data={"csrf": csrf, "account_id": "<x>"}
    )
    assert bulk.status_code == 404
    big = client.post(
        "/console/accounts/3",
        content=b"csrf=" + b"a" * 100_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 403
    odd = client.post(
        "/console/accounts/3",
        content=b"\xff\xfe\x00csrf=%ff",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert odd.status_code == 403


# ─── the database down ───────────────────────────────────────────────────────────────────────


@sqlite_only
def test_a_database_that_is_down_gets_a_readable_503(
    client: TestClient, csrf: str, runtime: Runtime, seeded: Seeded
) -> None:
    swap_database(runtime, None)
    try:
        for path in [*PAGES, "/console/transcriptions/1", "/console/accounts/3"]:
            answer = client.get(path)
            assert answer.status_code == 503, path
            assert "Database unavailable" in answer.text and "Traceback" not in answer.text
        answer = client.post("/console/transcriptions/1/retry", data={"csrf": csrf})
        assert answer.status_code == 503
    finally:
        swap_database(runtime, runtime.settings.database_url)


@sqlite_only
def test_a_bug_is_not_called_an_outage(
    client: TestClient,
    csrf: str,
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ProgrammingError("SELECT nothing", {}, Exception("no such column: nothing"))

    monkeypatch.setattr(reads, "transcriptions", broken)
    answer = client.get("/console/transcriptions")
    assert answer.status_code == 503  # the app's 500 handler answers so
    assert answer.json() == {"error": "temporarily unavailable"}
    assert "Database unavailable" not in answer.text
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == "unhandled error on /console/transcriptions"
    assert record.exc_info is not None and record.exc_info[0] is ProgrammingError
    assert not [r for r in caplog.records if "database unavailable" in r.getMessage()]


# ─── money ───────────────────────────────────────────────────────────────────────────────────


def test_the_overview_lists_this_months_alerts_newest_first(
    client: TestClient, csrf: str, runtime: Runtime
) -> None:
    seed.add_accounts(runtime)
    panel = client.get("/console/overview/panel")
    assert panel.status_code == 200
    assert "Alerts this month" in panel.text and "No alerts this month." in panel.text
    month = month_of(utcnow())
    assert runtime.usage.record_alert(3, month, 80, spent_usd=8.0, budget_usd=10.0)
    assert runtime.usage.record_alert(7, month, 100, spent_usd=25.5, budget_usd=25.0)
    assert runtime.usage.record_alert(3, "2001-02", 100, spent_usd=99.0, budget_usd=50.0)
    for page in (client.get("/console/overview/panel"), client.get("/console")):
        assert page.status_code == 200
        assert "No alerts this month." not in page.text
        rows = re.findall(r"<tr><td>.*?</tr>", page.text.split('id="alerts"', 1)[1])
        assert len(rows) == 2  # not February 2001's
        assert "Account 7" in rows[0] and "100 %: budget spent" in rows[0]
        assert "$25.5000" in rows[0] and "$25.0000" in rows[0]
        assert "Account 3" in rows[1] and "80 %: warning" in rows[1]
        assert "$8.0000" in rows[1] and "$10.0000" in rows[1]
        assert "$99" not in page.text


def test_the_months_cost_and_budget_banners(
    client: TestClient, csrf: str, runtime: Runtime, seeded: Seeded
) -> None:
    # account 3: 30 s + 95 s of whisper-1 at the built-in $0.006 a minute
    spent = runtime.prices.cost("openai", "whisper-1", 125.0)
    accounts = client.get("/console/accounts")
    assert f"${spent:,.4f}" in accounts.text
    assert "Budget" not in client.get("/console/overview/panel").text
    page = client.get("/console/accounts/3")
    form = {"csrf": csrf_of(page.text), "monthly_budget_usd": f"{spent / 0.9:.6f}"}
    assert client.post("/console/accounts/3", data=form).status_code == 200
    assert "Budget warning" in client.get("/console/overview/panel").text
    answer = client.post("/console/accounts/3", data={**form, "monthly_budget_usd": "0.001"})
    assert answer.status_code == 200
    panel = client.get("/console/overview/panel").text
    assert "Budget spent" in panel and "account 3" in panel
    assert (
        client.post("/console/accounts/3", data={**form, "monthly_budget_usd": "-1"}).status_code
        == 422
    )
    client.post("/console/accounts/3", data={**form, "monthly_budget_usd": ""})
    account = runtime.accounts.get(3)
    assert account is not None and not account.monthly_budget_usd
    usage = client.get("/console/usage?days=7")
    assert usage.status_code == 200
    assert "Account 3: 2.1 min" in usage.text  # 125 s
    assert 'aria-labelledby="minutes-3-title minutes-3-desc"' in usage.text
    for language in ("en", "es", "fr"):
        assert f'<th scope="row">{language}</th>' in usage.text
