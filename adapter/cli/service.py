"""The service as it is deployed: ``worker`` (Dramatiq) and ``migrate`` (``serve``, which
listens, is in ``up``).

Light on imports: a worker scaled up from zero starts its first job sooner.
"""

from __future__ import annotations

import argparse
import os
import sys

from adapter.accounts import seal_unbound
from adapter.cli import Failure
from adapter.cli.context import check_redis, load_settings
from adapter.secrets import Keyring, ensure_dev_key, load_keyring
from adapter.store import AccountStore, Ledger, get_engine, migrate
from adapter.store.db import check_location, describe, open_database

#: Dramatiq reads its idle-poll interval (ms) from this variable once, when ``dramatiq.worker``
#: is first imported, as the default of ``Worker(worker_timeout=…)``; its CLI has no option
WORKER_TIMEOUT_VARIABLE = "dramatiq_worker_timeout"
#: what ``adapter.single_box.WORKER_POLL_MS`` is (a test holds them equal); importing that
#: module would load the whole web side into every worker's start
WORKER_POLL_MS = 100


def worker_command(args: argparse.Namespace) -> list[str]:
    """Dramatiq's own CLI with the service's module and the options given."""
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "adapter.jobs.entry",
        "--processes",
        str(args.processes),
        "--threads",
        str(args.threads),
        "--skip-logging",
        "--worker-shutdown-timeout",
        str(int(args.shutdown_timeout * 1000)),
    ]
    if args.queues:
        argv += ["--queues", *args.queues]
    return argv


def cmd_worker(args: argparse.Namespace) -> int:
    """Become Dramatiq's CLI (same process id, so SIGTERM reaches it directly).

    Dramatiq's idle consumers wait up to ``dramatiq_worker_timeout`` ms between polls of an
    empty queue; its default (1000) adds up to a second to every voice note. This process has
    imported ``dramatiq.worker`` already (the broker's module does), too late to change that
    default here, so a fresh interpreter starts Dramatiq with the variable in its environment.
    """
    settings = load_settings()
    if settings.redis_url is None:
        raise Failure("`transcriber worker` needs TRANSCRIBER_REDIS_URL (or use `transcriber up`)")
    open_database(settings.database_url)
    check_redis(settings)
    env = dict(os.environ)
    env.setdefault(WORKER_TIMEOUT_VARIABLE, str(WORKER_POLL_MS))
    argv = worker_command(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)  # noqa: S606 - our own interpreter, a fixed argv


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the schema, and outside production without TRANSCRIBER_ENCRYPTION_KEYS
    the development key beside the database: the step every other command expects done."""
    settings = load_settings()
    check_location(settings.database_url)
    ensure_dev_key(settings)
    keyring: Keyring | None = None
    if settings.encryption_keys is not None or not settings.production:
        keyring = load_keyring(settings)  # a malformed key fails here, before the schema changes
    revision = migrate(settings.database_url)
    print(f"{describe(settings.database_url)}: schema at revision {revision}")
    if keyring is None:
        print(
            "warning: without TRANSCRIBER_ENCRYPTION_KEYS the stored secrets were not checked: "
            "values written before they were bound to their account are sealed by the next "
            "`transcriber migrate` with the keys set",
            file=sys.stderr,
        )
        return 0
    engine = get_engine(settings.database_url)
    ledger = Ledger(engine, lease_seconds=settings.lease_seconds)
    sealed = seal_unbound(AccountStore(engine), ledger, keyring)
    if sealed:
        print(f"sealed {sealed} stored value(s) to their account and field")
    return 0


__all__ = ["WORKER_POLL_MS", "cmd_migrate", "cmd_worker", "worker_command"]
