"""``accounts add|update|enable|disable|list|delete`` and ``keys rotate``: the helpdesk
accounts and their encrypted secrets.

``add`` and ``update`` refuse a model the account's engine cannot have, and warn (on stderr)
when an ``openai`` account has no key anywhere; ``list`` marks such an account. ``delete``
removes the account and its secrets; its transcriptions stay for the record.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from adapter import accounts as acc
from adapter import usage
from adapter.cli import Failure
from adapter.cli.context import Accounts, open_accounts
from adapter.cli.secrets import read_secrets
from adapter.store import Account, Ledger
from adapter.views import budget_view

#: options of ``accounts add|update`` that go to the account as given
_FIELDS = (
    "chatwoot_url",
    "api_token",
    "webhook_secret",
    "openai_api_key",
    "user_token",
    "stream_token",
    "engine",
    "model",
    "base_url",
    "language",
    "remove_silence",
    "failure_notes",
    "monthly_budget_usd",
    "inboxes",
    "min_seconds",
    "mode",
    *acc.EXTRA_FIELDS,
)
#: flags of ``accounts update`` that go to the account only when set
_FLAGS = (
    "drop_previous_secret",
    "clear_openai_api_key",
    "clear_user_token",
    "clear_stream_token",
)


def changes(args: argparse.Namespace) -> acc.AccountChanges:
    """The account options given on the command line, validated; the secret options read
    from their sources first (``adapter.cli.secrets``), unless they were."""
    read_secrets(args)
    data: dict[str, Any] = {}
    for name in _FIELDS:
        value = getattr(args, name, None)
        if value is not None:
            data[name] = value
    for name in _FLAGS:
        if getattr(args, name, False):
            data[name] = True
    if getattr(args, "inbox_language", None):
        data["inbox_languages"] = dict(args.inbox_language)
    return acc.parse_changes(data, label=option)


def option(field: str) -> str:
    """The option that sets an account field: ``chatwoot_url`` → ``--chatwoot-url``."""
    name = field.split(".")[0]
    return "--inbox-language" if name == "inbox_languages" else "--" + name.replace("_", "-")


def cmd_add(args: argparse.Namespace) -> int:
    wanted = changes(args)
    opened = open_accounts()
    acc.check_model(wanted, None, opened.settings)
    account = acc.create_account(opened.store, opened.keyring, args.account_id, wanted)
    print(f"account {account.id} added")
    _warn(account, opened)
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    wanted = changes(args)
    opened = open_accounts()
    acc.check_model(wanted, opened.store.get(args.account_id), opened.settings)
    account = acc.update_account(opened.store, opened.keyring, args.account_id, wanted)
    print(f"account {account.id} updated")
    _warn(account, opened)
    return 0


def _warn(account: Account, opened: Accounts) -> None:
    warning = acc.key_warning(account, opened.settings)
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)


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
    accounts = opened.store.all()
    views = [acc.account_view(a, opened.settings) for a in accounts]
    warnings = [acc.key_warning(a, opened.settings) for a in accounts]
    for view, account in zip(views, accounts, strict=True):
        spent = usage.month_to_date(opened.usage, opened.prices, account.id)
        view["budget"] = budget_view(account.monthly_budget_usd, spent)
    if args.json:
        for view, warning in zip(views, warnings, strict=True):
            view["warnings"] = [warning] if warning else []
        print(json.dumps(views, indent=2))
        return 0
    if not views:
        print("no accounts")
        return 0
    print(
        f"{'ID':>8}  {'ENABLED':7}  {'ENGINE':6}  {'KEY':11}  {'SECRETS':7}  "
        f"{'FAILURE NOTES':13}  {'USER TOKEN':10}  {'STREAMS':7}  {'THIS MONTH USD':22}  "
        "CHATWOOT URL"
    )
    for v, warning in zip(views, warnings, strict=True):
        key = f"{v['key_source']} (!)" if warning else v["key_source"]
        print(
            f"{v['account_id']:>8}  {'yes' if v['enabled'] else 'no':7}  {v['engine']:6}  "
            f"{key:11}  {v['webhook_secrets']:<7}  {'on' if v['failure_notes'] else 'off':13}  "
            f"{'yes' if v['user_token'] else 'no':10}  {'yes' if v['stream_token'] else 'no':7}  "
            f"{_month(v['budget']):22}  "
            f"{v['chatwoot_url']}"
        )
    print(
        "SECRETS: webhook secrets accepted (2 while a rotated one is still honoured). "
        "STREAMS: a stream token is set (live transcription). "
        "THIS MONTH: cost so far of the month (UTC) / budget.",
        file=sys.stderr,
    )
    for warning in filter(None, warnings):
        print(f"(!) {warning}", file=sys.stderr)
    return 0


def _month(budget: dict[str, Any]) -> str:
    spent = f"{budget['spent_usd']:.2f}"
    if budget["monthly_budget_usd"] is None:
        return f"{spent} (no budget)"
    return f"{spent} / {budget['monthly_budget_usd']:.2f} ({budget['percent']:.0f}%)"


def cmd_delete(args: argparse.Namespace) -> int:
    opened = open_accounts()
    account = opened.store.get(args.account_id)
    if account is None:
        raise Failure(f"account {args.account_id} not found (transcriber accounts list)")
    if not args.yes:
        _confirm(account)
    acc.delete_account(opened.store, account.id)
    print(
        f"account {account.id} deleted with its secrets; its webhooks now get 404. Its "
        f"transcriptions are kept (transcriber list --account-id {account.id})"
    )
    return 0


def _confirm(account: Account) -> None:
    """Ask on a terminal; refuse without one (a script must say --yes)."""
    if not sys.stdin.isatty():
        raise Failure(
            f"account {account.id} not deleted: standard input is not a terminal to confirm "
            "on; add --yes"
        )
    try:
        answer = input(
            f"Delete account {account.id} ({account.chatwoot_url}) and its stored secrets? "
            "Its transcriptions are kept. [y/N] "
        )
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise Failure(f"account {account.id} not deleted")


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
    "cmd_delete",
    "cmd_disable",
    "cmd_enable",
    "cmd_list",
    "cmd_rotate_keys",
    "cmd_update",
    "option",
]
