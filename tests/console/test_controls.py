"""The account form's controls of what gets transcribed (inboxes, minimum length, mode,
language per inbox): read from text (pure), checked by ``parse_changes``, saved, shown back;
refused with the field named and nothing changed; never without the CSRF token."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.runtime import Runtime
from adapter.web.console.accounts import inboxes_from_text, languages_from_text
from tests.console import seed
from tests.helpers import sqlite_only

PAGE = "/console/accounts/3"
CONTROLS = ("inboxes", "min_seconds", "mode", "inbox_languages")


@pytest.fixture
def accounts(runtime: Runtime) -> None:
    seed.add_accounts(runtime)


def controls(runtime: Runtime, account_id: int = 3) -> dict[str, Any]:
    account = runtime.accounts.get(account_id)
    assert account is not None
    view = acc.account_view(account, runtime.settings)
    return {name: view[name] for name in CONTROLS}


def save(client: TestClient, csrf: str, **fields: str) -> Any:
    return client.post(PAGE, data={"csrf": csrf, **fields}, follow_redirects=False)


# ─── the text, read ──────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "inboxes"),
    [
        (",", []),  # no id at all: parse_changes refuses it
        ("all", "all"),
        (" ALL ", "all"),
        ("", "all"),
        ("5", [5]),
        ("5, 7", [5, 7]),
        ("7,5,", [7, 5]),
        ("5 7", [5, 7]),
    ],
)
def test_inboxes_from_text(text: str, inboxes: Any) -> None:
    assert inboxes_from_text(text) == inboxes


@pytest.mark.parametrize("text", ["5, x", "-5", "5.0", "all, 5", "\uff15", "1" * 17])
def test_inboxes_that_are_not_ids(text: str) -> None:
    with pytest.raises(acc.AccountError, match="Inboxes: write all, or inbox ids"):
        inboxes_from_text(text)


def test_languages_from_text_is_the_whole_list() -> None:
    stored = {5: "es", 9: "de"}
    assert languages_from_text("5=es, 7 = fr", stored) == {5: "es", 7: "fr", 9: None}
    assert languages_from_text("5=, 9=de", stored) == {5: None, 9: "de"}
    assert languages_from_text("", stored) == {5: None, 9: None}
    assert languages_from_text("  ", {}) == {}
    assert languages_from_text("5=pt 9=de", stored) == {5: "pt", 9: "de"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("5es", "is not one"),
        ("x=es", "is not one"),
        ("=es", "is not one"),
        ("5=es=fr", "is not one"),
        ("5=es, 5=fr", "inbox 5 is given twice"),
    ],
)
def test_languages_that_are_not_pairs(text: str, says: str) -> None:
    with pytest.raises(acc.AccountError, match=says):
        languages_from_text(text, {})


# ─── the form ────────────────────────────────────────────────────────────────────────────────


@sqlite_only
def test_the_controls_are_saved_and_shown_back(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    page = client.get(PAGE).text
    assert 'id="inboxes" name="inboxes" value="all"' in page
    assert '<option value="auto" selected>' in page
    assert 'id="min_seconds" name="min_seconds" value=""' in page
    answer = save(
        client,
        csrf,
        inboxes="7, 5",
        min_seconds="2.5",
        mode="on_demand",
        inbox_languages="5=ES, 7 = fr",
    )
    assert answer.status_code == 303, answer.text
    assert controls(runtime) == {
        "inboxes": [5, 7],
        "min_seconds": 2.5,
        "mode": "on_demand",
        "inbox_languages": {"5": "es", "7": "fr"},
    }
    page = client.get(answer.headers["location"]).text
    assert "Settings saved." in page
    assert 'name="inboxes" value="5, 7"' in page
    assert 'name="min_seconds" value="2.5"' in page
    assert '<option value="on_demand" selected>' in page
    assert 'name="inbox_languages" value="5=es, 7=fr"' in page
    listing = client.get("/console/accounts").text
    row = listing.split('href="/console/accounts/3"', 1)[1].split("</tr>", 1)[0]
    assert "<td>on demand</td>" in row and "<td>5, 7</td>" in row
    assert controls(runtime, 7)["mode"] == "auto"  # only account 3


@sqlite_only
def test_a_language_is_removed_by_leaving_it_out_or_empty(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    assert save(client, csrf, inbox_languages="5=es, 7=fr, 9=de").status_code == 303
    assert save(client, csrf, inbox_languages="5=es, 9=de").status_code == 303
    assert controls(runtime)["inbox_languages"] == {"5": "es", "9": "de"}
    assert save(client, csrf, inbox_languages="5=, 9=de").status_code == 303
    assert controls(runtime)["inbox_languages"] == {"9": "de"}
    assert save(client, csrf, inbox_languages="").status_code == 303
    assert controls(runtime)["inbox_languages"] == {}


@sqlite_only
def test_empty_means_no_restriction_and_absent_changes_nothing(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    wanted = {"inboxes": "5", "min_seconds": "3", "mode": "on_demand", "inbox_languages": "5=es"}
    assert save(client, csrf, **wanted).status_code == 303
    before = controls(runtime)
    assert save(client, csrf, chatwoot_url="https://desk3.example.test").status_code == 303
    assert controls(runtime) == before  # an older form without the controls changed nothing
    assert save(client, csrf, mode="").status_code == 303
    assert controls(runtime)["mode"] == "on_demand"  # no choice is no change
    empty = {"inboxes": "", "min_seconds": "", "inbox_languages": "", "mode": "auto"}
    assert save(client, csrf, **empty).status_code == 303
    assert controls(runtime) == {
        "inboxes": "all",
        "min_seconds": 0.0,
        "mode": "auto",
        "inbox_languages": {},
    }
    assert save(client, csrf, inboxes="3", min_seconds="0").status_code == 303
    assert save(client, csrf, inboxes=" All ").status_code == 303
    assert controls(runtime)["inboxes"] == "all"
    assert controls(runtime)["min_seconds"] == 0.0


@sqlite_only
@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"inboxes": "5, seven"}, "Inboxes: write all, or inbox ids separated by commas"),
        ({"inboxes": "0"}, "Inboxes: inbox ids must be positive integers"),
        ({"inboxes": ","}, "Inboxes: must list 1 to 1000 inbox ids, or be &#39;all&#39;"),
        ({"inboxes": ", ".join(map(str, range(1, 1002)))}, "Inboxes: must list 1 to 1000"),
        ({"min_seconds": "-1"}, "Minimum length (seconds): Input should be greater than"),
        ({"min_seconds": "abc"}, "Minimum length (seconds): Input should be a valid number"),
        ({"min_seconds": "nan"}, "Minimum length (seconds): Input should be a finite number"),
        ({"min_seconds": "90000"}, "Minimum length (seconds): Input should be less than"),
        ({"mode": "sometimes"}, "Mode: Input should be &#39;auto&#39; or &#39;on_demand&#39;"),
        ({"inbox_languages": "5=spanish"}, "Language per inbox: each language must be an ISO"),
        ({"inbox_languages": "5es"}, "Language per inbox: write inbox=language pairs"),
        ({"inbox_languages": "5=es, 5=fr"}, "Language per inbox: inbox 5 is given twice"),
        ({"inbox_languages": "0=es"}, "Language per inbox: inbox ids must be positive"),
    ],
)
def test_a_bad_control_is_named_and_nothing_changes(
    client: TestClient,
    csrf: str,
    runtime: Runtime,
    accounts: None,
    fields: dict[str, str],
    says: str,
) -> None:
    before = controls(runtime)
    answer = save(client, csrf, **fields, model="gpt-4o-transcribe", api_token="cw-SEEKRIT-typed")
    assert answer.status_code == 422
    assert says in answer.text, answer.text.split('id="form-error">', 1)[-1][:300]
    assert 'aria-describedby="form-error"' in answer.text
    assert controls(runtime) == before
    account = runtime.accounts.get(3)
    assert account is not None and account.model == "whisper-1"  # the rest is not saved either
    [(name, typed)] = fields.items()
    if name != "mode":  # what was typed is shown back to be corrected (a select is not)
        assert f'name="{name}" value="{typed}"' in answer.text or len(typed) > 1000
    assert "SEEKRIT" not in answer.text


@sqlite_only
def test_hostile_text_is_escaped(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    hostile = '"><script>alert(1)</script>'
    for name in ("inboxes", "inbox_languages", "min_seconds"):
        answer = save(client, csrf, **{name: hostile})
        assert answer.status_code == 422
        assert "<script>alert(1)</script>" not in answer.text
        assert "&lt;script&gt;" in answer.text or "&#34;&gt;&lt;script" in answer.text


@sqlite_only
def test_without_the_csrf_token_nothing_is_saved(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    before = controls(runtime)
    fields = {"inboxes": "5", "mode": "on_demand", "min_seconds": "4", "inbox_languages": "5=es"}
    for token in (None, "", "wrong-" + csrf[6:]):
        data = fields if token is None else {**fields, "csrf": token}
        answer = client.post(PAGE, data=data, follow_redirects=False)
        assert answer.status_code == 403
    assert controls(runtime) == before
