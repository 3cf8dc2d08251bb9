"""The Chatwoot stand-in (``adapter.standins.chatwoot``) is faithful to the spec and to
Chatwoot's listings and tokens, its fault switches work, it stays in order on an account of
thousands of conversations, and it serves the demo without a spec check."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapter import standins
from channels import decide
from tests.standins.chatwoot_server import (
    CUSTOM_ATTRIBUTES_OP,
    LIST_CONVERSATIONS_OP,
    LIST_MESSAGES_OP,
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


# --- the two listings --------------------------------------------------------------------------

USER = {"api_access_token": "test-user-token"}
LISTING = "/api/v1/accounts/1/conversations"
T0 = 1_700_000_000


def listing(
    standin: ChatwootStandIn, http: httpx.Client, headers: dict[str, str] = USER, **params: Any
) -> httpx.Response:
    return http.get(standin.base_url + LISTING, params=params, headers=headers)


def message_list(
    standin: ChatwootStandIn, http: httpx.Client, conversation_id: int = 7, **params: Any
) -> httpx.Response:
    return http.get(
        f"{standin.base_url}{LISTING}/{conversation_id}/messages", params=params, headers=USER
    )


def ids(response: httpx.Response) -> list[int]:
    body = response.json()
    entries = body["data"]["payload"] if "data" in body else body["payload"]
    return [entry["id"] for entry in entries]


def test_listing_answers_match_the_spec_response_schemas(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    url = standin.add_blob("voice_note.ogg", b"OggS", content_type="audio/opus")
    audio = {"file_type": "audio", "data_url": url, "extension": "ogg", "file_size": 4}
    standin.add_message(7, content="hello", attachments=[audio])
    standin.add_message(7, content="joined", message_type=2)
    http.post(api(standin, "/messages"), headers=USER, json=NOTE)
    standin.add_conversation(8, inbox_id=2, status="resolved")
    conversations = listing(standin, http, status="all", sort_by="last_activity_at_desc", page=1)
    assert conversations.status_code == 200
    assert spec_violations(LIST_CONVERSATIONS_OP, conversations.json(), response_status=200) == []
    messages = message_list(standin, http)
    assert messages.status_code == 200
    assert spec_violations(LIST_MESSAGES_OP, messages.json(), response_status=200) == []
    shown = http.get(api(standin), headers=USER)
    assert spec_violations(SHOW_OP, shown.json(), response_status=200) == []
    created = http.post(api(standin, "/messages"), headers=USER, json=NOTE)
    assert spec_violations(MESSAGES_OP, created.json(), response_status=200) == []
    bot = http.get(api(standin, "/messages"), headers=AUTH)
    missing = message_list(standin, http, 99)
    for response in (bot, missing):
        status = response.status_code
        assert spec_violations(LIST_MESSAGES_OP, response.json(), response_status=status) == []
    assert standin.violations == []


def test_the_listing_pages_by_latest_activity(standin: ChatwootStandIn, http: httpx.Client) -> None:
    for n in range(1, 61):
        standin.add_conversation(100 + n, last_activity_at=T0 + (n * 37) % 61)
    every = [7, *sorted(range(101, 161), key=lambda c: -((c - 100) * 37 % 61))]
    pages = [listing(standin, http, status="all", page=p) for p in (1, 2, 3, 4)]
    assert [len(ids(p)) for p in pages] == [25, 25, 11, 0]
    assert [i for p in pages for i in ids(p)] == every  # 7 was added now: the newest
    entry = pages[0].json()["data"]["payload"][1]
    assert entry["last_activity_at"] == entry["timestamp"] == T0 + 60
    assert isinstance(entry["last_activity_at"], int)
    assert pages[0].json()["data"]["meta"] == {
        "mine_count": 0,
        "assigned_count": 0,
        "unassigned_count": 61,
        "all_count": 61,
    }
    assert standin.calls(LIST_CONVERSATIONS_OP) == 4


def test_the_listing_filters_by_status_and_inbox(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    standin.add_conversation(8, inbox_id=2, status="resolved", last_activity_at=T0 + 2)
    standin.add_conversation(9, inbox_id=2, status="snoozed", last_activity_at=T0 + 1)
    assert ids(listing(standin, http)) == [7]  # Chatwoot's default: status=open
    assert ids(listing(standin, http, status="all")) == [7, 8, 9]
    assert ids(listing(standin, http, status="resolved")) == [8]
    assert ids(listing(standin, http, status="all", inbox_id=2)) == [8, 9]
    assert ids(listing(standin, http, status="all", inbox_id=5)) == []
    assert ids(listing(standin, http, status="all", sort_by="latest")) == [7, 8, 9]


def test_every_message_moves_the_activity(standin: ChatwootStandIn, http: httpx.Client) -> None:
    standin.add_conversation(8, last_activity_at=T0)
    standin.add_conversation(9, last_activity_at=T0 + 5)
    assert ids(listing(standin, http, status="all")) == [7, 9, 8]
    standin.add_message(8, message_type=2, content="assigned", created_at=T0 + 10**9)
    assert ids(listing(standin, http, status="all")) == [8, 7, 9]
    http.post(f"{standin.base_url}{LISTING}/9/messages", headers=AUTH, json=NOTE)
    listed = listing(standin, http, status="all").json()["data"]["payload"]
    assert [c["id"] for c in listed] == [8, 9, 7]
    note = listed[1]["messages"][0]  # the latest message, as push_event_data
    assert (note["message_type"], note["private"], note["sender_type"]) == (1, True, "AgentBot")
    assert note["conversation"]["last_activity_at"] == listed[1]["last_activity_at"]
    assert listed[0]["last_non_activity_message"] is None  # 8 has only an activity message


def test_messages_latest_before_after_and_between(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    made = [
        standin.add_message(7, content=f"m{n}", message_type=n % 4, created_at=T0 + n)["id"]
        for n in range(130)
    ]
    assert ids(message_list(standin, http)) == made[-20:]
    assert ids(message_list(standin, http, before=made[50])) == made[30:50]
    assert ids(message_list(standin, http, before=made[5])) == made[:5]
    assert ids(message_list(standin, http, after=made[9])) == made[10:110]
    assert ids(message_list(standin, http, after=made[9], before=made[20])) == made[9:20]
    payload = message_list(standin, http).json()["payload"]
    assert [m["message_type"] for m in payload[:4]] == [2, 3, 0, 1]  # 110 % 4 == 2
    assert all(isinstance(m["created_at"], int) for m in payload)
    assert set(payload[0]) >= {"id", "content", "conversation_id", "created_at", "private"}


def test_messages_follow_created_at_not_arrival(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    late = standin.add_message(7, content="late", created_at=T0 + 10)["id"]
    early = standin.add_message(7, content="early", created_at=T0)["id"]
    assert ids(message_list(standin, http)) == [early, late]
    assert standin.conversation(7)["last_activity_at"] == T0  # the last one written sets it


def test_added_attachments_are_filled_in(standin: ChatwootStandIn) -> None:
    url = standin.add_blob("a.ogg", b"OggS")
    message = standin.add_message(
        7,
        attachments=[
            {"file_type": "audio", "data_url": url, "extension": "ogg", "file_size": 4},
            {"file_type": "file", "data_url": url, "id": 55},
        ],
    )
    audio, pdf = message["attachments"]
    assert audio == {
        "id": audio["id"],
        "message_id": message["id"],
        "file_type": "audio",
        "account_id": 1,
        "extension": "ogg",
        "content_type": None,
        "data_url": url,
        "thumb_url": "",
        "file_size": 4,
        "width": None,
        "height": None,
        "transcribed_text": "",
    }
    assert pdf["id"] == 55
    assert "transcribed_text" not in pdf
    assert message["content"] is None  # as Chatwoot stores an attachment-only message
    assert standin.messages(7) == [message]
    assert standin.notes(7) == []  # notes are what came through the API


def test_the_listings_refuse_a_bot(standin: ChatwootStandIn, http: httpx.Client) -> None:
    for response in (
        listing(standin, http, AUTH, status="all"),
        http.get(api(standin, "/messages"), headers=AUTH),
    ):
        assert (response.status_code, response.json()) == (
            401,
            {"error": "Access to this endpoint is not authorized for bots"},
        )
    assert http.get(api(standin), headers=AUTH).status_code == 200  # show is open to bots


def test_a_user_token_may_write_back(standin: ChatwootStandIn, http: httpx.Client) -> None:
    assert http.post(api(standin, "/messages"), headers=USER, json=NOTE).status_code == 200
    attributes = {"custom_attributes": {"transcript_language": "es"}}
    assert http.post(api(standin, "/custom_attributes"), headers=USER, json=attributes).is_success
    (note,) = standin.notes(7)
    assert (note["sender_type"], note["sender"]["type"]) == ("User", "user")
    unknown = listing(standin, http, {"api_access_token": "nope"})
    assert (unknown.status_code, unknown.json()) == (401, {"error": "Invalid Access Token"})


def test_an_agent_sees_only_its_inboxes(standin: ChatwootStandIn, http: httpx.Client) -> None:
    standin.add_user_token("agent-1", role="agent", inbox_ids=[2, 3])
    agent = {"api_access_token": "agent-1"}
    standin.add_conversation(8, inbox_id=2, last_activity_at=T0 + 1)
    standin.add_conversation(9, inbox_id=3, last_activity_at=T0)
    assert ids(listing(standin, http, agent, status="all")) == [8, 9]
    assert ids(listing(standin, http, agent, status="all", inbox_id=1)) == []
    assert ids(listing(standin, http, agent, status="all", inbox_id=3)) == [9]
    outside = http.get(api(standin, "/messages"), headers=agent)
    assert (outside.status_code, outside.json()) == (
        401,
        {"error": "You are not authorized to do this action"},
    )
    assert http.post(api(standin, "/messages"), headers=agent, json=NOTE).status_code == 401
    inside = http.get(f"{standin.base_url}{LISTING}/8/messages", headers=agent)
    assert inside.status_code == 200
    with pytest.raises(ValueError):
        standin.add_user_token("x", role="owner")


@pytest.mark.parametrize(
    ("where", "query", "fragment"),
    [
        ("", "page=abc", "page must be a positive integer"),
        ("", "page=0", "page must be a positive integer"),
        ("", "inbox_id=x", "inbox_id must be a positive integer"),
        ("", "status=closed", "status must be one of"),
        ("", "sort_by=created_at_desc", "sorts only by"),
        ("", "q=refund", "does not implement the query parameter 'q'"),
        ("", "page=1&page=2", "repeated"),
        ("/7/messages", "before=abc", "before must be a positive integer"),
        ("/7/messages", "filter_internal_messages=1", "does not implement"),
    ],
)
def test_queries_the_stand_in_cannot_honour_answer_422(
    standin: ChatwootStandIn, http: httpx.Client, where: str, query: str, fragment: str
) -> None:
    response = http.get(f"{standin.base_url}{LISTING}{where}?{query}", headers=USER)
    assert response.status_code == 422
    assert any(fragment in v for v in standin.violations)


def test_faults_can_target_the_listing_and_one_page(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    standin.fail(503, path=LISTING + "?")
    standin.fail(502, path=LISTING + "?page=2")
    assert http.get(api(standin), headers=USER).status_code == 200  # not a listing
    assert message_list(standin, http).status_code == 200
    assert listing(standin, http, status="all", page=1).status_code == 503
    assert listing(standin, http, status="all", page=1).status_code == 200
    assert listing(standin, http, status="all", page=12).status_code == 200
    assert listing(standin, http, status="all", page=2).status_code == 502
    assert standin.calls(LIST_CONVERSATIONS_OP) == 4  # injected answers count too


def test_an_injected_429_is_rack_attacks(standin: ChatwootStandIn, http: httpx.Client) -> None:
    standin.fail(429, path=LISTING + "?", retry_after=30)
    standin.fail(429, path=LISTING + "?")
    first, second = listing(standin, http), listing(standin, http)
    assert (first.status_code, first.text, first.headers["retry-after"]) == (
        429,
        "Retry later\n",
        "30",
    )
    assert first.headers["content-type"] == "text/plain"
    assert "retry-after" not in second.headers


def test_a_removed_conversation_is_gone(standin: ChatwootStandIn, http: httpx.Client) -> None:
    standin.add_conversation(8)
    standin.remove_conversation(7)
    assert ids(listing(standin, http, status="all")) == [8]
    missing = message_list(standin, http)
    assert (missing.status_code, missing.json()) == (404, {"error": "Resource could not be found"})


def test_an_incoming_message_reopens(standin: ChatwootStandIn) -> None:
    standin.add_conversation(8, status="resolved")
    standin.add_message(8, message_type=1)
    assert standin.conversation(8)["status"] == "resolved"
    standin.add_message(8, message_type=0)
    assert standin.conversation(8)["status"] == "open"


def test_arguments_are_checked(standin: ChatwootStandIn) -> None:
    with pytest.raises(ValueError):
        standin.add_conversation(8, status="closed")
    with pytest.raises(ValueError):
        standin.add_message(7, message_type=4)


def test_an_account_of_thousands_stays_in_order(
    standin: ChatwootStandIn, http: httpx.Client
) -> None:
    """Writes between reads, few and many (the order's two ways of catching up)."""
    rng = random.Random(10)
    activity = {7: standin.conversation(7)["last_activity_at"]}
    for n in range(2000):
        at = T0 + rng.randrange(10**6)
        standin.add_conversation(1000 + n, last_activity_at=at, inbox_id=1 + n % 4)
        activity[1000 + n] = at
    for burst in (3, 100, 1, 40):
        for _ in range(burst):
            conversation_id = rng.choice(list(activity))
            at = T0 + rng.randrange(2 * 10**6)
            standin.add_message(conversation_id, created_at=at)
            activity[conversation_id] = at
        expected = sorted(activity, key=lambda c: (-activity[c], -c))
        for page in (1, 7, 81):
            got = ids(listing(standin, http, status="all", page=page))
            assert got == expected[(page - 1) * 25 : page * 25]
        inbox = [c for c in expected if c >= 1000 and (c - 1000) % 4 == 2]
        assert ids(listing(standin, http, status="all", inbox_id=3, page=3)) == inbox[50:75]
