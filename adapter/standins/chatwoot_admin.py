"""The stand-in Chatwoot's account settings: agent bots, account webhooks, custom attribute
definitions, the bots of inboxes, the profile and the version (``GET /api``), with Chatwoot's
permission rules. ``adapter.standins.chatwoot`` routes these requests here once it has found
the token's owner and checked the account.

Faithful details (Chatwoot v4.15.1: ``app/policies/{agent_bot,webhook,
custom_attribute_definition,inbox}_policy.rb``, the controllers and jbuilder views of
``api/v1/accounts/{agent_bots,webhooks,custom_attribute_definitions,inboxes}`` and
``api/v1/profiles``):

- Who may: listing bots and attribute definitions, reading an inbox's bot: an administrator or
  an agent; creating a bot, a definition, and everything about webhooks and
  ``set_agent_bot``: an administrator. A refusal is 401 "You are not authorized to do this
  action" (Pundit). An agent bot's token gets 401 "Access to this endpoint is not authorized
  for bots" on all of them, and on the profile.
- ``POST …/agent_bots`` makes the bot's access token and secret; answers show
  ``access_token`` for the account's own bots, ``secret`` to administrators.
- Webhooks: ``{"payload": {"webhooks": [...]}}`` and ``{"payload": {"webhook": {...}}}``; each
  has a ``secret`` (generated once, at creation) unless the stand-in plays a Chatwoot older
  than 4.11.2, whose answers have no ``secret`` key. The URL must be http(s) and unique in the
  account, subscriptions a non-empty list of known events (422 ``{"message", "attributes"}``).
  The body is ``{"webhook": {...}}``; a flat body is wrapped as Rails' ParamsWrapper does.
- Definitions: ``attribute_key`` unique per (account, ``attribute_model``), present, of
  letters, digits, ``_.-``; not a standard attribute; a display name is required. The spec's
  integers and the enum names are both taken; answers show the names.
- ``set_agent_bot``: 404 for an inbox or bot the account does not have (before the role is
  checked, as the controller's ``before_action`` order has it); 200 with no body.
"""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: an API operation as the spec names it: (method, path template)
Operation = tuple[str, str]

_ACCOUNT = "/api/v1/accounts/{account_id}"
AGENT_BOTS_OP: Operation = ("GET", _ACCOUNT + "/agent_bots")
CREATE_AGENT_BOT_OP: Operation = ("POST", _ACCOUNT + "/agent_bots")
AGENT_BOT_OP: Operation = ("GET", _ACCOUNT + "/agent_bots/{id}")
WEBHOOKS_OP: Operation = ("GET", _ACCOUNT + "/webhooks")
CREATE_WEBHOOK_OP: Operation = ("POST", _ACCOUNT + "/webhooks")
UPDATE_WEBHOOK_OP: Operation = ("PATCH", _ACCOUNT + "/webhooks/{webhook_id}")
DEFINITIONS_OP: Operation = ("GET", _ACCOUNT + "/custom_attribute_definitions")
CREATE_DEFINITION_OP: Operation = ("POST", _ACCOUNT + "/custom_attribute_definitions")
INBOX_AGENT_BOT_OP: Operation = ("GET", _ACCOUNT + "/inboxes/{id}/agent_bot")
SET_AGENT_BOT_OP: Operation = ("POST", _ACCOUNT + "/inboxes/{id}/set_agent_bot")
PROFILE_OP: Operation = ("GET", "/api/v1/profile")
#: ``GET /api``: not in the spec, answered without a token
VERSION_OP: Operation = ("GET", "/api")
ADMIN_OPERATIONS: tuple[Operation, ...] = (
    AGENT_BOTS_OP,
    CREATE_AGENT_BOT_OP,
    AGENT_BOT_OP,
    WEBHOOKS_OP,
    CREATE_WEBHOOK_OP,
    UPDATE_WEBHOOK_OP,
    DEFINITIONS_OP,
    CREATE_DEFINITION_OP,
    INBOX_AGENT_BOT_OP,
    SET_AGENT_BOT_OP,
    PROFILE_OP,
)
#: what an agent may call among these (the rest need an administrator)
AGENT_OPERATIONS = frozenset({AGENT_BOTS_OP, AGENT_BOT_OP, DEFINITIONS_OP, INBOX_AGENT_BOT_OP})
#: the body key Rails' ParamsWrapper wraps a flat JSON body under, per operation
WRAPPED = {
    CREATE_WEBHOOK_OP: "webhook",
    UPDATE_WEBHOOK_OP: "webhook",
    CREATE_DEFINITION_OP: "custom_attribute_definition",
}
#: ``Webhook::ALLOWED_WEBHOOK_EVENTS``
WEBHOOK_EVENTS = (
    "conversation_status_changed",
    "conversation_updated",
    "conversation_created",
    "contact_created",
    "contact_updated",
    "message_created",
    "message_updated",
    "webwidget_triggered",
    "inbox_created",
    "inbox_updated",
    "conversation_typing_on",
    "conversation_typing_off",
)
ATTRIBUTE_MODELS = ("conversation_attribute", "contact_attribute", "company_attribute")
DISPLAY_TYPES = ("text", "number", "currency", "percent", "link", "date", "list", "checkbox")
#: ``CustomAttributeDefinition::STANDARD_ATTRIBUTES`` of conversations
STANDARD_CONVERSATION_ATTRIBUTES = (
    "status",
    "priority",
    "assignee_id",
    "inbox_id",
    "team_id",
    "display_id",
    "campaign_id",
    "labels",
    "browser_language",
    "country_code",
    "referer",
    "created_at",
    "last_activity_at",
)
#: the first version whose webhooks have a secret
SIGNING_VERSION = (4, 11, 2)
#: ``head :ok``: a 200 without a body
NO_BODY = object()

