"""The live transcription demo, ``/console/live``: behind sign-in, served with the console's
strict CSP (no inline script; the page's scripts are files of the console), and in Debian's
chromium, driven by Playwright, with a fake microphone that plays en1 (a WAV made here from
the shared sample, a second of silence after it; chromium loops it): the operator signs in,
is told in words that a wrong stream token was refused, pastes account 3's (the offline
``tiny.en``), starts, reads the words of the first completed utterance and its language, and
stops. The server is the live tests' (``tests/live/conftest.py``): uvicorn
on 127.0.0.1 with the endpoint, over real accounts. Without chromium the test fails, never
skips."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from starlette.testclient import TestClient

from adapter.web.console.render import SECURITY_HEADERS
from tests.console.conftest import sign_in
from tests.helpers import ADMIN, sqlite_only, wait_until
from tests.live.audio import FIXTURES, wer
from tests.live.conftest import TOKENS, LiveServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
CSP = SECURITY_HEADERS["Content-Security-Policy"]


@sqlite_only
def test_the_page_asks_for_sign_in(client: TestClient) -> None:
    answer = client.get("/console/live", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2Flive"


@sqlite_only
def test_the_page_and_its_scripts_are_served_with_the_csp(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/console/live")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "connect-src 'self'" in CSP
    assert "'unsafe-inline'" not in CSP
    assert re.findall(r"<script[^>]*>", page.text) == [
        '<script src="/console/static/console.js" defer>',
        '<script src="/console/static/live.js" defer>',
    ]
    assert 'id="live-token"' in page.text and 'type="password"' in page.text
    assert 'aria-current="page">Live<' in page.text
    for name in ("live.js", "live-worklet.js"):
        script = client.get(f"/console/static/{name}")
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert script.headers["x-content-type-options"] == "nosniff"
    code = client.get("/console/static/live.js").text
    assert "innerHTML" not in code and "openai-insecure-api-key." in code
    assert "?token=" not in code


def en1_wav(path: Path) -> Path:
    """en1 as a 48 kHz s16 mono WAV with a second of silence after it."""
    with av.open(str(FIXTURES / "en1.ogg")) as source:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pieces = [
            out.to_ndarray().reshape(-1)
            for frame in source.decode(audio=0)
            for out in resampler.resample(frame)
        ]
        pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    samples = np.concatenate([*pieces, np.zeros(48000, dtype=np.int16)]).astype(np.int16)
    with av.open(str(path), "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(tmp_path_factory.mktemp("live-page"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless chromium whose microphone plays en1 (allowed without asking)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the console's browser tests need Debian's chromium "
            "(`sudo apt-get update && sudo apt-get install -y chromium`; .ci/run does it)"
        )
    wav = en1_wav(tmp_path_factory.mktemp("fake-microphone") / "en1.wav")
    home = tmp_path_factory.mktemp("chromium-home")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required",
            ],
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
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


def test_the_microphone_is_transcribed_in_the_browser(page: Page, server: LiveServer) -> None:
    base = f"http://{server.host}:{server.port}"
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{base}/console/live")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Live transcription", level=1)).to_be_visible()

    page.get_by_label("Stream token").fill("tok-nobody-has-this-0123456789")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("alert")).to_contain_text("check the stream token")
    expect(page.get_by_role("button", name="Start")).to_be_enabled()

    page.get_by_label("Stream token").fill(TOKENS[3])
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("status")).to_have_text(re.compile("Listening|Hearing|Transcribing"))
    first = page.locator("#live-lines li").first
    expect(first).to_be_visible(timeout=25_000)
    heard = first.locator(".live-words").inner_text()
    assert wer("en1.ogg", heard) <= 0.4, heard
    assert "jacket" in heard.lower() and "parcel" in heard.lower(), heard
    expect(first.locator(".live-language")).to_contain_text("English (en)")
    assert TOKENS[3] not in page.url

    page.get_by_role("button", name="Stop").click()
    expect(page.get_by_role("status")).to_have_text("Stopped.", timeout=15_000)
    expect(page.get_by_role("button", name="Start")).to_be_enabled()
    expect(page.locator("#live-error")).to_be_hidden()
    assert refused == []
    wait_until(
        lambda: any(account_id == 3 for account_id, _ in server.hooks.finished_streams),
        10,
        "the stream handed on as account 3's",
        on=server.hooks.changed,
    )
