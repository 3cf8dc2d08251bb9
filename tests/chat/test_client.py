"""ChatModel: the real openai SDK against the stand-in on 127.0.0.1, and the pure reading of
its answers. Every failure is an ``adapter.errors`` type that carries neither the key nor the
server's text."""

from __future__ import annotations

import json
import socket
import traceback

import pytest

from adapter.chat import ChatModel, ChatReply, Message
from adapter.chat.client import MAX_TOKENS_LIMIT, NO_KEY, is_reasoning_model, parse_completion
from adapter.engines import OpenAIEngine
from adapter.errors import (
    ConfigError,
    EngineRejected,
    EngineUnavailable,
    RateLimited,
    TranscriberError,
)
from tests.standins.openai_server import ChatMessage, OpenAIStandIn, Reply

HELLO = [Message("system", "Be brief."), Message("user", "Say hello.")]


def _model(server: OpenAIStandIn, key: str | None, **kwargs: object) -> ChatModel:
    return ChatModel(base_url=server.base_url, api_key=key, **kwargs)  # type: ignore[arg-type]


def _everything_about(error: BaseException) -> str:
    return "\n".join(
        [
            str(error),
            repr(error),
            repr(error.args),
            "".join(traceback.format_exception(error)),
            repr(vars(error)),
        ]
    )


def cause(error: TranscriberError) -> str:
    return error.detail or error.reason


# --------------------------------------------------------------------------- success


