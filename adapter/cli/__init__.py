"""``transcriber`` — the command line.

- ``parser``: the grammar (every command, option, help text and default); ``options``: the
  argument types and options several commands share.
- the handlers, ``cmd_*(args) -> int``: ``up`` (the single box), ``service`` (serve, worker,
  migrate: the deployed parts), ``accounts`` (accounts …, keys rotate), ``work`` (transcribe,
  status, retry, demo); ``context``: what they share (settings, the account store).

Exit codes: 0 success, 2 bad usage (argparse), 1 failure with one line on stderr — a traceback
only with ``--debug``. Handlers raise :class:`Failure` (or any ``TranscriberError``) for a
failure the user can act on; anything else is reported as unexpected.
"""

from __future__ import annotations

import argparse
import importlib
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
        print(
            f"transcriber: unexpected {type(exc).__name__}: {one_line(exc)} "
            "(run with --debug for details)",
            file=sys.stderr,
        )
        return 1


def handler(name: str) -> Handler:
    """The handler a command names, ``"module:function"`` in this package (see ``parser``)."""
    module, _, function = name.partition(":")
    return cast(Handler, getattr(importlib.import_module(f"{__name__}.{module}"), function))


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, with every registered secret masked."""
    try:
        text = redact_text(str(exc))
    except Exception:
        text = type(exc).__name__
    return " ".join(text.split())[:500] or type(exc).__name__


__all__ = ["Failure", "build_parser", "handler", "main"]
