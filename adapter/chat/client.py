"""The chat model: ``POST /v1/chat/completions`` through the official SDK. The I/O of
``adapter.chat``.

Any OpenAI-compatible server will do: OpenAI itself, llama.cpp's ``llama-server``, Ollama
(``http://host:11434/v1``), vLLM. It shares the engine's pooled SDK clients
(``adapter.engines.openai_engine.pooled_client``: one per key and URL per process), its timeouts
and its error mapping, so what holds there holds here:

* the SDK never retries (``max_retries=0``): the job's retry policy reads the error tree;
* ``timeout`` (60 s by default, or one call's own) bounds connecting and each wait for bytes;
* errors are mapped once by ``map_status_error`` (as "chat model"), from the status and the
  error's code only, raised outside the ``except`` block: never the server's text, the key or
  the URL.

A self-hosted server usually wants no key: without one a placeholder is sent (``NO_KEY``),
never ``None``, which would make the SDK read ``OPENAI_API_KEY`` from the environment and hand
the operator's OpenAI key to that server. OpenAI's own API without a key is a ``ConfigError``.

Requests carry ``max_tokens`` (what every compatible server reads) and ``temperature`` 0
(faithful and repeatable); OpenAI's reasoning models (``o1``, ``o3``, ``o4``, ``gpt-5``…)
refuse both, so they get ``max_completion_tokens`` and their default temperature.

The answer is read raw and parsed by :func:`parse_completion` (pure), which tolerates what
compatible servers do: no ``usage`` (the tokens are then 0: such a server charges nothing per
token, and an estimate would pass for a count), text given as content parts.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import openai
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from adapter.chat.prompts import Message
from adapter.engines.openai_engine import (
    DEFAULT_BASE_URL,
    map_sdk_error,
    pooled_client,
    positive_seconds,
    sdk_timeout,
)
from adapter.errors import ConfigError, EngineRejected, EngineUnavailable, TranscriberError
from adapter.httputil import safe_url

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT = 60.0
#: the largest ``max_tokens`` a caller may ask for (gpt-4o-mini's output limit)
MAX_TOKENS_LIMIT = 16_384
#: the bearer token sent to a server that needs none (self-hosted)
NO_KEY = "no-key"
#: where a key is required: OpenAI's own API
_OPENAI_HOSTS = frozenset({"api.openai.com"})
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
#: what a chat model is called in error messages
_NAME = "chat model"


@dataclass(frozen=True)
class ChatReply:
    """One answer of the chat model."""

    text: str  # stripped, never empty
    input_tokens: int  # as the server counted them; 0 when it did not say
    output_tokens: int
    model: str  # the model that answered, as the server names it (else the one asked for)
    truncated: bool = False  # the answer ran into ``max_tokens`` (``finish_reason: length``)


def is_reasoning_model(model: str) -> bool:
    """True for OpenAI's reasoning models, which take ``max_completion_tokens`` and no
    ``temperature``."""
    return model.startswith(_REASONING_PREFIXES)


class ChatModel:
    """A chat model behind an OpenAI-compatible API (see the module docstring).

    ``api_key`` is only handed to the SDK client, never logged nor shown by ``repr``; None (or
    blank) for a server that needs none. ``timeout`` (seconds) is every call's default.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not model or not model.strip():
            raise ConfigError("the chat model needs a model name")
        try:
            self.timeout = positive_seconds(timeout, "the chat model's timeout")
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self.model = model.strip()
        self.base_url = (base_url or DEFAULT_BASE_URL).strip()
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"the chat model's URL must be http(s): {safe_url(self.base_url)}")
        key = api_key.strip() if api_key else ""
        if not key and (parts.hostname or "").lower() in _OPENAI_HOSTS:
            raise ConfigError("OpenAI's chat models need an API key")
        self._client = pooled_client(key or NO_KEY, self.base_url)

    def __repr__(self) -> str:
        return f"ChatModel(model={self.model!r}, base_url={safe_url(self.base_url)!r})"

    def complete(
        self, messages: Sequence[Message], *, max_tokens: int, timeout: float | None = None
    ) -> ChatReply:
        """The model's answer to ``messages``, at most ``max_tokens`` long.

        Raises only ``adapter.errors`` types (see ``adapter.chat``), except for a caller's bug:
        no messages, ``max_tokens`` outside 1..``MAX_TOKENS_LIMIT``, or a ``timeout`` that is
        not a positive number (``ValueError``/``TypeError``).
        """
        seconds = self.timeout if timeout is None else positive_seconds(timeout, "timeout")
        if not messages:
            raise ValueError("a chat needs at least one message")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise TypeError("max_tokens must be an integer")
        if not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
            raise ValueError(f"max_tokens must be between 1 and {MAX_TOKENS_LIMIT}")
        body, content_type = self._post(messages, max_tokens, seconds)
        return parse_completion(body, content_type, asked=self.model)

    def _post(
        self, messages: Sequence[Message], max_tokens: int, timeout: float
    ) -> tuple[bytes, str | None]:
        reasoning = is_reasoning_model(self.model)
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=[_sdk_message(message) for message in messages],
                max_tokens=openai.omit if reasoning else max_tokens,
                max_completion_tokens=max_tokens if reasoning else openai.omit,
                temperature=openai.omit if reasoning else 0,
                timeout=sdk_timeout(timeout),
            )
            response = raw.http_response
            return response.content, response.headers.get("content-type")
        except openai.OpenAIError as exc:
            # Mapped here, raised below: the SDK's exception (whose text may echo the key)
            # must not ride along as the mapped error's context.
            failure = map_sdk_error(exc, engine=_NAME, timeout=timeout)
        raise failure