_KEY = re.compile(r"[\w.\-]+")
_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)
_UNAUTHORIZED = "You are not authorized to do this action"

Answer = tuple[int, Any]


@dataclass
class Bot:
    id: int
    name: str
    account_id: int | None
    token: str = field(repr=False)
    secret: str = field(repr=False)
    description: str = ""
    outgoing_url: str = ""


@dataclass
class Hook:
    id: int
    url: str
    name: str | None
    subscriptions: list[str]
    secret: str = field(repr=False)


@dataclass
class Definition:
    id: int
    key: str
    display_name: str
    description: str
    model: str
    display_type: str
    values: list[str]
    created_at: str


def version_tuple(version: str | None) -> tuple[int, ...]:
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    return tuple(int(part or 0) for part in found.groups()) if found else (0,)


class AccountSettings:
    """One account's bots, webhooks, definitions and inbox bots (the caller holds its lock)."""

    def __init__(self, account_id: int, *, version: str | None, signs_webhooks: bool) -> None:
        self.account_id = account_id
        self.version = version
        self.signs_webhooks = signs_webhooks
        self.bots: dict[int, Bot] = {}
        self.hooks: dict[int, Hook] = {}
        self.definitions: dict[int, Definition] = {}
        self.inboxes: dict[int, str] = {}
        self.inbox_bots: dict[int, int] = {}
        self._next_id = 0

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_bot(self, name: str, *, token: str | None = None, system: bool = False) -> Bot:
        bot = Bot(
            id=self.new_id(),
            name=name,
            account_id=None if system else self.account_id,
            token=token or secrets.token_urlsafe(18),
            secret=secrets.token_urlsafe(24),
        )
        self.bots[bot.id] = bot
        return bot

    def bot_for(self, token: str) -> Bot | None:
        return next((bot for bot in self.bots.values() if bot.token == token), None)

    # -- operations -----------------------------------------------------------------------

    @staticmethod
    def operation(method: str, path: str) -> Operation | None:
        parts = path.strip("/").split("/")
        if method == "GET" and parts == ["api"]:
            return VERSION_OP
        if method == "GET" and parts == ["api", "v1", "profile"]:
            return PROFILE_OP
        if len(parts) < 5 or parts[:3] != ["api", "v1", "accounts"]:
            return None
        rest = parts[4:]
        shape = "/".join(part if not part.isdigit() else "{}" for part in rest)
        return {
            ("GET", "agent_bots"): AGENT_BOTS_OP,
            ("POST", "agent_bots"): CREATE_AGENT_BOT_OP,
            ("GET", "agent_bots/{}"): AGENT_BOT_OP,
            ("GET", "webhooks"): WEBHOOKS_OP,
            ("POST", "webhooks"): CREATE_WEBHOOK_OP,
            ("PATCH", "webhooks/{}"): UPDATE_WEBHOOK_OP,
            ("GET", "custom_attribute_definitions"): DEFINITIONS_OP,
            ("POST", "custom_attribute_definitions"): CREATE_DEFINITION_OP,
            ("GET", "inboxes/{}/agent_bot"): INBOX_AGENT_BOT_OP,
            ("POST", "inboxes/{}/set_agent_bot"): SET_AGENT_BOT_OP,
        }.get((method, shape))

    def version_answer(self) -> Answer:
        if self.version is None:
            return 404, {"error": "Not Found"}
        return 200, {
            "version": self.version,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "queue_services": "ok",
            "data_services": "ok",
        }

    def handle(
        self,
        op: Operation,
        ids: list[int],
        body: Any,
        params: Mapping[str, str],
        *,
        role: str,
        sees: Callable[[int], bool],
    ) -> Answer:
        """The answer to ``op`` on this account for a user of ``role`` (the caller checked
        the token and the membership); ``ids`` are the path's ids after the account's."""
        administrator = role == "administrator"
        if op == SET_AGENT_BOT_OP:
            return self._set_agent_bot(ids[0], body, administrator, sees)
        if op == INBOX_AGENT_BOT_OP:
            if ids[0] not in self.inboxes:
                return 404, {"error": "Resource could not be found"}
            if not sees(ids[0]):
                return 401, {"error": _UNAUTHORIZED}
            bot = self.bots.get(self.inbox_bots.get(ids[0], 0))
            return 200, {"agent_bot": {} if bot is None else self._bot_json(bot, administrator)}
        if op not in AGENT_OPERATIONS and not administrator:
            return 401, {"error": _UNAUTHORIZED}
        if op == AGENT_BOTS_OP:
            return 200, [self._bot_json(bot, administrator) for bot in self.bots.values()]
        if op == AGENT_BOT_OP:
            bot = self.bots.get(ids[0])
            if bot is None:
                return 404, {"error": "Resource could not be found"}
            return 200, self._bot_json(bot, administrator)
        if op == CREATE_AGENT_BOT_OP:
            bot = self.add_bot(str(body.get("name") or ""))
            bot.description = str(body.get("description") or "")
            bot.outgoing_url = str(body.get("outgoing_url") or "")
            return 200, self._bot_json(bot, administrator)
        if op == WEBHOOKS_OP:
            return 200, {"payload": {"webhooks": [self._hook_json(h) for h in self.hooks.values()]}}
        if op in (CREATE_WEBHOOK_OP, UPDATE_WEBHOOK_OP):
            return self._save_webhook(op, ids, body)
        if op == DEFINITIONS_OP:
            model = params.get("attribute_model")
            return 200, [
                self._definition_json(d)
                for d in self.definitions.values()
                if not model or d.model == model
            ]
        if op == CREATE_DEFINITION_OP:
            return self._create_definition(body)
        return 404, {"error": "Not Found"}

    # -- webhooks -------------------------------------------------------------------------

    def _save_webhook(self, op: Operation, ids: list[int], body: Any) -> Answer:
        fields = _unwrapped(body, "webhook", ("inbox_id", "name", "url", "subscriptions"))
        if fields is None:
            return 422, {"error": "param is missing or the value is empty: webhook"}
        if op == UPDATE_WEBHOOK_OP:
            existing = self.hooks.get(ids[0])
            if existing is None:
                return 404, {"error": "Resource could not be found"}
            hook = copy.deepcopy(existing)
        else:
            hook = Hook(0, "", None, [], secrets.token_urlsafe(24))
        if "url" in fields:
            hook.url = fields["url"] if isinstance(fields["url"], str) else ""
        if "name" in fields:
            hook.name = fields["name"] if isinstance(fields["name"], str) else None
        if "subscriptions" in fields:
            given = fields["subscriptions"]
            hook.subscriptions = list(given) if isinstance(given, list) else []
        errors = []
        if not _URL.fullmatch(hook.url):
            errors.append(("url", "Url is invalid"))
        elif any(h.url == hook.url and h.id != hook.id for h in self.hooks.values()):
            errors.append(("url", "Url has already been taken"))
        events = hook.subscriptions
        if not events or any(not isinstance(e, str) or e not in WEBHOOK_EVENTS for e in events):
            errors.append(("subscriptions", "Subscriptions Invalid events"))
        if errors:
            return _invalid(errors)
        if hook.id == 0:
            hook.id = self.new_id()
        self.hooks[hook.id] = hook
        return 200, {"payload": {"webhook": self._hook_json(hook)}}

    def _hook_json(self, hook: Hook) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": hook.id,
            "name": hook.name,
            "url": hook.url,
            "account_id": self.account_id,
            "subscriptions": list(hook.subscriptions),
        }
        if self.signs_webhooks:
            data["secret"] = hook.secret
        return data

    # -- bots -----------------------------------------------------------------------------

    def _bot_json(self, bot: Bot, administrator: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": bot.id,
            "name": bot.name,
            "description": bot.description,
            "thumbnail": "",
        }
        if bot.account_id is not None:
            data["outgoing_url"] = bot.outgoing_url
        data |= {"bot_type": "webhook", "bot_config": {}, "account_id": bot.account_id}
        if bot.account_id == self.account_id:  # AgentBotPresenter
            data["access_token"] = bot.token
        if bot.account_id is not None and administrator:
            data["secret"] = bot.secret
        data["system_bot"] = bot.account_id is None
        return data

    def _set_agent_bot(
        self, inbox_id: int, body: Any, administrator: bool, sees: Callable[[int], bool]
    ) -> Answer:
        if inbox_id not in self.inboxes:
            return 404, {"error": "Resource could not be found"}
        if not sees(inbox_id):
            return 401, {"error": _UNAUTHORIZED}
        wanted = body.get("agent_bot") if isinstance(body, dict) else None
        if wanted is not None and (
            not isinstance(wanted, int | str) or self.bots.get(int(str(wanted) or 0)) is None
        ):
            return 404, {"error": "Resource could not be found"}
        if not administrator:
            return 401, {"error": _UNAUTHORIZED}
        if wanted is None:
            self.inbox_bots.pop(inbox_id, None)
        else:
            self.inbox_bots[inbox_id] = int(str(wanted))
        return 200, NO_BODY

    # -- custom attribute definitions -----------------------------------------------------

    def _create_definition(self, body: Any) -> Answer:
        names = (
            "attribute_display_name",
            "attribute_description",
            "attribute_display_type",
            "attribute_key",
            "attribute_model",
            "regex_pattern",
            "regex_cue",
            "attribute_values",
        )
        fields = _unwrapped(body, "custom_attribute_definition", names)
        if fields is None:
            return 422, {
                "error": "param is missing or the value is empty: custom_attribute_definition"
            }
        model = _enum(fields.get("attribute_model", 0), ATTRIBUTE_MODELS)
        shown = _enum(fields.get("attribute_display_type", 0), DISPLAY_TYPES)
        if model is None or shown is None:
            # Rails: ArgumentError "'…' is not a valid attribute_model", a 500 in Chatwoot
            return 500, {"error": "Internal Server Error"}
        key = str(fields.get("attribute_key") or "").strip()
        display_name = str(fields.get("attribute_display_name") or "").strip()
        errors = []
        if not display_name:
            errors.append(("attribute_display_name", "Attribute display name can't be blank"))
        if not key:
            errors.append(("attribute_key", "Attribute key can't be blank"))
        elif not _KEY.fullmatch(key):
            errors.append(("attribute_key", "Attribute key Invalid format"))
        elif any(d.key == key and d.model == model for d in self.definitions.values()):
            errors.append(("attribute_key", "Attribute key has already been taken"))
        elif model == "conversation_attribute" and key in STANDARD_CONVERSATION_ATTRIBUTES:
            errors.append(("attribute_key", "Attribute key conflicts with a standard attribute"))
        if errors:
            return _invalid(errors)
        values = fields.get("attribute_values")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        definition = Definition(
            id=self.new_id(),
            key=key,
            display_name=display_name,
            description=str(fields.get("attribute_description") or ""),
            model=model,
            display_type=shown,
            values=[str(v) for v in values] if isinstance(values, list) else [],
            created_at=now,
        )
        self.definitions[definition.id] = definition
        return 200, self._definition_json(definition)

    @staticmethod
    def _definition_json(definition: Definition) -> dict[str, Any]:
        return {
            "id": definition.id,
            "attribute_display_name": definition.display_name,
            "attribute_display_type": definition.display_type,
            "attribute_description": definition.description,
            "attribute_key": definition.key,
            "regex_pattern": None,
            "regex_cue": None,
            "attribute_values": list(definition.values),
            "attribute_model": definition.model,
            "default_value": None,
            "created_at": definition.created_at,
            "updated_at": definition.created_at,
        }


