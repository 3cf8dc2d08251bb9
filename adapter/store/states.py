"""The states of a transcription and of its chunks, and the moves allowed between them.

    queued ──▶ transcribing ──▶ transcribed ──▶ delivered
      ▲  │        │  │  ▲           │
      │  │        │  └──┘ (a lost lease is taken over)
      │  └────────┴──────▶ skipped   (nothing to transcribe: too large, not audio, no key…)
      │           └──────▶ failed    (permanent error, or attempts used up)
      │           └──────▶ queued    (transient error: retried later)
      └──── failed, skipped ◀── retry by command (a failed row with a transcript goes back to
                                transcribed, so it is delivered without paying twice)

A chunk: ``pending ──▶ transcribing ──▶ done``, back to ``pending`` after a transient error.

The failure note a row ending failed or skipped owes its agents (``FailureNote``), beside the
row's state: ``pending ──▶ posted``, or ``gave_up`` (Chatwoot refused it, or stayed down), or
``off`` (the account does not want them). A retry cancels a pending one; a posted one is never
owed again.

``TRANSITIONS`` is the only statement of these rules: every state change the ledger makes
consults it (``check``), and a test walks it.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    queued = "queued"
    transcribing = "transcribing"
    transcribed = "transcribed"
    delivered = "delivered"
    failed = "failed"
    skipped = "skipped"


class ChunkState(StrEnum):
    pending = "pending"
    transcribing = "transcribing"
    done = "done"


class FailureNote(StrEnum):
    pending = "pending"
    posted = "posted"
    gave_up = "gave_up"
    off = "off"


#: from each state, the states a transcription may move to
TRANSITIONS: dict[State, frozenset[State]] = {
    State.queued: frozenset({State.transcribing, State.skipped, State.failed}),
    State.transcribing: frozenset(
        {State.transcribing, State.transcribed, State.queued, State.skipped, State.failed}
    ),
    State.transcribed: frozenset({State.delivered, State.failed}),
    State.delivered: frozenset(),
    State.failed: frozenset({State.queued, State.transcribed}),
    State.skipped: frozenset({State.queued}),
}

#: from each chunk state, the states a chunk may move to
CHUNK_TRANSITIONS: dict[ChunkState, frozenset[ChunkState]] = {
    ChunkState.pending: frozenset({ChunkState.transcribing}),
    ChunkState.transcribing: frozenset(
        {ChunkState.transcribing, ChunkState.pending, ChunkState.done}
    ),
    ChunkState.done: frozenset(),
}

#: states whose work is not finished; the recovery sweep watches them
ACTIVE_STATES = frozenset({State.queued, State.transcribing, State.transcribed})
#: states nothing moves out of by itself
FINAL_STATES = frozenset({State.delivered, State.failed, State.skipped})


class IllegalTransition(Exception):
    """A state change the rules above do not allow: a bug in the caller."""


def sources(target: State) -> frozenset[State]:
    """The states a transcription may move to ``target`` from."""
    return frozenset(state for state, targets in TRANSITIONS.items() if target in targets)


def check(current: State, target: State) -> None:
    """Raise :class:`IllegalTransition` unless ``current → target`` is allowed."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"a transcription cannot go from {current} to {target}")


def check_chunk(current: ChunkState, target: ChunkState) -> None:
    if target not in CHUNK_TRANSITIONS[current]:
        raise IllegalTransition(f"a chunk cannot go from {current} to {target}")


__all__ = [
    "ACTIVE_STATES",
    "CHUNK_TRANSITIONS",
    "FINAL_STATES",
    "TRANSITIONS",
    "ChunkState",
    "FailureNote",
    "IllegalTransition",
    "State",
    "check",
    "check_chunk",
    "sources",
]
