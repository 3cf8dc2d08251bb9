"""``accounts connect``: set a Chatwoot account up in one command, with an administrator's
access token.

Reads first (version, profile, bots, webhooks, attribute definitions, the inboxes' bots),
decides with ``adapter.connect.plan`` (pure), then — unless ``--dry-run`` — creates or updates
in Chatwoot what the plan says, and stores the bot's token, the webhook's secret and the user
token, encrypted, creating or updating the account (only the fields that differ: a second run
changes nothing). Every failure is one line; no token or secret is ever printed.

The order keeps a failure cheap: the database is opened and the token's role checked before
anything is written, and a Chatwoot that says it is older than 4.11.2, or lists webhooks
without secrets, stops the command before it writes anything.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from adapter import accounts as acc
from adapter import connect
from adapter.cli import Failure
from adapter.cli.accounts import changes as given_changes
from adapter.cli.accounts import option
from adapter.cli.context import Accounts, open_accounts
from adapter.cli.secrets import read_secrets
from adapter.controls import parse_languages
from adapter.errors import HelpdeskNotFound, HelpdeskRejected
from adapter.helpdesk.admin import AgentBot, ChatwootAdmin, Webhook
from adapter.helpdesk.chatwoot import ChatwootClient
from adapter.observability.redact import register_secret
from adapter.store import Account

#: options of ``accounts add`` that connect sets itself, from Chatwoot's answers
_FROM_CHATWOOT = ("api_token", "webhook_secret")


def cmd_connect(args: argparse.Namespace) -> int:
    for name in _FROM_CHATWOOT:
        if getattr(args, name, None) is not None:
            raise Failure(
                f"{option(name)} is not an option of accounts connect: it takes the bot's token "
                "and the webhook's secret from Chatwoot"
            )
    read_secrets(args)  # --user-token, --openai-api-key: before anything is asked of Chatwoot
    opened = open_accounts()
    public_url = _public_url(args.public_url or opened.settings.public_url)
    wanted = given_changes(args)  # validates --chatwoot-url and the other options
    assert wanted.chatwoot_url is not None  # required options
    assert wanted.user_token is not None
    stored = opened.store.get(args.account_id)
    acc.check_model(wanted, stored, opened.settings)
    with ChatwootClient() as client:
        admin = ChatwootAdmin(
            client,
            base_url=wanted.chatwoot_url,
            account_id=args.account_id,
            token=wanted.user_token.get_secret_value(),
        )
        seen = _read(admin, args.inbox_id)
        plan = connect.plan(seen, connect.Wanted(args.account_id, public_url, tuple(args.inbox_id)))
        if args.dry_run:
            print(f"dry run: nothing is written; for account {args.account_id} this would:")
            for line in plan.steps():
                print(f"  {line}")
            print(f"  {_account_step(args, stored, wanted, plan, opened)}")
            return 0
        bot, webhook = _apply(admin, plan, seen.version)
    fields = _fields(args, wanted, bot, webhook)
    changed = connect.account_changes(_stored_fields(stored, fields, opened), fields)
    if stored is None:
        account = acc.create_account(
            opened.store, opened.keyring, args.account_id, acc.parse_changes(changed, label=option)
        )
        outcome = "added"
    elif changed:
        account = acc.update_account(
            opened.store, opened.keyring, args.account_id, acc.parse_changes(changed, label=option)
        )
        outcome = "updated (" + ", ".join(sorted(changed)) + ")"
    else:
        account = stored
        outcome = "unchanged"
    for line in plan.steps(done=True):
        print(line)
    print(f"account {account.id} {outcome}; its secrets are stored encrypted")
    warning = acc.key_warning(account, opened.settings)
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _read(admin: ChatwootAdmin, inbox_ids: list[int]) -> connect.Seen:
    """Everything the plan needs, after checking that the token is an administrator's of the
    account and that this Chatwoot signs webhooks."""
    version = admin.version()
    if connect.too_old_to_sign(version):
        raise Failure(connect.old_chatwoot_message(version))
    profile = admin.profile()
    if profile.role is None:
        member = ", ".join(map(str, profile.account_ids)) or "none"
        raise Failure(
            f"the user token's user is not a member of Chatwoot account {admin.account_id} "
            f"(its accounts: {member}): check --account-id"
        )
    if profile.role not in ("administrator", ""):
        raise Failure(
            f"the user token is an {profile.role}'s of account {admin.account_id}; connecting "
            "needs an administrator's access token (Profile settings → Access token of an "
            "administrator)"
        )
    webhooks = admin.webhooks()
    if any(not hook.has_secret for hook in webhooks):
        raise Failure(connect.old_chatwoot_message(version))
    return connect.Seen(
        bots=admin.agent_bots(),
        webhooks=webhooks,
        definitions=admin.attribute_definitions(),
        inbox_bots={inbox_id: admin.inbox_agent_bot(inbox_id) for inbox_id in inbox_ids},
        version=version,
    )


def _apply(
    admin: ChatwootAdmin, plan: connect.Plan, version: str | None
) -> tuple[AgentBot, Webhook]:
    """Do in Chatwoot what ``plan`` says; the bot (with its token) and the webhook (with its
    secret)."""
    bot = plan.bot
    if bot is None:
        bot = admin.create_agent_bot(connect.BOT_NAME, description=connect.BOT_DESCRIPTION)
    elif bot.access_token is None:
        bot = admin.agent_bot(bot.id)
    if bot.access_token is None:
        raise Failure(
            f'Chatwoot did not show the access token of the agent bot "{bot.name}" (id {bot.id}): '
            f"copy it from Settings → Bots and give it with `transcriber accounts update "
            f"{admin.account_id} --api-token TOKEN`"
        )
    register_secret(bot.access_token)
    webhook = plan.webhook
    if webhook is None:
        webhook = admin.create_webhook(
            plan.url, name=connect.WEBHOOK_NAME, subscriptions=plan.subscriptions
        )
    elif plan.webhook_action == "update":
        webhook = admin.update_webhook(
            webhook.id, plan.url, name=connect.WEBHOOK_NAME, subscriptions=plan.subscriptions
        )
    if webhook.secret is None:
        raise Failure(connect.old_chatwoot_message(version))
    register_secret(webhook.secret)
    if plan.attribute_action == "create":
        try:
            admin.create_attribute_definition(
                "transcript_language",
                display_name=connect.ATTRIBUTE_NAME,
                description=connect.ATTRIBUTE_DESCRIPTION,
            )
        except HelpdeskRejected as exc:
            if isinstance(exc, HelpdeskNotFound) or "already been taken" not in str(exc):
                raise
    for inbox_id, assign in plan.inboxes.items():
        if assign:
            admin.set_agent_bot(inbox_id, bot.id)
    return bot, webhook


def _fields(
    args: argparse.Namespace, wanted: acc.AccountChanges, bot: AgentBot, webhook: Webhook
) -> dict[str, Any]:
    """What the account should hold: the given options, and the tokens from Chatwoot."""
    fields: dict[str, Any] = {
        name: value.get_secret_value() if hasattr(value, "get_secret_value") else value
        for name, value in wanted.model_dump(exclude_none=True, exclude_defaults=True).items()
    }
    fields["api_token"] = bot.access_token
    fields["webhook_secret"] = webhook.secret
    return fields


def _stored_fields(
    stored: Account | None, fields: dict[str, Any], opened: Accounts
) -> dict[str, Any] | None:
    """The stored account's values of ``fields``, secrets decrypted (never printed)."""
    if stored is None:
        return None
    values: dict[str, Any] = {}
    for name in fields:
        if name in connect.SECRET_FIELDS:
            encrypted = getattr(stored, f"{name}_enc", None)
            values[name] = (
                acc.open_secret(opened.keyring, stored.id, name, encrypted) if encrypted else None
            )
        elif name == "inboxes":
            ids = stored.inbox_ids
            values[name] = "all" if ids is None else sorted(int(i) for i in ids.split(",") if i)
        elif name == "inbox_languages":
            # merged into the stored map on update: unchanged when each given one is there
            have = parse_languages(stored.inbox_languages)
            given = fields[name]
            values[name] = given if all(have.get(k) == v for k, v in given.items()) else have
        else:
            values[name] = getattr(stored, name, None)
    return values


