"""The grammar of ``transcriber``: every command, its options, their help texts and defaults.

A command names its handler as ``"module:function"`` of a module of this package (``up``,
``service``, ``accounts``, ``work``) instead of importing it: those modules import the service
itself (SQLAlchemy, OpenAI, Starlette, PyAV: about a second), and ``--help`` or a typo should
not wait for that. ``adapter.cli.main`` imports the one module the command being run needs.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

from adapter.cli.options import (
    SAFER_FORMS,
    SECRETS_NOTE,
    account_filter,
    account_id_argument,
    account_options,
    engine_options,
    json_option,
    listen_options,
    positive_int,
    seconds,
)
from adapter.jobs.broker import QUEUES

#: the states ``list --state`` takes: ``adapter.store.State``'s (a test holds them equal;
#: importing the store would slow every ``--help``)
STATES = ("queued", "transcribing", "transcribed", "delivered", "failed", "skipped")

#: ``usage --by``: ``adapter.store.usage.GROUPINGS`` (a test holds them equal)
USAGE_GROUPINGS = ("day", "month", "account", "inbox", "channel", "language", "model")

#: what ``add_subparsers`` returns (a class argparse does not export)
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transcriber",
        description="Transcribe Chatwoot audio attachments into private notes.",
        epilog="Configuration comes from TRANSCRIBER_* environment variables (and a .env file). "
        "Only migrate, up and demo create a database; the other commands need one made by "
        "`transcriber migrate`. Exit codes: 0 success, 2 bad usage, 1 failure (one line on "
        "stderr).",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback when a command fails (default: one line on stderr)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _service_commands(commands)
    _account_commands(commands)
    _work_commands(commands)
    _scan_commands(commands)
    _usage_command(commands)
    _connect_commands(commands)
    return parser


def _command(
    commands: Commands, name: str, handler: str, summary: str, *notes: str
) -> argparse.ArgumentParser:
    """A command whose help is ``summary`` and which runs ``adapter.cli.<handler>``."""
    p = commands.add_parser(name, help=summary, description=" ".join((summary, *notes)))
    p.set_defaults(handler=handler)
    return p


def _group(commands: Commands, name: str, summary: str) -> Commands:
    """A command made of actions (``transcriber accounts add``)."""
    p = commands.add_parser(name, help=summary, description=summary)
    return p.add_subparsers(dest="action", required=True, metavar="ACTION")


def _service_commands(commands: Commands) -> None:
    p = _command(
        commands,
        "up",
        "up:cmd_up",
        "Receiver and worker in one process: the single-box default.",
        "Creates or upgrades the database first (and, without TRANSCRIBER_ENCRYPTION_KEYS, a "
        "development key beside it). Without TRANSCRIBER_REDIS_URL the queue lives in this "
        "process.",
    )
    listen_options(p)
    p.add_argument("--threads", type=positive_int, default=4, help="worker threads (default: 4)")
    p = _command(
        commands,
        "serve",
        "up:cmd_serve",
        "The webhook receiver and admin API only.",
        "Needs TRANSCRIBER_REDIS_URL: `transcriber worker` does the work.",
    )
    listen_options(p)
    p.add_argument(
        "--workers", type=positive_int, default=1, help="HTTP worker processes (default: 1)"
    )
    _worker_command(commands)
    _command(
        commands,
        "migrate",
        "service:cmd_migrate",
        "Create or upgrade the database schema (idempotent).",
        "The database is TRANSCRIBER_DATABASE_URL; a SQLite file is created in an existing "
        "directory. Without TRANSCRIBER_ENCRYPTION_KEYS (outside production) it also creates "
        "the development key beside the database. Every command but up and demo needs this "
        "done, and an upgrade after each new version.",
    )


def _worker_command(commands: Commands) -> None:
    p = _command(
        commands,
        "worker",
        "service:cmd_worker",
        "Dramatiq workers only.",
        "Needs TRANSCRIBER_REDIS_URL. Idle queues are polled every 100 ms "
        "(environment variable dramatiq_worker_timeout, in ms).",
    )
    p.add_argument(
        "--processes", type=positive_int, default=1, help="worker processes (default: 1)"
    )
    p.add_argument(
        "--threads", type=positive_int, default=8, help="threads per process (default: 8)"
    )
    p.add_argument(
        "--queues",
        nargs="+",
        choices=QUEUES,
        metavar="QUEUE",
        help=f"consume only these queues, of {', '.join(QUEUES)} (default: all of them)",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="on SIGTERM, how long in-flight work may take to finish before it is left to "
        "recovery (default: 600)",
    )


def _account_commands(commands: Commands) -> None:
    actions = _group(commands, "accounts", "Manage helpdesk accounts.")
    a = _command(actions, "add", "accounts:cmd_add", "Add an account.", SECRETS_NOTE)
    a.add_argument(
        "--account-id",
        type=positive_int,
        required=True,
        metavar="N",
        help="the Chatwoot account id, the N in /app/accounts/N (required)",
    )
    account_options(a, adding=True)
    _update_command(actions)
    a = _command(actions, "enable", "accounts:cmd_enable", "Accept the account's webhooks again.")
    account_id_argument(a)
    a = _command(actions, "disable", "accounts:cmd_disable", "Answer the account's webhooks 404.")
    account_id_argument(a)
    a = _command(
        actions,
        "list",
        "accounts:cmd_list",
        "List the accounts, never a secret.",
        "KEY says where the OpenAI key comes from: account, environment or none; (!) marks an "
        "openai account with no key anywhere, whose voice notes are skipped.",
    )
    json_option(a, "a JSON array of accounts")
    a = _command(
        actions,
        "delete",
        "accounts:cmd_delete",
        "Delete an account and its stored secrets; its webhooks then get 404.",
        "Its transcriptions are kept for the record (transcriber list --account-id N); any "
        "still waiting end skipped (disabled). Asks for confirmation on a terminal.",
    )
    account_id_argument(a)
    a.add_argument(
        "--yes",
        action="store_true",
        help="delete without asking; needed when standard input is not a terminal (default: ask)",
    )
    actions = _group(commands, "keys", "Encryption keys (TRANSCRIBER_ENCRYPTION_KEYS).")
    _command(
        actions,
        "rotate",
        "accounts:cmd_rotate_keys",
        "Re-encrypt every stored secret with the first key.",
        "Every key of TRANSCRIBER_ENCRYPTION_KEYS decrypts; afterwards the others can go.",
    )


def _update_command(actions: Commands) -> None:
    a = _command(
        actions,
        "update",
        "accounts:cmd_update",
        "Change an account: only what is given.",
        SECRETS_NOTE,
    )
    account_id_argument(a)
    account_options(a, adding=False)
    a.add_argument(
        "--drop-previous-secret",
        action="store_true",
        help="stop accepting the webhook secret the last --webhook-secret replaced "
        "(default: both are accepted)",
    )
    a.add_argument(
        "--clear-openai-api-key",
        action="store_true",
        help="forget the account's own OpenAI key and use OPENAI_API_KEY (default: keep it)",
    )
    a.add_argument(
        "--clear-user-token",
        action="store_true",
        help="forget the account's user token: it is no longer reconciled (default: keep it)",
    )
    a.add_argument(
        "--clear-stream-token",
        action="store_true",
        help="forget the account's stream token: its live streams are refused (default: keep it)",
    )


def _work_commands(commands: Commands) -> None:
    p = _command(commands, "transcribe", "work:cmd_transcribe", "Transcribe a local audio file.")
    p.add_argument("file", metavar="FILE", help="the audio file (ogg, mp3, m4a, wav, …)")
    engine_options(p)
    json_option(p, "one JSON object {text, language, duration, billed_seconds}")
    p = _command(
        commands,
        "status",
        "work:cmd_status",
        "Transcriptions by state, the queue depth, and how far each transcription in progress is.",
        "Also warns of accounts whose voice notes cannot be transcribed (an openai account with "
        "no key).",
    )
    json_option(p, "one JSON object {states, queue_depth, in_progress, reconcile, warnings}")
    _list_command(commands)
    p = _command(
        commands,
        "retry",
        "work:cmd_retry",
        "Re-queue failed (or skipped) transcriptions at once.",
        "Without TRANSCRIBER_REDIS_URL, a running `transcriber up` sends them within "
        "TRANSCRIBER_RECOVERY_INTERVAL_SECONDS (10 s by default).",
    )
    account_filter(p)
    p.add_argument(
        "--state",
        choices=("failed", "skipped"),
        default="failed",
        help="which transcriptions to re-queue (default: failed)",
    )
    p = _command(
        commands,
        "demo",
        "work:cmd_demo",
        "The whole pipeline, offline, on a bundled voice note.",
        "Prints the private note it would post to a built-in stand-in helpdesk.",
    )
    p.add_argument(
        "--engine",
        choices=("local",),
        default="local",
        help="speech-to-text engine; only the offline one (default: local)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo's temporary directory (default: remove it)",
    )


def _list_command(commands: Commands) -> None:
    p = _command(
        commands,
        "list",
        "work:cmd_list",
        "Recent transcriptions, newest first: id, account, conversation, state, reason, error, "
        "age.",
        "`transcriber list --state failed` shows what failed and why; `transcriber retry` "
        "sends it again.",
    )
    account_filter(p)
    p.add_argument(
        "--state",
        choices=STATES,
        metavar="STATE",
        help=f"only transcriptions in this state: {', '.join(STATES)} (default: every state)",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        default=20,
        metavar="N",
        help="at most this many (default: 20)",
    )
    json_option(
        p,
        "a JSON array of objects {id, account_id, conversation_id, message_id, attachment_id, "
        "source, state, reason, error, created_at, updated_at, age_seconds}",
    )


_READS = (
    "Reads Chatwoot with the account's user token (accounts update N --user-token), at "
    "TRANSCRIBER_CHATWOOT_REQUESTS_PER_SECOND."
)


def _scan_commands(commands: Commands) -> None:
    _backfill_command(commands)
    p = _command(
        commands,
        "reconcile",
        "scan:cmd_reconcile",
        "One reconciliation pass now: what the periodic reconciler does (for cron).",
        "Scans each enabled account with a user token from its watermark to now and queues the "
        "audio no webhook brought. Exit 1 when an account's scan failed.",
        _READS,
    )
    p.add_argument(
        "--account-id",
        type=positive_int,
        metavar="N",
        help="only this account (default: every enabled account)",
    )
    json_option(
        p,
        'one JSON object: the summed counts {"conversations", …, "skipped"} and "accounts", '
        "one object per account",
    )


def _backfill_command(commands: Commands) -> None:
    p = _command(
        commands,
        "backfill",
        "scan:cmd_backfill",
        "Queue the incoming audio of a past window that was never transcribed.",
        "Walks the conversations with activity in the window and queues every incoming audio "
        "attachment not already known, by the same rules as webhooks. Resumable: run it again "
        "after an interruption; nothing is queued twice.",
        _READS,
    )
    p.add_argument(
        "--account-id", type=positive_int, metavar="N", required=True, help="the account (required)"
    )
    p.add_argument(
        "--since",
        metavar="WHEN",
        required=True,
        help="start of the window: an ISO 8601 date or time (2026-11-01, 2026-11-01T08:00Z; no "
        "zone is UTC) or a duration back from now (30d, 12h) (required)",
    )
    p.add_argument("--until", metavar="WHEN", help="end of the window, same forms (default: now)")
    p.add_argument(
        "--inbox-id",
        type=positive_int,
        metavar="ID",
        action="append",
        default=[],
        help="only this inbox; repeat for several (default: every inbox the token sees)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="count what would be queued, and the size of its audio, without queuing "
        "(default: queue)",
    )
    json_option(
        p,
        'one JSON object {"conversations", "messages", "audio", "queued", "known", "skipped"} '
        '(with --dry-run also "bytes")',
    )


def _usage_command(commands: Commands) -> None:
    p = _command(
        commands,
        "usage",
        "usage:cmd_usage",
        "What the transcriptions of a window did and cost, grouped by day, month, account, "
        "inbox, channel, language or model.",
        "Rows of key, transcriptions, audio and billed minutes, cost, failed, skipped, and "
        "totals. Seconds and cost count transcriptions that produced a transcript; cost is "
        "billed minutes times the price of the model (TRANSCRIBER_PRICES over the built-in table: "
        "whisper-1 and gpt-4o-transcribe 0.006, gpt-4o-mini-transcribe 0.003 USD a minute, "
        "the offline engine 0). Days and months are UTC.",
    )
    account_filter(p)
    p.add_argument(
        "--since",
        metavar="WHEN",
        help="start of the window: an ISO 8601 date or time (2026-11-01, 2026-11-01T08:00Z; "
        "no zone is UTC) or a duration back from now (30d, 12h) (default: the beginning)",
    )
    p.add_argument(
        "--until", metavar="WHEN", help="end of the window, excluded, same forms (default: now)"
    )
    p.add_argument(
        "--by",
        choices=USAGE_GROUPINGS,
        default="day",
        help="how rows are grouped (default: day)",
    )
    p.add_argument(
        "--project",
        action="store_true",
        help="instead, the month's projected cost per account: spent so far plus the last "
        "7 days' daily rate for the days left, against each account's budget (default: the "
        "usage rows)",
    )
    json_option(
        p,
        'one JSON object {"by", "rows": [{"key", "transcriptions", "audio_seconds", '
        '"billed_seconds", "cost_usd", "failed", "skipped"}], "totals": {…}} (with '
        '--project: {"month", "accounts": […], "totals"})',
    )


def _connect_commands(commands: Commands) -> None:
    """``accounts connect`` (an action of the ``accounts`` group) and ``doctor``."""
    accounts = commands.choices["accounts"]
    actions = next(
        action for action in accounts._actions if isinstance(action, argparse._SubParsersAction)
    )
    a = _command(
        actions,
        "connect",
        "connect:cmd_connect",
        "Connect a Chatwoot account in one command, with an administrator's access token.",
        'Creates or reuses the agent bot "Transcriber", creates or updates the account webhook '
        "at PUBLIC_URL/webhooks/chatwoot/N (message_created, message_updated, "
        "conversation_updated) and the conversation attribute transcript_language, then stores "
        "the bot's token, the webhook's secret and the user token, encrypted, adding or updating "
        "the account. Running it again changes nothing. Needs Chatwoot 4.11.2 or newer (signed "
        "webhooks). Never prints a token or secret.",
        SECRETS_NOTE,
    )
    a.add_argument(
        "--account-id",
        type=positive_int,
        required=True,
        metavar="N",
        help="the Chatwoot account id, the N in /app/accounts/N (required)",
    )
    account_options(a, adding=False)
    _connect_secret_help(a)
    _connect_own_options(a)
    _doctor_command(commands)


def _connect_secret_help(a: argparse.ArgumentParser) -> None:
    """``connect`` takes the account options of ``update``, but needs the Chatwoot URL and an
    administrator's token, and sets the bot's token and the webhook's secret itself."""
    for action in a._actions:
        if action.dest == "chatwoot_url":
            action.required = True
            action.help = (
                "base URL of the Chatwoot instance, e.g. https://chat.example.com (required)"
            )
        elif action.dest == "user_token":
            action.required = True
            action.help = (
                "the access token of an administrator of the account (Profile settings → Access "
                "token); it sets the account up and is stored, encrypted, to read conversations "
                f"(reconciler, backfill). {SAFER_FORMS} (required)"
            )
        elif action.dest == "api_token":
            action.help = (
                "not given here: connect stores the agent bot's token Chatwoot answers with "
                '(default: the token of the bot "Transcriber")'
            )
        elif action.dest == "webhook_secret":
            action.help = (
                "not given here: connect stores the secret Chatwoot made for the webhook "
                "(default: the webhook's secret)"
            )


