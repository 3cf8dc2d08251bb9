"""Error reporting to Sentry, with everything private scrubbed before it leaves.

:func:`init_sentry` MUST be called before the Dramatiq broker is built (before
``adapter.jobs`` creates its ``RedisBroker``/``StubBroker`` or anything calls
``dramatiq.set_broker``): the Dramatiq integration patches ``Broker.__init__`` to
add its middleware, so a broker made earlier reports nothing. In the web process
call it before the Starlette app is built. Order in every entry point::

    settings = get_settings()
    configure_logging(settings)
    init_sentry(settings, component="web" | "worker" | "cli")
    init_metrics(settings)
    broker = build_broker(settings)   # only now

The SDK runs without PII (``send_default_pii=False`` on SDKs that still take it;
newer ones deprecate the option and default to the same), no request bodies
(``max_request_body_size="never"``), no local variables (they hold decrypted
tokens and transcripts), and :func:`scrub_event` / :func:`scrub_breadcrumb` as
the last word on every event, transaction and breadcrumb. The scrubbers remove
registered secrets and secret-looking patterns (:mod:`.redact`), transcripts,
attachment URLs and signed ids, query strings, request bodies, cookies and every
request header outside a short allow-list (so ``X-Chatwoot-Signature``,
``api_access_token`` and ``Authorization`` never go), and actor arguments other
than integer ids. A scrubber that fails drops the event: losing a report is
better than leaking a token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import suppress
from importlib import metadata
from typing import TYPE_CHECKING, cast

from adapter.observability.redact import (
    REDACTED,
    format_log_message,
    key_kind,
    redact_obj,
    redact_text,
)

if TYPE_CHECKING:
    from sentry_sdk._types import Breadcrumb, BreadcrumbHint, Event, Hint

    from adapter.settings import Settings

log = logging.getLogger(__name__)

DISTRIBUTION = "helpdesk-transcriber"

#: request headers worth keeping; every other header is dropped from events
SAFE_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "user-agent",
        "x-chatwoot-delivery",
        "x-request-id",
        "accept",
        "host",
    }
)
#: Dramatiq message fields kept (args/kwargs are reduced to integer ids)
_SAFE_MESSAGE_FIELDS = ("queue_name", "actor_name", "message_id", "message_timestamp")
_SAFE_MESSAGE_OPTIONS = ("retries", "max_retries", "eta")


def release() -> str | None:
    try:
        return f"{DISTRIBUTION}@{metadata.version(DISTRIBUTION)}"
    except metadata.PackageNotFoundError:
        return None


def init_sentry(settings: Settings, *, component: str) -> bool:
    """Start the Sentry SDK when ``SENTRY_DSN`` is set; return whether it is on.

    ``component`` (``web``, ``worker``, ``cli``) becomes the ``component`` tag.
    See the module docstring for the required order (before the broker).
    """
    if settings.sentry_dsn is None:
        return False
    dsn = settings.sentry_dsn.get_secret_value().strip()
    if not dsn:
        return False

    import sentry_sdk
    from sentry_sdk.integrations.dramatiq import DramatiqIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    options: dict[str, object] = {}
    if not _has_data_collection_option():
        # SDKs before ``data_collection`` need it said; later ones deprecate the option
        # (a DeprecationWarning at every start) and default to the same: no PII.
        options["send_default_pii"] = False
    sentry_sdk.init(
        dsn=dsn,
        integrations=[StarletteIntegration(transaction_style="url"), DramatiqIntegration()],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        environment=settings.env,
        release=release(),
        max_request_body_size="never",
        include_local_variables=False,
        include_source_context=True,
        attach_stacktrace=False,
        **options,  # type: ignore[arg-type]
    )
    sentry_sdk.get_global_scope().set_tag("component", component)
    return True


def _has_data_collection_option() -> bool:
    import inspect

    from sentry_sdk.consts import ClientConstructor

    return "data_collection" in inspect.signature(ClientConstructor.__init__).parameters


def shutdown_sentry(timeout: float = 2.0) -> None:
    """Flush and close the client; later captures are no-ops (tests, CLI exit)."""
    import sentry_sdk

    client = sentry_sdk.get_client()
    try:
        client.close(timeout=timeout)
    finally:
        scope = sentry_sdk.get_global_scope()
        scope.set_client(None)
        scope.remove_tag("component")


# --- scrubbing --------------------------------------------------------------------------------


def scrub_event(event: Event, hint: Hint) -> Event | None:
    """``before_send``: the event without private data, or ``None`` (dropped) on error."""
    try:
        data = cast("dict[str, object]", event)
        record = hint.get("log_record") if isinstance(hint, dict) else None
        _scrub_event(data, record if isinstance(record, logging.LogRecord) else None)
        return event
    except Exception as exc:
        _report_drop("event", exc)
        return None


def scrub_breadcrumb(crumb: Breadcrumb, hint: BreadcrumbHint) -> Breadcrumb | None:
    """``before_breadcrumb``: message and data redacted, URLs without queries."""
    try:
        record = hint.get("log_record") if isinstance(hint, dict) else None
        if isinstance(record, logging.LogRecord):
            crumb["message"] = _format(str(record.msg), record.args, crumb.get("message"))
        _scrub_breadcrumb(crumb)
        return crumb
    except Exception as exc:
        _report_drop("breadcrumb", exc)
        return None


def _report_drop(what: str, exc: Exception) -> None:
    with suppress(Exception):  # the drop itself is what matters
        log.warning("sentry %s dropped: scrubber failed (%s)", what, type(exc).__name__)


def _scrub_event(event: dict[str, object], record: logging.LogRecord | None) -> None:
    for key in ("message", "transaction", "culprit", "server_name"):
        if isinstance(event.get(key), str):
            event[key] = redact_text(cast(str, event[key]))

    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        # The SDK serialises the event before before_send: params are reprs by now. The
        # record in the hint still has the objects (e.g. a Dramatiq message to reduce).
        template, params = logentry.get("message"), logentry.get("params")
        if record is not None:
            template, params = str(record.msg), record.args
            logentry["params"] = params
        if isinstance(template, str):
            # rebuilt from the template: "formatted" holds the raw arguments
            logentry["formatted"] = _format(template, params, logentry.get("formatted"))
            logentry["message"] = redact_text(template)
        elif isinstance(logentry.get("formatted"), str):
            logentry["formatted"] = redact_text(logentry["formatted"])
        if "params" in logentry:
            logentry["params"] = redact_obj(params)

    for section in ("exception", "threads"):
        container = event.get(section)
        if isinstance(container, dict):
            for item in _dicts(container.get("values")):
                _scrub_exception(item)

    if "request" in event:
        event["request"] = _scrub_request(event["request"])

    extra = event.get("extra")
    if isinstance(extra, dict) and isinstance(extra.get("sys.argv"), list):
        extra["sys.argv"] = _scrub_argv(extra["sys.argv"])
    for key in ("extra", "tags"):
        if key in event:
            event[key] = redact_obj(event[key])
    if "contexts" in event:
        event["contexts"] = _scrub_contexts(event["contexts"])

    event.pop("user", None)

    breadcrumbs = event.get("breadcrumbs")
    if isinstance(breadcrumbs, dict):
        breadcrumbs["values"] = [_scrub_breadcrumb(c) for c in _dicts(breadcrumbs.get("values"))]
    elif isinstance(breadcrumbs, list):
        event["breadcrumbs"] = [_scrub_breadcrumb(c) for c in _dicts(breadcrumbs)]

    spans = event.get("spans")
    if isinstance(spans, list):
        for span in _dicts(spans):
            if isinstance(span.get("description"), str):
                span["description"] = redact_text(cast(str, span["description"]))
            if "data" in span:
                span["data"] = _scrub_span_data(span["data"])
            if "tags" in span:
                span["tags"] = redact_obj(span["tags"])


def _format(template: str, params: object, fallback: object) -> str:
    args = tuple(params) if isinstance(params, list) else params
    try:
        return format_log_message(template, args)
    except Exception:
        return redact_text(fallback) if isinstance(fallback, str) else REDACTED


def _dicts(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _scrub_exception(item: dict[str, object]) -> None:
    if isinstance(item.get("value"), str):
        item["value"] = redact_text(cast(str, item["value"]))
    mechanism = item.get("mechanism")
    if isinstance(mechanism, dict) and "data" in mechanism:
        mechanism["data"] = redact_obj(mechanism["data"])
    stacktrace = item.get("stacktrace")
    if isinstance(stacktrace, dict):
        for frame in _dicts(stacktrace.get("frames")):
            frame.pop("vars", None)
            for key in ("context_line", "filename", "abs_path", "module", "function"):
                if isinstance(frame.get(key), str):
                    frame[key] = redact_text(cast(str, frame[key]))
            for key in ("pre_context", "post_context"):
                if key in frame:
                    frame[key] = redact_obj(frame[key])


def _scrub_argv(argv: list[object]) -> list[object]:
    """``--api-token X`` → ``--api-token [redacted]`` (``--opt=X`` is caught by the patterns)."""
    kept: list[object] = []
    previous = ""
    for arg in argv:
        text = str(arg)
        option = previous.lstrip("-")
        if previous.startswith("-") and "=" not in previous and key_kind(option) is not None:
            kept.append(REDACTED)
        else:
            kept.append(redact_text(text))
        previous = text
    return kept


def _scrub_request(request: object) -> dict[str, object]:
    """Only method, URL without query, and allow-listed headers survive."""
    if not isinstance(request, dict):
        return {}
    kept: dict[str, object] = {}
    if isinstance(request.get("method"), str):
        kept["method"] = request["method"]
    url = request.get("url")
    if isinstance(url, str):
        kept["url"] = redact_text(url.split("?", 1)[0].split("#", 1)[0])
    headers = request.get("headers")
    if isinstance(headers, Mapping):
        kept["headers"] = {
            str(name): redact_text(str(value))
            for name, value in headers.items()
            if str(name).lower() in SAFE_HEADERS
        }
    return kept


def _scrub_contexts(contexts: object) -> object:
    if not isinstance(contexts, dict):
        return redact_obj(contexts)
    dramatiq = contexts.get("dramatiq")
    if isinstance(dramatiq, dict):
        contexts["dramatiq"] = _scrub_dramatiq(dramatiq)
    return {
        key: (value if key == "dramatiq" else redact_obj(value)) for key, value in contexts.items()
    }


def _int_id(value: object) -> object:
    return value if isinstance(value, int) and not isinstance(value, bool) else REDACTED


def _scrub_dramatiq(context: dict[str, object]) -> dict[str, object]:
    kept: dict[str, object] = {"type": "dramatiq"}
    data = context.get("data")
    if isinstance(data, dict):
        message: dict[str, object] = {
            key: redact_obj(data[key]) for key in _SAFE_MESSAGE_FIELDS if key in data
        }
        args = data.get("args")
        if isinstance(args, list | tuple):
            message["args"] = [_int_id(arg) for arg in args]
        kwargs = data.get("kwargs")
        if isinstance(kwargs, dict):
            message["kwargs"] = {str(key): _int_id(value) for key, value in kwargs.items()}
        options = data.get("options")
        if isinstance(options, dict):
            message["options"] = {
                key: _int_id(options[key]) for key in _SAFE_MESSAGE_OPTIONS if key in options
            }
        kept["data"] = message
    elif data is not None:
        kept["data"] = REDACTED  # an AnnotatedValue or anything unexpected: say nothing
    return kept


def _scrub_span_data(data: object) -> object:
    if isinstance(data, dict):
        for key in ("http.query", "http.fragment", "http.request.body", "http.response.body"):
            data.pop(key, None)
        for key in ("url", "http.url", "server.address"):
            if isinstance(data.get(key), str):
                data[key] = data[key].split("?", 1)[0]
    return redact_obj(data)


def _scrub_breadcrumb(crumb: dict[str, object]) -> dict[str, object]:
    for key in ("message", "category"):
        if isinstance(crumb.get(key), str):
            crumb[key] = redact_text(cast(str, crumb[key]))
    if "data" in crumb:
        crumb["data"] = _scrub_span_data(crumb["data"])
    return crumb


__all__ = [
    "SAFE_HEADERS",
    "init_sentry",
    "release",
    "scrub_breadcrumb",
    "scrub_event",
    "shutdown_sentry",
]
