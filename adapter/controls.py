"""What an account asks to be transcribed, decided without I/O.

An admin narrows the contract's rules per account (``accounts add|update``):

- ``--inboxes 5,7``: audio from another inbox is ``ignored`` (reason ``inbox``);
- ``--mode on-demand``: audio waits until an agent adds the label ``transcribe`` to its
  conversation. A message whose conversation carries the label already is transcribed at
  once; one without is ``ignored`` (reason ``on_demand``). Adding the label comes as a
  ``conversation_updated`` webhook: :func:`label_added` says which conversation to read (every
  incoming audio attachment of it not yet known is then transcribed, ``jobs/on_demand.py``);
- ``--min-seconds S``: shorter audio is ``skipped`` (``too_short``), decided once the audio is
  measured, before any engine call (``jobs/transcribe.py``);
- ``--inbox-language 5=es``: the language hint of that inbox's audio (over ``--language``).

The reconciler and backfill apply the same rules (``scan/``): they never transcribe what a
webhook would have ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from channels import Decision, channel_for_conversation

#: the label that asks for an on-demand account's audio to be transcribed
LABEL = "transcribe"
#: the ``reason`` of a label webhook that starts reading its conversation
LABEL_REASON = "label"
Mode = Literal["auto", "on_demand"]


@dataclass(frozen=True)
class Controls:
    inboxes: frozenset[int] | None = None  # None: every inbox
    mode: Mode = "auto"
    min_seconds: float = 0.0
    inbox_languages: Mapping[int, str] = field(default_factory=dict)

    @property
    def on_demand(self) -> bool:
        return self.mode == "on_demand"

    def wants_inbox(self, inbox_id: int | None) -> bool:
        """Audio of this inbox may be transcribed (an unknown inbox only when all may)."""
        return self.inboxes is None or inbox_id in self.inboxes

    def language_for(self, inbox_id: int | None, default: str | None) -> str | None:
        """The language hint for audio of ``inbox_id``: the inbox's, else ``default``."""
        if inbox_id is None:
            return default
        return self.inbox_languages.get(inbox_id, default)

    def admit(self, decision: Decision, *, labelled: bool) -> Decision:
        """``decision`` (the contract's) narrowed by the account's rules; ``labelled``: the
        conversation carries :data:`LABEL`."""
        if decision.status != "accepted":
            return decision
        if not self.wants_inbox(decision.inbox_id):
            return _ignored(decision, "inbox")
        if self.on_demand and not labelled:
            return _ignored(decision, "on_demand")
        return decision

    def too_short(self, seconds: float) -> bool:
        return self.min_seconds > 0 and seconds < self.min_seconds


def decide_for(payload: Mapping[str, Any], decision: Decision, wanted: Controls) -> Decision:
    """A webhook's decision under the account's rules: the contract's ``decision`` narrowed
    (:meth:`Controls.admit`), or, for an on-demand account, the label :data:`LABEL` just added
    to a conversation of a wanted inbox: accepted with reason :data:`LABEL_REASON`, naming the
    conversation to read (no attachment: they are read from Chatwoot)."""
    if wanted.on_demand and label_added(payload):
        conversation_id = _positive(payload.get("id"))
        inbox_id = _positive(payload.get("inbox_id"))
        if conversation_id is not None and wanted.wants_inbox(inbox_id):
            channel = channel_for_conversation(payload).name
            return Decision(
                "accepted", LABEL_REASON, "conversation_updated", channel, conversation_id, None,
                (), inbox_id,
            )  # fmt: skip
        return decision
    conversation = payload.get("conversation")
    return wanted.admit(
        decision, labelled=labelled(conversation if isinstance(conversation, Mapping) else None)
    )


def _positive(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        return None
    return value


def _ignored(decision: Decision, reason: str) -> Decision:
    return replace(decision, status="ignored", reason=reason, attachments=())


def labelled(conversation: Mapping[str, Any] | None) -> bool:
    """Whether a conversation (a webhook's ``conversation``, a listing entry) carries
    :data:`LABEL` (Chatwoot's ``labels``: a list of names)."""
    labels = conversation.get("labels") if isinstance(conversation, Mapping) else None
    return isinstance(labels, list) and LABEL in labels


def label_added(payload: Mapping[str, Any]) -> bool:
    """Whether a ``conversation_updated`` webhook says :data:`LABEL` was just added: its
    ``changed_attributes`` hold ``label_list`` with the label now and not before (Chatwoot's
    ``WebhookListener`` sends ``[{"label_list": {"previous_value": […], "current_value":
    […]}}]``)."""
    if payload.get("event") != "conversation_updated":
        return False
    changes = payload.get("changed_attributes")
    if not isinstance(changes, list):
        return False
    for change in changes:
        labels = change.get("label_list") if isinstance(change, Mapping) else None
        if isinstance(labels, Mapping):
            before, now = labels.get("previous_value"), labels.get("current_value")
            return (
                isinstance(now, list)
                and LABEL in now
                and not (isinstance(before, list) and LABEL in before)
            )
    return False


def parse_inboxes(stored: str | None) -> frozenset[int] | None:
    """The stored ``inbox_ids`` ("5,7") as a set; None (or nothing usable): every inbox."""
    if not stored:
        return None
    parts = (part.strip() for part in stored.split(","))
    ids = frozenset(int(part) for part in parts if part.isascii() and part.isdigit())
    return ids or None


def parse_languages(stored: str | None) -> dict[int, str]:
    """The stored ``inbox_languages`` (JSON ``{"5": "es"}``) as a map."""
    if not stored:
        return {}
    try:
        data = json.loads(stored)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        int(k): v
        for k, v in data.items()
        if str(k).isascii() and str(k).isdigit() and isinstance(v, str)
    }


def controls_of(
    inbox_ids: str | None,
    mode: str | None,
    min_seconds: float | None,
    inbox_languages: str | None,
) -> Controls:
    """An account's controls from its stored columns."""
    return Controls(
        inboxes=parse_inboxes(inbox_ids),
        mode="on_demand" if mode == "on_demand" else "auto",
        min_seconds=float(min_seconds or 0.0),
        inbox_languages=parse_languages(inbox_languages),
    )


__all__ = [
    "LABEL",
    "LABEL_REASON",
    "Controls",
    "Mode",
    "controls_of",
    "decide_for",
    "label_added",
    "labelled",
    "parse_inboxes",
    "parse_languages",
]