def test_complete_sends_the_messages_and_reads_the_answer(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    openai_server.set_chat_reply("  Hello!  ")
    reply = _model(openai_server, api_key).complete(HELLO, max_tokens=50)

    assert reply == ChatReply(
        text="Hello!",
        input_tokens=(2 + 4) + (2 + 4),  # the stand-in counts words, 4 per message besides
        output_tokens=1,
        model="gpt-4o-mini",
        truncated=False,
    )
    [request] = openai_server.chat_requests
    assert request.messages == (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Say hello."),
    )
    assert request.model == "gpt-4o-mini"
    assert request.max_tokens == 50
    assert request.body is not None
    assert request.body["max_tokens"] == 50
    assert request.body["temperature"] == 0
    assert "max_completion_tokens" not in request.body
    assert request.authorization == f"Bearer {api_key}"


def test_usage_is_counted_as_the_server_says(openai_server: OpenAIStandIn, api_key: str) -> None:
    body = Reply.chat("Hi.", model="gpt-4o-mini-2024-07-18")
    openai_server.enqueue(body)
    reply = _model(openai_server, api_key).complete(HELLO, max_tokens=5)
    assert (reply.input_tokens, reply.output_tokens) == (3, 1)
    assert reply.model == "gpt-4o-mini-2024-07-18"  # the model that answered


def test_no_usage_counts_zero(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.chat("Hi.", usage=False, model="llama3.1:8b"))
    reply = _model(openai_server, api_key, model="llama3.1:8b").complete(HELLO, max_tokens=5)
    assert (reply.text, reply.input_tokens, reply.output_tokens) == ("Hi.", 0, 0)
    assert reply.model == "llama3.1:8b"


def test_an_answer_cut_at_max_tokens_is_marked(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.set_chat_reply("one two three four five")
    reply = _model(openai_server, api_key).complete(HELLO, max_tokens=2)
    assert (reply.text, reply.truncated) == ("one two", True)


def test_reasoning_models_get_max_completion_tokens_and_no_temperature(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    # The stand-in refuses max_tokens and temperature 0 for these models, as OpenAI does.
    reply = _model(openai_server, api_key, model="gpt-5-mini").complete(HELLO, max_tokens=300)
    assert reply.text == "Say hello."
    body = openai_server.chat_requests[0].body
    assert body is not None
    assert body["max_completion_tokens"] == 300
    assert "max_tokens" not in body and "temperature" not in body


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        *[(name, True) for name in ("o1", "o3-mini", "o4-mini", "gpt-5", "gpt-5-nano")],
        *[(name, False) for name in ("gpt-4o-mini", "gpt-4.1-mini", "llama3.1:8b", "qwen")],
    ],
)
def test_is_reasoning_model(model: str, reasoning: bool) -> None:
    assert is_reasoning_model(model) is reasoning


def test_a_server_without_a_key_gets_a_placeholder_never_the_environments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-operators-own-key")
    with OpenAIStandIn() as server:  # a self-hosted server: any key goes
        reply = _model(server, None, model="qwen2.5:7b").complete(HELLO, max_tokens=10)
        blank = _model(server, "  ", model="qwen2.5:7b").complete(HELLO, max_tokens=10)
    assert reply.text == blank.text == "Say hello."
    assert [r.authorization for r in server.requests] == [f"Bearer {NO_KEY}"] * 2


def test_the_engine_and_the_chat_model_share_a_pooled_client(
    openai_server: OpenAIStandIn, api_key: str
) -> None:
    engine = OpenAIEngine(api_key, base_url=openai_server.base_url)
    chat = _model(openai_server, api_key)
    other = _model(openai_server, api_key + "2")
    assert chat._client is engine._client
    assert chat._client is not other._client


def test_a_calls_timeout_replaces_the_models(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.slow(10))
    model = _model(openai_server, api_key)  # 60 s of its own
    with pytest.raises(EngineUnavailable, match=r"chat model did not answer within 0\.3 s"):
        model.complete(HELLO, max_tokens=5, timeout=0.3)
    assert len(openai_server.requests) == 1  # not sent again
    openai_server.enqueue(Reply.slow(10))
    with pytest.raises(EngineUnavailable):
        _model(openai_server, api_key, timeout=0.3).complete(HELLO, max_tokens=5)


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("reply", "error", "reason"),
    [
        (Reply.rate_limited(retry_after="7"), RateLimited, "rate_limited"),
        (Reply.insufficient_quota(), EngineRejected, "insufficient_quota"),
        (Reply.server_error(500), EngineUnavailable, "engine_unavailable"),
        (Reply.server_error(503), EngineUnavailable, "engine_unavailable"),
        (Reply.html_error(), EngineUnavailable, "engine_unavailable"),
        (
            Reply.raw(200, b"<html><body>proxy</body></html>", content_type="text/html"),
            EngineUnavailable,
            "engine_unavailable",
        ),
        (Reply.malformed_json(), EngineUnavailable, "engine_unavailable"),
        (Reply.raw(200, b'{"id": "x", "choices": []}'), EngineUnavailable, "engine_unavailable"),
        (Reply.raw(200, b'{"id": "x"}'), EngineUnavailable, "engine_unavailable"),
        (Reply.raw(200, b"[1, 2]"), EngineUnavailable, "engine_unavailable"),
        (Reply.chat(None), EngineUnavailable, "engine_unavailable"),
        (Reply.chat("   "), EngineUnavailable, "engine_unavailable"),
        (Reply.chat(None, refusal="I can't help with that."), EngineRejected, "refused"),
        (Reply.chat(None, finish_reason="content_filter"), EngineRejected, "content_filter"),
        (Reply.chat(None, finish_reason="length"), EngineRejected, "output_limit"),
        (Reply.error(400, "bad", code="context_length_exceeded"), EngineRejected, "bad_request"),
        (Reply.error(404, "no such model", code="model_not_found"), EngineRejected, "not_found"),
        (Reply.error(403, "not allowed"), EngineRejected, "forbidden"),
        (Reply.invalid_key(), EngineRejected, "unauthorized"),
    ],
)
def test_failures_are_mapped(
    openai_server: OpenAIStandIn,
    api_key: str,
    reply: Reply,
    error: type[TranscriberError],
    reason: str,
) -> None:
    openai_server.enqueue(reply)
    with pytest.raises(error) as caught:
        _model(openai_server, api_key).complete(HELLO, max_tokens=5)
    assert type(caught.value) is error
    assert cause(caught.value) == reason
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7.0
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert len(openai_server.requests) == 1  # the SDK did not retry
    seen = _everything_about(caught.value)
    assert api_key not in seen and api_key[-4:] not in seen
    assert "proxy" not in seen and "can't help" not in seen  # never the server's text


def test_a_wrong_key_never_shows(openai_server: OpenAIStandIn, api_key: str) -> None:
    wrong = api_key[:-6] + "Wr0ngK"
    model = _model(openai_server, wrong)
    with pytest.raises(EngineRejected) as caught:
        model.complete(HELLO, max_tokens=5)
    assert cause(caught.value) == "unauthorized"
    assert "chat model answered HTTP 401" in str(caught.value)
    seen = _everything_about(caught.value)
    assert wrong not in seen
    assert wrong[-4:] not in seen  # OpenAI's message echoes the last four characters
    assert "Incorrect API key" not in seen
    assert wrong not in repr(model) and "Wr0ngK" not in repr(model)


