"""The admin API under ``/api/v1``: bearer token, JSON, secrets write-only.

Unset ``TRANSCRIBER_ADMIN_TOKEN`` disables it: every route answers 404.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, get_args

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapter import accounts as acc
from adapter import doctor, usage
from adapter.jobs.recovery import retry_one
from adapter.runtime import Runtime
from adapter.scan.window import parse_when
from adapter.store import (
    UNAVAILABLE,
    Account,
    AccountScan,
    NotRetryable,
    Source,
    State,
    utcnow,
)
from adapter.usage import GROUPINGS
from adapter.views import budget_view, scan_view, transcription_view
from adapter.web.body import BodyTooLarge, read_capped

Handler = Callable[[Request], Awaitable[Response]]
MAX_BODY = 64 * 1024
MAX_LIMIT = 500
MAX_QUERY = 500
MAX_WHEN = 64
STATES = {s.value for s in State}
SOURCES = get_args(Source)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _authorized(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def guarded(handler: Callable[[Request, Runtime], Awaitable[Response]]) -> Handler:
    async def endpoint(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        token = rt.settings.admin_token
        if token is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        if not _authorized(request, token.get_secret_value()):
            return JSONResponse(
                {"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            return await handler(request, rt)
        except ApiError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except acc.AccountError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except UNAVAILABLE:
            return JSONResponse({"error": "database unavailable"}, status_code=503)

    return endpoint


def _int(
    value: str | None, name: str, *, default: int | None = None, maximum: int = 2**53
) -> int | None:
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= maximum:
        raise ApiError(400, f"{name} must be a positive integer")
    return int(value)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await read_capped(request, MAX_BODY)
    except BodyTooLarge:
        raise ApiError(413, "body too large") from None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ApiError(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body is not a JSON object")
    return data


def _when(value: str | None, name: str) -> datetime | None:
    """``since``/``until``: an ISO 8601 date or time, or a duration back from now."""
    if value is None or value == "":
        return None
    if len(value) > MAX_WHEN:
        raise ApiError(400, f"{name} must be at most {MAX_WHEN} characters")
    try:
        moment = parse_when(value, utcnow())
    except ValueError as exc:
        raise ApiError(400, f"{name}: {exc}") from None
    return moment


def _window(q: Any) -> tuple[datetime | None, datetime | None]:
    since, until = _when(q.get("since"), "since"), _when(q.get("until"), "until")
    if since is not None and until is not None and since >= until:
        raise ApiError(400, "since must be before until")
    return since, until


def _choice(value: str | None, name: str, allowed: Iterable[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(sorted(allowed))}")
    return value


async def list_transcriptions(request: Request, rt: Runtime) -> Response:
    q = request.query_params
    account_id = _int(q.get("account_id"), "account_id")
    limit = _int(q.get("limit"), "limit", default=50, maximum=MAX_LIMIT)
    before_id = _int(q.get("before_id"), "before_id")
    state = _choice(q.get("state"), "state", STATES)
    source = _choice(q.get("source"), "source", SOURCES)
    language = q.get("language") or None
    if language is not None and not (
        len(language) == 2 and language.isascii() and language.isalpha()
    ):
        raise ApiError(400, "language must be an ISO 639-1 code such as 'en'")
    since, until = _window(q)
    text = q.get("q") or None
    if text is not None and len(text) > MAX_QUERY:
        raise ApiError(400, f"q must be at most {MAX_QUERY} characters")

    def run() -> list[dict[str, Any]]:
        rows = rt.ledger.recent(
            account_id=account_id,
            state=state,
            source=source,
            language=language.lower() if language else None,
            since=since,
            until=until,
            q=text,
            before_id=before_id,
            limit=limit or 50,
        )
        return [transcription_view(r, rt.prices) for r in rows]

    return JSONResponse({"transcriptions": await to_thread.run_sync(run)})


async def get_usage(request: Request, rt: Runtime) -> Response:
    q = request.query_params
    account_id = _int(q.get("account_id"), "account_id")
    by = usage.grouping(_choice(q.get("group_by"), "group_by", GROUPINGS) or "day")
    since, until = _window(q)

    def run() -> dict[str, Any]:
        found = usage.report(
            rt.usage,
            rt.prices,
            by=by,
            account_id=account_id,
            since=since,
            until=until,
        )
        return found.as_json()

    return JSONResponse(await to_thread.run_sync(run))


async def get_transcription(request: Request, rt: Runtime) -> Response:
    tid = _int(request.path_params["id"], "id")

    def run() -> dict[str, Any] | None:
        assert tid is not None
        row = rt.ledger.get(tid)
        return None if row is None else transcription_view(row, rt.prices)

    view = await to_thread.run_sync(run)
    if view is None:
        raise ApiError(404, "transcription not found")
    return JSONResponse(view)


async def retry_transcription(request: Request, rt: Runtime) -> Response:
    tid = _int(request.path_params["id"], "id")
    assert tid is not None
    try:
        view = await to_thread.run_sync(lambda: retry_one(rt, tid))
    except NotRetryable as exc:
        raise ApiError(exc.status, str(exc)) from None
    return JSONResponse(view, status_code=202)


def _account_view(rt: Runtime, account: Account, scan: AccountScan | None) -> dict[str, Any]:
    has_token = account.user_token_enc is not None
    warning = acc.key_warning(account, rt.settings)
    spent = usage.month_to_date(rt.usage, rt.prices, account.id)
    return {
        **acc.account_view(account, rt.settings),
        "budget": budget_view(account.monthly_budget_usd, spent),
        "reconcile": scan_view(scan, has_user_token=has_token),
        "warnings": [warning] if warning else [],
    }


async def _account_answer(rt: Runtime, account: Account) -> dict[str, Any]:
    scan = await to_thread.run_sync(lambda: rt.scans.get(account.id))
    return _account_view(rt, account, scan)


async def list_accounts(request: Request, rt: Runtime) -> Response:
    def run() -> list[dict[str, Any]]:
        scans = rt.scans.all()
        return [_account_view(rt, a, scans.get(a.id)) for a in rt.accounts.all()]

    return JSONResponse({"accounts": await to_thread.run_sync(run)})


async def create_account(request: Request, rt: Runtime) -> Response:
    data = await _json_object(request)
    raw_id = data.pop("account_id", None)
    if isinstance(raw_id, bool) or not isinstance(raw_id, int):
        raise ApiError(422, "account_id must be a positive integer")
    acc.validate_id(raw_id)
    for update_only in (
        "drop_previous_secret",
        "clear_openai_api_key",
        "clear_user_token",
        "clear_stream_token",
    ):
        data.pop(update_only, None)
    changes = acc.parse_changes(data)
    acc.check_model(changes, None, rt.settings)
    account = await to_thread.run_sync(
        lambda: acc.create_account(rt.accounts, rt.keyring, raw_id, changes)
    )
    return JSONResponse(await _account_answer(rt, account), status_code=201)


async def get_account(request: Request, rt: Runtime) -> Response:
    aid = _int(request.path_params["account_id"], "account_id")
    assert aid is not None
    account = await to_thread.run_sync(lambda: rt.accounts.get(aid))
    if account is None:
        raise ApiError(404, "account not found")
    return JSONResponse(await _account_answer(rt, account))


async def patch_account(request: Request, rt: Runtime) -> Response:
    aid = _int(request.path_params["account_id"], "account_id")
    assert aid is not None
    data = await _json_object(request)
    if "account_id" in data and data.pop("account_id") != aid:
        raise ApiError(422, "account_id cannot be changed")
    changes = acc.parse_changes(data)
    current = await to_thread.run_sync(lambda: rt.accounts.get(aid))
    acc.check_model(changes, current, rt.settings)
    account = await to_thread.run_sync(
        lambda: acc.update_account(rt.accounts, rt.keyring, aid, changes)
    )
    return JSONResponse(await _account_answer(rt, account))


async def delete_account(request: Request, rt: Runtime) -> Response:
    aid = _int(request.path_params["account_id"], "account_id")
    assert aid is not None
    await to_thread.run_sync(lambda: acc.delete_account(rt.accounts, aid))
    return Response(status_code=204)


async def account_doctor(request: Request, rt: Runtime) -> Response:
    """``transcriber doctor --account-id N`` as JSON: 200 whether the checks pass or not (the
    answer's ``ok`` says). It only reads: nothing is written into a conversation and nothing is
    spent at the engine (``adapter.doctor``). Its network checks take up to 10 s each, so they
    run in a worker thread."""
    aid = _int(request.path_params["account_id"], "account_id")
    assert aid is not None
    if await to_thread.run_sync(lambda: rt.accounts.get(aid)) is None:
        raise ApiError(404, "account not found")
    checks = await to_thread.run_sync(lambda: doctor.run_checks(rt, aid))
    return JSONResponse(doctor.report(checks))


def routes() -> list[Route]:
    return [
        Route("/api/v1/transcriptions", guarded(list_transcriptions), methods=["GET"]),
        Route("/api/v1/transcriptions/{id}", guarded(get_transcription), methods=["GET"]),
        Route("/api/v1/transcriptions/{id}/retry", guarded(retry_transcription), methods=["POST"]),
        Route("/api/v1/usage", guarded(get_usage), methods=["GET"]),
        Route("/api/v1/accounts", guarded(list_accounts), methods=["GET"]),
        Route("/api/v1/accounts", guarded(create_account), methods=["POST"]),
        Route("/api/v1/accounts/{account_id}", guarded(get_account), methods=["GET"]),
        Route("/api/v1/accounts/{account_id}", guarded(patch_account), methods=["PATCH"]),
        Route("/api/v1/accounts/{account_id}", guarded(delete_account), methods=["DELETE"]),
        Route("/api/v1/accounts/{account_id}/doctor", guarded(account_doctor), methods=["GET"]),
    ]


__all__ = ["routes"]
