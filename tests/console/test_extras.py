"""Issue 15 in the console: the account's note extras in its form (set, cleared, refused with
the field named and nothing saved), a transcription's summary, translation, speaker turns,
chat model and what could not be made (hostile text shown as text), the progress of long
recordings (list, overview, detail), and the chat model's tokens and cost on the usage page.

Rows are made through the ledger as the pipeline makes them (``seed.with_extras``,
``seed.transcribing``), never by running the pipeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.runtime import Runtime
from adapter.speakers import Turn
from adapter.store import Translation
from adapter.streams import StreamResult, finish_stream
from adapter.web.console.overview import IN_PROGRESS_ROWS
from tests.console import seed
from tests.helpers import sqlite_only

PAGE = "/console/accounts/3"
EXTRAS = (
    "summary_min_seconds",
    "chat_model",
    "chat_base_url",
    "translate_to",
    "redact",
    "phone_region",
    "speakers",
)
#: what an account has before any extra is set
NONE_SET: dict[str, Any] = {
    "summary_min_seconds": 0.0,
    "chat_model": None,
    "chat_base_url": None,
    "translate_to": None,
    "redact": [],
    "phone_region": None,
    "speakers": None,
}
HOSTILE = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
#: between a turn's start and end
DASH = "\u2013"
ESCAPED = "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def accounts(runtime: Runtime) -> None:
    seed.add_accounts(runtime)


def extras(runtime: Runtime, account_id: int = 3) -> dict[str, Any]:
    account = runtime.accounts.get(account_id)
    assert account is not None
    view = acc.account_view(account, runtime.settings)
    return {name: view[name] for name in EXTRAS}


def save(client: TestClient, csrf: str, **fields: str) -> Any:
    return client.post(PAGE, data={"csrf": csrf, **fields}, follow_redirects=False)


def row_of(page: str, tid: int) -> str:
    """The table row that links to transcription ``tid``."""
    found = re.search(
        rf'<tr>(?:(?!</tr>).)*href="/console/transcriptions/{tid}"(?:(?!</tr>).)*</tr>', page, re.S
    )
    assert found, f"no row of transcription {tid}"
    return found.group(0)


# ─── the account form ────────────────────────────────────────────────────────────────────────


@sqlite_only
def test_the_extras_are_saved_and_shown_back(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    page = client.get(PAGE).text
    for name in EXTRAS:
        assert f'name="{name}" value=""' in page, name
    assert 'placeholder="gpt-4o-mini (default)"' in page
    answer = save(
        client,
        csrf,
        summary_min_seconds="60",
        chat_model="gpt-4o",
        chat_base_url="https://llm.example.test/v1/",
        translate_to="ES",
        redact="email cards",
        phone_region="gb",
        speakers="Agent ,  Customer",
    )
    assert answer.status_code == 303, answer.text
    assert extras(runtime) == {
        "summary_min_seconds": 60.0,
        "chat_model": "gpt-4o",
        "chat_base_url": "https://llm.example.test/v1",
        "translate_to": "es",
        "redact": ["cards", "email"],
        "phone_region": "GB",
        "speakers": ["Agent", "Customer"],
    }
    page = client.get(answer.headers["location"]).text
    assert "Settings saved." in page
    for name, value in {
        "summary_min_seconds": "60",
        "chat_model": "gpt-4o",
        "chat_base_url": "https://llm.example.test/v1",
        "translate_to": "es",
        "redact": "cards, email",
        "phone_region": "GB",
        "speakers": "Agent, Customer",
    }.items():
        assert f'name="{name}" value="{value}"' in page, name
    assert extras(runtime, 7) == NONE_SET  # only account 3


@sqlite_only
def test_off_on_and_empty(client: TestClient, csrf: str, runtime: Runtime, accounts: None) -> None:
    every = {
        "summary_min_seconds": "30",
        "chat_model": "gpt-4o",
        "chat_base_url": "https://llm.example.test/v1",
        "translate_to": "fr",
        "redact": "cards,iban,email,phone",
        "phone_region": "ES",
        "speakers": "on",
    }
    assert save(client, csrf, **every).status_code == 303
    assert extras(runtime)["speakers"] == ["Speaker 1", "Speaker 2"]  # "on": the defaults
    assert extras(runtime)["redact"] == ["cards", "email", "iban", "phone"]
    assert save(client, csrf, chat_model="off").status_code == 303
    assert extras(runtime)["chat_model"] == "off"  # no chat model at all
    assert 'name="chat_model" value="off"' in client.get(PAGE).text
    off = dict.fromkeys(
        ("chat_base_url", "translate_to", "redact", "phone_region", "speakers"), "OFF"
    )
    assert save(client, csrf, **off).status_code == 303
    assert save(client, csrf, **every).status_code == 303
    empty = dict.fromkeys(EXTRAS, "")
    assert save(client, csrf, **empty).status_code == 303
    assert extras(runtime) == NONE_SET  # an empty chat model is the default one (None)
    assert save(client, csrf, **every).status_code == 303
    assert save(client, csrf, summary_min_seconds="0", **off).status_code == 303
    assert extras(runtime) == {**NONE_SET, "chat_model": "gpt-4o"}


@sqlite_only
def test_a_form_without_the_extras_changes_none_of_them(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    assert save(client, csrf, translate_to="de", redact="phone", speakers="A, B").status_code == 303
    before = extras(runtime)
    assert save(client, csrf, chatwoot_url="https://desk3.example.test").status_code == 303
    assert extras(runtime) == before


@sqlite_only
@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"redact": "passwords"}, "Mask: unknown redaction kind(s) [&#39;passwords&#39;]"),
        ({"redact": "cards, passwords"}, "Mask: unknown redaction kind(s)"),
        ({"redact": "cards " * 20}, "Mask: String should have at most 64 characters"),
        ({"translate_to": "english"}, "Translate into: must be an ISO 639-1 code"),
        ({"phone_region": "XX"}, "Phone region: must be a two-letter region code"),
        ({"speakers": "Agent"}, "Speaker labels: speaker labels must be exactly two names"),
        ({"speakers": "Agent, agent"}, "Speaker labels: the two speaker labels must differ"),
        ({"speakers": "Agent, \u202eCustomer"}, "Speaker labels: speaker labels must not contain"),
        (
            {"chat_base_url": "ftp://llm.example.test"},
            "Chat model endpoint: must be an http(s) URL",
        ),
        ({"chat_base_url": "http://169.254.169.254/v1"}, "Chat model endpoint: must not point to"),
        ({"chat_model": "gpt\x01"}, "Chat model: must be a model name such as gpt-4o-mini"),
        ({"summary_min_seconds": "-1"}, "Summaries from (seconds): Input should be greater than"),
        (
            {"summary_min_seconds": "soon"},
            "Summaries from (seconds): Input should be a valid number",
        ),
        (
            {"summary_min_seconds": "inf"},
            "Summaries from (seconds): Input should be a finite number",
        ),
    ],
)
def test_a_bad_extra_is_named_and_nothing_changes(
    client: TestClient,
    csrf: str,
    runtime: Runtime,
    accounts: None,
    fields: dict[str, str],
    says: str,
) -> None:
    assert save(client, csrf, translate_to="de", speakers="Agent, Customer").status_code == 303
    before = extras(runtime)
    answer = save(client, csrf, **{"phone_region": "US", "model": "gpt-4o-transcribe", **fields})
    assert answer.status_code == 422
    assert says in answer.text, answer.text.split('id="form-error">', 1)[-1][:300]
    assert 'aria-describedby="form-error"' in answer.text
    assert extras(runtime) == before  # the rest of the form is not saved either
    account = runtime.accounts.get(3)
    assert account is not None and account.model == "whisper-1"
    [(name, typed)] = fields.items()
    if typed.isprintable():  # what was typed is shown back, to be corrected
        assert f'name="{name}" value="{typed}"' in answer.text


@sqlite_only
def test_hostile_labels_are_saved_as_text_and_shown_escaped(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    label = '"><script>alert(1)</script>'
    assert save(client, csrf, speakers=f"{label}, Customer").status_code == 303
    assert extras(runtime)["speakers"] == [label, "Customer"]
    page = client.get(PAGE).text
    assert "<script>alert(1)</script>" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;, Customer"' in page
    bad = save(client, csrf, redact=f"cards, {label}")
    assert bad.status_code == 422 and "<script>alert(1)</script>" not in bad.text


@sqlite_only
def test_without_the_csrf_token_no_extra_is_saved(
    client: TestClient, csrf: str, runtime: Runtime, accounts: None
) -> None:
    for token in (None, "", "wrong-" + csrf[6:]):
        data = {"translate_to": "es", "redact": "cards"}
        if token is not None:
            data["csrf"] = token
        assert client.post(PAGE, data=data, follow_redirects=False).status_code == 403
    assert extras(runtime) == NONE_SET


# ─── one transcription ───────────────────────────────────────────────────────────────────────

TURNS = [
    Turn(0, "Agent", 0.0, 4.2, "Buenos días, ¿en qué puedo ayudarle?"),
    Turn(1, "<b>Customer</b>", 65.0, 71.9, f"Mi tarjeta {HOSTILE} fue rechazada"),
    Turn(0, "Agent", 3725.0, 3730.0, "Gracias"),
]


def test_a_transcription_shows_its_summary_translation_turns_and_chat_model(
    client: TestClient, csrf: str, runtime: Runtime, tmp_path: Path
) -> None:
    seed.add_accounts(runtime)
    tid = seed.with_extras(
        runtime,
        tmp_path,
        3,
        801,
        text="Agent: Buenos días\nCustomer: Mi tarjeta fue rechazada",
        language="es",
        summary=f"The customer's card was refused {HOSTILE}",
        translation=Translation(f"Good morning, my card {HOSTILE} was refused", "en"),
        turns=TURNS,
        chat_model="gpt-4o-mini",
        tokens=(120_000, 34_000),
    )
    answer = client.get(f"/console/transcriptions/{tid}")
    assert answer.status_code == 200
    page = answer.text
    assert HOSTILE not in page and "<b>Customer</b>" not in page
    assert f"The customer&#39;s card was refused {ESCAPED}" in page
    assert f"Good morning, my card {ESCAPED} was refused" in page
    assert '<h2 id="summary-heading">Summary</h2>' in page
    assert "Translation into English (en)</h2>" in page
    assert 'id="translation" lang="en"' in page
    turns = re.findall(r'<li class="turn turn-(\w+)">(.*?)</li>', page, re.S)
    assert [side for side, _ in turns] == ["first", "second", "first"]
    assert ">Agent</span>" in turns[0][1] and f"0:00{DASH}0:04" in turns[0][1]
    assert "&lt;b&gt;Customer&lt;/b&gt;" in turns[1][1] and f"1:05{DASH}1:11" in turns[1][1]
    assert f"Mi tarjeta {ESCAPED} fue rechazada" in turns[1][1]
    assert f"1:02:05{DASH}1:02:10" in turns[2][1]
    assert '<blockquote class="transcript"' not in page  # the turns are the transcript
    chat = runtime.prices.chat_cost("gpt-4o-mini", 120_000, 34_000)
    audio = runtime.prices.cost("openai", "whisper-1", 90.0)
    assert f"${audio + chat:,.4f} <span" in page
    assert f"(audio ${audio:,.4f}, chat model ${chat:,.4f})" in page
    assert "gpt-4o-mini: 120,000 tokens in, 34,000 out" in page
    assert "not made" not in page
    assert 'id="progress">100 % · 1 of 1 chunk<' in page
    assert "Spanish (es)" in page


def test_what_the_chat_model_could_not_make_is_said_as_text(
    client: TestClient, csrf: str, runtime: Runtime, tmp_path: Path
) -> None:
    seed.add_accounts(runtime)
    tid = seed.with_extras(
        runtime,
        tmp_path,
        3,
        802,
        text="Hola, quiero cambiar mi pedido",
        language="es",
        error=f"the chat model answered 400: {HOSTILE}",
        chat_model="gpt-4o-mini",
    )
    page = client.get(f"/console/transcriptions/{tid}").text
    assert HOSTILE not in page
    assert "Summary or translation not made:" in page
    assert f"the chat model answered 400: {ESCAPED}" in page
    assert "Summary</h2>" not in page and "Translation into" not in page
    assert '<blockquote class="transcript" lang="es">Hola, quiero cambiar mi pedido<' in page
    assert "gpt-4o-mini: 0 tokens in, 0 out" in page


# ─── progress ────────────────────────────────────────────────────────────────────────────────


def test_the_progress_of_long_recordings(
    client: TestClient, csrf: str, runtime: Runtime, tmp_path: Path
) -> None:
    seed.add_accounts(runtime)
    done = seed.delivered(runtime, tmp_path, 3, 900, "Hello", "en")
    long, pending = seed.transcribing(runtime, tmp_path, 3, 901)
    waiting = seed.queued(runtime, 7, 902)

    listing = client.get("/console/transcriptions").text
    assert "42 % · 3 of 7 chunks" in row_of(listing, long)
    assert 'value="42.9"' in row_of(listing, long)
    assert "0 % · not split into chunks yet" in row_of(listing, waiting)
    assert "<progress" not in row_of(listing, done)

    for page in (client.get("/console").text, client.get("/console/overview/panel").text):
        table = page.split('<table id="in-progress">', 1)[1].split("</table>", 1)[0]
        ids = re.findall(r'href="/console/transcriptions/(\d+)"', table)
        assert ids == [str(long), str(waiting)]  # transcribing first
        assert "42 % · 3 of 7 chunks" in row_of(table, long)
        assert "7 min 00 s" in row_of(table, long)
        assert "And " not in page.split('id="progress-heading"', 1)[1].split("</section>", 1)[0]

    detail = client.get(f"/console/transcriptions/{long}").text
    progress = detail.split('<dd id="progress">', 1)[1].split("</dd>", 1)[0]
    assert "42 % · 3 of 7 chunks" in progress and "(3 min 00 s of 7 min 00 s)" in progress
    assert "No transcript yet." in detail

    seed.finish_chunk(runtime, pending[0])
    panel = client.get("/console/overview/panel").text  # what the overview polls
    assert "57 % · 4 of 7 chunks" in row_of(panel, long)
    detail = client.get(f"/console/transcriptions/{long}").text
    assert "57 % · 4 of 7 chunks" in detail


def test_the_overview_lists_the_first_ones_and_counts_the_rest(
    client: TestClient, csrf: str, runtime: Runtime
) -> None:
    seed.add_accounts(runtime)
    panel = client.get("/console/overview/panel").text
    assert "Nothing is queued or being transcribed." in panel
    made = [seed.queued(runtime, 3, 950 + n) for n in range(IN_PROGRESS_ROWS + 2)]
    panel = client.get("/console/overview/panel").text
    table = panel.split('<table id="in-progress">', 1)[1].split("</table>", 1)[0]
    ids = re.findall(r'href="/console/transcriptions/(\d+)"', table)
    assert ids == [str(t) for t in reversed(made)][:IN_PROGRESS_ROWS]  # the newest first
    assert "And 2 more:" in panel and 'href="/console/transcriptions?state=queued"' in panel


# ─── usage ───────────────────────────────────────────────────────────────────────────────────


def test_usage_shows_the_chat_models_tokens_and_cost(
    client: TestClient, csrf: str, runtime: Runtime, tmp_path: Path
) -> None:
    seed.add_accounts(runtime)
    seed.with_extras(
        runtime,
        tmp_path,
        3,
        990,
        text="Bonjour",
        language="fr",
        summary="A greeting",
        chat_model="gpt-4o-mini",
        tokens=(120_000, 34_000),
        seconds=60.0,
    )
    chat = runtime.prices.chat_cost("gpt-4o-mini", 120_000, 34_000)
    audio = runtime.prices.cost("openai", "whisper-1", 60.0)
    answer = client.get("/console/usage?days=7")
    assert answer.status_code == 200
    page = answer.text
    assert f"Account 3: 1.0 min, ${audio + chat:,.4f}</h2>" in page
    assert f"Of which the chat model: ${chat:,.4f} for 154,000 tokens." in page
    money = f'<td class="num">${audio:,.4f}</td><td class="num">154,000</td>'
    money += f'<td class="num">${chat:,.4f}</td><td class="num">${audio + chat:,.4f}</td>'
    account_3 = page.split('id="acct-3"', 1)[1].split("</section>", 1)[0]
    assert money in account_3  # its day
    languages = page.split('id="lang-heading"', 1)[1].split("</section>", 1)[0]
    french = f'<th scope="row">fr</th><td class="num">1</td><td class="num">1.0</td>{money}'
    assert french in languages
    assert 'aria-labelledby="cost-3-title cost-3-desc"' in page  # the charts are still drawn
    assert 'aria-labelledby="minutes-3-title minutes-3-desc"' in page
    account_7 = page.split('id="acct-7"', 1)[1].split("</section>", 1)[0]
    assert "Of which the chat model" not in account_7


# ─── live streams (issue 16) ─────────────────────────────────────────────────────────────────


def test_a_live_stream_is_listed_and_shown_without_placeholders(
    client: TestClient, csrf: str, runtime: Runtime
) -> None:
    seed.add_accounts(runtime)
    account = runtime.accounts.get(3)
    assert account is not None
    said = StreamResult(
        conversation_id=None,
        text="Dictated: please send the invoice again.",
        language="en",
        duration=4.2,
        billed_seconds=4.2,
        engine="local",
        model="tiny.en",
        started_at=datetime.now(UTC),
    )
    tid = finish_stream(runtime, account, said)
    assert tid is not None
    listing = client.get("/console/transcriptions", params={"source": "stream"})
    assert listing.status_code == 200
    assert f'href="/console/transcriptions/{tid}"' in listing.text
    detail = client.get(f"/console/transcriptions/{tid}").text
    assert "a live stream without one" in detail
    assert "attachment -" not in detail and "message 0" not in detail
