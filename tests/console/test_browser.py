"""The console as a person uses it: Debian's chromium, driven by Playwright, against a real
uvicorn server on 127.0.0.1 over a real runtime with seeded rows.

It signs in through the form, searches a word, opens a transcript, retries a failure (and
reads the row back from the database), sets an account's controls and note extras (and sees
a bad one refused), reads a call's summary, translation and speaker turns, watches a long
recording's percent done move, runs an account's checks against the stand-in Chatwoot and
OpenAI, and saves a screenshot of every page: into a temporary
directory, or into ``$CONSOLE_SCREENSHOTS`` when set. The README's pictures are made so:
``CONSOLE_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/console/test_browser.py``.
Without chromium the tests fail, saying how to install it: they never skip.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import update

from adapter import accounts as acc
from adapter import usage
from adapter.runtime import Runtime
from adapter.speakers import Turn
from adapter.store import Transcription, Translation, utcnow
from adapter.usage.budget import month_of
from adapter.web.app import create_app
from tests.console import seed
from tests.console.connected import BOT_TOKEN, NAMES, connect_account, stand_in_chatwoot
from tests.helpers import ADMIN, OpenAIStandIn, reconfigure, sqlite_only
from tests.standins.chatwoot_server import ChatwootStandIn

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 860}

pytestmark = sqlite_only

T = Transcription.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless chromium for this module (Playwright's sync API keeps an event loop
    running while it is open: later tests that call ``asyncio.run`` need it closed), its
    HOME a temporary directory (chromium writes its crash reports and keys there; the tests
    write nowhere else)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the console's browser tests need Debian's chromium "
            "(`sudo apt-get update && sudo apt-get install -y chromium`; .ci/run does it)"
        )
    with sync_playwright() as playwright:
        home = tmp_path_factory.mktemp("chromium-home")
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            env={
                **os.environ,
                "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_CACHE_HOME": str(home / ".cache"),
            },
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light", locale="en-GB")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


def backdate(rt: Runtime, tid: int, days: float, took_seconds: float) -> None:
    """Move a delivered row ``days`` into the past, its note posted ``took_seconds`` after
    its webhook (the seeded rows are otherwise all from this instant)."""
    delivered_at = utcnow() - timedelta(days=days)
    received_at = delivered_at - timedelta(seconds=took_seconds)
    with rt.ledger.engine.begin() as conn:
        conn.execute(
            update(T)
            .where(T.c.id == tid)
            .values(
                created_at=received_at,
                received_at=received_at,
                delivered_at=delivered_at,
                updated_at=delivered_at,
            )
        )


@dataclass(frozen=True)
class Shop:
    base_url: str
    runtime: Runtime
    invoice: int
    failed: int


TEXTS = [
    (3, "en", "Hello, I need a copy of my invoice for March", 42),
    (3, "es", "Hola, quiero cambiar la dirección de entrega de mi pedido", 95),
    (3, "en", "My parcel arrived damaged, can someone call me back", 61),
    (7, "pt", "Olá, o meu pagamento foi recusado duas vezes", 33),
    (7, "fr", "Bonjour, je voudrais annuler ma commande", 27),
    (3, "de", "Guten Tag, meine Bestellung ist noch nicht angekommen", 74),
]


def seed_shop(rt: Runtime, tmp_path: Path) -> tuple[int, int]:
    """Two accounts, two weeks of delivered voice notes, a failed one, a queued one and a long
    one under way; account 3 near its budget (a warning banner, and its alert in the month's
    alerts)."""
    seed.add_accounts(rt)
    invoice = 0
    attachment = 100
    for day in range(14):
        for n, (account_id, language, text, seconds) in enumerate(TEXTS):
            if (day + n) % 3 == 0:
                continue
            attachment += 1
            engine, model = ("openai", "whisper-1") if account_id == 3 else ("local", "base")
            tid = seed.delivered(
                rt, tmp_path, account_id, attachment, text, language, seconds, engine, model
            )
            backdate(rt, tid, day + n / 10, 8 + 3 * n + day % 5)
            if "invoice" in text and not invoice:
                invoice = tid
    failed = seed.failed(rt, 3, 9001, "the engine refused the file (HTTP 400: invalid audio)")
    seed.queued(rt, 7, 9002)
    seed.transcribing(rt, tmp_path, 3, 9003)  # a long recording, 3 of its 7 chunks done
    spent = usage.month_to_date(rt.usage, rt.prices, 3)
    budget = round(max(spent, 0.01) / 0.85, 4)  # 85 %: the warning banner
    acc.update_account(
        rt.accounts,
        rt.keyring,
        3,
        acc.parse_changes({"monthly_budget_usd": budget, "inbox_languages": {5: "es"}}),
    )
    on_demand = {"mode": "on_demand", "inboxes": [2, 4], "min_seconds": 2}
    acc.update_account(rt.accounts, rt.keyring, 7, acc.parse_changes(on_demand))
    rt.usage.record_alert(3, month_of(utcnow()), 80, spent_usd=spent, budget_usd=budget)
    return invoice, failed


@contextmanager
def serving(runtime: Runtime, *, public: bool = False) -> Iterator[tuple[str, Runtime]]:
    """The app of ``runtime`` served by uvicorn on a free port of 127.0.0.1: its base URL,
    and the runtime it serves (``public``: with that URL as ``TRANSCRIBER_PUBLIC_URL``, so
    the doctor's public URL check reaches this very server)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # connections wait in the backlog until uvicorn accepts: no polling
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    if public:
        runtime = reconfigure(runtime, public_url=base_url)
    config = uvicorn.Config(create_app(runtime), log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield base_url, runtime
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def shop(runtime: Runtime, tmp_path: Path) -> Iterator[Shop]:
    """The console of a seeded runtime, served by uvicorn on a free port of 127.0.0.1."""
    invoice, failed = seed_shop(runtime, tmp_path)
    with serving(runtime) as (base_url, served):
        yield Shop(base_url, served, invoice, failed)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the pictures go: ``$CONSOLE_SCREENSHOTS`` (the README's: docs/screenshots), or a
    temporary directory (a test run changes nothing in the repository)."""
    chosen = os.environ.get("CONSOLE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shoot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()


def test_an_operator_signs_in_searches_reads_and_retries(
    page: Page, shop: Shop, screenshots: Path
) -> None:
    page.goto(f"{shop.base_url}/console/sign-in")
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
    shoot(page, screenshots, "sign-in")
    sign_in(page, shop.base_url)
    expect(page.locator("#count-failed")).to_have_text("1")
    expect(page.get_by_text("Budget warning")).to_be_visible()
    expect(page.locator("#alerts tbody tr")).to_have_count(1)
    expect(page.locator("#alerts")).to_contain_text("80 %: warning")
    shoot(page, screenshots, "overview")

    page.get_by_role("link", name="Transcriptions", exact=True).click()
    page.get_by_label("Search transcripts").fill("invoice")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.list tbody tr")
    expect(rows.first).to_contain_text("invoice")
    for text in rows.all_inner_texts():
        assert "invoice" in text
    shoot(page, screenshots, "transcriptions")

    page.get_by_role("link", name=f"Transcription {shop.invoice}", exact=True).click()
    expect(page.locator("blockquote.transcript")).to_have_text(
        "Hello, I need a copy of my invoice for March"
    )
    expect(page.get_by_text("whisper-1")).to_be_visible()
    shoot(page, screenshots, "transcription")

    page.goto(f"{shop.base_url}/console/transcriptions?state=failed")
    page.get_by_role("link", name=f"Transcription {shop.failed}", exact=True).click()
    expect(page.get_by_text("engine_rejected")).to_be_visible()
    page.get_by_role("button", name=f"Retry transcription {shop.failed}").click()
    expect(page.get_by_role("status")).to_contain_text("Queued again")
    assert seed.state_of(shop.runtime, shop.failed) == "queued"


def test_every_page_is_reachable_by_keyboard_and_pictured(
    page: Page, shop: Shop, screenshots: Path
) -> None:
    sign_in(page, shop.base_url)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    page.get_by_role("link", name="Usage", exact=True).click()
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.get_by_role("img", name="Account 3: minutes of audio per day")).to_be_visible()
    shoot(page, screenshots, "usage")

    page.get_by_role("link", name="Accounts", exact=True).click()
    expect(page.get_by_role("link", name="Account 7")).to_be_visible()
    shoot(page, screenshots, "accounts")
    page.get_by_role("link", name="Account 3").click()
    secret = page.get_by_label("Chatwoot API token")
    expect(secret).to_have_attribute("type", "password")
    expect(secret).to_have_value("")
    expect(page.get_by_label("Inboxes", exact=True)).to_have_value("all")
    expect(page.get_by_label("Language per inbox")).to_have_value("5=es")
    page.get_by_label("Monthly budget (USD)").fill("5")
    page.get_by_label("Minimum length (seconds)").fill("1.5")
    page.get_by_label("Language per inbox").fill("5=es, 8=fr")
    page.get_by_role("button", name="Save account 3").click()
    expect(page.get_by_role("status").first).to_contain_text("Settings saved")
    account = shop.runtime.accounts.get(3)
    assert account is not None and account.monthly_budget_usd == 5
    view = acc.account_view(account, shop.runtime.settings)
    assert (view["min_seconds"], view["inbox_languages"]) == (1.5, {"5": "es", "8": "fr"})
    page.get_by_label("Inboxes", exact=True).fill("5, x")
    page.get_by_role("button", name="Save account 3").click()
    expect(page.get_by_role("alert")).to_contain_text("Inboxes: write all, or inbox ids")
    page.get_by_label("Inboxes", exact=True).fill("all")
    page.get_by_label("Mode", exact=True).select_option("on_demand")
    page.get_by_role("button", name="Save account 3").click()
    expect(page.get_by_role("status").first).to_contain_text("Settings saved")
    expect(page.get_by_label("Mode", exact=True)).to_have_value("on_demand")
    shoot(page, screenshots, "account")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    page.goto(f"{shop.base_url}/console/accounts")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))


@dataclass(frozen=True)
class Desk:
    base_url: str
    chatwoot: ChatwootStandIn


@pytest.fixture
def desk(runtime: Runtime, openai_server: OpenAIStandIn) -> Iterator[Desk]:
    """Account 3 connected to the stand-in Chatwoot and OpenAI, its webhook at the public URL
    of the console's own server (so every check of the doctor can pass)."""
    with stand_in_chatwoot() as chatwoot, serving(runtime, public=True) as (base_url, served):
        found = connect_account(served, chatwoot, openai_server)
        yield Desk(base_url, chatwoot)
        assert found.writes() == []  # the checks wrote nothing into Chatwoot
        assert not found.transcribed()  # and spent nothing


def test_an_operator_checks_an_account(page: Page, desk: Desk, screenshots: Path) -> None:
    sign_in(page, desk.base_url)
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("link", name="Account 3").click()
    page.get_by_role("link", name="Check account 3").click()
    expect(page.get_by_role("heading", name="Check account 3", level=1)).to_be_visible()
    expect(page.locator("table.checks")).to_have_count(0)  # opening the page runs nothing
    assert desk.chatwoot.requests == []

    page.get_by_role("button", name="Run the checks").click()
    expect(page.get_by_role("status")).to_have_text("All checks passed.")
    rows = page.locator("table.checks tbody tr")
    expect(rows).to_have_count(len(NAMES))
    for name in NAMES:
        expect(rows.filter(has_text=name).first).to_contain_text("ok")

    desk.chatwoot.revoke(BOT_TOKEN)  # the bot's token regenerated in Chatwoot
    page.get_by_role("button", name="Run the checks again").click()
    expect(page.get_by_role("alert")).to_contain_text("1 check failed")
    failed = rows.filter(has_text="API token")
    expect(failed).to_contain_text("FAIL")
    expect(failed).to_contain_text("Chatwoot rejects the API token")
    expect(failed).to_contain_text("transcriber accounts connect")
    assert BOT_TOKEN not in page.content()
    shoot(page, screenshots, "doctor")


@dataclass(frozen=True)
class Calls:
    base_url: str
    runtime: Runtime
    call: int  # a stereo call: summary, translation, turns, the chat model's tokens
    long: int  # a long recording, 3 of its 7 chunks transcribed
    pending: list[int]  # the long recording's chunks still to do


HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture
def calls(runtime: Runtime, tmp_path: Path) -> Iterator[Calls]:
    """Account 3's stereo call with everything the chat model adds, made through the ledger,
    and a long recording under way; served by uvicorn on 127.0.0.1."""
    seed.add_accounts(runtime)
    call = seed.with_extras(
        runtime,
        tmp_path,
        3,
        8001,
        text="Agent: Buenos días\nCustomer: Mi pedido no ha llegado",
        language="es",
        summary=f"The customer's order has not arrived {HOSTILE}; the agent will call back.",
        translation=Translation(f"Good morning. My order {HOSTILE} has not arrived.", "en"),
        turns=[
            Turn(0, "Agent", 0.0, 3.4, "Buenos días, ¿en qué puedo ayudarle?"),
            Turn(1, "<b>Customer</b>", 3.9, 9.2, f"Mi pedido {HOSTILE} no ha llegado."),
            Turn(0, "Agent", 65.0, 70.5, "Le llamo mañana."),
        ],
        chat_model="gpt-4o-mini",
        tokens=(1840, 212),
    )
    long, pending = seed.transcribing(runtime, tmp_path, 3, 8002)
    with serving(runtime) as (base_url, served):
        yield Calls(base_url, served, call, long, pending)


def test_an_operator_reads_a_call_and_watches_a_long_recording(
    page: Page, calls: Calls, screenshots: Path
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, calls.base_url)
    in_progress = page.locator("#in-progress")
    expect(in_progress).to_contain_text("42 % · 3 of 7 chunks")
    seed.finish_chunk(calls.runtime, calls.pending[0])  # a worker finishes one more chunk
    expect(in_progress).to_contain_text("57 % · 4 of 7 chunks", timeout=20_000)  # polled

    page.get_by_role("link", name="Transcriptions", exact=True).click()
    expect(page.locator("table.list tbody tr").first).to_contain_text("57 % · 4 of 7 chunks")
    page.get_by_role("link", name=f"Transcription {calls.long}", exact=True).click()
    expect(page.locator("#progress")).to_contain_text("57 % · 4 of 7 chunks (4 min 00 s of")

    page.goto(f"{calls.base_url}/console/transcriptions/{calls.call}")
    expect(page.get_by_role("heading", name="Summary", level=2)).to_be_visible()
    expect(page.locator("#summary")).to_have_text(
        f"The customer's order has not arrived {HOSTILE}; the agent will call back."
    )
    expect(page.get_by_role("heading", name="Translation into English (en)")).to_be_visible()
    expect(page.locator("#translation")).to_have_text(
        f"Good morning. My order {HOSTILE} has not arrived."
    )
    turns = page.get_by_role("list", name="Speaker turns").get_by_role("listitem")
    expect(turns).to_have_count(3)
    expect(turns.nth(1).locator(".turn-label")).to_have_text("<b>Customer</b>")
    expect(turns.nth(1)).to_contain_text("0:03\u20130:09")
    expect(turns.nth(2)).to_contain_text("Agent 1:05\u20131:10")
    expect(page.get_by_text("gpt-4o-mini: 1,840 tokens in, 212 out")).to_be_visible()
    expect(page.locator("main img, main script, #turns b")).to_have_count(0)
    shoot(page, screenshots, "transcription-call")
    assert dialogs == []  # no markup from a customer or the chat model ever ran


def test_an_operator_sets_an_accounts_note_extras(
    page: Page, calls: Calls, screenshots: Path
) -> None:
    def extras() -> dict[str, object]:
        account = calls.runtime.accounts.get(3)
        assert account is not None
        view = acc.account_view(account, calls.runtime.settings)
        names = ("summary_min_seconds", "chat_model", "translate_to", "redact", "phone_region")
        return {name: view[name] for name in (*names, "speakers")}

    sign_in(page, calls.base_url)
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("link", name="Account 3").click()
    expect(page.get_by_label("Chat model", exact=True)).to_have_attribute(
        "placeholder", "gpt-4o-mini (default)"
    )
    page.get_by_label("Summaries from (seconds)").fill("60")
    page.get_by_label("Chat model", exact=True).fill("gpt-4o")
    page.get_by_label("Translate into").fill("es")
    page.get_by_label("Mask", exact=True).fill("cards email")
    page.get_by_label("Phone region").fill("gb")
    page.get_by_label("Speaker labels").fill("Agent, Customer")
    page.get_by_role("button", name="Save account 3").click()
    expect(page.get_by_role("status").first).to_contain_text("Settings saved")
    saved = {
        "summary_min_seconds": 60.0,
        "chat_model": "gpt-4o",
        "translate_to": "es",
        "redact": ["cards", "email"],
        "phone_region": "GB",
        "speakers": ["Agent", "Customer"],
    }
    assert extras() == saved
    expect(page.get_by_label("Mask", exact=True)).to_have_value("cards, email")
    expect(page.get_by_label("Phone region")).to_have_value("GB")

    page.get_by_label("Mask", exact=True).fill("passwords")
    page.get_by_label("Translate into").fill("fr")
    page.get_by_role("button", name="Save account 3").click()
    expect(page.get_by_role("alert")).to_contain_text("Mask: unknown redaction kind(s)")
    expect(page.get_by_role("alert")).to_contain_text("passwords")
    expect(page.get_by_label("Mask", exact=True)).to_have_value("passwords")  # to correct
    assert extras() == saved  # nothing of that form was saved
    shoot(page, screenshots, "account-extras")

    page.get_by_label("Mask", exact=True).fill("")
    page.get_by_label("Speaker labels").fill("on")
    page.get_by_label("Chat model", exact=True).fill("off")
    page.get_by_role("button", name="Save account 3").click()
    expect(page.get_by_role("status").first).to_contain_text("Settings saved")
    assert extras() == {
        **saved,
        "chat_model": "off",
        "translate_to": "fr",
        "redact": [],
        "speakers": ["Speaker 1", "Speaker 2"],
    }
