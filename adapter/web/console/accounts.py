"""Accounts: the list, one account's settings form, enable and disable.

The form goes through the same rules as the admin API and the CLI (``adapter.accounts``:
``parse_changes``, ``check_model``, ``update_account``). Secrets are write-only: their inputs
are always empty, a filled one replaces the stored secret, an empty one leaves it; the page
says only whether one is stored, never the secret nor its ciphertext.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from starlette.responses import RedirectResponse, Response

from adapter import accounts as acc
from adapter.store import Account
from adapter.web.console import reads
from adapter.web.console.auth import Ctx, error_page, not_found
from adapter.web.console.transcriptions import positive_id

#: the plain text inputs of the form (an empty one leaves the stored value)
TEXT_FIELDS = ("chatwoot_url", "model", "base_url", "language")
CHECKBOXES = ("remove_silence", "failure_notes")
SECRET_FIELDS = ("api_token", "webhook_secret", "openai_api_key", "user_token")
CLEARABLE = ("clear_openai_api_key", "clear_user_token")
BUDGET = "monthly_budget_usd"
#: the enable/disable form's only values
ENABLED_CHOICES = {"true": True, "false": False}


def _form_values(account: Account) -> dict[str, Any]:
    budget = account.monthly_budget_usd
    return {
        "chatwoot_url": account.chatwoot_url,
        "engine": account.engine or "",
        "model": account.model or "",
        "base_url": account.base_url or "",
        "language": account.language or "",
        "remove_silence": account.remove_silence,
        "failure_notes": account.failure_notes,
        BUDGET: "" if not budget else f"{budget:g}",
    }


def changes_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The admin-API-shaped changes a submitted form asks for: empty fields leave values as
    they are (a budget left empty means none)."""
    data: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = form.get(name, "").strip()
        if value:
            data[name] = value
    if form.get("engine") in ("openai", "local"):
        data["engine"] = form["engine"]
    for name in CHECKBOXES:
        if name in form:
            data[name] = form[name] == "on"
    for name in SECRET_FIELDS:
        if form.get(name):
            data[name] = form[name]
    for name in CLEARABLE:
        if form.get(name) == "on":
            data[name] = True
    if BUDGET in form:
        text = form[BUDGET].strip()
        data[BUDGET] = text or 0
    return data


async def list_page(ctx: Ctx) -> Response:
    def read() -> tuple[list[dict[str, Any]], dict[int, reads.Budget]]:
        accounts = ctx.rt.accounts.all()
        views = [acc.account_view(a, ctx.rt.settings) for a in accounts]
        budgets = reads.budgets(ctx.rt, accounts, datetime.now(UTC))
        return views, {b.account_id: b for b in budgets}

    views, budgets = await to_thread.run_sync(read)
    return ctx.page(
        "accounts.html",
        {"title": "Accounts", "accounts": views, "budgets": budgets},
    )


def _account_id(ctx: Ctx) -> int | None:
    return positive_id(ctx.request.path_params["account_id"])


async def _render_form(
    ctx: Ctx,
    account: Account,
    *,
    submitted: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    values = _form_values(account)
    if submitted:  # show back what was typed, except secrets (never rendered)
        values.update({k: v for k, v in submitted.items() if k in TEXT_FIELDS or k == BUDGET})
    view = acc.account_view(account, ctx.rt.settings)
    return ctx.page(
        "account.html",
        {
            "title": f"Account {account.id}",
            "a": view,
            "form": values,
            "error": error,
            "warning": acc.key_warning(account, ctx.rt.settings),
            "notice": ctx.request.query_params.get("notice"),
        },
        status=status,
    )


async def account_page(ctx: Ctx) -> Response:
    aid = _account_id(ctx)
    account = None if aid is None else await to_thread.run_sync(lambda: ctx.rt.accounts.get(aid))
    if account is None:
        return not_found()
    return await _render_form(ctx, account)


async def save(ctx: Ctx) -> Response:
    aid = _account_id(ctx)
    current = None if aid is None else await to_thread.run_sync(lambda: ctx.rt.accounts.get(aid))
    if aid is None or current is None:
        return not_found()
    try:
        changes = acc.parse_changes(changes_from_form(ctx.form))
        acc.check_model(changes, current, ctx.rt.settings)
        await to_thread.run_sync(
            lambda: acc.update_account(ctx.rt.accounts, ctx.rt.keyring, aid, changes)
        )
    except acc.AccountError as exc:
        return await _render_form(
            ctx, current, submitted=ctx.form, error=str(exc), status=exc.status
        )
    return RedirectResponse(f"/console/accounts/{aid}?notice=saved", 303)


async def set_enabled(ctx: Ctx) -> Response:
    aid = _account_id(ctx)
    if aid is None or await to_thread.run_sync(lambda: ctx.rt.accounts.get(aid)) is None:
        return not_found()
    enabled = ENABLED_CHOICES.get(ctx.form.get("enabled", ""))
    if enabled is None:
        return error_page(
            400,
            "Not changed",
            'The form must say "true" (enable) or "false" (disable). Nothing was changed.',
        )
    try:
        await to_thread.run_sync(lambda: acc.set_enabled(ctx.rt.accounts, aid, enabled))
    except acc.AccountError:
        return not_found()
    notice = "enabled" if enabled else "disabled"
    return RedirectResponse(f"/console/accounts/{aid}?notice={notice}", 303)


__all__ = ["account_page", "changes_from_form", "list_page", "save", "set_enabled"]