def _account_step(
    args: argparse.Namespace,
    stored: Account | None,
    wanted: acc.AccountChanges,
    plan: connect.Plan,
    opened: Accounts,
) -> str:
    """What storing would do, as far as the listings tell (a new bot's token and a new
    webhook's secret are not known before they are made). Names fields, never values."""
    if stored is None:
        return (
            f"add account {args.account_id}, storing the bot's token, the webhook's secret and "
            "the user token, encrypted"
        )
    bot, webhook = plan.bot, plan.webhook
    if bot is None or bot.access_token is None or webhook is None or webhook.secret is None:
        return f"update account {stored.id} with the new bot token or webhook secret"
    fields = _fields(args, wanted, bot, webhook)
    changed = connect.account_changes(_stored_fields(stored, fields, opened), fields)
    if not changed:
        return f"keep account {stored.id} (nothing differs)"
    return f"update account {stored.id} ({', '.join(sorted(changed))})"


def _public_url(value: str | None) -> str:
    if not value:
        raise Failure(
            "no public URL: give --public-url https://… or set TRANSCRIBER_PUBLIC_URL to the "
            "address at which Chatwoot reaches this service"
        )
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or "?" in value or "#" in value:
        raise Failure(
            "--public-url must be an http(s) base URL such as https://transcriber.example.com"
        )
    return value


__all__ = ["cmd_connect"]
