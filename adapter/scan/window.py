"""The time window a scan walks (pure: the caller passes the clock).

A reconciler scan starts at the account's watermark less an overlap (clocks differ; a message
may be written late) and ends ``grace`` seconds before now: audio younger than that may still
have its webhook in flight, and the next scan covers it. The first scan of an account starts
when the account was added, at most ``FIRST_LOOKBACK`` ago: older audio is for ``backfill``.

``parse_when`` reads the ``--since``/``--until`` of ``backfill``: an ISO 8601 date or time, or a
duration back from now (``30d``, ``12h``, ``45m``, ``90s``, ``2w``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: how far back the first reconciliation of an account looks
FIRST_LOOKBACK = timedelta(days=1)

_DURATION = re.compile(r"([0-9]{1,6})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Window:
    """``[since, until]``, both aware UTC datetimes."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("a window's times must be timezone-aware")

    @property
    def empty(self) -> bool:
        return self.until <= self.since


def reconcile_window(
    *,
    watermark: datetime | None,
    added_at: datetime,
    now: datetime,
    overlap: float,
    grace: float,
) -> Window:
    """The window of the next reconciler scan of one account."""
    start = watermark if watermark is not None else max(added_at, now - FIRST_LOOKBACK)
    return Window(start - timedelta(seconds=overlap), now - timedelta(seconds=grace))


def reconcile_grace(interval: float) -> float:
    """How young audio the periodic reconciler leaves to its webhook: 30 s, or a quarter of
    the interval when that is shorter (a test running every few seconds)."""
    return min(30.0, interval / 4) if interval > 0 else 30.0


#: the years a WHEN may name: every database holds them (Python's reach 1 to 9999)
FIRST_YEAR, LAST_YEAR = 1970, 9998


def parse_when(text: str, now: datetime) -> datetime:
    """``--since``/``--until``: ISO 8601 (a date is midnight UTC; no zone is UTC) or a
    duration before ``now``, from 1970 to 9998; ``ValueError`` with a message naming both
    forms."""
    value = text.strip()
    match = _DURATION.fullmatch(value.lower())
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        try:
            moment = now - timedelta(**{unit: amount})
        except OverflowError:
            raise ValueError(f"{text!r} reaches back before the year 1") from None
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{text!r} is neither an ISO 8601 date or time (2026-11-01, 2026-11-01T08:00Z) "
                "nor a duration (30d, 12h, 45m, 90s, 2w)"
            ) from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"{text!r} is not between {FIRST_YEAR} and {LAST_YEAR}")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__ = ["FIRST_LOOKBACK", "Window", "parse_when", "reconcile_grace", "reconcile_window"]
