"""The Chatwoot reader against the stand-in (real HTTP) and MockTransport (hostile answers)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from adapter.errors import (
    HelpdeskNotFound,
    HelpdeskRejected,
    HelpdeskTokenRejected,
    HelpdeskUnavailable,
)
from adapter.helpdesk import ChatwootClient, ChatwootReader, ListedConversation, Pacer
from adapter.helpdesk.reader import MAX_RETRY_AFTER
from tests.standins.chatwoot_server import (
    LIST_CONVERSATIONS_OP,
    LIST_MESSAGES_OP,
    ChatwootStandIn,
)

BOT_TOKEN = "bot-T0KEN-secret-value"
USER_TOKEN = "user-T0KEN-secret-value"
AGENT_TOKEN = "agent-T0KEN-secret-value"
TOKENS = (BOT_TOKEN, USER_TOKEN, AGENT_TOKEN)
LISTING = "/api/v1/accounts/3/conversations?"
T0 = 1_700_000_000  # Unix seconds (2023): every conversation below is active at T0 + something


@pytest.fixture
def standin() -> Iterator[ChatwootStandIn]:
    with ChatwootStandIn(account_id=3, api_token=BOT_TOKEN, user_token=USER_TOKEN) as server:
        yield server


@pytest.fixture
def client() -> Iterator[ChatwootClient]:
    with ChatwootClient(timeout=httpx.Timeout(2.0)) as c:
        yield c


class Sleeps(list[float]):
    """A fake ``sleep``: records what it was asked, and may run a hook on each call."""

    def __init__(self, hook: Callable[[float], None] | None = None) -> None:
        super().__init__()
        self.hook = hook

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.hook is not None:
            self.hook(seconds)


def make_reader(
    standin: ChatwootStandIn,
    client: ChatwootClient,
    *,
    token: str = USER_TOKEN,
    sleep: Sleeps | None = None,
    **options: Any,
) -> ChatwootReader:
    return ChatwootReader(
        client,
        base_url=standin.base_url,
        account_id=standin.account_id,
        token=token,
        pacer=Pacer(0),
        sleep=sleep if sleep is not None else Sleeps(),
        **options,
    )


def fill(standin: ChatwootStandIn, count: int, *, inbox_of: Callable[[int], int] = lambda n: 1):
    """Conversations 1..count, conversation n active at T0 + n (so listed n = count … 1)."""
    for n in range(1, count + 1):
        standin.add_conversation(n, last_activity_at=T0 + n, inbox_id=inbox_of(n))


def listings(standin: ChatwootStandIn) -> list[str]:
    return [r.query for r in standin.requests if r.path == LISTING[:-1]]


def assert_no_token(text: str) -> None:
    for token in TOKENS:
        assert token not in text


# --- conversations ---------------------------------------------------------------------------


def test_pages_newest_first_and_stops_at_the_window(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    fill(standin, 60)
    reader = make_reader(standin, client)
    listed = list(reader.conversations(since=T0 + 31))
    assert [c.id for c in listed] == list(range(60, 30, -1))  # 30 of 60, newest first
    assert [c.last_activity_at for c in listed[:2]] == [T0 + 60, T0 + 59]
    # page 1 (60..36) and page 2, which holds 35..31 and then 30, out of the window: no page 3
    assert listings(standin) == [
        "status=all&sort_by=last_activity_at_desc&page=1",
        "status=all&sort_by=last_activity_at_desc&page=2",
    ]
    assert reader.requests == 2
    assert standin.violations == []


def test_a_short_page_ends_the_walk(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    fill(standin, 32)
    reader = make_reader(standin, client)
    assert [c.id for c in reader.conversations(since=0)] == list(range(32, 0, -1))
    assert reader.requests == 2  # 25 + 7: the short page is the last


def test_a_full_last_page_takes_one_empty_page(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    fill(standin, 25)
    reader = make_reader(standin, client)
    assert len(list(reader.conversations(since=0))) == 25
    assert reader.requests == 2


def test_one_page_in_memory_at_a_time(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    fill(standin, 80)
    reader = make_reader(standin, client)
    walk = reader.conversations(since=0)
    first = next(walk)
    assert (first.id, reader.requests) == (80, 1)
    for _ in range(25):
        next(walk)
    assert reader.requests == 2
    walk.close()


def test_an_entry_as_chatwoot_sends_it(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.add_conversation(
        318, channel="Channel::Whatsapp", inbox_id=4, last_activity_at=T0, status="resolved"
    )
    reader = make_reader(standin, client)
    (listed,) = reader.conversations(since=T0)
    assert listed == ListedConversation(
        id=318, inbox_id=4, last_activity_at=T0, channel="Channel::Whatsapp", raw={}
    )
    assert listed.raw["status"] == "resolved"  # status=all: resolved ones are listed too
    assert listed.raw["meta"]["channel"] == "Channel::Whatsapp"
    assert isinstance(listed.raw["last_activity_at"], int)


def test_notes_and_new_messages_move_a_conversation_to_the_top(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    fill(standin, 30)
    client.post_note(standin.base_url, 3, 2, USER_TOKEN, {"content": "a note", "private": True})
    reader = make_reader(standin, client)
    listed = list(reader.conversations(since=T0 + 29))
    assert [c.id for c in listed] == [2, 30, 29]
    assert listed[0].last_activity_at > T0 + 30
    (note,) = standin.notes(2)
    assert (note["message_type"], note["private"]) == (1, True)
    assert listed[0].raw["messages"][0]["id"] == note["id"]


def test_inbox_ids_walk_each_inbox(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    fill(standin, 40, inbox_of=lambda n: 1 + n % 3)  # inboxes 1, 2, 3
    reader = make_reader(standin, client)
    listed = list(reader.conversations(since=T0 + 1, inbox_ids=[2, 3, 2]))
    assert [c.id for c in listed] == [n for n in range(40, 0, -1) if n % 3 == 1] + [
        n for n in range(40, 0, -1) if n % 3 == 2
    ]
    assert {c.inbox_id for c in listed} == {2, 3}
    assert all("inbox_id=" in query for query in listings(standin))
    assert len(listings(standin)) == 2  # 14 and 13 entries: one short page each


def test_an_agent_token_sees_only_its_inboxes(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    standin.add_user_token(AGENT_TOKEN, role="agent", inbox_ids=[2])
    fill(standin, 10, inbox_of=lambda n: 1 + n % 2)
    agent = make_reader(standin, client, token=AGENT_TOKEN)
    assert [c.id for c in agent.conversations(since=0)] == [9, 7, 5, 3, 1]
    assert [c.id for c in agent.conversations(since=0, inbox_ids=[1, 2])] == [9, 7, 5, 3, 1]
    with pytest.raises(HelpdeskTokenRejected) as caught:
        list(agent.messages(10, since=0))  # a conversation of inbox 1
    assert "agent" in str(caught.value)
    assert_no_token(str(caught.value))


def test_a_bot_token_is_refused_at_once(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    fill(standin, 3)
    sleeps = Sleeps()
    reader = make_reader(standin, client, token=BOT_TOKEN, sleep=sleeps)
    with pytest.raises(HelpdeskTokenRejected) as caught:
        next(reader.conversations(since=0))
    message = str(caught.value)
    assert "Access to this endpoint is not authorized for bots" in message
    assert "user's access token" in message
    assert_no_token(message + repr(caught.value) + repr(reader))
    assert (reader.requests, sleeps) == (1, [])
    with pytest.raises(HelpdeskTokenRejected):
        next(reader.messages(1, since=0))


def test_a_revoked_token_is_refused(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    reader = make_reader(standin, client, token="revoked-or-mistyped")
    with pytest.raises(HelpdeskTokenRejected, match="Invalid Access Token"):
        list(reader.conversations(since=0))


# --- messages --------------------------------------------------------------------------------


def chat(standin: ChatwootStandIn, conversation_id: int, count: int, *, start: int) -> list[int]:
    """``count`` messages of every type, one a second from ``start``; their ids."""
    return [
        standin.add_message(
            conversation_id, content=f"m{n}", message_type=n % 4, created_at=start + n
        )["id"]
        for n in range(count)
    ]


def test_audio_older_than_the_latest_twenty_is_found(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    standin.add_conversation(7)
    url = standin.add_blob("voice_note.ogg", b"OggS", content_type="audio/opus")
    audio = standin.add_message(
        7,
        attachments=[{"file_type": "audio", "data_url": url, "extension": "ogg"}],
        created_at=T0,
    )
    later = chat(standin, 7, 25, start=T0 + 10)
    reader = make_reader(standin, client)
    messages = list(reader.messages(7, since=T0))
    # the latest page (20, oldest first), then the page before it (the audio and 5 more)
    assert [m["id"] for m in messages] == [*later[5:], audio["id"], *later[:5]]
    assert [r.query for r in standin.requests] == ["", f"before={later[5]}"]
    (attachment,) = messages[20]["attachments"]
    assert attachment["data_url"] == url
    assert attachment["file_type"] == "audio"
    assert [m["message_type"] for m in messages[:4]] == [1, 2, 3, 0]  # integers, as listed
    assert all(isinstance(m["created_at"], int) for m in messages)
    assert standin.calls(LIST_MESSAGES_OP) == reader.requests == 2


def test_messages_stop_at_the_window(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.add_conversation(7)
    ids = chat(standin, 7, 70, start=T0)
    reader = make_reader(standin, client)
    messages = list(reader.messages(7, since=T0 + 45))
    assert [m["id"] for m in messages] == ids[50:] + ids[45:50]
    assert reader.requests == 2  # the second page starts at 30, before the window: no third


def test_a_short_conversation_is_one_request(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    standin.add_conversation(7)
    ids = chat(standin, 7, 5, start=T0)
    reader = make_reader(standin, client)
    assert [m["id"] for m in reader.messages(7, since=0)] == ids
    assert reader.requests == 1


def test_a_conversation_deleted_mid_scan(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    fill(standin, 3)
    for n in (1, 2, 3):
        standin.add_message(n, content="hi", created_at=T0 + n)
    reader = make_reader(standin, client)
    read: list[int] = []
    gone: list[HelpdeskRejected] = []
    for conversation in reader.conversations(since=0):
        if conversation.id == 3:
            standin.remove_conversation(2)
        try:
            read += [m["id"] for m in reader.messages(conversation.id, since=0)]
        except HelpdeskNotFound as exc:  # the caller skips it and goes on
            gone.append(exc)
    assert len(read) == 2
    (error,) = gone
    assert "conversation 2 not found (404)" in str(error)


# --- failures and retries --------------------------------------------------------------------


def test_429_with_retry_after_is_survived(
    standin: ChatwootStandIn, client: ChatwootClient, caplog: pytest.LogCaptureFixture
) -> None:
    fill(standin, 3)
    standin.fail(429, times=2, path=LISTING, retry_after=7)
    sleeps = Sleeps()
    reader = make_reader(standin, client, sleep=sleeps)
    with caplog.at_level(logging.WARNING, logger="adapter.helpdesk.reader"):
        assert [c.id for c in reader.conversations(since=0)] == [3, 2, 1]
    assert sleeps == [7, 7]
    assert reader.requests == standin.calls(LIST_CONVERSATIONS_OP) == 3
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 2
    assert "429" in retries[0].getMessage()
    assert "try 1 of 6 failed, trying again in 7 s" in retries[0].getMessage()
    assert_no_token(caplog.text)


def test_429_without_retry_after_backs_off(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    standin.add_conversation(7)
    standin.fail(429, times=3, path="/api/v1/accounts/3/conversations/7/messages")
    sleeps = Sleeps()
    reader = make_reader(standin, client, sleep=sleeps)
    assert list(reader.messages(7, since=0)) == []
    assert sleeps == [1, 2, 4]


def test_a_long_retry_after_is_cut(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    standin.fail(429, path=LISTING, retry_after=3000)
    sleeps = Sleeps()
    list(make_reader(standin, client, sleep=sleeps).conversations(since=0))
    assert sleeps == [MAX_RETRY_AFTER]


def test_5xx_is_retried_then_given_up(
    standin: ChatwootStandIn, client: ChatwootClient, caplog: pytest.LogCaptureFixture
) -> None:
    standin.fail(503, times=10, path=LISTING)
    sleeps = Sleeps()
    reader = make_reader(standin, client, sleep=sleeps, max_tries=6, max_backoff=5)
    with caplog.at_level(logging.WARNING), pytest.raises(HelpdeskUnavailable) as caught:
        list(reader.conversations(since=0))
    assert "503" in str(caught.value)
    assert sleeps == [1, 2, 4, 5, 5]
    assert reader.requests == 6
    assert len(caplog.records) == 5
    assert_no_token(caplog.text + str(caught.value))


def test_a_page_after_a_failure_is_the_same_page(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    fill(standin, 30)
    standin.fail(502, path=LISTING + "page=2")
    reader = make_reader(standin, client)
    assert len(list(reader.conversations(since=0))) == 30
    assert [q.rsplit("=", 1)[1] for q in listings(standin)] == ["1", "2", "2"]


def test_a_refused_connection_is_retried(standin: ChatwootStandIn, client: ChatwootClient) -> None:
    fill(standin, 2)
    standin.down()
    sleeps = Sleeps(hook=lambda seconds: standin.up())
    reader = make_reader(standin, client, sleep=sleeps)
    assert [c.id for c in reader.conversations(since=0)] == [2, 1]
    assert (sleeps, reader.requests) == ([1], 2)


def test_a_timeout_is_retried(standin: ChatwootStandIn) -> None:
    standin.add_conversation(7)
    standin.hang(30, path="/api/v1/accounts/3/conversations/7/messages")
    sleeps = Sleeps()
    with ChatwootClient(timeout=httpx.Timeout(0.2)) as impatient:
        reader = make_reader(standin, impatient, sleep=sleeps)
        assert list(reader.messages(7, since=0)) == []
    assert sleeps == [1]


def test_every_request_waits_for_the_pacer(
    standin: ChatwootStandIn, client: ChatwootClient
) -> None:
    fill(standin, 30)
    standin.fail(500, path=LISTING)

    class Counting(Pacer):
        waits = 0

        def wait(self) -> None:
            Counting.waits += 1

    reader = ChatwootReader(
        client,
        base_url=standin.base_url,
        account_id=3,
        token=USER_TOKEN,
        pacer=Counting(0),
        sleep=Sleeps(),
    )
    list(reader.conversations(since=0))
    assert Counting.waits == reader.requests == 3


# --- hostile answers (MockTransport) ---------------------------------------------------------

BASE = "https://chatwoot.example.test"


def mock_reader(
    handler: Callable[[httpx.Request], httpx.Response], **options: Any
) -> ChatwootReader:
    client = ChatwootClient(transport=httpx.MockTransport(handler))
    return ChatwootReader(
        client,
        base_url=BASE,
        account_id=3,
        token=USER_TOKEN,
        pacer=Pacer(0),
        sleep=options.pop("sleep", Sleeps()),
        **options,
    )


def page(entries: list[Any]) -> httpx.Response:
    return httpx.Response(200, json={"data": {"meta": {}, "payload": entries}})


def entry(conversation_id: Any, activity: Any = T0, **extra: Any) -> dict[str, Any]:
    return {"id": conversation_id, "last_activity_at": activity, **extra}


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"payload": []},
        {"data": []},
        {"data": {"payload": None}},
        {"data": {"payload": {"0": {}}}},
        {"data": {"meta": {}}},
    ],
)
def test_a_malformed_listing_page_is_rejected(body: Any) -> None:
    reader = mock_reader(lambda request: httpx.Response(200, json=body))
    with pytest.raises(HelpdeskRejected) as caught:
        list(reader.conversations(since=0))
    assert not isinstance(caught.value, HelpdeskTokenRejected)
    assert reader.requests == 1
    assert_no_token(str(caught.value))


def test_a_non_json_page_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, text="<html>maintenance</html>", headers={"content-type": "text/html"}
        )

    sleeps = Sleeps()
    reader = mock_reader(handler, max_tries=3, sleep=sleeps)
    with pytest.raises(HelpdeskUnavailable, match="not JSON"):
        list(reader.conversations(since=0))
    assert (reader.requests, sleeps) == (3, [1, 2])


def test_malformed_entries_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    entries: list[Any] = [
        1,
        "x",
        None,
        [entry(9)],
        entry("5"),
        entry(2**70),
        entry(True),
        entry(0),
        entry(-3),
        entry(None),
        {"last_activity_at": T0},
        entry(3, "1700000000"),
        entry(4, None),
        entry(6, 1e300),
        entry(8, True),
        entry(10, -1),
        entry(7, T0 + 0.5, meta="x", inbox_id="2"),
        entry(11, T0, meta={"channel": 5}, inbox_id=2**80),
        entry(12, T0, meta={"channel": "Channel::Email"}, inbox_id=3),
    ]
    reader = mock_reader(lambda request: page(entries))
    with caplog.at_level(logging.WARNING):
        listed = list(reader.conversations(since=T0))
    assert [(c.id, c.inbox_id, c.channel) for c in listed] == [
        (7, None, None),
        (11, None, None),
        (12, 3, "Channel::Email"),
    ]
    assert listed[0].last_activity_at == T0 + 0.5
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 16
    assert "entry 1 of page 1" in warnings[0]
    assert "not an object" in warnings[0]
    assert "no usable id (a string)" in warnings[4]
    assert "no usable id (a number out of range)" in warnings[5]
    assert "(conversation 3) has no usable last_activity_at (a string)" in warnings[11]
    assert_no_token(caplog.text)


def test_the_stop_follows_the_order_chatwoot_gives() -> None:
    entries = [entry(1, T0 + 5), entry(2, T0 - 1), entry(3, T0 + 9)]
    reader = mock_reader(lambda request: page(entries))
    assert [c.id for c in reader.conversations(since=T0)] == [1]


def test_a_server_that_ignores_page_does_not_loop_nor_pass_for_complete() -> None:
    full = [entry(n, T0 + 100 - n) for n in range(1, 26)]
    reader = mock_reader(lambda request: page(full))
    listed = []
    with pytest.raises(HelpdeskRejected, match="repeats the page before it"):
        listed.extend(c.id for c in reader.conversations(since=0))
    assert listed == list(range(1, 26))
    assert reader.requests == 2


def test_an_entry_pushed_down_a_page_comes_once() -> None:
    pages = {
        "1": [entry(n, T0 + 100 - n) for n in range(1, 26)],
        # conversation 30 became active: 25 was pushed from page 1 onto page 2
        "2": [entry(n, T0 + 100 - n) for n in range(25, 29)],
    }
    reader = mock_reader(lambda request: page(pages[request.url.params["page"]]))
    assert [c.id for c in reader.conversations(since=0)] == list(range(1, 29))


def messages_page(entries: list[Any]) -> httpx.Response:
    return httpx.Response(200, json={"meta": {}, "payload": entries})


def test_malformed_messages(caplog: pytest.LogCaptureFixture) -> None:
    entries: list[Any] = [
        "x",
        {"content": "no id"},
        {"id": "12", "created_at": T0},
        {"id": 2**64, "created_at": T0},
        {"id": 13, "created_at": "yesterday"},
        {"id": 14},
        {"id": 15, "created_at": T0 - 10},
        {"id": 16, "created_at": T0},
    ]
    reader = mock_reader(lambda request: messages_page(entries))
    with caplog.at_level(logging.WARNING):
        messages = list(reader.messages(7, since=T0))
    assert [m["id"] for m in messages] == [13, 14, 16]  # no usable created_at: the caller's call
    assert len(caplog.records) == 4
    assert "message 1 of the latest messages of conversation 7" in caplog.records[0].getMessage()
    assert reader.requests == 1


@pytest.mark.parametrize("body", [{"payload": None}, {"meta": {}}, {"payload": {"a": 1}}, []])
def test_a_malformed_messages_page_is_rejected(body: Any) -> None:
    reader = mock_reader(lambda request: httpx.Response(200, json=body))
    with pytest.raises(HelpdeskRejected):
        list(reader.messages(7, since=0))


def test_a_server_that_ignores_before_does_not_loop_nor_pass_for_complete() -> None:
    latest = [{"id": 100 + n, "created_at": T0 + n} for n in range(20)]
    reader = mock_reader(lambda request: messages_page(latest))
    read = []
    with pytest.raises(HelpdeskRejected, match="ignore before="):
        read.extend(m["id"] for m in reader.messages(7, since=0))
    assert read == [m["id"] for m in latest]
    assert reader.requests == 2


def test_messages_page_by_the_smallest_id() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params.get("before", ""))
        if not asked[-1]:  # ids out of created_at order: paging goes by the smallest
            return messages_page([{"id": 500 - n, "created_at": T0 + n} for n in range(20)])
        return messages_page([{"id": 10, "created_at": T0}])

    reader = mock_reader(handler)
    assert len(list(reader.messages(7, since=0))) == 21
    assert asked == ["", "481"]


def test_nothing_logs_or_raises_the_token(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["api_access_token"]
        if request.url.params.get("page") == "1":
            return httpx.Response(503, json={"error": f"down for {echoed}"})
        return httpx.Response(401, json={"error": f"Invalid Access Token {echoed}"})

    reader = mock_reader(handler, max_tries=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(HelpdeskUnavailable) as unavailable:
        list(reader.conversations(since=0))
    with pytest.raises(HelpdeskTokenRejected) as rejected:
        list(reader.messages(7, since=0))
    for exc in (unavailable.value, rejected.value):
        assert_no_token(str(exc) + repr(exc))
    assert "***" in str(rejected.value)
    assert_no_token(caplog.text + repr(reader))


@pytest.mark.parametrize("options", [{"max_tries": 0}, {"max_tries": True}, {"max_backoff": -1.0}])
def test_reader_options_are_checked(client: ChatwootClient, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ChatwootReader(
            client, base_url=BASE, account_id=3, token=USER_TOKEN, pacer=Pacer(0), **options
        )


# --- Pacer -----------------------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)


def test_pacer_spaces_calls() -> None:
    fake = FakeTime()
    pacer = Pacer(4, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        pacer.wait()
    assert fake.slept == [0.25, 0.5]  # three calls at t, t + 0.25, t + 0.5
    fake.now += 10  # idle: the next call goes at once, and the one after waits again
    pacer.wait()
    pacer.wait()
    assert fake.slept == [0.25, 0.5, 0.25]


def test_pacer_when_time_passes_between_calls() -> None:
    fake = FakeTime()
    pacer = Pacer(2, clock=fake.clock, sleep=fake.sleep)
    pacer.wait()
    fake.now += 0.2
    pacer.wait()
    assert fake.slept == [pytest.approx(0.3)]


def test_pacer_without_a_limit_never_sleeps() -> None:
    fake = FakeTime()
    pacer = Pacer(0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(100):
        pacer.wait()
    assert fake.slept == []


def test_pacer_gives_threads_distinct_slots() -> None:
    fake = FakeTime()
    pacer = Pacer(10, clock=fake.clock, sleep=fake.sleep)
    threads = [threading.Thread(target=pacer.wait) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fake.slept) == pytest.approx([0.1 * n for n in range(1, 8)])


@pytest.mark.parametrize("rate", [-1, float("nan"), float("inf"), True])
def test_pacer_rate_is_checked(rate: float) -> None:
    with pytest.raises(ValueError):
        Pacer(rate)


def test_listing_answers_are_the_clients_json(standin: ChatwootStandIn) -> None:
    """What the reader is given is the client's parsed JSON, unchanged (a sanity check)."""
    standin.add_conversation(1, last_activity_at=T0)
    with ChatwootClient() as c:
        answer = c.list_conversations(standin.base_url, 3, USER_TOKEN, page=1)
    assert json.loads(json.dumps(answer)) == answer
    assert answer["data"]["payload"][0]["id"] == 1
