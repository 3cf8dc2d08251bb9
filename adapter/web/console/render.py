"""Turning a template and its values into an HTML response, with the console's headers.

Every value is escaped (Jinja2 autoescape), a missing one is an error rather than an empty
string (``StrictUndefined``), and every page forbids inline scripts and styles, framing, and
caching: it shows an operator's data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from adapter.engines.languages import language_name

TEMPLATES = Path(__file__).with_name("templates")

#: no inline script or style anywhere: the pages' scripts and styles are files served here
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def when(value: datetime | str | None) -> str:
    """A time as ``2024-05-01 13:04:05 UTC`` (stored times are UTC, naive on SQLite)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(value: float | None) -> str:
    """A duration for people: ``42.3 s``, ``3 min 05 s``, ``2 h 01 min``."""
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def usd(value: float | None) -> str:
    """Money as ``$1.2345`` (cents hide the cost of short voice notes)."""
    if value is None:
        return "—"
    return f"${value:,.4f}" if value < 100 else f"${value:,.2f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def clock(value: float | None) -> str:
    """A moment of a recording as ``0:05``, ``12:40``, ``1:02:03`` (whole seconds, down)."""
    if value is None or not math.isfinite(value) or value < 0:
        return "—"
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def language(code: str | None) -> str:
    """A language code named for people: ``French (fr)``; an unknown code as it is."""
    if not code:
        return "—"
    name = language_name(code)
    return f"{name} ({code})" if name else code


def count(value: int | None) -> str:
    """A count with thousands separated: ``12,345``."""
    return "—" if value is None else f"{value:,}"


def done(progress: Mapping[str, Any]) -> str:
    """How far a transcription is (``adapter.views.progress``): ``42 % · 3 of 7 chunks``.

    The percent is rounded down, so an unfinished transcription never reads 100 %."""
    shown = math.floor(float(progress.get("percent") or 0.0))
    total = int(progress.get("chunks_total") or 0)
    if not total:
        return f"{shown} % · not split into chunks yet"
    noun = "chunk" if total == 1 else "chunks"
    return f"{shown} % · {int(progress.get('chunks_done') or 0)} of {total} {noun}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        seconds=seconds,
        usd=usd,
        percent=percent,
        clock=clock,
        language=language,
        count=count,
        done=done,
    )
    return env


ENVIRONMENT = _environment()


def html(template: str, values: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    """The page ``template`` rendered with ``values``."""
    body = ENVIRONMENT.get_template(template).render(**values)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


__all__ = [
    "SECURITY_HEADERS",
    "clock",
    "count",
    "done",
    "html",
    "language",
    "percent",
    "seconds",
    "usd",
    "when",
]
