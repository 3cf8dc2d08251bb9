"""Live transcription: ``WS /v1/realtime?intent=transcription``, the transcription subset of
OpenAI's Realtime API (docs/live.md).

    protocol.py    client events in, server events out, beta and GA names (pure)
    audio.py       pcm16 24 kHz / µ-law 8 kHz bytes → 16 kHz float samples, streaming
    vad.py         Silero VAD and the turn rules: where utterances start and stop
    session.py     one session's state: items, commits, deltas, completions (no I/O)
    whisper.py     the offline engine on one utterance, encoded at its own length
    pool.py        the process's decode threads (finals before partials)
    recognizer.py  the account's engine on an utterance (offline in the pool, OpenAI per call)
    limits.py      streams open per account
    parts.py       what the runtime holds for all of it
    hooks.py       the account a token opens, and what a finished stream leaves (adapter.streams)
    endpoint.py    the Starlette WebSocket route: auth, limits, the session's I/O

This ``__init__`` imports only :mod:`adapter.live.parts` (what ``adapter.runtime`` needs):
the endpoint's module imports ``adapter.streams``, which imports the runtime, so the web app
imports ``adapter.live.endpoint`` itself.
"""

from adapter.live.parts import LiveParts, build_live

__all__ = ["LiveParts", "build_live"]
