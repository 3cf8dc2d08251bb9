"""The chat model: summaries and translations of transcripts, through any OpenAI-compatible
chat API (OpenAI, llama.cpp, Ollama, vLLM).

* :func:`summarize` — a transcript's summary: at most five ``- `` lines in a given language.
* :func:`translate` — a transcript's translation, long ones piece by piece.
* :class:`ChatModel` — the model and where it is; ``complete`` is its one call.
* :class:`ChatResult`, :class:`ChatReply` — what came back, with its token counts.
* :class:`Message` — one message of a prompt.

Modules: ``prompts`` (what is asked and what of the answer is kept) and ``pieces`` (long texts
cut and joined) are pure; ``client`` is the I/O; ``tasks`` composes them.

Errors: only ``adapter.errors`` types leave this package, mapped once in ``client``; the
messages never carry the server's text, the key or the URL.

    TranscriberError
     ├── TransientError
     │    ├── RateLimited          429 (with Retry-After), unless the account is out of credit
     │    └── EngineUnavailable    5xx, 408/409/425, a timeout, no connection; an answer that
     │                             is no completion (HTML, malformed JSON, no choice, no text)
     └── PermanentError
          ├── ConfigError          no model name, a URL that is not http(s), OpenAI's API
          │                        without a key, an unknown language code
          └── EngineRejected       400/401/403/404/413/422, insufficient_quota; the model
                                   refused (refused), its answer was filtered (content_filter),
                                   or it spent every token before writing (output_limit)

A caller's bug (no messages, ``max_tokens`` out of range, a timeout that is not a positive
number) is a ``ValueError`` or ``TypeError``, not part of the tree.
"""

from adapter.chat.client import DEFAULT_MODEL as DEFAULT_CHAT_MODEL
from adapter.chat.client import ChatModel, ChatReply
from adapter.chat.prompts import Message
from adapter.chat.tasks import ChatResult, summarize, translate

__all__ = [
    "DEFAULT_CHAT_MODEL",
    "ChatModel",
    "ChatReply",
    "ChatResult",
    "Message",
    "summarize",
    "translate",
]
