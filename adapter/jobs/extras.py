"""Before a transcript's note is posted: what the chat model adds to it, made once.

    transcribed ──claim (deliver)──▶ extras settled (summary, translation) ──▶ note posted

The account's summary (audio at least ``--summary-min-seconds`` long) and translation (into
``--translate-to``, when the transcript is in another language and the engine did not
translate it chunk by chunk) are asked of its chat model (``adapter.chat``), both at once, under
the delivery's lease, then stored with their token counts and the time they were settled
(``Ledger.set_extras``). A delivery retried after a Chatwoot outage finds them settled and does
not pay again.

A failure never blocks the transcript: whatever could not be made is left out of the note, the
reason stored (``extras_error``, shown by the admin API and the console), logged at WARNING
and counted (``chat.errors``). The chat model reads the transcript as it was stored, masked
(``--redact``); what it writes is masked again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from adapter.accounts import ChatSettings, chat_settings, extras
from adapter.chat import ChatModel, ChatResult, summarize, translate
from adapter.engines.languages import language_name
from adapter.errors import TranscriberError
from adapter.extras import Extras
from adapter.jobs.step import safe_error
from adapter.observability import Metric, metrics
from adapter.observability.redact import register_transcript
from adapter.runtime import Runtime
from adapter.store import Account, Claim, ExtrasMade, Transcription, Translation

log = logging.getLogger(__name__)


def settle(rt: Runtime, claim: Claim, row: Transcription, account: Account) -> Transcription | None:
    """Make and store the row's extras unless they are settled; the row as it now is, or None
    when the delivery's claim was lost meanwhile (another attempt holds the row: this one must
    not post)."""
    if row.extras_at is not None:
        return row
    wanted = extras(account)
    chat = chat_settings(account, rt.keyring, rt.settings)
    made = make(wanted, row, chat)
    if not rt.ledger.set_extras(claim, made):
        log.warning(
            "delivery of transcription %s: its claim was lost while the chat model wrote", row.id
        )
        return None
    return rt.ledger.get(row.id or 0) or row


def make(wanted: Extras, row: Transcription, chat: ChatSettings | None) -> ExtrasMade:
    """Ask the chat model for what ``row`` is owed; failures become the ``error``."""
    text = row.text or ""
    route = "none" if row.translation else wanted.translation_route(row.language, chat=bool(chat))
    summary_due = wanted.wants_summary(row.audio_seconds) and bool(text.strip())
    errors = _cannot(wanted, route, summary_due=summary_due, chat=chat is not None)
    if chat is None:
        return ExtrasMade(error=_joined(errors))
    model = ChatModel(chat.model, base_url=chat.base_url, api_key=chat.api_key)
    calls: dict[str, Callable[[], ChatResult]] = {}
    if summary_due:
        output = wanted.translate_to or row.language or "en"
        calls["summary"] = lambda: summarize(model, text, output_language=output)
    target = wanted.translate_to
    if route == "chat" and target is not None and text.strip():
        calls["translation"] = lambda: translate(model, text, source=row.language, target=target)
    # the two calls at once: what they add to the note's wait is the longer one, not both
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="chat") as pool:
        asked = {what: pool.submit(_ask, what, call) for what, call in calls.items()}
    answers = {what: future.result() for what, future in asked.items()}
    errors += [f"{what}: {answer}" for what, answer in answers.items() if isinstance(answer, str)]
    results = {what: a for what, a in answers.items() if isinstance(a, ChatResult)}
    summary, translated = results.get("summary"), results.get("translation")
    return ExtrasMade(
        summary=wanted.mask(summary.text) if summary else None,
        translation=Translation(wanted.mask(translated.text), target or "") if translated else None,
        error=_joined(errors),
        chat_model=chat.model if results else None,
        input_tokens=sum(r.input_tokens for r in results.values()),
        output_tokens=sum(r.output_tokens for r in results.values()),
    )


def _cannot(wanted: Extras, route: str, *, summary_due: bool, chat: bool) -> list[str]:
    """What is owed but cannot be asked of anyone, in words for the admin."""
    errors = []
    if route == "unavailable":
        errors.append(
            f"translation into {_named(wanted.translate_to)}: no chat model (give the account "
            "--chat-base-url, or an OpenAI key with the openai engine); without one only English "
            "is made, by the engine"
        )
    elif route == "engine":  # the chunks were not translated (the account changed since)
        errors.append("translation: the engine did not translate this recording")
    if summary_due and not chat:
        errors.append(
            "summary: no chat model (give the account --chat-base-url, or an OpenAI key with "
            "the openai engine)"
        )
    return errors


def _ask(what: str, call: Callable[[], ChatResult]) -> ChatResult | str:
    """One chat call, timed and counted; what it made, or why it failed."""
    started = time.monotonic()
    try:
        result = call()
    except Exception as exc:
        metrics.incr(Metric.CHAT_ERRORS)
        error = safe_error(exc)
        if isinstance(exc, TranscriberError):
            log.warning("the chat model's %s failed: %s", what, error)
        else:  # a bug: Sentry hears of it, the note still goes out
            log.exception("the chat model's %s failed unexpectedly", what)
        return error
    metrics.incr(Metric.CHAT_CALLS)
    metrics.incr(Metric.CHAT_TOKENS, result.input_tokens + result.output_tokens)
    metrics.timing(Metric.CHAT_LATENCY, (time.monotonic() - started) * 1000)
    register_transcript(result.text)  # what it wrote is the customer's words too
    return result


def _named(code: str | None) -> str:
    return f"{language_name(code) or code} ({code})"


def _joined(errors: list[str]) -> str | None:
    return "; ".join(errors) if errors else None


__all__ = ["make", "settle"]
