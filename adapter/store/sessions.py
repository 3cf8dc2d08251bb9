"""Console sessions ended before their cookie expired (``console_revocations``).

A console cookie is signed and carries a random session id; signing out writes that id here
with the cookie's expiry, and every console request asks :meth:`SessionStore.is_revoked`, so
a copied or replayed cookie stops working the moment its operator signs out. A row is needed
only while its cookie could still be valid: each revocation prunes the expired ones, so the
table holds at most the sign-outs of the last session lifetime.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from adapter.store.db import in_transaction
from adapter.store.models import RevokedSession, utcnow

R: Table = RevokedSession.__table__  # type: ignore[attr-defined]
#: the longest session id stored (the column's length)
MAX_SID_CHARS = 64


class SessionStore:
    """Revoked console sessions on one database engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def revoke(self, sid: str, until: datetime) -> None:
        """Refuse session ``sid`` from now until ``until`` (its cookie's expiry), and forget
        the sessions whose cookies have expired. Revoking twice changes nothing."""
        if not sid or len(sid) > MAX_SID_CHARS:
            raise ValueError("a session id is 1 to 64 characters")

        def work(conn: Connection) -> None:
            conn.execute(delete(R).where(R.c.expires_at <= utcnow()))
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            conn.execute(
                dialect.insert(R)
                .values(sid=sid, expires_at=until)
                .on_conflict_do_nothing(index_elements=["sid"])
            )

        in_transaction(self.engine, work)

    def is_revoked(self, sid: str) -> bool:
        """Whether session ``sid`` was signed out."""
        return in_transaction(
            self.engine,
            lambda conn: conn.execute(select(R.c.sid).where(R.c.sid == sid)).first() is not None,
        )


__all__ = ["MAX_SID_CHARS", "SessionStore"]
