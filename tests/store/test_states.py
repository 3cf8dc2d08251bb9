"""The state machine, as data: every rule in one table, walked here."""

from __future__ import annotations

import itertools

import pytest

from adapter.store.states import (
    ACTIVE_STATES,
    CHUNK_TRANSITIONS,
    FINAL_STATES,
    TRANSITIONS,
    ChunkState,
    IllegalTransition,
    State,
    check,
    check_chunk,
    sources,
)


def reachable(start: State) -> set[State]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_state_has_a_rule_and_is_reachable_from_queued() -> None:
    assert set(TRANSITIONS) == set(State)
    assert reachable(State.queued) == set(State)


def test_delivered_is_the_only_end_nothing_leaves() -> None:
    assert [s for s, targets in TRANSITIONS.items() if not targets] == [State.delivered]


def test_failed_and_skipped_leave_only_by_retry() -> None:
    assert TRANSITIONS[State.failed] == {State.queued, State.transcribed}
    assert TRANSITIONS[State.skipped] == {State.queued}


def test_a_transcript_is_never_paid_for_twice() -> None:
    """Once transcribed, no path leads back to transcribing without passing failed→queued."""
    assert State.transcribing not in TRANSITIONS[State.transcribed]
    assert State.queued not in TRANSITIONS[State.transcribed]


def test_active_and_final_states_split_the_states() -> None:
    assert set(State) == ACTIVE_STATES | FINAL_STATES
    assert not ACTIVE_STATES & FINAL_STATES
    for state in ACTIVE_STATES:
        assert reachable(state) & {State.delivered, State.failed}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(State, State)))
def test_check_agrees_with_the_table(current: State, target: State) -> None:
    if target in TRANSITIONS[current]:
        check(current, target)
        assert current in sources(target)
    else:
        with pytest.raises(IllegalTransition, match=f"from {current} to {target}"):
            check(current, target)
        assert current not in sources(target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ChunkState, ChunkState)))
def test_chunk_check_agrees_with_the_table(current: ChunkState, target: ChunkState) -> None:
    if target in CHUNK_TRANSITIONS[current]:
        check_chunk(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_chunk(current, target)


def test_a_done_chunk_is_never_sent_again() -> None:
    assert CHUNK_TRANSITIONS[ChunkState.done] == frozenset()