def profile_json(
    *, user_id: int, name: str, role: str, token: str, account_id: int
) -> dict[str, Any]:
    """``api/v1/models/_user.json.jbuilder`` for a user of the one account."""
    return {
        "access_token": token,
        "account_id": account_id,
        "available_name": name,
        "avatar_url": "",
        "confirmed": True,
        "display_name": None,
        "message_signature": None,
        "email": f"user{user_id}@example.test",
        "id": user_id,
        "inviter_id": None,
        "name": name,
        "provider": "email",
        "pubsub_token": secrets.token_urlsafe(12),
        "role": role,
        "ui_settings": {},
        "uid": f"user{user_id}@example.test",
        "type": "User",
        "accounts": [
            {
                "id": account_id,
                "name": "Stand-in",
                "status": "active",
                "active_at": None,
                "role": role,
                "permissions": [role],
                "availability": "online",
                "availability_status": "online",
                "auto_offline": True,
            }
        ],
    }


def _unwrapped(body: Any, key: str, names: tuple[str, ...]) -> dict[str, Any] | None:
    """The params under ``key``, or (ParamsWrapper) the flat body's attributes; None when
    neither is there (``ActionController::ParameterMissing``)."""
    if not isinstance(body, dict):
        return None
    inner = body.get(key)
    if isinstance(inner, dict) and inner:
        return {name: inner[name] for name in names if name in inner}
    flat = {name: body[name] for name in names if name in body}
    return flat or None