def _connect_own_options(a: argparse.ArgumentParser) -> None:
    a.add_argument(
        "--public-url",
        metavar="URL",
        help="the base URL at which Chatwoot reaches this service; the webhook goes to "
        "URL/webhooks/chatwoot/N (default: TRANSCRIBER_PUBLIC_URL)",
    )
    a.add_argument(
        "--inbox-id",
        type=positive_int,
        metavar="ID",
        action="append",
        default=[],
        help="also connect the bot to this inbox; repeat for several. Chatwoot starts the new "
        "conversations of an inbox with a bot as pending, not open (default: no inbox)",
    )
    a.add_argument(
        "--dry-run",
        action="store_true",
        help="read Chatwoot and print what would be done; write nothing (default: do it)",
    )


def _doctor_command(commands: Commands) -> None:
    p = _command(
        commands,
        "doctor",
        "doctor:cmd_doctor",
        "Check the installation: one line per check, ok or FAIL with the fix.",
        "Database and schema, broker, encryption keys, each account's engine and key (without "
        "spending anything), Chatwoot, each token, the webhook at the public URL, and the public "
        "URL reaching this service. Writes nothing anywhere. Exit 1 when a check fails.",
    )
    p.add_argument(
        "--account-id",
        type=positive_int,
        metavar="N",
        help="only this account's checks, besides the service's (default: every enabled account)",
    )
    json_option(
        p, 'one JSON object {"ok", "checks": [{"name", "status", "account_id", "detail", "fix"}]}'
    )


__all__ = ["build_parser"]