def test_the_url_and_its_query_never_show(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(Reply.server_error())
    base_url = openai_server.base_url + "?token=query-secret"
    model = ChatModel(base_url=base_url, api_key=api_key)
    with pytest.raises(EngineUnavailable) as caught:
        model.complete(HELLO, max_tokens=5)
    assert openai_server.requests[0].path.endswith("?token=query-secret")
    assert "query-secret" not in _everything_about(caught.value)
    assert "query-secret" not in repr(model)
    assert repr(model).startswith("ChatModel(model='gpt-4o-mini', base_url=")


def test_no_connection_is_engine_unavailable(api_key: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = ChatModel(base_url=f"http://127.0.0.1:{port}/v1", api_key=api_key)
    with pytest.raises(EngineUnavailable, match="cannot connect to chat model"):
        model.complete(HELLO, max_tokens=5)


def test_a_refused_parameter_is_named(openai_server: OpenAIStandIn, api_key: str) -> None:
    openai_server.enqueue(
        Reply.error(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model.",
            code="unsupported_parameter",
            param="max_tokens",
        )
    )
    with pytest.raises(EngineRejected, match=r"HTTP 400 \(unsupported_parameter.*'max_tokens'"):
        _model(openai_server, api_key).complete(HELLO, max_tokens=5)


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "kwargs",
    [
        {"model": " "},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"timeout": "60"},
        {"base_url": "ftp://example.test/v1"},
        {"api_key": None},  # OpenAI's own API needs a key
        {"api_key": None, "base_url": "https://API.OPENAI.COM/v1"},
    ],
)
def test_bad_configuration(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"api_key": "sk-x", **kwargs}
    with pytest.raises(ConfigError):
        ChatModel(**arguments)  # type: ignore[arg-type]


def test_defaults() -> None:
    model = ChatModel(api_key="sk-test")
    assert (model.model, model.base_url, model.timeout) == (
        "gpt-4o-mini",
        "https://api.openai.com/v1",
        60.0,
    )
    assert "sk-test" not in repr(model)


@pytest.mark.parametrize(
    ("messages", "max_tokens", "error"),
    [
        ([], 10, ValueError),
        (HELLO, 0, ValueError),
        (HELLO, MAX_TOKENS_LIMIT + 1, ValueError),
        (HELLO, True, TypeError),
        (HELLO, 1.5, TypeError),
    ],
)
def test_a_callers_bugs(
    openai_server: OpenAIStandIn,
    api_key: str,
    messages: list[Message],
    max_tokens: int,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        _model(openai_server, api_key).complete(messages, max_tokens=max_tokens)
    with pytest.raises(ValueError, match="positive"):
        _model(openai_server, api_key).complete(HELLO, max_tokens=5, timeout=-1)
    assert openai_server.requests == []


# --------------------------------------------------------------------------- parsing (pure)


def test_parse_completion_reads_content_parts() -> None:
    parts = [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]
    body = json.dumps({"choices": [{"message": {"content": parts}}]}).encode()
    reply = parse_completion(body, "application/json", asked="m")
    assert (reply.text, reply.model, reply.input_tokens) == ("Hi there", "m", 0)


@pytest.mark.parametrize(
    "model",
    ["", "a b", "x" * 129, "bad\u0007name", 42, None],
)
def test_parse_completion_keeps_only_plain_model_names(model: object) -> None:
    body = json.dumps({"model": model, "choices": [{"message": {"content": "ok"}}]}).encode()
    assert parse_completion(body, "application/json", asked="asked").model == "asked"


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": -1, "completion_tokens": "2"},
        {"prompt_tokens": True, "completion_tokens": None},
        [],
        "lots",
    ],
)
def test_parse_completion_ignores_odd_usage(usage: object) -> None:
    body = json.dumps({"usage": usage, "choices": [{"message": {"content": "ok"}}]}).encode()
    reply = parse_completion(body, None, asked="m")
    assert (reply.input_tokens, reply.output_tokens) == (0, 0)
