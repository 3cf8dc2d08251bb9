"""Helpdesk account rows: the only place that reads or writes them.

Validation and what may change live in ``adapter.accounts``; this module persists. Secrets
arrive here already encrypted (``*_enc`` fields). A stream token also arrives as its lookup
digest (``stream_token_digest``, unique): :meth:`AccountStore.by_stream_digests` finds its
account by it, and :class:`StreamTokenTaken` says another account has that token already.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
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
    "stream_token_enc": "stream_token",
}
#: at most this many digests in one look-up (one per configured encryption key)
MAX_LOOKUP_DIGESTS = 16


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


class StreamTokenTaken(Exception):
    """The stream token given is another account's already (its digest is unique)."""


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
        """Insert a new account; :class:`AccountExists` when the id is taken,
        :class:`StreamTokenTaken` when its stream token is another account's."""
        with Session(self.engine, expire_on_commit=False) as session:
            if session.get(Account, account.id) is not None:
                raise AccountExists(account.id)
            session.add(account)
            self._commit(session, account)
            return account

    def change(self, account_id: int, edit: Callable[[Account], None]) -> Account:
        """Apply ``edit`` to the stored account and save it; :class:`AccountMissing`,
        :class:`StreamTokenTaken`."""
        with Session(self.engine, expire_on_commit=False) as session:
            account = session.get(Account, account_id)
            if account is None:
                raise AccountMissing(account_id)
            edit(account)
            account.updated_at = utcnow()
            session.add(account)
            self._commit(session, account)
            return account

    @staticmethod
    def _commit(session: Session, account: Account) -> None:
        """Commit; :class:`StreamTokenTaken` when the unique stream token digest refused it
        (``adapter.accounts`` checks first: this settles two writers racing)."""
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            digest = account.stream_token_digest
            if digest is not None:
                with Session(session.get_bind()) as fresh:
                    other = fresh.execute(
                        select(A.c.id).where(
                            A.c.stream_token_digest == digest, A.c.id != account.id
                        )
                    ).first()
                if other is not None:
                    raise StreamTokenTaken(account.id) from None
            raise

    def by_stream_digests(self, digests: Sequence[str]) -> list[Account]:
        """The accounts whose stream token has one of these lookup digests (at most one per
        digest: the column is unique), in one indexed query (``StoreUnavailable``)."""
        wanted = list(dict.fromkeys(digests))[:MAX_LOOKUP_DIGESTS]
        if not wanted:
            return []

        def read(conn: Connection) -> list[Account]:
            with Session(bind=conn, expire_on_commit=False) as session:
                stmt = select(Account).where(A.c.stream_token_digest.in_(wanted))
                return list(session.execute(stmt.order_by(A.c.id)).scalars())

        return in_transaction(self.engine, read)

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

    def rotate_secrets(
        self,
        rotate: Callable[[str, str, str], str],
        *,
        digest: Callable[[int, str], str] | None = None,
    ) -> int:
        """Replace every stored secret by ``rotate(token, label, what)``; how many changed.
        With ``digest``, each stream token's lookup digest is computed again as
        ``digest(account_id, sealed token)`` (``keys rotate``: under the new first key)."""
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
                if digest is not None and account.stream_token_enc:
                    account.stream_token_digest = digest(account.id, account.stream_token_enc)
                session.add(account)
            session.commit()
        return count


__all__ = [
    "AccountExists",
    "AccountMissing",
    "AccountStore",
    "StreamTokenTaken",
    "WebhookSecrets",
]