def _sdk_message(message: Message) -> ChatCompletionMessageParam:
    if message.role == "system":
        return ChatCompletionSystemMessageParam(role="system", content=message.content)
    if message.role == "assistant":
        return ChatCompletionAssistantMessageParam(role="assistant", content=message.content)
    return ChatCompletionUserMessageParam(role="user", content=message.content)


# --------------------------------------------------------------------------- reading answers


def parse_completion(body: bytes, content_type: str | None, *, asked: str) -> ChatReply:
    """Read a 2xx answer of ``/chat/completions`` (pure).

    Raises :class:`EngineUnavailable` for what is not a completion (an HTML page, malformed
    JSON, no choice, no text: a broken gateway or server, worth another try), and
    :class:`EngineRejected` when the model would answer the same again: it refused
    (``refused``), its answer was filtered (``content_filter``), or it spent its whole
    ``max_tokens`` before writing anything (``output_limit``: a reasoning model thinking).
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    stripped = body.decode("utf-8", errors="replace").strip()
    if media == "text/html" or stripped[:15].lower().startswith(("<!doctype html", "<html")):
        raise EngineUnavailable("the chat model answered with an HTML page, not a completion")
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise EngineUnavailable("the chat model answered with malformed JSON")
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict):
        raise EngineUnavailable("the chat model answered without a choice")
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    text = _content(message.get("content")).strip()
    finish_reason = choice.get("finish_reason")
    if not text:
        raise _empty(finish_reason, refused=bool(message.get("refusal")))
    input_tokens, output_tokens = _usage(data.get("usage"))
    return ChatReply(
        text=text,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        model=_model_name(data.get("model")) or asked,
        truncated=finish_reason == "length",
    )


def _content(content: object) -> str:
    """The text of a message's content: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _empty(finish_reason: object, *, refused: bool) -> TranscriberError:
    """Why an answer has no text, as an error."""
    if refused:
        return EngineRejected("the chat model refused to answer", reason="refused")
    if finish_reason == "content_filter":
        return EngineRejected("the chat model's answer was filtered", reason="content_filter")
    if finish_reason == "length":
        return EngineRejected(
            "the chat model used all of its tokens before writing anything",
            reason="output_limit",
        )
    return EngineUnavailable("the chat model answered with no text")


def _usage(usage: object) -> tuple[int, int]:
    """(input, output) tokens as the server counted them; 0 for what it did not count."""
    if not isinstance(usage, dict):
        return 0, 0
    return _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value


def _model_name(value: object) -> str | None:
    """A server's model name if it is one plain token (``llama3.1:8b``, ``org/model``)."""
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        return None
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in value):
        return None
    return value


__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "MAX_TOKENS_LIMIT",
    "NO_KEY",
    "ChatModel",
    "ChatReply",
    "is_reasoning_model",
    "parse_completion",
]
