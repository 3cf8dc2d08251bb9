"""The Chatwoot API client against the stand-in (real HTTP) and MockTransport (odd answers)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from adapter.errors import (
    HelpdeskNotFound,
    HelpdeskRejected,
    HelpdeskTokenRejected,
    HelpdeskUnavailable,
    TranscriberError,
)
from adapter.helpdesk import ChatwootClient, format_note, note_payload
from adapter.helpdesk import chatwoot as chatwoot_module
from tests.standins.chatwoot_server import ChatwootStandIn

TOKEN = "s3cr3t-T0KEN-value"
USER_TOKEN = "us3r-T0KEN-value"


@pytest.fixture
def standin() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(account_id=3, api_token=TOKEN, user_token=USER_TOKEN) as server:
        server.add_conversation(318, custom_attributes={"tier": "gold", "order_id": "48213"})
        yield server


@pytest.fixture
def client() -> Iterator[ChatwootClient]:
    with ChatwootClient(timeout=httpx.Timeout(2.0)) as c:
        yield c


def payload() -> dict[str, Any]:
    note = format_note("Olá, tudo bem?", "pt", 11.2)
    return dict(
        note_payload(note, message_id=90817, attachment_id=55120, language="pt", duration=11.2)
    )


def assert_token_hidden(exc: BaseException) -> None:
    assert TOKEN not in str(exc)
    assert TOKEN not in repr(exc)
    assert exc.__cause__ is None


# --- happy paths against the stand-in ------------------------------------------------------


def test_post_note_sends_the_contract_json(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    body = payload()
    message_id = client.post_note(standin.base_url, 3, 318, TOKEN, body)
    assert message_id > 0
    (request,) = standin.requests
    assert (request.method, request.path) == (
        "POST",
        "/api/v1/accounts/3/conversations/318/messages",
    )
    assert request.headers["api_access_token"] == TOKEN
    assert request.headers["content-type"] == "application/json"
    assert request.json == body
    assert standin.violations == []
    (note,) = standin.notes(318)
    assert (note["id"], note["private"], note["message_type"]) == (message_id, True, 1)
    assert note["content_attributes"] == {"in_reply_to": 90817}  # Chatwoot drops "transcriber"


def test_base_url_with_trailing_slash_and_subpath(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    client.post_note(standin.base_url + "/", 3, 318, TOKEN, payload())
    assert standin.requests[0].path == "/api/v1/accounts/3/conversations/318/messages"


def test_set_transcript_language_merges(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    assert client.set_transcript_language(standin.base_url, 3, 318, TOKEN, "pt") is True
    assert standin.conversation(318)["custom_attributes"] == {
        "tier": "gold",
        "order_id": "48213",
        "transcript_language": "pt",
    }
    get, post = standin.requests
    assert (get.method, get.path) == ("GET", "/api/v1/accounts/3/conversations/318")
    assert (post.method, post.path) == (
        "POST",
        "/api/v1/accounts/3/conversations/318/custom_attributes",
    )
    assert post.json == {
        "custom_attributes": {"tier": "gold", "order_id": "48213", "transcript_language": "pt"}
    }
    assert standin.violations == []


def test_set_transcript_language_twice_writes_once(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    client.set_transcript_language(standin.base_url, 3, 318, TOKEN, "pt")
    assert client.set_transcript_language(standin.base_url, 3, 318, TOKEN, "pt") is False
    assert [r.method for r in standin.requests] == ["GET", "POST", "GET"]


def test_set_transcript_language_replaces_an_old_value(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    client.set_transcript_language(standin.base_url, 3, 318, TOKEN, "pt")
    client.set_transcript_language(standin.base_url, 3, 318, TOKEN, "es")
    assert standin.conversation(318)["custom_attributes"]["transcript_language"] == "es"
    assert standin.conversation(318)["custom_attributes"]["tier"] == "gold"


@pytest.mark.parametrize("code", ["", "ES", "spanish", "e", "es-ES"])
def test_set_transcript_language_wants_a_code(client: ChatwootClient, code: str) -> None:
    with pytest.raises(ValueError):
        client.set_transcript_language("http://127.0.0.1:9", 3, 318, TOKEN, code)


# --- transient failures --------------------------------------------------------------------


def test_500_is_transient(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.fail(500)
    with pytest.raises(HelpdeskUnavailable) as caught:
        client.post_note(standin.base_url, 3, 318, TOKEN, payload())
    assert "500" in str(caught.value)
    assert_token_hidden(caught.value)
    assert standin.notes(318) == []


def test_429_is_transient_with_retry_after(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    standin.fail(429, retry_after=7)
    with pytest.raises(HelpdeskUnavailable) as caught:
        client.set_transcript_language(standin.base_url, 3, 318, TOKEN, "pt")
    assert caught.value.retry_after == 7
    assert_token_hidden(caught.value)


def test_503_without_retry_after(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.fail(503)
    with pytest.raises(HelpdeskUnavailable) as caught:
        client.post_note(standin.base_url, 3, 318, TOKEN, payload())
    assert caught.value.retry_after is None


def test_timeout_is_transient(standin: ChatwootStandIn) -> None:
    standin.hang(30)
    with (
        ChatwootClient(timeout=httpx.Timeout(0.3)) as impatient,
        pytest.raises(HelpdeskUnavailable) as caught,
    ):
        impatient.post_note(standin.base_url, 3, 318, TOKEN, payload())
    assert "timed out" in str(caught.value)
    assert_token_hidden(caught.value)


def test_connection_refused_is_transient(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.down()
    with pytest.raises(HelpdeskUnavailable) as caught:
        client.post_note(standin.base_url, 3, 318, TOKEN, payload())
    assert "could not reach Chatwoot" in str(caught.value)
    assert_token_hidden(caught.value)
    standin.up()
    assert client.post_note(standin.base_url, 3, 318, TOKEN, payload()) > 0


# --- permanent failures --------------------------------------------------------------------


def test_wrong_token_is_rejected_without_showing_it(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    wrong = "wrong-token-9f8e7d"
    with pytest.raises(HelpdeskTokenRejected) as caught:
        client.post_note(standin.base_url, 3, 318, wrong, payload())
    message = str(caught.value)
    assert message.startswith("Chatwoot rejected the API token (--api-token) (401)")
    assert wrong not in message
    assert "Invalid Access Token" in message


def test_unknown_conversation_is_rejected(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    with pytest.raises(HelpdeskNotFound) as caught:
        client.set_transcript_language(standin.base_url, 3, 999, TOKEN, "pt")
    assert "conversation 999 not found (404)" in str(caught.value)
    assert_token_hidden(caught.value)


def test_other_account_is_rejected(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    with pytest.raises(HelpdeskRejected) as caught:
        client.post_note(standin.base_url, 4, 318, TOKEN, payload())
    assert "(401)" in str(caught.value)


def test_a_body_the_spec_refuses_is_rejected_422(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    with pytest.raises(HelpdeskRejected) as caught:
        client.post_note(standin.base_url, 3, 318, TOKEN, {"private": True})
    assert "(422)" in str(caught.value)
    assert standin.violations


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, HelpdeskTokenRejected), (403, HelpdeskTokenRejected), (404, HelpdeskNotFound)],
)
def test_injected_permanent_statuses(
    standin: ChatwootStandIn,
    client: ChatwootClient,
    status: int,
    error: type[HelpdeskRejected],
) -> None:
    standin.fail(status)
    with pytest.raises(error) as caught:
        client.post_note(standin.base_url, 3, 318, TOKEN, payload())
    assert isinstance(caught.value, HelpdeskRejected)  # what the deliver step catches
    assert f"({status})" in str(caught.value)
    assert_token_hidden(caught.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "ftp://chatwoot.example.test",
        "chatwoot.example.test",
        "https://",
        "http://h:99999",
        "https://user:pw@chatwoot.example.test",
        "https://h/?q=1",
    ],
)
def test_bad_base_url_is_rejected(client: ChatwootClient, base_url: str) -> None:
    with pytest.raises(HelpdeskRejected, match="Chatwoot URL"):
        client.post_note(base_url, 3, 318, TOKEN, payload())


@pytest.mark.parametrize("token", ["", "has space", "line\nbreak", "tab\t", "ünï"])
def test_token_a_header_cannot_carry_is_rejected(client: ChatwootClient, token: str) -> None:
    with pytest.raises(HelpdeskRejected) as caught:
        client.post_note("http://127.0.0.1:9", 3, 318, token, payload())
    assert "API token" in str(caught.value)
    if token:
        assert token not in str(caught.value)


@pytest.mark.parametrize("ids", [(0, 1), (1, -1), (True, 1)])
def test_ids_must_be_positive_ints(client: ChatwootClient, ids: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError):
        client.post_note("http://127.0.0.1:9", ids[0], ids[1], TOKEN, payload())


# --- the two listings --------------------------------------------------------------------


def test_list_conversations_asks_for_every_status_by_latest_activity(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    standin.add_conversation(319, inbox_id=2, status="resolved")
    answer = client.list_conversations(standin.base_url, 3, USER_TOKEN, page=1)
    assert [c["id"] for c in answer["data"]["payload"]] == [319, 318]
    by_inbox = client.list_conversations(standin.base_url + "/", 3, USER_TOKEN, page=2, inbox_id=2)
    assert by_inbox["data"]["payload"] == []
    first, second = standin.requests
    assert (first.method, first.path) == ("GET", "/api/v1/accounts/3/conversations")
    assert first.query == "status=all&sort_by=last_activity_at_desc&page=1"
    assert second.query == "status=all&sort_by=last_activity_at_desc&inbox_id=2&page=2"
    assert first.headers["api_access_token"] == USER_TOKEN
    assert standin.violations == []


def test_list_messages_before_and_after(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    ids = [standin.add_message(318, content=f"m{n}")["id"] for n in range(3)]
    latest = client.list_messages(standin.base_url, 3, 318, USER_TOKEN)
    assert [m["id"] for m in latest["payload"]] == ids
    before = client.list_messages(standin.base_url, 3, 318, USER_TOKEN, before=ids[2])
    assert [m["id"] for m in before["payload"]] == ids[:2]
    between = client.list_messages(
        standin.base_url, 3, 318, USER_TOKEN, before=ids[2], after=ids[0]
    )
    assert [m["id"] for m in between["payload"]] == ids[:2]
    assert [r.query for r in standin.requests] == [
        "",
        f"before={ids[2]}",
        f"before={ids[2]}&after={ids[0]}",
    ]
    assert standin.requests[0].path == "/api/v1/accounts/3/conversations/318/messages"


def test_a_bot_token_cannot_list(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    for call in (
        lambda: client.list_conversations(standin.base_url, 3, TOKEN, page=1),
        lambda: client.list_messages(standin.base_url, 3, 318, TOKEN),
    ):
        with pytest.raises(HelpdeskTokenRejected) as caught:
            call()
        message = str(caught.value)
        assert "(401)" in message
        assert "Access to this endpoint is not authorized for bots" in message
        assert "agent bot's token" in message
        assert "user's access token" in message
        assert_token_hidden(caught.value)


def test_a_user_token_does_the_write_backs_too(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    assert client.post_note(standin.base_url, 3, 318, USER_TOKEN, payload()) > 0
    assert client.set_transcript_language(standin.base_url, 3, 318, USER_TOKEN, "pt")
    (note,) = standin.notes(318)
    assert note["sender_type"] == "User"
    assert standin.violations == []


def test_an_agent_outside_the_inbox(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.add_user_token("agent-token-1234", role="agent", inbox_ids=[2])
    listed = client.list_conversations(standin.base_url, 3, "agent-token-1234", page=1)
    assert listed["data"]["payload"] == []  # 318 is in inbox 1
    with pytest.raises(HelpdeskTokenRejected) as caught:
        client.list_messages(standin.base_url, 3, 318, "agent-token-1234")
    message = str(caught.value)
    assert "You are not authorized to do this action" in message
    assert "conversation 318" in message
    assert "administrator's token" in message
    assert "agent-token-1234" not in message


def test_a_listing_404_names_the_account(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.fail(404, path="/api/v1/accounts/3/conversations?")
    with pytest.raises(HelpdeskNotFound, match="check the account id") as caught:
        client.list_conversations(standin.base_url, 3, USER_TOKEN, page=1)
    assert_token_hidden(caught.value)


def test_a_listing_429_is_transient(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.fail(429, path="/api/v1/accounts/3/conversations?", retry_after=12)
    with pytest.raises(HelpdeskUnavailable) as caught:
        client.list_conversations(standin.base_url, 3, USER_TOKEN, page=1)
    assert caught.value.retry_after == 12
    assert "(429)" in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [{"page": 0}, {"page": -1}, {"page": True}, {"page": 1, "inbox_id": 0}, {"page": "2"}],
)
def test_listing_arguments_are_checked(client: ChatwootClient, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        client.list_conversations("http://127.0.0.1:9", 3, TOKEN, **options)


@pytest.mark.parametrize(
    "options", [{"before": 0}, {"after": -5}, {"before": False}, {"conversation_id": 0}]
)
def test_message_listing_arguments_are_checked(
    client: ChatwootClient, options: dict[str, Any]
) -> None:
    conversation_id = options.pop("conversation_id", 318)
    with pytest.raises(ValueError):
        client.list_messages("http://127.0.0.1:9", 3, conversation_id, TOKEN, **options)


# --- odd answers (MockTransport) -----------------------------------------------------------


def mock(handler: Callable[[httpx.Request], httpx.Response]) -> ChatwootClient:
    return ChatwootClient(transport=httpx.MockTransport(handler))


BASE = "https://chatwoot.example.test"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>OK</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, content=b""),
        httpx.Response(200, json={"message": "created"}),
        httpx.Response(200, json={"id": "90999"}),
        httpx.Response(200, json={"id": True}),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, content=b"\xff\xfe{"),
    ],
)
def test_note_posted_without_a_usable_id_counts_as_posted(response: httpx.Response) -> None:
    with mock(lambda request: response) as c:
        assert c.post_note(BASE, 3, 318, TOKEN, payload()) == 0


def test_note_id_from_201() -> None:
    with mock(lambda request: httpx.Response(201, json={"id": 90999})) as c:
        assert c.post_note(BASE, 3, 318, TOKEN, payload()) == 90999


def test_conversation_read_as_html_is_transient_and_nothing_is_written() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(
            200, text="<html>login</html>", headers={"content-type": "text/html; charset=utf-8"}
        )

    with mock(handler) as c, pytest.raises(HelpdeskUnavailable) as caught:
        c.set_transcript_language(BASE, 3, 318, TOKEN, "es")
    assert "text/html" in str(caught.value)
    assert seen == ["GET"]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, content=b""),
        httpx.Response(200, content=b"\xff\xfe{"),
    ],
)
def test_a_listing_that_is_not_json_is_transient(response: httpx.Response) -> None:
    with mock(lambda request: response) as c:
        with pytest.raises(HelpdeskUnavailable, match="not JSON"):
            c.list_conversations(BASE, 3, TOKEN, page=1)
        with pytest.raises(HelpdeskUnavailable, match="not JSON"):
            c.list_messages(BASE, 3, 318, TOKEN)


@pytest.mark.parametrize("body", [b"[1]", b'"text"', b"5", b"null"])
def test_a_listing_that_is_not_an_object_is_rejected(body: bytes) -> None:
    with mock(lambda request: httpx.Response(200, content=body)) as c:
        with pytest.raises(HelpdeskRejected, match="not an object"):
            c.list_conversations(BASE, 3, TOKEN, page=1)
        with pytest.raises(HelpdeskRejected, match="not an object"):
            c.list_messages(BASE, 3, 318, TOKEN)


def test_a_listing_is_returned_as_sent() -> None:
    odd = {"data": {"payload": "not a list"}, "extra": [1, 2]}
    with mock(lambda request: httpx.Response(200, json=odd)) as c:
        assert c.list_conversations(BASE, 3, TOKEN, page=1) == odd  # the reader judges shapes


@pytest.mark.parametrize(
    "conversation",
    [
        [1],
        {"id": 318},
        {"id": 318, "custom_attributes": ["a"]},
        {"id": 318, "custom_attributes": "x"},
    ],
)
def test_conversation_of_unexpected_shape_is_not_overwritten(conversation: Any) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(200, json=conversation)

    with mock(handler) as c, pytest.raises(HelpdeskRejected):
        c.set_transcript_language(BASE, 3, 318, TOKEN, "es")
    assert seen == ["GET"]


def test_null_custom_attributes_count_as_empty() -> None:
    posted: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"id": 318, "custom_attributes": None})
        posted.append(json.loads(request.content))
        return httpx.Response(200, json={"custom_attributes": posted[-1]["custom_attributes"]})

    with mock(handler) as c:
        assert c.set_transcript_language(BASE, 3, 318, TOKEN, "es") is True
    assert posted == [{"custom_attributes": {"transcript_language": "es"}}]


def test_redirect_is_rejected_with_the_target_origin_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"location": "https://new.example.test/secret/path"})

    with mock(handler) as c, pytest.raises(HelpdeskRejected) as caught:
        c.post_note("http://chatwoot.example.test", 3, 318, TOKEN, payload())
    assert "https://new.example.test" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_a_server_echoing_the_token_does_not_leak_it() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["api_access_token"]
        return httpx.Response(401, json={"error": f"bad token {echoed}"})

    with mock(handler) as c, pytest.raises(HelpdeskRejected) as caught:
        c.post_note(BASE, 3, 318, TOKEN, payload())
    assert_token_hidden(caught.value)
    assert "***" in str(caught.value)


def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after": when})

    with mock(handler) as c, pytest.raises(HelpdeskUnavailable) as caught:
        c.post_note(BASE, 3, 318, TOKEN, payload())
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 120


@pytest.mark.parametrize("value", ["soon", "-5", "1e12", "nan"])
def test_odd_retry_after_values(value: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"retry-after": value})

    with mock(handler) as c, pytest.raises(HelpdeskUnavailable) as caught:
        c.post_note(BASE, 3, 318, TOKEN, payload())
    retry_after = caught.value.retry_after
    assert retry_after is None or 0 <= retry_after <= 3600


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, HelpdeskRejected),
        (405, HelpdeskRejected),
        (408, HelpdeskUnavailable),
        (413, HelpdeskRejected),
        (502, HelpdeskUnavailable),
        (504, HelpdeskUnavailable),
    ],
)
def test_status_mapping(status: int, error: type[TranscriberError]) -> None:
    with mock(lambda request: httpx.Response(status)) as c, pytest.raises(error):
        c.post_note(BASE, 3, 318, TOKEN, payload())


@pytest.mark.parametrize(
    ("exception", "error"),
    [
        (httpx.ConnectTimeout, HelpdeskUnavailable),
        (httpx.ReadTimeout, HelpdeskUnavailable),
        (httpx.ConnectError, HelpdeskUnavailable),
        (httpx.RemoteProtocolError, HelpdeskUnavailable),
        (httpx.ReadError, HelpdeskUnavailable),
        (httpx.UnsupportedProtocol, HelpdeskRejected),
    ],
)
def test_transport_errors(exception: type[Exception], error: type[TranscriberError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception(f"boom {TOKEN}")

    with mock(handler) as c, pytest.raises(error) as caught:
        c.post_note(BASE, 3, 318, TOKEN, payload())
    assert_token_hidden(caught.value)


def test_huge_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chatwoot_module, "MAX_RESPONSE_BYTES", 1000)
    with (
        mock(lambda request: httpx.Response(200, content=b"x" * 5000)) as c,
        pytest.raises(HelpdeskRejected, match="larger than"),
    ):
        c.get_conversation(BASE, 3, 318, TOKEN)


def test_repr_shows_no_token() -> None:
    with ChatwootClient() as c:
        assert TOKEN not in repr(c)


def test_compressed_answers_are_read() -> None:
    import gzip

    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(json.dumps({"id": 4242}).encode())
        return httpx.Response(
            200,
            content=body,
            headers={"content-encoding": "gzip", "content-type": "application/json"},
        )

    with mock(handler) as c:
        assert c.post_note(BASE, 3, 318, TOKEN, payload()) == 4242
