"""``accounts add|update|enable|disable|list`` and ``keys rotate``: the helpdesk accounts and
their encrypted secrets."""

from __future__ import annotations

import argparse
import json
from typing import Any

from adapter import accounts as acc
from adapter.cli.context import open_accounts
from adapter.store import Ledger

#: options of ``accounts add|update`` that go to the account as given
_FIELDS = (
    "chatwoot_url",
    "api_token",
    "webhook_secret",
    "openai_api_key",
    "user_token",
    "engine",
    "model",
    "base_url",
    "language",
    "remove_silence",
)
#: flags of ``accounts update`` that go to the account only when set
_FLAGS = ("drop_previous_secret", "clear_openai_api_key", "clear_user_token")


def changes(args: argparse.Namespace) -> acc.AccountChanges:
    """The account options given on the command line, validated."""
    data: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            data[name] = value
    for name in _FLAGS:
        if getattr(args, name, False):
            data[name] = True
    return acc.parse_changes(data)


def cmd_add(args: argparse.Namespace) -> int:
    opened = open_accounts()
    account = acc.create_account(opened.store, opened.keyring, args.account_id, changes(args))
    print(f"account {account.id} added")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    opened = open_accounts()
    account = acc.update_account(opened.store, opened.keyring, args.account_id, changes(args))
    print(f"account {account.id} updated")
    return 0


def cmd_enable(args: argparse.Namespace) -> int:
    account = acc.set_enabled(open_accounts().store, args.account_id, True)
    print(f"account {account.id} enabled")
    return 0


def cmd_disable(args: argparse.Namespace) -> int:
    account = acc.set_enabled(open_accounts().store, args.account_id, False)
    print(f"account {account.id} disabled")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    opened = open_accounts()
    views = [acc.account_view(a, opened.settings) for a in opened.store.all()]
    if args.json:
        print(json.dumps(views, indent=2))
    elif not views:
        print("no accounts")
    else:
        print(f"{'ID':>8}  {'ENABLED':7}  {'ENGINE':6}  {'KEY':11}  {'SECRETS':7}  CHATWOOT URL")
        for v in views:
            print(
                f"{v['account_id']:>8}  {'yes' if v['enabled'] else 'no':7}  {v['engine']:6}  "
                f"{v['key_source']:11}  {v['webhook_secrets']:<7}  {v['chatwoot_url']}"
            )
    return 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    opened = open_accounts()
    ledger = Ledger(opened.store.engine, lease_seconds=opened.settings.lease_seconds)
    count = acc.rotate_all(opened.store, ledger, opened.keyring)
    print(
        f"re-encrypted {count} stored secret(s) with the first key of TRANSCRIBER_ENCRYPTION_KEYS"
    )
    return 0


__all__ = [
    "changes",
    "cmd_add",
    "cmd_disable",
    "cmd_enable",
    "cmd_list",
    "cmd_rotate_keys",
    "cmd_update",
]
