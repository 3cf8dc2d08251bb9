"""One scan: one account, one window, walked conversation by conversation.

    reader.conversations(since)   newest activity first, one page in memory
      └─ passed, when Chatwoot lists it unchanged since a complete scan of the window
         (``ScanStore.covered``): its stored counts are added, no message is read
      └─ else reader.messages(since) → sift → Ledger.record_found → queue.transcribe_many
         → ScanStore.cover (the conversation is done; a rerun passes it)

Memory stays flat: a conversation's messages are sifted and dropped before the next one.
A conversation deleted mid-scan (404), or whose messages Chatwoot serves malformed, is skipped
(logged, counted in ``skipped``). The errors of the account as a whole — its token rejected,
Chatwoot unavailable after the reader's retries, a malformed listing — end the scan: the caller
records them, and the window is scanned again next time (passing what was finished).
Conversations that became active during the walk are listed once more at its end: new activity
moves a conversation to the first page, which the walk had read already.
A dry run records nothing and queues nothing: it counts, with the size of the audio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from adapter.controls import labelled
from adapter.errors import HelpdeskNotFound, HelpdeskRejected, HelpdeskTokenRejected
from adapter.helpdesk.reader import ChatwootReader, ListedConversation
from adapter.runtime import Queue, Runtime
from adapter.scan.sift import Counts, Sifted, sift
from adapter.scan.window import Window
from adapter.store import Ledger, ScanStore, Source

log = logging.getLogger(__name__)

#: a conversation's last activity must be this much older than the end of the span that
#: covered it to be passed unread (timestamps are whole seconds)
_SAME_SECOND = 1
#: the second listing starts this long before the walk did: Chatwoot's clock may lag ours
#: (conversations this walk finished are passed with one look-up each)
_CLOCK_MARGIN = 60


@dataclass(frozen=True)
class Target:
    """What to scan: an account, a window, which inboxes (none: all), what to call it;
    ``labelled_only``: an on-demand account, whose conversations are read only once labelled
    ``transcribe`` (``adapter.controls``)."""

    account_id: int
    window: Window
    source: Source
    inbox_ids: tuple[int, ...] = ()
    dry_run: bool = False
    labelled_only: bool = False


class Walk:
    """The I/O loop of one scan. ``progress`` is called after each conversation."""

    def __init__(
        self,
        *,
        reader: ChatwootReader,
        ledger: Ledger,
        scans: ScanStore,
        queue: Queue | None,
        encrypt: Callable[[str, str], str],
        progress: Callable[[Counts], None] | None = None,
        max_attachments: int | None = None,
    ) -> None:
        """``queue`` None: this process cannot reach the workers (a command without Redis);
        what it records is left due for the next recovery sweep of a running service.
        ``max_attachments``: how many audio attachments one message may queue (None: all)."""
        self.reader = reader
        self.ledger = ledger
        self.scans = scans
        self.queue = queue
        self.encrypt = encrypt
        self.progress = progress
        self.max_attachments = max_attachments

    def run(self, target: Target, total: Counts | None = None) -> Counts:
        """Walk the window, adding to ``total`` as it goes (what was done before an error
        stays there); the counts. Raises the account-wide errors (see the module)."""
        total = Counts() if total is None else total
        if target.window.empty:
            return total
        started = time.time()
        self._walk(target, target.window.since.timestamp(), total, again=False)
        # A conversation that became active during the walk moved to the first page, which
        # was read already: list those once more and read the ones this walk did not finish.
        self._walk(target, started - _CLOCK_MARGIN, total, again=True)
        return total

    def _walk(self, target: Target, since: float, total: Counts, *, again: bool) -> None:
        for conversation in self.reader.conversations(since=since, inbox_ids=target.inbox_ids):
            if again and self._finished_by_this_walk(target, conversation):
                continue
            total.add(self._conversation(target, conversation))
            if self.progress is not None:
                self.progress(total)

    def _finished_by_this_walk(self, target: Target, conversation: ListedConversation) -> bool:
        covered = self.scans.covered(target.account_id, conversation.id)
        return (
            covered is not None
            and covered.since == target.window.since
            and covered.until == target.window.until
        )

    def _conversation(self, target: Target, conversation: ListedConversation) -> Counts:
        if target.labelled_only and not labelled(conversation.raw):
            return Counts(conversations=1)  # not asked for (yet): read once it is labelled
        passed = self._passed(target, conversation)
        if passed is not None:
            return passed
        try:
            sifted = sift(
                self.reader.messages(conversation.id, since=target.window.since.timestamp()),
                conversation.raw,
                until=target.window.until.timestamp(),
                max_attachments=self.max_attachments,
            )
        except HelpdeskTokenRejected:
            raise  # the token, not the conversation: the scan stops, its window stays
        except (HelpdeskNotFound, HelpdeskRejected) as exc:
            log.warning(
                "conversation %s of account %s skipped: %s",
                conversation.id,
                target.account_id,
                "it is gone (404)" if isinstance(exc, HelpdeskNotFound) else exc,
            )
            return Counts(conversations=1, skipped=1)
        counts = self._record(target, sifted)
        counts.conversations = 1
        if not target.dry_run:
            stored = Counts(messages=counts.messages, audio=counts.audio, skipped=counts.skipped)
            self.scans.cover(
                target.account_id,
                conversation.id,
                last_activity_at=int(conversation.last_activity_at),
                since=target.window.since,
                until=target.window.until,
                counts=stored.as_dict(),
            )
        return counts

    def _passed(self, target: Target, conversation: ListedConversation) -> Counts | None:
        """The counts of an unchanged conversation scanned completely before, else None."""
        covered = self.scans.covered(target.account_id, conversation.id)
        if (
            covered is None
            or covered.last_activity_at != int(conversation.last_activity_at)
            or covered.since > target.window.since
            or conversation.last_activity_at > covered.until.timestamp() - _SAME_SECOND
        ):
            return None
        stored = Counts.from_dict(covered.counts)
        # everything it held is known now: recorded by that scan, or noted
        return Counts(
            conversations=1,
            messages=stored.messages,
            audio=stored.audio,
            known=stored.audio,
            skipped=stored.skipped,
        )

    def _record(self, target: Target, sifted: Sifted) -> Counts:
        """Record (or, dry, look up) the sifted audio; queue what is new."""
        counts = sifted.counts
        attachments = {a.attachment_id: a for d in sifted.audio for a in d.attachments}
        if not attachments and (target.dry_run or not sifted.noted):
            return counts
        if target.dry_run:
            known = self.ledger.known_attachments(target.account_id, attachments)
            new = [a for i, a in attachments.items() if i not in known]
            counts.known += len(known)
            counts.queued += len(new)
            counts.bytes += sum(a.file_size or 0 for a in new)
            return counts
        found = self.ledger.record_found(
            target.account_id,
            sifted.audio,
            self.encrypt,
            source=target.source,
            noted=sifted.noted,
            due=self.queue is None,
        )
        counts.known += len(found.known)
        counts.queued += len(found.new_ids)
        known = set(found.known)
        counts.bytes += sum(a.file_size or 0 for i, a in attachments.items() if i not in known)
        if found.new_ids and self.queue is not None:
            self.queue.transcribe_many(found.new_ids)
        return counts


def walk_for(
    rt: Runtime,
    reader: ChatwootReader,
    *,
    detached: bool = False,
    progress: Callable[[Counts], None] | None = None,
) -> Walk:
    """A walk on ``rt``'s ledger, scan store and queue (``detached``: no queue, see
    :class:`Walk`); attachment URLs are encrypted with its keyring."""
    return Walk(
        reader=reader,
        ledger=rt.ledger,
        scans=rt.scans,
        queue=None if detached else rt.queue,
        encrypt=rt.keyring.seal_url,
        progress=progress,
        max_attachments=rt.settings.max_attachments,
    )


__all__ = ["Target", "Walk", "walk_for"]
