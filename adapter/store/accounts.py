"""Helpdesk account rows: the only place that reads or writes them.

Validation and what may change live in ``adapter.accounts``; this module persists. Secrets
arrive here already encrypted (``*_enc`` fields).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from adapter.secrets import account_label
from adapter.store.db import in_transaction
from adapter.store.models import Account, AccountScan, ConversationScan, utcnow

A: Table = Account.__table__  # type: ignore[attr-defined]
SCANS: Table = AccountScan.__table__  # type: ignore[attr-defined]
CONVERSATION_SCANS: Table = ConversationScan.__table__  # type: ignore[attr-defined]

#: the sealed secret columns of an account, and the field each is bound to (a rotated-out
#: webhook secret is that field's older value: ``adapter.secrets.account_label``)
SECRET_FIELDS = {
    "api_token_enc": "api_token",
    "webhook_secret_enc": "webhook_secret",
    "webhook_secret_previous_enc": "webhook_secret",
    "openai_api_key_enc": "openai_api_key",
    "user_token_enc": "user_token",
}


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """What the receiver needs of an account: whether it takes webhooks, its secrets, and
    what it asks to be transcribed (the columns ``adapter.controls.controls_of`` reads)."""

    account_id: int
    enabled: bool
    secret_enc: str
    previous_enc: str | None
    inbox_ids: str | None = None
    mode: str = "auto"


class AccountExists(Exception):
    pass


class AccountMissing(Exception):
    pass


_WEBHOOK_SECRETS = select(
    A.c.id,
    A.c.enabled,
    A.c.webhook_secret_enc,
    A.c.webhook_secret_previous_enc,
    A.c.inbox_ids,
    A.c.mode,
).where(A.c.id.in_(bindparam("ids", expanding=True)))


class AccountStore:
    """Accounts on one database engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, account_id: int) -> Account | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Account, account_id)

    def all(self) -> list[Account]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.execute(select(Account).order_by(A.c.id)).scalars())

    def add(self, account: Account) -> Account:
        """Insert a new account; :class:`AccountExists` when the id is taken."""
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(Account, account.id) is not None:
                raise AccountExists(account.id)
            session.add(account)
            session.commit()
            return account

    def change(self, account_id: int, edit: Callable[[Account], None]) -> Account:
        """Apply ``edit`` to the stored account and save it; :class:`AccountMissing`."""
        with Session(self.engine, expire_on_commit=False) as session:
            account = session.get(Account, account_id)
            if account is None:
                raise AccountMissing(account_id)
            edit(account)
            account.updated_at = utcnow()
            session.add(account)
            session.commit()
            return account

    def delete(self, account_id: int) -> None:
        """Delete the account and its scan state (a new account with the same id starts
        afresh); its transcriptions stay."""
        with Session(self.engine) as session:
            account = session.get(Account, account_id)
            if account is None:
                raise AccountMissing(account_id)
            session.delete(account)
            for table in (SCANS, CONVERSATION_SCANS):
                session.execute(delete(table).where(table.c.account_id == account_id))
            session.commit()

    def webhook_secrets(self, account_ids: Iterable[int]) -> dict[int, WebhookSecrets]:
        """The receiver's view of these accounts, in one query (``StoreUnavailable``)."""
        ids = sorted(set(account_ids))

        def read(conn: Connection) -> dict[int, WebhookSecrets]:
            rows = conn.execute(_WEBHOOK_SECRETS, {"ids": ids})
            return {
                int(r[0]): WebhookSecrets(int(r[0]), bool(r[1]), r[2], r[3], r[4], str(r[5]))
                for r in rows
            }

        return in_transaction(self.engine, read)

    def rotate_secrets(self, rotate: Callable[[str, str, str], str]) -> int:
        """Replace every stored secret by ``rotate(token, label, what)``; how many changed."""
        count = 0
        with Session(self.engine) as session:
            for account in session.execute(select(Account)).scalars():
                for name, field in SECRET_FIELDS.items():
                    token = getattr(account, name)
                    if not token:
                        continue
                    label = account_label(account.id, field)
                    changed = rotate(token, label, f"account {account.id} {name[:-4]}")
                    if changed != token:
                        setattr(account, name, changed)
                        count += 1
                session.add(account)
            session.commit()
        return count


__all__ = ["AccountExists", "AccountMissing", "AccountStore", "WebhookSecrets"]
