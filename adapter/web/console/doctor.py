"""One account's checks (``transcriber doctor --account-id N``) as a page.

``GET /console/accounts/{id}/doctor`` shows what will be checked and a **Run the checks**
button; the button POSTs (``auth.action``: the session's CSRF token) to the same address,
which runs :func:`adapter.doctor.run_checks` in a worker thread and renders the results. The
checks only read (nothing is written into a conversation, nothing spent at the engine), but
they send the account's stored tokens to Chatwoot, the engine and the public URL and can take
up to 10 s each: only a deliberate click by a signed-in operator starts them, never opening a
link, a prefetch, the sign-in redirect or a page restored from history. The results are not
stored: the answer is the page itself (200, no redirect), and each check shows only its
``detail`` and ``fix``, which never hold a secret.
"""

from __future__ import annotations

from anyio import to_thread
from starlette.responses import Response

from adapter import doctor
from adapter.store import Account
from adapter.web.console.auth import Ctx, not_found
from adapter.web.console.transcriptions import positive_id

#: each status's badge: its text and its class
BADGES = {
    doctor.Status.ok: ("ok", "state-delivered"),
    doctor.Status.fail: ("FAIL", "state-failed"),
    doctor.Status.skip: ("skip", "state-skipped"),
}


async def _account(ctx: Ctx) -> Account | None:
    aid = positive_id(ctx.request.path_params["account_id"])
    if aid is None:
        return None
    return await to_thread.run_sync(lambda: ctx.rt.accounts.get(aid))


def _render(ctx: Ctx, account: Account, checks: list[doctor.Check] | None) -> Response:
    rows = [
        {"check": c, "badge": BADGES[c.status][0], "badge_class": BADGES[c.status][1]}
        for c in checks or []
    ]
    return ctx.page(
        "doctor.html",
        {
            "title": f"Check account {account.id}",
            "account_id": account.id,
            "ran": checks is not None,
            "rows": rows,
            "failed": sum(1 for c in checks or [] if c.status == doctor.Status.fail),
        },
    )


async def doctor_page(ctx: Ctx) -> Response:
    """What will be checked, and the button that runs the checks."""
    account = await _account(ctx)
    if account is None:
        return not_found()
    return _render(ctx, account, None)


async def run(ctx: Ctx) -> Response:
    """Run the account's checks (in a worker thread) and show them."""
    account = await _account(ctx)
    if account is None:
        return not_found()
    aid = account.id
    checks = await to_thread.run_sync(lambda: doctor.run_checks(ctx.rt, aid))
    return _render(ctx, account, checks)


__all__ = ["doctor_page", "run"]
