"""What the commands share: the settings, the account store and its keyring."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from adapter.cli import Failure
from adapter.secrets import Keyring, load_keyring
from adapter.settings import Settings, get_settings
from adapter.store import AccountStore, get_engine, migrate


def load_settings() -> Settings:
    """The settings, or a one-line :class:`Failure` naming the variables that are wrong."""
    try:
        return get_settings()
    except ValidationError as exc:
        fields = ", ".join(str(err["loc"][0]) for err in exc.errors() if err.get("loc"))
        raise Failure(f"invalid configuration: {fields or 'see --help'}") from None


@dataclass(frozen=True)
class Accounts:
    settings: Settings
    store: AccountStore
    keyring: Keyring


def open_accounts() -> Accounts:
    """The account store on an up-to-date schema. The keyring is loaded first: production
    without keys fails before any database is touched."""
    settings = load_settings()
    keyring = load_keyring(settings)
    migrate(settings.database_url)
    return Accounts(settings, AccountStore(get_engine(settings.database_url)), keyring)


__all__ = ["Accounts", "load_settings", "open_accounts"]
