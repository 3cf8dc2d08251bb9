"""``transcriber`` — the command line.

Exit codes: 0 success, 2 bad usage, 1 failure with a one-line message on stderr
(a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapter.errors import TranscriberError
from adapter.jobs.broker import QUEUES

log = logging.getLogger("adapter.cli")


class Failure(Exception):
    """A failure to report in one line (exit 1)."""


def _settings() -> Any:
    from adapter.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        fields = ", ".join(str(err["loc"][0]) for err in exc.errors() if err.get("loc"))
        raise Failure(f"invalid configuration: {fields or 'see --help'}") from None


def _db_and_keyring(migrate: bool = True) -> tuple[Any, Any, Any]:
    from adapter.secrets import load_keyring
    from adapter.store import AccountStore, get_engine
    from adapter.store import migrate as run_migrate

    settings = _settings()
    keyring = load_keyring(settings)
    if migrate:
        run_migrate(settings.database_url)
    return settings, AccountStore(get_engine(settings.database_url)), keyring


# ─── commands ──────────────────────────────────────────────────────────────────────────────


def cmd_migrate(args: argparse.Namespace) -> int:
    from adapter.store import migrate

    settings = _settings()
    revision = migrate(settings.database_url)
    print(f"database schema at revision {revision}")
    return 0


def _account_changes(args: argparse.Namespace) -> Any:
    from adapter.accounts import parse_changes

    data: dict[str, Any] = {}
    for name in (
        "chatwoot_url",
        "api_token",
        "webhook_secret",
        "openai_api_key",
        "engine",
        "model",
        "base_url",
        "language",
    ):
        value = getattr(args, name, None)
        if value is not None:
            data[name] = value
    if getattr(args, "remove_silence", None) is not None:
        data["remove_silence"] = args.remove_silence
    if getattr(args, "drop_previous_secret", False):
        data["drop_previous_secret"] = True
    if getattr(args, "clear_openai_api_key", False):
        data["clear_openai_api_key"] = True
    return parse_changes(data)


def cmd_accounts(args: argparse.Namespace) -> int:
    from adapter import accounts as acc

    settings, db, keyring = _db_and_keyring()
    action = args.accounts_command
    if action == "add":
        account = acc.create_account(db, keyring, args.account_id, _account_changes(args))
        print(f"account {account.id} added")
    elif action == "update":
        account = acc.update_account(db, keyring, args.account_id, _account_changes(args))
        print(f"account {account.id} updated")
    elif action in ("enable", "disable"):
        account = acc.set_enabled(db, args.account_id, action == "enable")
        print(f"account {account.id} {action}d")
    elif action == "list":
        views = [acc.account_view(a, settings) for a in db.all()]
        if args.json:
            print(json.dumps(views, indent=2))
        elif not views:
            print("no accounts")
        else:
            print(
                f"{'ID':>8}  {'ENABLED':7}  {'ENGINE':6}  {'KEY':11}  {'SECRETS':7}  CHATWOOT URL"
            )
            for v in views:
                print(
                    f"{v['account_id']:>8}  {'yes' if v['enabled'] else 'no':7}  {v['engine']:6}  "
                    f"{v['key_source']:11}  {v['webhook_secrets']:<7}  {v['chatwoot_url']}"
                )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from adapter.accounts import rotate_all
    from adapter.store import Ledger

    settings, db, keyring = _db_and_keyring()
    count = rotate_all(db, Ledger(db.engine, lease_seconds=settings.stuck_after_seconds), keyring)
    print(
        f"re-encrypted {count} stored secret(s) with the first key of TRANSCRIBER_ENCRYPTION_KEYS"
    )
    return 0


def _runtime(component: str, *, embedded: bool) -> Any:
    from adapter.store import migrate
    from adapter.wiring import build_runtime

    settings = _settings()
    if embedded:
        migrate(settings.database_url)
    return build_runtime(settings, component=component, embedded=embedded)


def cmd_status(args: argparse.Namespace) -> int:
    from adapter.jobs.recovery import status_counts

    rt = _runtime("cli", embedded=True)
    status = status_counts(rt)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    for state, count in status["states"].items():
        print(f"{state:13} {count}")
    depth = status["queue_depth"]
    if rt.settings.redis_url is None:
        print("queue depth   n/a (no TRANSCRIBER_REDIS_URL: in-process broker)")
    elif depth is None:
        print("queue depth   unavailable (broker did not answer)")
    else:
        print("queue depth   " + ", ".join(f"{q}={n}" for q, n in depth.items()))
    for item in status["in_progress"]:
        p = item["progress"]
        total = p["chunks_total"] if p["chunks_total"] is not None else "?"
        secs = f"{p['seconds_done']:.0f}/{p['seconds_total']:.0f}s" if p["seconds_total"] else ""
        print(f"  transcription {item['id']}: chunks {p['chunks_done']}/{total} {secs}".rstrip())
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from adapter.jobs.recovery import retry_many

    rt = _runtime("cli", embedded=True)
    if rt.settings.redis_url is None:
        print(
            "warning: no TRANSCRIBER_REDIS_URL: the rows are re-queued in the database and "
            "`transcriber up` picks them up at its next recovery sweep",
            file=sys.stderr,
        )
    ids = retry_many(rt, account_id=args.account_id, state=args.state)
    print(
        f"re-queued {len(ids)} transcription(s)" + (f": {', '.join(map(str, ids))}" if ids else "")
    )
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    import tempfile

    from adapter.engines.factory import build_engine
    from adapter.transcribe import transcribe_file
    from adapter.wiring import policies

    settings = _settings()
    path = Path(args.file)
    if not path.is_file():
        raise Failure(f"{path}: no such file")
    kind = args.engine or settings.default_engine
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if kind == "openai" and key is None:
        raise Failure("the openai engine needs OPENAI_API_KEY")
    engine = build_engine(
        kind,
        api_key=key,
        model=args.model,
        base_url=settings.openai_base_url,
        language=args.language,
        model_dir=settings.model_dir,
    )
    with tempfile.TemporaryDirectory(prefix="transcriber-") as tmp:
        result = transcribe_file(
            path,
            Path(tmp),
            engine,
            policies(settings)[1],
            language=args.language,
            remove_silence=not args.keep_silence,
        )
    _print_transcript(result, args.json)
    return 0


def _print_transcript(result: Any, as_json: bool) -> None:
    transcript = result.transcript
    duration = transcript.duration
    if as_json:
        print(
            json.dumps(
                {
                    "text": transcript.text,
                    "language": transcript.language,
                    "duration": round(duration, 3),
                    "billed_seconds": round(result.billed_seconds, 3),
                }
            )
        )
    else:
        print(transcript.text)
        print(f"language: {transcript.language or 'unknown'}")
        print(f"duration: {duration:.2f}s")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    if settings.redis_url is None:
        raise Failure("`transcriber serve` needs TRANSCRIBER_REDIS_URL (or use `transcriber up`)")
    uvicorn.run(
        "adapter.web.asgi:create",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        proxy_headers=True,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.redis_url is None:
        raise Failure("`transcriber worker` needs TRANSCRIBER_REDIS_URL (or use `transcriber up`)")
    # Dramatiq's idle consumers back off up to this many ms between polls of an empty queue;
    # its default (1000) adds up to a second to every voice note. Read when dramatiq.worker is
    # first imported, so set before importing Dramatiq.
    os.environ.setdefault("dramatiq_worker_timeout", str(WORKER_POLL_MS))
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    argv = [
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
    parsed = make_argument_parser().parse_args(argv)  # type: ignore[no-untyped-call]
    return int(dramatiq_main(parsed) or 0)  # type: ignore[no-untyped-call]


WORKER_POLL_MS = 100


def cmd_up(args: argparse.Namespace) -> int:
    from adapter.single_box import run_up

    return run_up(_settings(), host=args.host, port=args.port, threads=args.threads)


def cmd_demo(args: argparse.Namespace) -> int:
    from adapter.demo import run_demo

    return run_demo(engine=args.engine, keep=args.keep)


# ─── parser ────────────────────────────────────────────────────────────────────────────────


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 < value < 2**53:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is at most 65535")
    return value


def _account_options(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--chatwoot-url", required=required, help="base URL of the Chatwoot instance")
    p.add_argument(
        "--api-token",
        required=required,
        help="Chatwoot access token (an agent bot's token is recommended)",
    )
    p.add_argument(
        "--webhook-secret",
        required=required,
        help="the webhook's signing secret; on update the old one keeps working "
        "until --drop-previous-secret",
    )
    p.add_argument("--openai-api-key", help="this account's own OpenAI key (stored encrypted)")
    p.add_argument("--engine", choices=["openai", "local"], help="speech-to-text engine")
    p.add_argument(
        "--model",
        help="engine model (openai: gpt-4o-mini-transcribe, whisper-1, …; local: base, tiny.en)",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (speaches, LocalAI, …)")
    p.add_argument("--language", help="ISO 639-1 hint, e.g. en, es")
    silence = p.add_mutually_exclusive_group()
    silence.add_argument(
        "--remove-silence",
        dest="remove_silence",
        action="store_true",
        default=None,
        help="cut long silences before sending (default)",
    )
    silence.add_argument(
        "--keep-silence",
        dest="remove_silence",
        action="store_false",
        help="send the audio with its silences",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transcriber",
        description="Transcribe Chatwoot audio attachments into private notes.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("up", help="receiver and worker in one process (single-box default)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--threads", type=_positive_int, default=4, help="worker threads (default 4)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("serve", help="webhook receiver and admin API only (needs Redis)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--workers", type=_positive_int, default=1, help="HTTP worker processes")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="Dramatiq workers only (needs Redis)")
    p.add_argument("--processes", type=_positive_int, default=1)
    p.add_argument("--threads", type=_positive_int, default=8)
    p.add_argument("--queues", nargs="+", choices=list(QUEUES))
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=600.0,
        help="seconds to let in-flight work finish on SIGTERM (default 600)",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="create or upgrade the database schema (idempotent)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("accounts", help="manage helpdesk accounts")
    asub = p.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    a = asub.add_parser("add", help="add an account")
    a.add_argument("--account-id", type=_positive_int, required=True, help="Chatwoot account id")
    _account_options(a, required=True)
    a.set_defaults(func=cmd_accounts)
    a = asub.add_parser("update", help="change an account")
    a.add_argument("account_id", type=_positive_int)
    _account_options(a, required=False)
    a.add_argument(
        "--drop-previous-secret",
        action="store_true",
        help="stop accepting the webhook secret replaced by the last rotation",
    )
    a.add_argument(
        "--clear-openai-api-key",
        action="store_true",
        help="forget the account's own key (fall back to OPENAI_API_KEY)",
    )
    a.set_defaults(func=cmd_accounts)
    for name, text in (("enable", "accept webhooks again"), ("disable", "answer its webhooks 404")):
        a = asub.add_parser(name, help=text)
        a.add_argument("account_id", type=_positive_int)
        a.set_defaults(func=cmd_accounts)
    a = asub.add_parser("list", help="list accounts (never prints a secret)")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_accounts)

    p = sub.add_parser("keys", help="encryption keys")
    ksub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k = ksub.add_parser("rotate", help="re-encrypt every stored secret with the first key")
    k.set_defaults(func=cmd_keys)

    p = sub.add_parser("transcribe", help="transcribe a local audio file")
    p.add_argument("file")
    p.add_argument("--engine", choices=["openai", "local"])
    p.add_argument("--model")
    p.add_argument("--language", help="ISO 639-1 hint")
    p.add_argument("--keep-silence", action="store_true", help="do not cut long silences")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("status", help="transcriptions by state and queue depth")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("retry", help="re-queue failed (or skipped) transcriptions")
    p.add_argument("--account-id", type=_positive_int)
    p.add_argument("--state", choices=["failed", "skipped"], default="failed")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("demo", help="the whole pipeline offline on a bundled voice note")
    p.add_argument("--engine", choices=["local"], default="local")
    p.add_argument("--keep", action="store_true", help="keep the demo's temporary directory")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except (Failure, TranscriberError) as exc:
        if args.debug:
            raise
        print(f"transcriber: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"transcriber: unexpected {type(exc).__name__}: {_one_line(exc)} "
            "(run with --debug for details)",
            file=sys.stderr,
        )
        return 1


def _one_line(exc: BaseException) -> str:
    try:
        from adapter.observability.redact import redact_text

        text = redact_text(str(exc))
    except Exception:
        text = type(exc).__name__
    return " ".join(text.split())[:500] or type(exc).__name__
