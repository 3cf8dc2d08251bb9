"""What a failed attempt leads to, and what the operator sees of it."""

from __future__ import annotations

import logging

import pytest
from dramatiq.middleware.time_limit import TimeLimitExceeded

from adapter.errors import (
    AudioTooLarge,
    EngineRejected,
    EngineUnavailable,
    NoKey,
    NotAudio,
    RateLimited,
    Reason,
)
from adapter.jobs.backoff import Backoff
from adapter.jobs.step import judge, lost_attempts, report, timed_out

POLICY = Backoff(base=2.0, cap=300.0, max_attempts=5, jitter=lambda: 1.0)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (AudioTooLarge("120 MB"), Reason.too_large),
        (NotAudio("a PDF"), Reason.not_audio),
        (NoKey("no key"), Reason.no_key),
    ],
)
def test_skips_are_final_and_keep_their_code(error: Exception, reason: Reason) -> None:
    verdict = judge(error, 1, POLICY)
    assert (verdict.outcome, verdict.reason) == ("skipped", reason)


def test_a_permanent_error_fails_at_once_with_its_reason_and_detail() -> None:
    error = EngineRejected("openai answered HTTP 401", reason="unauthorized")
    verdict = judge(error, 1, POLICY)
    assert (verdict.outcome, verdict.reason) == ("failed", Reason.engine_rejected)
    assert error.detail == "unauthorized"
    assert "401" in verdict.error


def test_transient_errors_back_off_then_give_up() -> None:
    delays = [judge(EngineUnavailable("timed out"), n, POLICY).delay_ms for n in (1, 2, 3, 4)]
    assert delays == [2000, 4000, 8000, 16000]
    last = judge(EngineUnavailable("timed out"), 5, POLICY)
    assert last.outcome == "failed"
    assert last.error.startswith("gave up after 5 attempts: ")


def test_the_servers_retry_after_wins_and_is_bounded() -> None:
    assert judge(RateLimited("429", retry_after=7), 1, POLICY).delay_ms == 7000
    assert judge(RateLimited("429", retry_after=0), 1, POLICY).delay_ms == 500
    assert judge(RateLimited("429", retry_after=1e9), 1, POLICY).delay_ms == 3_600_000


def test_the_cap_holds() -> None:
    assert judge(EngineUnavailable("down"), 4, Backoff(base=100, cap=150)).delay_ms <= 180_000


def test_a_bug_is_internal_and_its_message_is_not_stored() -> None:
    verdict = judge(KeyError("sk-secret-in-a-bug"), 1, POLICY)
    assert (verdict.outcome, verdict.reason) == ("retry", Reason.internal)
    assert verdict.error == "internal error (KeyError)"


def test_every_retry_is_logged_with_its_cause_and_a_final_failure_at_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    error = EngineUnavailable("openai timed out after 120 s")
    report("transcription 7 chunk 3", error, judge(error, 2, POLICY), 2, 5)
    report("transcription 7 chunk 3", error, judge(error, 5, POLICY), 5, 5)
    retry, final = caplog.records
    assert retry.levelno == logging.WARNING
    assert "attempt 2 of 5" in retry.getMessage()
    assert "engine_unavailable" in retry.getMessage()
    assert "timed out after 120 s" in retry.getMessage()
    assert "retrying in 4.0 s" in retry.getMessage()
    assert final.levelno == logging.ERROR
    assert "failed after 5 attempts" in final.getMessage()


def test_a_bug_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError("unexpected")
    except ValueError as exc:
        report("transcription 9", exc, judge(exc, 1, POLICY), 1, 5)
    bug = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert bug.exc_info is not None and bug.exc_info[0] is ValueError


def test_a_time_limit_is_judged_like_a_timeout() -> None:
    error = timed_out(TimeLimitExceeded(), "the chunk's engine call")
    verdict = judge(error, 1, POLICY)
    assert (verdict.outcome, verdict.reason) == ("retry", Reason.engine_unavailable)
    assert "ran past its time limit" in verdict.error
    other = ValueError("x")
    assert timed_out(other, "anything") is other


def test_work_whose_attempts_all_died_fails_with_a_reason() -> None:
    verdict = judge(lost_attempts(5), 6, POLICY)
    assert verdict.outcome == "failed"
    assert "gave up after 5 attempts" in verdict.error
