"""``doctor``: print each check of ``adapter.doctor`` on one line (or ``--json``); exit 1 when
one fails.

The database comes first and alone: without it nothing else can be looked at, so its failure
is the one line printed. Redis is a check here, not a precondition.
"""

from __future__ import annotations

import argparse
import json

from adapter import doctor
from adapter.cli.context import load_settings
from adapter.secrets import load_keyring
from adapter.store.db import DatabaseNotReady, open_database
from adapter.wiring import build_runtime


def cmd_doctor(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        open_database(settings.database_url)
    except DatabaseNotReady as exc:
        checks = [
            doctor.Check(
                "database", doctor.Status.fail, str(exc), "see the message: usually `migrate`"
            )
        ]
        _print(checks, as_json=args.json)
        return 1
    load_keyring(settings)  # a bad TRANSCRIBER_ENCRYPTION_KEYS is its one line
    rt = build_runtime(settings, component="cli", embedded=True, observability=False)
    try:
        checks = doctor.run_checks(rt, args.account_id)
    finally:
        rt.close()
    _print(checks, as_json=args.json)
    return 0 if all(check.ok for check in checks) else 1


def _print(checks: list[doctor.Check], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(doctor.report(checks), indent=2))
        return
    for check in checks:
        print(check.line())


__all__ = ["cmd_doctor"]
