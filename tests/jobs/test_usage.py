"""Usage after real transcriptions on two accounts: ``transcriber usage --json`` and
``GET /api/v1/usage`` agree with each other and with the audio's real length; cost is billed
minutes times the price, which ``TRANSCRIBER_PRICES`` overrides; grouping by language follows
the transcripts; ``q`` finds a transcript by one of its words and not the others.

Account 3 transcribes with whisper-1 on the OpenAI stand-in, account 4 with the offline engine
(a real Whisper model: real Spanish words, a real language).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import av
import pytest
from starlette.testclient import TestClient

from adapter import accounts as acc
from tests.cli.conftest import call, cli_env  # noqa: F401 (its fixtures)
from tests.cli.helpers import Call
from tests.fixtures import FIXTURES
from tests.helpers import ADMIN, SECRET, signed_headers
from tests.jobs.pipeline import Pipeline, telegram
from tests.standins.chatwoot_server import ChatwootStandIn, fixture_payload

pytestmark = pytest.mark.timeout(240)
AUDIO = FIXTURES / "audio"


def seconds_of(name: str) -> float:
    with av.open(str(AUDIO / name)) as container:
        stream = container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


def spanish_note(chatwoot: ChatwootStandIn) -> dict[str, Any]:
    """es1.ogg as a WhatsApp voice note of account 4."""
    chatwoot.add_conversation(77, channel="Channel::Whatsapp")
    url = chatwoot.add_blob("voice.ogg", (AUDIO / "es1.ogg").read_bytes())
    body = fixture_payload("whatsapp_voice_note_ogg_opus.json", account_id=4)
    body["conversation"]["id"] = 77
    for attachment in body["attachments"]:
        attachment["data_url"] = url
    return body


def usage_api(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get(
        "/api/v1/usage", params=params, headers={"Authorization": f"Bearer {ADMIN}"}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.fixture
def chatwoot_four() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(account_id=4) as server:
        yield server


@pytest.fixture
def two_accounts(pipeline: Pipeline, chatwoot_four: ChatwootStandIn) -> Pipeline:
    rt = pipeline.runtime
    four = acc.parse_changes(
        {
            "chatwoot_url": chatwoot_four.base_url,
            "api_token": chatwoot_four.api_token,
            "webhook_secret": SECRET,
            "engine": "local",
            "model": "base",
        }
    )
    acc.create_account(rt.accounts, rt.keyring, 4, four)
    [en] = pipeline.finished(
        pipeline.send(telegram(pipeline.chatwoot, (AUDIO / "en1.ogg").read_bytes()))
    )
    body = json.dumps(spanish_note(chatwoot_four)).encode()
    response = pipeline.client.post(
        "/webhooks/chatwoot/4", content=body, headers=signed_headers(body)
    )
    assert response.status_code == 202, response.text
    [es] = pipeline.finished(response.json()["transcriptions"], timeout=180)
    assert (en.state, es.state) == ("delivered", "delivered"), (en.error, es.error)
    assert es.language == "es" and "paquete" in (es.text or "").lower()
    return pipeline


def test_usage_agrees_with_the_audio_the_prices_and_itself(
    two_accounts: Pipeline,
    call: Call,  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline = two_accounts
    by_account = usage_api(pipeline.client, group_by="account")
    cli = call(["usage", "--by", "account", "--json"])
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout) == by_account
    three, four = by_account["rows"]
    assert (three["key"], four["key"]) == (3, 4)
    assert three["audio_seconds"] == pytest.approx(seconds_of("en1.ogg"), rel=0.03)
    assert four["audio_seconds"] == pytest.approx(seconds_of("es1.ogg"), rel=0.03)
    assert three["cost_usd"] == pytest.approx(three["billed_seconds"] / 60 * 0.006, abs=1e-6)
    assert 0 < three["billed_seconds"] <= three["audio_seconds"] + 0.5
    assert four["cost_usd"] == 0 and four["billed_seconds"] > 0  # offline: minutes, no money
    assert by_account["totals"]["transcriptions"] == 2

    languages = usage_api(pipeline.client, group_by="language")
    assert [(r["key"], r["transcriptions"]) for r in languages["rows"]] == [("en", 1), ("es", 1)]

    monkeypatch.setenv("TRANSCRIBER_PRICES", '{"whisper-1": 0.06, "base": 0.01}')
    dearer = json.loads(call(["usage", "--by", "account", "--json"]).stdout)
    assert dearer["rows"][0]["cost_usd"] == pytest.approx(
        three["billed_seconds"] / 60 * 0.06, abs=1e-5
    )
    assert dearer["rows"][0]["cost_usd"] > three["cost_usd"] * 9
    assert dearer["rows"][1]["cost_usd"] == pytest.approx(
        four["billed_seconds"] / 60 * 0.01, abs=1e-6
    )


def test_search_finds_a_transcript_by_one_of_its_words(two_accounts: Pipeline) -> None:
    client = two_accounts.client
    headers = {"Authorization": f"Bearer {ADMIN}"}

    def found(**params: str) -> list[int]:
        response = client.get("/api/v1/transcriptions", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [t["account_id"] for t in response.json()["transcriptions"]]

    assert found(q="paquete") == [4]
    assert found(q="PAQUETE") == [4]
    assert found(q="stand-in") == [3]  # the OpenAI stand-in's transcript
    assert found(q="paquete stand-in") == []  # every word must be there
    assert found(q="jacket") == []
    assert found(q="paquete", account_id="3") == []
    assert found(q='") OR 1=1 --') == []  # any text is words, never syntax
