"""What the live endpoint asks of the rest of the service: two calls, behind a protocol so that
tests can stand in for them.

``account_for(token)`` is the enabled account whose stream token ``token`` is (None: refused);
``finished(account, result)`` is told once per accepted stream, after its pending audio was
transcribed. Both block (database): the endpoint calls them in a thread. The service's are
:class:`ServiceHooks`, over :mod:`adapter.streams`.
"""

from __future__ import annotations

from typing import Protocol

from adapter.runtime import Runtime
from adapter.store import Account
from adapter.streams import StreamResult, finish_stream, stream_account


class StreamHooks(Protocol):
    def account_for(self, token: str) -> Account | None: ...

    def finished(self, account: Account, result: StreamResult) -> None: ...


class ServiceHooks:
    """Stream tokens and the note on close, as :mod:`adapter.streams` does them."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def account_for(self, token: str) -> Account | None:
        return stream_account(self.rt.accounts, self.rt.keyring, token)

    def finished(self, account: Account, result: StreamResult) -> None:
        finish_stream(self.rt, account, result)


__all__ = ["ServiceHooks", "StreamHooks", "StreamResult"]
