"""The Chatwoot stand-in (``adapter.standins.chatwoot``) is faithful to the spec, its fault
switches work, and it serves the demo without a spec check."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from adapter import standins
from channels import decide
from tests.standins.chatwoot_server import (
    CUSTOM_ATTRIBUTES_OP,
    MESSAGES_OP,
    SHOW_OP,
    ChatwootStandIn,
    fixture_payload,
    spec_violations,
    webhook_headers,
)

AUTH = {"api_access_token": "test-token"}
NOTE = {
    "content": "hi",
    "message_type": "outgoing",
    "private": True,
    "content_attributes": {"in_reply_to": 5, "transcriber": {"attachment_id": 1}},
}


@pytest.fixture
def standin() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn() as server:
        server.add_conversation(7, custom_attributes={"a": 1})
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def api(standin: ChatwootStandIn, suffix: str = "") -> str:
    return f"{standin.base_url}/api/v1/accounts/1/conversations/7{suffix}"


def test_answers_match_the_spec_response_schemas(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    shown = http.get(api(standin), headers=AUTH)
    assert shown.status_code == 200
    assert spec_violations(SHOW_OP, shown.json(), response_status=200) == []
    created = http.post(api(standin, "/messages"), headers=AUTH, json=NOTE)
    assert created.status_code == 200
    assert spec_violations(MESSAGES_OP, created.json(), response_status=200) == []
    updated = http.post(
        api(standin, "/custom_attributes"), headers=AUTH, json={"custom_attributes": {"b": 2}}
    )
    assert updated.status_code == 200
    assert spec_violations(CUSTOM_ATTRIBUTES_OP, updated.json(), response_status=200) == []
    assert standin.conversation(7)["custom_attributes"] == {"b": 2}  # replaced, not merged
    assert standin.violations == []


def test_transcriber_key_is_dropped_like_chatwoot_does(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    http.post(api(standin, "/messages"), headers=AUTH, json=NOTE)
    assert standin.notes(7)[0]["content_attributes"] == {"in_reply_to": 5}


def test_unknown_content_attributes_can_be_kept(http: httpx.Client) -> None:
    with ChatwootStandIn(keep_unknown_content_attributes=True) as server:
        server.add_conversation(7)
        http.post(api(server, "/messages"), headers=AUTH, json=NOTE)
        assert "transcriber" in server.notes(7)[0]["content_attributes"]


@pytest.mark.parametrize(
    ("suffix", "body", "fragment"),
    [
        ("/messages", {"private": True}, "'content' is a required property"),
        ("/messages", {"content": "x", "message_type": "note"}, "is not one of"),
        ("/messages", {"content": "x", "private": "yes"}, "is not of type 'boolean'"),
        ("/messages", {"content": "x", "privat": True}, "'privat' is not a property"),
        ("/custom_attributes", {"transcript_language": "es"}, "'custom_attributes' is a required"),
        ("/custom_attributes", {"custom_attributes": "es"}, "is not of type 'object'"),
    ],
)
def test_spec_violations_answer_422_and_are_recorded(
    standin: ChatwootStandIn, http: httpx.Client, suffix: str, body: object, fragment: str
) -> None:
    response = http.post(api(standin, suffix), headers=AUTH, json=body)
    assert response.status_code == 422
    assert any(fragment in v for v in standin.violations)
    assert standin.requests[-1].violations


def test_non_json_and_missing_bodies(standin: ChatwootStandIn, http: httpx.Client) -> None:
    assert http.post(api(standin, "/messages"), headers=AUTH, content=b"{").status_code == 422
    assert http.post(api(standin, "/messages"), headers=AUTH).status_code == 422
    form = http.post(api(standin, "/messages"), headers=AUTH, data={"content": "x"})
    assert form.status_code == 422
    assert len(standin.violations) >= 3


def test_lenient_mode_allows_undeclared_keys(http: httpx.Client) -> None:
    with ChatwootStandIn(strict=False) as server:
        server.add_conversation(7)
        response = http.post(
            api(server, "/messages"), headers=AUTH, json={"content": "x", "echo_id": "1"}
        )
        assert response.status_code == 200


def test_auth_and_not_found(standin: ChatwootStandIn, http: httpx.Client) -> None:
    assert http.get(api(standin)).status_code == 401
    wrong = http.get(api(standin), headers={"api_access_token": "nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "Invalid Access Token"})
    assert (
        http.get(f"{standin.base_url}/api/v1/accounts/1/conversations/8", headers=AUTH).status_code
        == 404
    )
    assert (
        http.get(f"{standin.base_url}/api/v1/accounts/2/conversations/7", headers=AUTH).status_code
        == 401
    )
    assert http.delete(api(standin), headers=AUTH).status_code == 404


def test_faults_are_consumed_in_order(standin: ChatwootStandIn, http: httpx.Client) -> None:
    standin.fail(500, times=2)
    standin.fail(429, retry_after=3)
    statuses = [http.get(api(standin), headers=AUTH) for _ in range(4)]
    assert [r.status_code for r in statuses] == [500, 500, 429, 200]
    assert statuses[2].headers["retry-after"] == "3"
    assert [r.status for r in standin.requests] == [500, 500, 429, 200]


def test_faults_filter_by_path(standin: ChatwootStandIn, http: httpx.Client) -> None:
    url = standin.add_blob("a.ogg", b"OggS")
    standin.fail(404, path="/rails/")
    assert http.get(api(standin), headers=AUTH).status_code == 200
    assert http.get(url).status_code == 404
    assert http.get(url).status_code == 302


def test_hang_then_handle(standin: ChatwootStandIn) -> None:
    standin.hang(30)
    with httpx.Client(timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.get(api(standin), headers=AUTH)


def test_down_and_up(standin: ChatwootStandIn, http: httpx.Client) -> None:
    assert http.get(api(standin), headers=AUTH).status_code == 200  # keep-alive connection
    standin.down()
    with pytest.raises(httpx.TransportError):
        http.get(api(standin), headers=AUTH)
    standin.up()
    assert http.get(api(standin), headers=AUTH).status_code == 200


def test_blob_redirect_and_signature(standin: ChatwootStandIn, http: httpx.Client) -> None:
    url = standin.add_blob("New Recording 12.m4a", b"\x00" * 10, content_type="audio/mp4")
    assert "/rails/active_storage/blobs/redirect/" in url
    assert url.endswith("/New%20Recording%2012.m4a?disposition=inline")
    redirect = http.get(url)
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    stored = http.get(location)
    assert (stored.status_code, stored.content) == (200, b"\x00" * 10)
    assert stored.headers["content-type"] == "audio/mp4"
    forged = http.get(location.replace("signature=", "signature=0"))
    assert forged.status_code == 403


def test_webhook_headers_sign_timestamp_dot_body() -> None:
    body = b'{"event":"message_created"}'
    signed = webhook_headers("whsec", body, timestamp=1781601243, delivery="d-1")
    expected = hmac.new(b"whsec", b"1781601243." + body, hashlib.sha256).hexdigest()
    assert signed["X-Chatwoot-Signature"] == f"sha256={expected}"
    assert signed["X-Chatwoot-Timestamp"] == "1781601243"
    assert signed["X-Chatwoot-Delivery"] == "d-1"


def test_fixture_payload_points_attachments_at_blobs(standin: ChatwootStandIn) -> None:
    url = standin.add_blob("voice_note.ogg", b"OggS", content_type="audio/opus")
    body = fixture_payload(
        "whatsapp_voice_note_ogg_opus.json", attachment_urls={55120: url}, account_id=1
    )
    assert body["attachments"][0]["data_url"] == url
    assert body["conversation"]["messages"][0]["attachments"][0]["data_url"] == url
    assert body["account"]["id"] == 1
    decision = decide(json.loads(json.dumps(body)))
    assert decision.attachments[0].url == url


def test_without_a_check_it_serves_the_demo(http: httpx.Client) -> None:
    with standins.ChatwootStandIn() as server:
        server.add_conversation(7)
        assert http.post(api(server, "/messages"), headers=AUTH, json=NOTE).status_code == 200
        undeclared = {"content": "x", "privat": True}  # the spec check would refuse it
        assert http.post(api(server, "/messages"), headers=AUTH, json=undeclared).status_code == 200
        for bad in (b"[1]", b"{"):
            answer = http.post(
                api(server, "/messages"),
                headers={**AUTH, "Content-Type": "application/json"},
                content=bad,
            )
            assert answer.status_code == 422  # not JSON, or not an object: Chatwoot cannot act
        assert len(server.notes(7)) == 2
        assert len(server.violations) == 2


def test_every_recorded_request_wakes_the_waiters(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    seen: list[int] = []

    def waiter() -> None:
        with standin.arrived:
            if standin.arrived.wait_for(lambda: len(standin.requests) >= 3, timeout=30):
                seen.append(len(standin.requests))

    thread = threading.Thread(target=waiter)
    thread.start()
    for _ in range(3):
        http.get(api(standin), headers=AUTH)
    thread.join(30)
    assert seen == [3]
