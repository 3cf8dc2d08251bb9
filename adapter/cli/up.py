"""The commands that listen: ``up`` (the whole service in one process, the single-box default)
and ``serve`` (the webhook receiver and admin API of a deployment).

Both bind their port before anything else starts: a busy port is one line and exit 1.
"""

from __future__ import annotations

import argparse

import uvicorn

from adapter.cli import Failure
from adapter.cli.context import check_redis, load_settings
from adapter.single_box import run_up
from adapter.store.db import open_database
from adapter.web.app import listen_socket
from adapter.web.server import limits


def cmd_up(args: argparse.Namespace) -> int:
    settings = load_settings()
    check_redis(settings)
    return run_up(settings, host=args.host, port=args.port, threads=args.threads)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.redis_url is None:
        raise Failure("`transcriber serve` needs TRANSCRIBER_REDIS_URL (or use `transcriber up`)")
    open_database(settings.database_url)
    check_redis(settings)
    # uvicorn binds in its own workers; a port taken now is one line instead of its exit 3
    listen_socket(args.host, args.port).close()
    uvicorn.run(
        "adapter.web.asgi:create",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        **limits(settings),
    )
    return 0


__all__ = ["cmd_serve", "cmd_up"]
