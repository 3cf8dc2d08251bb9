"""Accounts: the list, one account's settings form, enable and disable.

The form goes through the same rules as the admin API and the CLI (``adapter.accounts``:
``parse_changes``, ``check_model``, ``update_account``). Secrets are write-only: their inputs
are always empty, a filled one replaces the stored secret, an empty one leaves it; the page
says only whether one is stored, never the secret nor its ciphertext.

The controls of what gets transcribed (``adapter.controls``) are text in the form, read here
(:func:`inboxes_from_text`, :func:`languages_from_text`, pure) and then checked by
``parse_changes`` like the API's JSON. In that part of the form an empty field means no
restriction: every inbox, no minimum length, no language per inbox. The languages field is
the whole list: what it says when saved is what is stored (a pair deleted from it, or written
``5=`` with no language, is removed).

What a note holds beyond the transcript (``adapter.extras``: summaries, the chat model and its
endpoint, translation, masking, the phone region, speaker labels) is text too, each field the
stored option: an empty one (or ``off``) clears it, as ``""`` does in the admin API (an empty
chat model is the default one; ``off`` is none). The kinds to mask may be separated by commas
or spaces (:func:`kinds_from_text`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from anyio import to_thread
from starlette.responses import RedirectResponse, Response

from adapter import accounts as acc
from adapter.chat import DEFAULT_CHAT_MODEL
from adapter.extras import NO_CHAT_MODEL
from adapter.redaction import KINDS as REDACT_KINDS
from adapter.speakers import DEFAULT_LABELS
from adapter.store import Account
from adapter.web.console import reads
from adapter.web.console.auth import Ctx, error_page, not_found
from adapter.web.console.transcriptions import positive_id

#: the plain text inputs of the form (an empty one leaves the stored value)
TEXT_FIELDS = ("chatwoot_url", "model", "base_url", "language")
CHECKBOXES = ("remove_silence", "failure_notes")
SECRET_FIELDS = ("api_token", "webhook_secret", "openai_api_key", "user_token", "stream_token")
CLEARABLE = ("clear_openai_api_key", "clear_user_token", "clear_stream_token")
BUDGET = "monthly_budget_usd"
#: the controls of what gets transcribed (text or a select; never secret)
CONTROL_FIELDS = ("inboxes", "min_seconds", "mode", "inbox_languages")
#: what the note holds beyond the transcript (text: empty clears the option)
EXTRA_FIELDS = acc.EXTRA_FIELDS
MODES = {"auto": "Automatic: every voice note", "on_demand": "On demand: labelled conversations"}
#: how the form names its fields in an error (the others by their JSON names)
LABELS = {
    "inboxes": "Inboxes",
    "min_seconds": "Minimum length (seconds)",
    "mode": "Mode",
    "inbox_languages": "Language per inbox",
    "summary_min_seconds": "Summaries from (seconds)",
    "chat_model": "Chat model",
    "chat_base_url": "Chat model endpoint",
    "translate_to": "Translate into",
    "redact": "Mask",
    "phone_region": "Phone region",
    "speakers": "Speaker labels",
    "stream_token": "Stream token",
    BUDGET: "Monthly budget (USD)",
}
#: how many characters of a bad piece an error shows back
_SHOWN = 24
_SEPARATORS = re.compile(r"[,\s]+")
_AROUND_EQUALS = re.compile(r"\s*=\s*")
#: the enable/disable form's only values
ENABLED_CHOICES = {"true": True, "false": False}


def _piece(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 16 else None


def inboxes_from_text(text: str) -> list[int] | Literal["all"]:
    """The inboxes field: ``all`` (or empty), or inbox ids separated by commas or spaces."""
    text = text.strip()
    if not text or text.lower() == "all":
        return "all"
    ids: list[int] = []
    for part in _SEPARATORS.split(text):
        if not part:
            continue
        number = _id(part)
        if number is None:
            raise acc.AccountError(
                f"{LABELS['inboxes']}: write all, or inbox ids separated by commas such as "
                f"5, 7 ({_piece(part)!r} is not an inbox id)",
                status=422,
            )
        ids.append(number)
    return ids


def languages_from_text(text: str, stored: Mapping[int, str]) -> dict[int, str | None]:
    """The language-per-inbox field (``5=es, 7=fr``) as the changes that make the stored
    hints (``stored``) what it says: each pair set, a pair with no language (``5=``) or one
    no longer written removed (``None``). An empty field removes every hint."""
    typed: dict[int, str | None] = {}
    for part in _SEPARATORS.split(_AROUND_EQUALS.sub("=", text.strip())):
        if not part:
            continue
        inbox, equals, code = part.partition("=")
        number = _id(inbox)
        if not equals or number is None or "=" in code:
            raise acc.AccountError(
                f"{LABELS['inbox_languages']}: write inbox=language pairs separated by commas, "
                f"such as 5=es, 7=fr ({_piece(part)!r} is not one)",
                status=422,
            )
        if number in typed:
            raise acc.AccountError(
                f"{LABELS['inbox_languages']}: inbox {number} is given twice", status=422
            )
        typed[number] = code or None
    return {**{inbox: None for inbox in stored}, **typed}


def kinds_from_text(text: str) -> str:
    """The kinds-to-mask field (``cards, email`` or ``cards email``) as the admin API's
    comma-separated text; the names are checked by ``parse_changes``."""
    return ",".join(part for part in _SEPARATORS.split(text.strip()) if part)


def _label(name: str) -> str:
    """A field of an error from ``parse_changes`` as the form names it."""
    return LABELS.get(name.partition(".")[0], name)


def _controls_values(account: Account) -> dict[str, str]:
    wanted = acc.controls(account)
    return {
        "inboxes": "all" if wanted.inboxes is None else ", ".join(map(str, sorted(wanted.inboxes))),
        "min_seconds": f"{wanted.min_seconds:g}" if wanted.min_seconds else "",
        "mode": wanted.mode,
        "inbox_languages": ", ".join(
            f"{inbox}={code}" for inbox, code in sorted(wanted.inbox_languages.items())
        ),
    }


def _extras_values(view: Mapping[str, Any]) -> dict[str, str]:
    """The extras as the form shows them (``view``: ``account_view``): the stored options."""
    minimum = view["summary_min_seconds"]
    return {
        "summary_min_seconds": f"{minimum:g}" if minimum else "",
        "chat_model": view["chat_model"] or "",
        "chat_base_url": view["chat_base_url"] or "",
        "translate_to": view["translate_to"] or "",
        "redact": ", ".join(view["redact"]),
        "phone_region": view["phone_region"] or "",
        "speakers": ", ".join(view["speakers"] or ()),
    }


def _form_values(account: Account, view: Mapping[str, Any]) -> dict[str, Any]:
    budget = account.monthly_budget_usd
    return {
        **_controls_values(account),
        **_extras_values(view),
        "chatwoot_url": account.chatwoot_url,
        "engine": account.engine or "",
        "model": account.model or "",
        "base_url": account.base_url or "",
        "language": account.language or "",
        "remove_silence": account.remove_silence,
        "failure_notes": account.failure_notes,
        BUDGET: "" if not budget else f"{budget:g}",
    }


def changes_from_form(form: dict[str, str], current: Account) -> dict[str, Any]:
    """The admin-API-shaped changes a submitted form asks for, over the ``current`` account:
    empty fields leave values as they are (a budget left empty means none; in the controls,
    empty means no restriction; an empty extra is cleared). A field absent from the form
    changes nothing."""
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
    if "inboxes" in form:
        data["inboxes"] = inboxes_from_text(form["inboxes"])
    if "min_seconds" in form:
        data["min_seconds"] = form["min_seconds"].strip() or 0
    if form.get("mode"):
        data["mode"] = form["mode"]
    if "inbox_languages" in form:
        stored = acc.controls(current).inbox_languages
        data["inbox_languages"] = languages_from_text(form["inbox_languages"], stored)
    for name in EXTRA_FIELDS:
        if name in form:
            data[name] = form[name].strip()
    if "summary_min_seconds" in form:
        data["summary_min_seconds"] = data["summary_min_seconds"] or 0
    if "redact" in form:
        data["redact"] = kinds_from_text(form["redact"])
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
    view = acc.account_view(account, ctx.rt.settings)
    values = _form_values(account, view)
    if submitted:  # show back what was typed, except secrets (never rendered)
        shown = (*TEXT_FIELDS, BUDGET, *CONTROL_FIELDS, *EXTRA_FIELDS)
        values.update({k: v for k, v in submitted.items() if k in shown})
    return ctx.page(
        "account.html",
        {
            "title": f"Account {account.id}",
            "a": view,
            "form": values,
            "modes": MODES,
            "default_chat_model": DEFAULT_CHAT_MODEL,
            "no_chat_model": NO_CHAT_MODEL,
            "redact_kinds": sorted(REDACT_KINDS),
            "default_speakers": ", ".join(DEFAULT_LABELS),
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
        changes = acc.parse_changes(changes_from_form(ctx.form, current), label=_label)
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


__all__ = [
    "account_page",
    "changes_from_form",
    "inboxes_from_text",
    "kinds_from_text",
    "languages_from_text",
    "list_page",
    "save",
    "set_enabled",
]
