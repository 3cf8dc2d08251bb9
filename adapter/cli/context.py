"""What the commands share: the settings, the database, the account store and its keyring.

Only ``migrate``, ``up`` and ``demo`` create a database (and the development key beside it).
Every other command opens an existing one with :func:`open_database`: a SQLite file that does
not exist, a database that does not answer and a schema that is missing or older than this
version's each stop it with one line saying what to do (``transcriber migrate``); it never
upgrades a schema itself, so that the upgrade of a shared database is one deliberate step.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from pydantic import ValidationError

from adapter.cli import Failure
from adapter.httputil import origin
from adapter.secrets import Keyring, load_keyring
from adapter.settings import Settings, explain, get_settings
from adapter.store import AccountStore, UsageStore
from adapter.store.db import open_database
from adapter.usage.prices import Prices

#: how long a command waits for Redis to answer before saying it does not
REDIS_TIMEOUT_SECONDS = 5.0


def load_settings() -> Settings:
    """The settings, or a one-line :class:`Failure` naming each variable that is wrong and
    what it should be."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise Failure(f"invalid configuration: {explain(exc)}") from None


def check_redis(settings: Settings) -> None:
    """When ``TRANSCRIBER_REDIS_URL`` is set, that Redis answers, or a one-line :class:`Failure`
    naming its host (never its password)."""
    if settings.redis_url is None:
        return
    url = settings.redis_url.get_secret_value()
    client = redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise Failure(
            f"cannot reach Redis at {_where(url)}: {str(exc).rstrip('.')}; check that it runs "
            "and that TRANSCRIBER_REDIS_URL is right"
        ) from None
    finally:
        client.close()


def _where(redis_url: str) -> str:
    """Redis's address for a message: scheme, host and port, or a socket's path."""
    if redis_url.startswith("unix://"):
        return urlsplit(redis_url).path
    return origin(redis_url)


@dataclass(frozen=True)
class Accounts:
    settings: Settings
    store: AccountStore
    keyring: Keyring
    usage: UsageStore
    prices: Prices


def open_accounts() -> Accounts:
    """The account store of the existing database, the keyring of its secrets, and what the
    accounts' transcriptions cost."""
    settings = load_settings()
    engine = open_database(settings.database_url)
    return Accounts(
        settings,
        AccountStore(engine),
        load_keyring(settings),
        UsageStore(engine),
        Prices.with_overrides(settings.prices, settings.chat_prices),
    )


__all__ = ["Accounts", "check_redis", "load_settings", "open_accounts"]