def _enum(value: object, names: tuple[str, ...]) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else None
    if isinstance(value, str):
        if value.isdigit():
            return _enum(int(value), names)
        return value if value in names else None
    return None


def _invalid(errors: list[tuple[str, str]]) -> Answer:
    """``render_record_invalid``: 422 ``{"message": "A, B", "attributes": [...]}``."""
    return 422, {
        "message": ", ".join(message for _, message in errors),
        "attributes": list(dict.fromkeys(name for name, _ in errors)),
    }


__all__ = [
    "ADMIN_OPERATIONS",
    "AGENT_BOTS_OP",
    "AGENT_BOT_OP",
    "AGENT_OPERATIONS",
    "CREATE_AGENT_BOT_OP",
    "CREATE_DEFINITION_OP",
    "CREATE_WEBHOOK_OP",
    "DEFINITIONS_OP",
    "INBOX_AGENT_BOT_OP",
    "NO_BODY",
    "PROFILE_OP",
    "SET_AGENT_BOT_OP",
    "SIGNING_VERSION",
    "UPDATE_WEBHOOK_OP",
    "VERSION_OP",
    "WEBHOOKS_OP",
    "WRAPPED",
    "AccountSettings",
    "Bot",
    "Definition",
    "Hook",
    "profile_json",
    "version_tuple",
]
