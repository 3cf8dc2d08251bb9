"""``transcriber`` — the command line.

- ``parser``: the grammar (every command, option, help text and default); ``options``: the
  argument types and options several commands share.
- the handlers, ``cmd_*(args) -> int``: ``up`` (up, serve: the commands that listen),
  ``service`` (worker, migrate), ``accounts`` (accounts …, keys rotate), ``work`` (transcribe,
  status, list, retry, demo), ``scan`` (backfill, reconcile); ``context``: what they share
  (settings, the database, the account store, Redis).

Exit codes: 0 success, 2 bad usage (argparse), 1 failure with one line on stderr — a traceback
only with ``--debug``. Handlers raise :class:`Failure` (or any ``TranscriberError``) for a
failure the user can act on, in words that say what is wrong and what to do. A database or
Redis error that escapes them still names its service and variable; anything else is reported
as unexpected.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Sequence
from typing import cast

from adapter.cli.parser import build_parser
from adapter.errors import TranscriberError
from adapter.observability.redact import redact_text

Handler = Callable[[argparse.Namespace], int]


class Failure(Exception):
    """A failure to report in one line (exit 1)."""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return handler(args.handler)(args)
    except KeyboardInterrupt:
        return 130
    except (Failure, TranscriberError) as exc:
        if args.debug:
            raise
        print(f"transcriber: {one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.debug:
            raise
        print(f"transcriber: {unexpected(exc)}", file=sys.stderr)
        return 1


def handler(name: str) -> Handler:
    """The handler a command names, ``"module:function"`` in this package (see ``parser``)."""
    module, _, function = name.partition(":")
    return cast(Handler, getattr(importlib.import_module(f"{__name__}.{module}"), function))


#: what a library's error that no handler turned into words is about, by the library's name
_SERVICES = {
    "sqlalchemy": "the database failed ({}); check that it runs and TRANSCRIBER_DATABASE_URL",
    "psycopg": "the database failed ({}); check that it runs and TRANSCRIBER_DATABASE_URL",
    "redis": "Redis failed ({}); check that it runs and TRANSCRIBER_REDIS_URL",
}
#: SQLAlchemy's additions to a driver's message: the driver's class, the statement, its
#: parameters (or that they are hidden) and a link to its FAQ
_LIBRARY_NOISE = re.compile(
    r"^\((?:\w+\.)+\w+\)|\s*(\(Background on this error at: [^)]*\)|\[SQL: .*?\]"
    r"|\[(SQL )?parameters[ :].*?\])",
    re.S,
)


def unexpected(exc: Exception) -> str:
    """A failure no handler described: named by its service when a library raised it."""
    template = _SERVICES.get(type(exc).__module__.partition(".")[0])
    if template is not None:
        return template.format(one_line(exc))
    return f"unexpected {type(exc).__name__}: {one_line(exc)} (run with --debug for details)"


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, with every registered secret masked and without
    SQLAlchemy's statement and link."""
    try:
        text = redact_text(_LIBRARY_NOISE.sub("", str(exc)))
    except Exception:
        text = type(exc).__name__
    return " ".join(text.split())[:500] or type(exc).__name__


__all__ = ["Failure", "build_parser", "handler", "main"]
