"""Chatwoot I/O: the API client, the attachment downloader and the note format.

    from adapter.helpdesk import (
        ChatwootClient, download, format_note, note_payload, private_origins,
    )

    # where a private address may be fetched from: a self-hosted Chatwoot on a LAN, MinIO
    allowed = private_origins(account.chatwoot_url, settings.storage_hosts)
    result = download(attachment.url, path, max_bytes=..., private_origins=allowed,
                      deadline=settings.download_deadline_seconds)
    note = format_note(transcript.text, transcript.language, transcript.duration)
    client = ChatwootClient()                           # one per process, from the composition root
    client.post_note(url, account_id, conversation_id, token,
                     note_payload(note, message_id=..., attachment_id=..., language=...,
                                  duration=...))
    client.set_transcript_language(url, account_id, conversation_id, token, "es")

    reader = ChatwootReader(client, base_url=url, account_id=7, token=user_token,
                            pacer=Pacer(5))             # a user's token: bots cannot list
    for conversation in reader.conversations(since=start):       # newest activity first
        for message in reader.messages(conversation.id, since=start):
            ...

Note: the function ``download`` shadows the module of the same name as an attribute of this
package; reach the module as ``sys.modules["adapter.helpdesk.download"]`` or import names
from it (``from adapter.helpdesk.download import DOWNLOAD_TIMEOUT``).

Every failure is one of ``adapter.errors``: ``HelpdeskUnavailable`` (transient),
``HelpdeskRejected`` (with ``HelpdeskTokenRejected`` and ``HelpdeskNotFound`` below it),
``UnsafeURL`` (permanent), ``AudioTooLarge``.
"""

from __future__ import annotations

from adapter.helpdesk._ssrf import (
    Origin,
    host_refusal,
    private_origins,
    storage_origins,
    url_is_private,
)
from adapter.helpdesk.chatwoot import TRANSCRIPT_LANGUAGE, ChatwootClient
from adapter.helpdesk.download import DownloadResult, download
from adapter.helpdesk.notes import (
    NotePayload,
    format_duration,
    format_note,
    language_name,
    note_payload,
)
from adapter.helpdesk.reader import ChatwootReader, ListedConversation, Pacer

__all__ = [
    "TRANSCRIPT_LANGUAGE",
    "ChatwootClient",
    "ChatwootReader",
    "DownloadResult",
    "ListedConversation",
    "NotePayload",
    "Origin",
    "Pacer",
    "download",
    "format_duration",
    "format_note",
    "host_refusal",
    "language_name",
    "note_payload",
    "private_origins",
    "storage_origins",
    "url_is_private",
]
