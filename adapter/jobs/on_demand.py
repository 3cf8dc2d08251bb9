"""On-demand mode: an agent added the label ``transcribe`` to a conversation; read it and
queue every incoming audio attachment of it not yet known (source ``on_demand``).

    conversation_updated (label added) ─▶ web/webhooks ─▶ on_demand(account, conversation)
        GET the conversation, its messages (the user token: bots cannot list messages)
        → scan/sift (the webhooks' rules; our notes mark audio known) → Ledger.record_found
        → queue.transcribe_many

One attempt: the reader retries Chatwoot's 429s and 5xx itself, and what this step cannot read
the reconciler finds later (it reads an on-demand account's labelled conversations).
"""

from __future__ import annotations

import logging

from adapter.accounts import controls, open_secret
from adapter.errors import TranscriberError
from adapter.runtime import Runtime
from adapter.scan.reconciler import reader_for
from adapter.scan.sift import sift
from adapter.store import utcnow

log = logging.getLogger(__name__)


def read_conversation(rt: Runtime, account_id: int, conversation_id: int) -> list[int]:
    """Queue the conversation's audio not yet known; the new transcriptions' ids."""
    account = rt.accounts.get(account_id)
    if account is None or not account.enabled:
        return []
    if account.user_token_enc is None:
        log.warning(
            "account %s: conversation %s was labelled for transcription, but the account has "
            "no user token to read its messages (accounts update %s --user-token)",
            account_id,
            conversation_id,
            account_id,
        )
        return []
    try:
        token = open_secret(rt.keyring, account_id, "user_token", account.user_token_enc)
        conversation = rt.chatwoot.get_conversation(
            account.chatwoot_url, account_id, conversation_id, token
        )
        if not controls(account).wants_inbox(_inbox(conversation)):
            return []
        reader = reader_for(rt, account, token)
        sifted = sift(
            reader.messages(conversation_id, since=0.0),
            conversation,
            until=_now(),
            max_attachments=rt.settings.max_attachments,
        )
        found = rt.ledger.record_found(
            account_id,
            sifted.audio,
            rt.keyring.seal_url,
            source="on_demand",
            noted=sifted.noted,
        )
    except TranscriberError as exc:
        log.warning(
            "account %s: could not read labelled conversation %s (%s); the reconciler will",
            account_id,
            conversation_id,
            exc,
        )
        return []
    if found.new_ids:
        rt.queue.transcribe_many(found.new_ids)
    log.info(
        "account %s: conversation %s labelled: %d voice note(s) queued, %d known",
        account_id,
        conversation_id,
        len(found.new_ids),
        len(found.known),
    )
    return list(found.new_ids)


def _inbox(conversation: dict[str, object]) -> int | None:
    inbox = conversation.get("inbox_id")
    return inbox if isinstance(inbox, int) and not isinstance(inbox, bool) else None


def _now() -> float:
    return utcnow().timestamp()


__all__ = ["read_conversation"]
