"""``accounts connect``, decided without I/O: from what Chatwoot lists and what is stored,
what to create, update or leave alone.

    plan = connect.plan(
        Seen(bots=…, webhooks=…, definitions=…, inbox_bots={5: None}, version="4.15.1"),
        Wanted(account_id=3, public_url="https://transcriber.example.com", inbox_ids=(5,)),
    )
    for line in plan.steps(): print(line)        # what --dry-run shows
    changes = account_changes(stored, {...})      # only what differs, secrets included

The rules:

- the bot: the account's own agent bot named :data:`BOT_NAME` (the lowest id when there are
  several; a system bot of the same name is not ours), else a new one;
- the webhook: the one whose URL is exactly ``{public_url}/webhooks/chatwoot/{N}`` (Chatwoot
  keeps a URL unique per account), updated when a subscription of :data:`SUBSCRIPTIONS` is
  missing (the admin's other subscriptions are kept), else a new one. Other webhooks whose
  path is ``/webhooks/chatwoot/{N}`` are named (an old address of this service?), not touched;
- the conversation attribute ``transcript_language``: created when no definition has its key;
- each ``--inbox-id``: the bot connected unless it already is;
- the stored account: only the fields whose value differs, so a second run stores nothing
  (a new webhook secret would otherwise push the current one into "previous").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from adapter.helpdesk.admin import AgentBot, AttributeDefinition, Webhook
from adapter.helpdesk.chatwoot import TRANSCRIPT_LANGUAGE

BOT_NAME = "Transcriber"
BOT_DESCRIPTION = (
    "helpdesk-transcriber: writes the transcript of each voice message as a private note"
)
WEBHOOK_NAME = "helpdesk-transcriber"
SUBSCRIPTIONS = ("message_created", "message_updated", "conversation_updated")
ATTRIBUTE_NAME = "Transcript language"
ATTRIBUTE_DESCRIPTION = (
    "ISO 639-1 code of the language of the conversation's voice messages (helpdesk-transcriber)"
)
#: the first Chatwoot that signs account webhooks (chatwoot/chatwoot#13573)
SIGNING_VERSION = (4, 11, 2)

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")

Action = Literal["create", "update", "keep"]


def webhook_url(public_url: str, account_id: int) -> str:
    return f"{public_url.rstrip('/')}/webhooks/chatwoot/{account_id}"


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    """``"4.15.1"`` → ``(4, 15, 1)``; None when it does not start like a version."""
    match = _VERSION.match(text.strip()) if text else None
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def too_old_to_sign(version: str | None) -> bool:
    """Whether ``version`` is known to be older than the first that signs webhooks."""
    parsed = parse_version(version)
    return parsed is not None and parsed < SIGNING_VERSION


def old_chatwoot_message(version: str | None) -> str:
    said = f"Chatwoot {version}" if version else "this Chatwoot"
    return (
        f"{said} does not sign webhooks (it returns no webhook secret): signing came with "
        "Chatwoot 4.11.2; upgrade Chatwoot to 4.11.2 or newer, then run this again"
    )


@dataclass(frozen=True)
class Seen:
    """What Chatwoot listed."""

    bots: Sequence[AgentBot]
    webhooks: Sequence[Webhook]
    definitions: Sequence[AttributeDefinition]
    #: each ``--inbox-id`` and the id of the bot it is connected to (None: no bot)
    inbox_bots: Mapping[int, int | None] = field(default_factory=dict)
    version: str | None = None


@dataclass(frozen=True)
class Wanted:
    account_id: int
    public_url: str
    inbox_ids: Sequence[int] = ()


@dataclass(frozen=True)
class Plan:
    account_id: int
    url: str
    bot: AgentBot | None  # None: create one
    webhook: Webhook | None  # None: create one
    webhook_action: Action
    subscriptions: tuple[str, ...]
    attribute_action: Action
    #: inbox id → whether the bot has to be connected to it
    inboxes: Mapping[int, bool]
    #: other webhooks of the account whose path is this service's
    stale: tuple[Webhook, ...] = ()

    def steps(self, *, done: bool = False) -> list[str]:
        """One line per step, for people: what would be done, or (``done``) what was. No
        secret."""

        def say(future: str, past: str) -> str:
            return past if done else future

        lines = []
        if self.bot is None:
            lines.append(f'{say("create", "created")} the agent bot "{BOT_NAME}"')
        else:
            lines.append(f'{say("reuse", "reused")} the agent bot "{BOT_NAME}" (id {self.bot.id})')
        events = ", ".join(self.subscriptions)
        if self.webhook is None:
            lines.append(f"{say('create', 'created')} the webhook {self.url} ({events})")
        else:
            verb = say(
                self.webhook_action, "updated" if self.webhook_action == "update" else "kept"
            )
            lines.append(f"{verb} webhook {self.webhook.id} at {self.url} ({events})")
        if self.attribute_action == "create":
            lines.append(
                f"{say('create', 'created')} the conversation attribute {TRANSCRIPT_LANGUAGE}"
            )
        else:
            lines.append(f"{say('keep', 'kept')} the conversation attribute {TRANSCRIPT_LANGUAGE}")
        for inbox_id, assign in self.inboxes.items():
            if assign:
                lines.append(f"{say('connect', 'connected')} the bot to inbox {inbox_id}")
            else:
                lines.append(f"{say('keep', 'kept')} the bot on inbox {inbox_id}")
        lines.extend(
            f"note: webhook {hook.id} at {hook.url} also points at /webhooks/chatwoot/"
            f"{self.account_id}; delete it in Chatwoot if it is an old address of this service"
            for hook in self.stale
        )
        return lines


def plan(seen: Seen, wanted: Wanted) -> Plan:
    url = webhook_url(wanted.public_url, wanted.account_id)
    ours = sorted(
        (b for b in seen.bots if b.name == BOT_NAME and b.account_id == wanted.account_id),
        key=lambda b: b.id,
    )
    bot = ours[0] if ours else None
    webhook = next((w for w in seen.webhooks if w.url == url), None)
    if webhook is None:
        action: Action = "create"
        subscriptions: tuple[str, ...] = SUBSCRIPTIONS
    else:
        missing = [s for s in SUBSCRIPTIONS if s not in webhook.subscriptions]
        action = "update" if missing or webhook.name != WEBHOOK_NAME else "keep"
        subscriptions = (
            *SUBSCRIPTIONS,
            *(s for s in webhook.subscriptions if s not in SUBSCRIPTIONS),
        )
    path = f"/webhooks/chatwoot/{wanted.account_id}"
    stale = tuple(w for w in seen.webhooks if w.url != url and w.url.rstrip("/").endswith(path))
    has_attribute = any(
        d.key == TRANSCRIPT_LANGUAGE and d.model in ("conversation_attribute", "")
        for d in seen.definitions
    )
    inboxes = {
        inbox_id: bot is None or seen.inbox_bots.get(inbox_id) != bot.id
        for inbox_id in dict.fromkeys(wanted.inbox_ids)
    }
    return Plan(
        account_id=wanted.account_id,
        url=url,
        bot=bot,
        webhook=webhook,
        webhook_action=action,
        subscriptions=subscriptions,
        attribute_action="keep" if has_attribute else "create",
        inboxes=inboxes,
        stale=stale,
    )


#: secrets compared in clear (the stored ones decrypted by the caller)
SECRET_FIELDS = ("api_token", "webhook_secret", "user_token", "openai_api_key", "stream_token")


def account_changes(stored: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` to store: all of them for a new account (``stored`` None),
    else those whose value differs from ``stored`` (plain fields as stored, secrets decrypted;
    a webhook secret equal to the previous one counts as changed, so it becomes current)."""
    if stored is None:
        return dict(wanted)
    return {name: value for name, value in wanted.items() if stored.get(name) != value}


__all__ = [
    "BOT_DESCRIPTION",
    "BOT_NAME",
    "SIGNING_VERSION",
    "SUBSCRIPTIONS",
    "WEBHOOK_NAME",
    "Plan",
    "Seen",
    "Wanted",
    "account_changes",
    "old_chatwoot_message",
    "parse_version",
    "plan",
    "too_old_to_sign",
    "webhook_url",
]
