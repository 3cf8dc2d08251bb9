"""``transcriber up``: the whole service in one process, the single-box default."""

from __future__ import annotations

import argparse

from adapter.cli.context import load_settings
from adapter.single_box import run_up


def cmd_up(args: argparse.Namespace) -> int:
    return run_up(load_settings(), host=args.host, port=args.port, threads=args.threads)


__all__ = ["cmd_up"]
