"""The admin API's usage view and the new list filters: ``GET /api/v1/usage``, usage fields on
every transcription, ``q``/``since``/``until``/``language``/``before_id``, budgets on accounts,
and what it answers to malformed or hostile parameters (400, never a 500)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from adapter.runtime import Runtime
from adapter.store import State, Transcription, utcnow
from tests.helpers import ADMIN, sqlite_only

AUTH = {"Authorization": f"Bearer {ADMIN}"}
ACCOUNT = {
    "account_id": 5,
    "chatwoot_url": "https://desk.example.test",
    "api_token": "cw-token-" + "d4" * 12,
    "webhook_secret": "whsec-" + "e5" * 12,
}


def row(n: int, **values: Any) -> Transcription:
    fields: dict[str, Any] = {
        "account_id": 5,
        "conversation_id": 1,
        "message_id": n,
        "attachment_id": n,
        "channel": "whatsapp",
        "source_url_enc": "x",
        "state": State.delivered.value,
        "engine": "openai",
        "model": "whisper-1",
        "audio_seconds": 60.0,
        "billed_seconds": 30.0,
        "language": "en",
    }
    fields.update(values)
    if fields["state"] == State.delivered.value:  # as the pipeline leaves it: paid, made
        fields.setdefault("text", "a transcript")
        fields.setdefault("spent_seconds", fields["billed_seconds"] or 0.0)
    return Transcription(**fields)


def seed(rt: Runtime, *rows: Transcription) -> None:
    with Session(rt.ledger.engine) as session:
        session.add_all(rows)
        session.commit()


def test_usage_fields_on_a_transcription_and_the_usage_view(client: Any, runtime: Runtime) -> None:
    last_month = datetime(2026, 11, 15, tzinfo=UTC)
    seed(
        runtime,
        row(1, text="the parcel never came", created_at=last_month),
        row(2, text="llamame por favor", language="es", model="gpt-4o-mini-transcribe"),
        row(3, state=State.failed.value, audio_seconds=None, billed_seconds=None),
    )
    listed = client.get("/api/v1/transcriptions", headers=AUTH).json()["transcriptions"]
    first = next(t for t in listed if t["message_id"] == 1)
    assert first["cost_usd"] == pytest.approx(30 / 60 * 0.006)
    assert (first["engine"], first["model"], first["billed_seconds"]) == ("openai", "whisper-1", 30)
    assert {"source", "inbox_id", "channel", "language", "audio_seconds"} <= set(first)

    by_model = client.get("/api/v1/usage?group_by=model", headers=AUTH).json()
    assert [(r["key"], r["transcriptions"]) for r in by_model["rows"]] == [
        ("gpt-4o-mini-transcribe", 1),
        ("whisper-1", 2),
    ]
    assert by_model["totals"]["cost_usd"] == pytest.approx(0.5 * 0.006 + 0.5 * 0.003)
    assert by_model["totals"]["failed"] == 1
    by_month = client.get("/api/v1/usage?group_by=month&account_id=5", headers=AUTH).json()
    assert [r["key"] for r in by_month["rows"]] == ["2026-11", utcnow().strftime("%Y-%m")]
    december = client.get(
        "/api/v1/usage", params={"since": "2026-12-01", "group_by": "language"}, headers=AUTH
    ).json()
    assert [r["key"] for r in december["rows"]] == ["en", "es"]  # the failed one is English


def test_list_filters(client: Any, runtime: Runtime) -> None:
    old = utcnow() - timedelta(days=40)
    seed(
        runtime,
        row(1, text="blue jacket never came", created_at=old),
        row(2, text="the jacket is red", language="en"),
        row(3, text="chaqueta azul", language="es"),
    )

    def ids(**params: str) -> list[int]:
        response = client.get("/api/v1/transcriptions", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        return [t["message_id"] for t in response.json()["transcriptions"]]

    assert ids(q="jacket") == [2, 1]
    assert ids(q="jacket", since="30d") == [2]
    assert ids(q="jacket", until="30d") == [1]
    assert ids(language="es") == [3]
    assert ids(before_id="3", limit="1") == [2]
    assert ids(q="jacket blue") == [1]


@sqlite_only
@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("group_by=week", "group_by must be one of"),
        ("group_by=day&since=yesterday", "since:"),
        ("until=2026-13-01", "until:"),
        ("account_id=-1", "account_id must be a positive integer"),
        ("account_id=1e3", "account_id must be a positive integer"),
        ("since=0001-01-01T00:00:00%2B05:00", "is not between 1970 and 9998"),
        ("until=9999-12-31T23:00:00-05:00", "is not between 1970 and 9998"),
        ("since=100000000d", "since:"),
        ("since=2026-12-01&until=2026-11-01", "since must be before until"),
        ("since=" + "1" * 65, "since must be at most 64 characters"),
    ],
)
def test_usage_refuses_malformed_parameters(client: Any, query: str, complaint: str) -> None:
    response = client.get(f"/api/v1/usage?{query}", headers=AUTH)
    assert response.status_code == 400
    assert complaint in response.json()["error"]


@sqlite_only
@pytest.mark.parametrize(
    "query",
    [
        "language=english",
        "language=e%00",
        "since=%00",
        "before_id=0",
        "q=" + "x" * 501,
        "until=9999-12-31",
        "since=0001-01-01T00:00:00%2B05:00",
        "state=done",
        "source=email",
    ],
)
def test_list_refuses_malformed_filters(client: Any, query: str) -> None:
    response = client.get(f"/api/v1/transcriptions?{query}", headers=AUTH)
    assert response.status_code == 400, response.text


@sqlite_only
def test_usage_needs_the_admin_token(client: Any) -> None:
    assert client.get("/api/v1/usage").status_code == 401


def test_an_account_shows_its_month_against_its_budget(client: Any, runtime: Runtime) -> None:
    created = client.post(
        "/api/v1/accounts", json={**ACCOUNT, "monthly_budget_usd": 1.5}, headers=AUTH
    )
    assert created.status_code == 201, created.text
    assert created.json()["monthly_budget_usd"] == 1.5
    seed(runtime, row(1, billed_seconds=600.0))  # 10 minutes of whisper-1: 0.06 USD
    budget = client.get("/api/v1/accounts/5", headers=AUTH).json()["budget"]
    assert budget["spent_usd"] == pytest.approx(0.06)
    assert (budget["monthly_budget_usd"], budget["percent"], budget["level"]) == (1.5, 4.0, "ok")
    patched = client.patch("/api/v1/accounts/5", json={"monthly_budget_usd": 0.07}, headers=AUTH)
    assert patched.json()["budget"]["level"] == "warning"
    for bad in ("-1", '"lots"', "Infinity", "true", "1e400", "[]"):
        response = client.patch(
            "/api/v1/accounts/5",
            content='{"monthly_budget_usd": ' + bad + "}",
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422), (bad, response.text)
    off = client.patch("/api/v1/accounts/5", json={"monthly_budget_usd": 0}, headers=AUTH)
    assert off.json()["budget"]["level"] == "none"
    assert ACCOUNT["api_token"] not in off.text and ACCOUNT["webhook_secret"] not in off.text
