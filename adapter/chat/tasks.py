"""The two things the chat model is asked: a transcript's summary and its translation.

Each composes the pure parts (``prompts``: the messages, the bounds, the cleaning; ``pieces``:
long texts cut and joined) over one :class:`~adapter.chat.client.ChatModel`, and returns a
:class:`ChatResult` whose token counts are the sum over every call made. Language codes are
ISO 639-1; the prompts name the languages in English (``adapter.engines.languages``).

Nothing is asked of the model when there is nothing to do: a blank text comes back empty, and a
text already in the target language comes back as it was, at no cost. A translation is all or
nothing: the first failed piece raises, and the pieces done before it are not kept (the caller
retries the whole, which a retry policy can reason about; half a translation in a note cannot).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.chat.client import ChatModel, ChatReply
from adapter.chat.pieces import join, split
from adapter.chat.prompts import (
    SUMMARY_MAX_TOKENS,
    cap,
    clean_summary,
    clean_translation,
    cut_marker,
    summary_messages,
    translation_max_tokens,
    translation_messages,
)
from adapter.engines.languages import language_name, to_iso639_1
from adapter.errors import ConfigError

#: what ends a translated piece whose answer ran into its token bound
TRUNCATED = " […]"


@dataclass(frozen=True)
class ChatResult:
    """What the chat model wrote, cleaned, and what it cost (summed over its calls)."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str  # the model that answered (the one asked for, when no call was made)


def summarize(model: ChatModel, transcript: str, *, output_language: str) -> ChatResult:
    """At most five ``- `` lines in ``output_language`` (ISO 639-1): the customer's request,
    the key points, the promised actions. One call; "" without one for a blank transcript.

    Raises :class:`ConfigError` for an unknown ``output_language``, else what
    :meth:`ChatModel.complete` raises.
    """
    language = _named(output_language)
    if not transcript.strip():
        return ChatResult("", 0, 0, model.model)
    messages = summary_messages(transcript, output_language_name=language)
    reply = model.complete(messages, max_tokens=SUMMARY_MAX_TOKENS)
    return ChatResult(
        clean_summary(reply.text), reply.input_tokens, reply.output_tokens, reply.model
    )


def translate(model: ChatModel, text: str, *, source: str | None, target: str) -> ChatResult:
    """``text`` in ``target`` (ISO 639-1), from ``source`` (None, or a code nobody knows:
    whatever it is written in). Its line breaks and the speaker labels at their starts are
    kept; a text over ``prompts.MAX_INPUT_CHARS`` is translated that far and ends with a marker
    saying how much was left out; each piece is one call, in order.

    Raises :class:`ConfigError` for an unknown ``target``, else what
    :meth:`ChatModel.complete` raises.
    """
    target_name = _named(target)
    if not text.strip():
        return ChatResult("", 0, 0, model.model)
    if to_iso639_1(source) == to_iso639_1(target):
        return ChatResult(text.strip(), 0, 0, model.model)
    source_name = language_name(source)
    kept, left_out = cap(text)
    pieces = split(kept)
    replies: list[ChatReply] = []
    for piece in pieces:
        messages = translation_messages(
            piece.text, source_name=source_name, target_name=target_name
        )
        replies.append(model.complete(messages, max_tokens=translation_max_tokens(piece.text)))
    translated = join(pieces, [_piece_text(reply) for reply in replies]).strip()
    if left_out:
        translated += "\n" + cut_marker(left_out)
    return ChatResult(
        translated,
        sum(reply.input_tokens for reply in replies),
        sum(reply.output_tokens for reply in replies),
        replies[0].model,
    )


def _piece_text(reply: ChatReply) -> str:
    text = clean_translation(reply.text)
    return text + TRUNCATED if reply.truncated else text


def _named(code: str) -> str:
    name = language_name(code)
    if name is None:
        raise ConfigError(f"unknown language {code!r}: use an ISO 639-1 code like 'en'")
    return name


__all__ = ["TRUNCATED", "ChatResult", "summarize", "translate"]
