"""Chatwoot's account settings, as ``transcriber accounts connect`` and ``doctor`` use them:
agent bots, account webhooks, custom attribute definitions, an inbox's bot, the profile, the
version, and a harmless read that tells whether a token is accepted.

    admin = ChatwootAdmin(client, base_url=url, account_id=3, token=user_token)
    admin.version()                         # "4.15.1", or None when /api does not say
    admin.profile().role                    # "administrator" in account 3, or "agent"
    admin.agent_bots(); admin.create_agent_bot("Transcriber", description=…)
    admin.webhooks(); admin.create_webhook(url, name=…, subscriptions=…)
    admin.attribute_definitions(); admin.create_attribute_definition("transcript_language", …)
    admin.inbox_agent_bot(5); admin.set_agent_bot(5, bot_id)
    probe_api_token(client, base_url=url, account_id=3, token=bot_token)   # doctor

What Chatwoot does (v4.15.1; ``app/controllers/api/base_controller.rb``,
``app/controllers/concerns/access_token_auth_helper.rb``,
``app/controllers/concerns/ensure_current_account_helper.rb``, ``app/policies/*``,
``app/controllers/concerns/request_exception_handler.rb``):

- Every call first looks the ``api_access_token`` up: none such answers 401 "Invalid Access
  Token". An agent bot's token may call only ``BOT_ACCESSIBLE_ENDPOINTS`` (conversations
  show/custom_attributes/…, messages create, …): anything here answers it 401 "Access to this
  endpoint is not authorized for bots". Then ``Account.find`` (404 "Resource could not be
  found" for an account that does not exist), then membership (401 "You are not authorized to
  access this account"), then Pundit, whose refusal is 401 "You are not authorized to do this
  action".
- Pundit: agent bots and custom attribute definitions may be *listed* by an agent or an
  administrator, created only by an administrator; webhooks (list, create, update) and
  ``inboxes/{id}/set_agent_bot`` need an administrator. So an agent's token gets through the
  bot listing and fails at the webhooks with "not authorized to do this action".
- ``GET …/webhooks`` answers ``{"payload": {"webhooks": [...]}}``; create and update answer
  ``{"payload": {"webhook": {...}}}`` (``webhooks/*.json.jbuilder``; the published spec shows a
  bare array and object, both are read). Each webhook carries ``secret`` since 4.11.2
  (chatwoot#13573: ``has_secure_token :secret``, old ones backfilled); before, there is no such
  key and Chatwoot does not sign. A URL is unique per account (422 "Url has already been
  taken"); subscriptions must be non-empty and known (422 "Subscriptions Invalid events").
  The body is ``{"webhook": {url, name, subscriptions}}`` (``params.require(:webhook)``).
- ``GET …/agent_bots`` lists the account's bots and the system bots (``account_id`` null);
  ``access_token`` is shown for the account's own bots (``AgentBotPresenter``), and in the
  answer to ``POST …/agent_bots`` (``AccessTokenable`` makes the token on create).
- ``custom_attribute_definitions``: ``attribute_key`` is unique per account and
  ``attribute_model`` (422 "Attribute key has already been taken"); ``attribute_model`` 0 is
  ``conversation_attribute``, ``attribute_display_type`` 0 is ``text``, 6 ``list`` (Rails
  enums take the integers the spec documents; the answers show the names).
- ``POST …/inboxes/{id}/set_agent_bot`` ``{"agent_bot": ID}``: 404 for an inbox or bot the
  account does not have; answers 200 with no body. ``GET …/inboxes/{id}/agent_bot`` answers
  ``{"agent_bot": {...}}`` (empty when none).
- ``GET /api/v1/profile`` (any user; a bot gets 401) answers the user, with ``accounts``:
  ``[{id, role, …}]``. It also carries the user's ``access_token``: nothing here keeps or
  shows it.
- ``GET /api`` answers ``{"version": …}`` without authentication.

Errors are the tree's (``adapter.errors``), their messages naming the token by the option that
sets it and saying what to do, never containing a token or secret:

=====================================  =================================================
401, 403                               ``HelpdeskTokenRejected``
404                                    ``HelpdeskNotFound``
422, other 4xx, 3xx, an answer that    ``HelpdeskRejected``
is not JSON or not of the shape read
5xx, 408, 429, timeouts, connection    ``HelpdeskUnavailable`` (a TLS failure says so)
errors
=====================================  =================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from adapter.errors import (
    HelpdeskNotFound,
    HelpdeskRejected,
    HelpdeskTokenRejected,
    HelpdeskUnavailable,
)
from adapter.helpdesk.chatwoot import ChatwootClient, _error_detail, _media_type
from adapter.httputil import origin, retry_after

#: a display id no conversation has (Chatwoot's are PostgreSQL integers counting from 1)
PROBE_CONVERSATION_ID = 2_147_483_647
#: ``attribute_model`` and ``attribute_display_type`` as the spec's integers
ATTRIBUTE_MODELS = {"conversation_attribute": 0, "contact_attribute": 1}
DISPLAY_TYPES = {"text": 0, "list": 6}
#: how the user token is named in messages
USER_TOKEN = "user token (--user-token)"  # noqa: S105 - a label, not a password


@dataclass(frozen=True)
class AgentBot:
    id: int
    name: str
    account_id: int | None  # None: a system bot
    access_token: str | None = field(repr=False, default=None)


@dataclass(frozen=True)
class Webhook:
    id: int
    url: str
    name: str | None
    subscriptions: tuple[str, ...]
    #: None when Chatwoot sent no ``secret`` (before 4.11.2) or an empty one
    secret: str | None = field(repr=False, default=None)
    #: whether the answer had a ``secret`` key at all
    has_secret: bool = False


@dataclass(frozen=True)
class AttributeDefinition:
    id: int
    key: str
    model: str
    display_type: str


@dataclass(frozen=True)
class Profile:
    id: int
    name: str
    #: the user's role in the account asked about; None when not a member, "" when unsaid
    role: str | None
    account_ids: tuple[int, ...]


@dataclass(frozen=True)
class TokenProbe:
    """What a harmless read said of a token (``probe_api_token``)."""

    verdict: Literal["accepted", "rejected", "bots_cannot_read", "wrong_account"]
    detail: str


class ChatwootAdmin:
    """One account's settings, read and changed with one token (an administrator's, to
    change them). See the module docstring."""

    def __init__(
        self,
        client: ChatwootClient,
        *,
        base_url: str,
        account_id: int,
        token: str,
        token_name: str = USER_TOKEN,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.token_name = token_name
        self._token = token
        # checks the URL and the id once, with the client's message
        self._root = client._account_url(base_url, account_id, "")

    def __repr__(self) -> str:
        return f"ChatwootAdmin(base_url={origin(self.base_url)!r}, account_id={self.account_id})"

    # -- reads --------------------------------------------------------------------------------

    def version(self) -> str | None:
        """Chatwoot's version from ``GET /api`` (no token), or None when the answer does not
        say (a proxy that serves only ``/api/v1``, a fork). Unreachable raises."""
        response = self.client.exchange(
            "GET", f"{self.base_url}/api", "", action="asking Chatwoot its version"
        )
        if response.status_code != 200:
            return None
        data = _json_or_none(response)
        version = data.get("version") if isinstance(data, dict) else None
        return version.strip()[:40] if isinstance(version, str) and version.strip() else None

    def profile(self) -> Profile:
        """The token's user (``GET /api/v1/profile``) and its role in this account."""
        data = self._object("GET", f"{self.base_url}/api/v1/profile", action="reading the profile")
        accounts = data.get("accounts")
        ids: list[int] = []
        role: str | None = ""
        if isinstance(accounts, list):
            role = None
            for entry in accounts:
                if not isinstance(entry, dict) or not _is_id(entry.get("id")):
                    continue
                ids.append(entry["id"])
                if entry["id"] == self.account_id:
                    found = entry.get("role")
                    role = found if isinstance(found, str) else ""
        user_id = data.get("id")
        name = data.get("name")
        return Profile(
            id=user_id if isinstance(user_id, int) and _is_id(user_id) else 0,
            name=name[:80] if isinstance(name, str) else "",
            role=role,
            account_ids=tuple(ids),
        )

    def agent_bots(self) -> list[AgentBot]:
        data = self._json("GET", self._root + "/agent_bots", action="listing the agent bots")
        if not isinstance(data, list):
            raise self._shape("listing the agent bots", "a JSON array")
        return [bot for bot in map(_agent_bot, data) if bot is not None]

    def agent_bot(self, bot_id: int) -> AgentBot:
        data = self._object("GET", self._root + f"/agent_bots/{bot_id}", action="reading the bot")
        bot = _agent_bot(data)
        if bot is None:
            raise self._shape("reading the agent bot", "an agent bot")
        return bot

    def webhooks(self) -> list[Webhook]:
        data = self._json("GET", self._root + "/webhooks", action="listing the webhooks")
        entries = data
        if isinstance(data, dict):
            payload = data.get("payload")
            entries = payload.get("webhooks") if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            raise self._shape("listing the webhooks", '{"payload": {"webhooks": [...]}}')
        return [hook for hook in map(_webhook, entries) if hook is not None]

    def attribute_definitions(
        self, model: str = "conversation_attribute"
    ) -> list[AttributeDefinition]:
        data = self._json(
            "GET",
            self._root + "/custom_attribute_definitions",
            action="listing the custom attribute definitions",
            params={"attribute_model": model},
        )
        if not isinstance(data, list):
            raise self._shape("listing the custom attribute definitions", "a JSON array")
        return [d for d in map(_definition, data) if d is not None]

    def inbox_agent_bot(self, inbox_id: int) -> int | None:
        """The id of the bot ``inbox_id`` is connected to, or None."""
        data = self._object(
            "GET",
            self._root + f"/inboxes/{inbox_id}/agent_bot",
            action=f"reading the bot of inbox {inbox_id}",
            missing=f"inbox {inbox_id} not found in account {self.account_id}",
        )
        bot = data.get("agent_bot")
        bot_id = bot.get("id") if isinstance(bot, dict) else None
        return bot_id if _is_id(bot_id) else None

    # -- changes (an administrator's token) ---------------------------------------------------

    def create_agent_bot(self, name: str, *, description: str) -> AgentBot:
        data = self._object(
            "POST",
            self._root + "/agent_bots",
            action=f"creating the agent bot {name!r}",
            json={"name": name, "description": description},
        )
        bot = _agent_bot(data)
        if bot is None:
            raise self._shape("creating the agent bot", "an agent bot")
        return bot

    def create_webhook(self, url: str, *, name: str, subscriptions: Sequence[str]) -> Webhook:
        return self._webhook_answer(
            "POST",
            self._root + "/webhooks",
            "creating the webhook",
            {"url": url, "name": name, "subscriptions": list(subscriptions)},
        )

    def update_webhook(
        self, webhook_id: int, url: str, *, name: str, subscriptions: Sequence[str]
    ) -> Webhook:
        return self._webhook_answer(
            "PATCH",
            self._root + f"/webhooks/{webhook_id}",
            f"updating webhook {webhook_id}",
            {"url": url, "name": name, "subscriptions": list(subscriptions)},
        )

    def create_attribute_definition(
        self,
        key: str,
        *,
        display_name: str,
        description: str,
        model: str = "conversation_attribute",
        display_type: str = "text",
    ) -> AttributeDefinition:
        data = self._object(
            "POST",
            self._root + "/custom_attribute_definitions",
            action=f"creating the custom attribute {key!r}",
            json={
                "attribute_display_name": display_name,
                "attribute_description": description,
                "attribute_key": key,
                "attribute_model": ATTRIBUTE_MODELS[model],
                "attribute_display_type": DISPLAY_TYPES[display_type],
            },
        )
        definition = _definition(data)
        if definition is None:
            raise self._shape("creating the custom attribute", "a custom attribute definition")
        return definition

    def set_agent_bot(self, inbox_id: int, bot_id: int) -> None:
        self._send(
            "POST",
            self._root + f"/inboxes/{inbox_id}/set_agent_bot",
            action=f"connecting the bot to inbox {inbox_id}",
            json={"agent_bot": bot_id},
            missing=f"inbox {inbox_id} (or bot {bot_id}) not found in account {self.account_id}",
        )

    # -- plumbing -----------------------------------------------------------------------------

    def _webhook_answer(
        self, method: str, url: str, action: str, body: Mapping[str, Any]
    ) -> Webhook:
        data = self._object(method, url, action=action, json={"webhook": dict(body)})
        payload = data.get("payload")
        entry = payload.get("webhook") if isinstance(payload, dict) else data
        hook = _webhook(entry)
        if hook is None:
            raise self._shape(action, '{"payload": {"webhook": {...}}}')
        return hook

    def _object(
        self,
        method: str,
        url: str,
        *,
        action: str,
        json: Any = None,
        missing: str | None = None,
    ) -> dict[str, Any]:
        data = self._json(method, url, action=action, json=json, missing=missing)
        if not isinstance(data, dict):
            raise self._shape(action, "a JSON object")
        return data

    def _json(
        self,
        method: str,
        url: str,
        *,
        action: str,
        json: Any = None,
        params: Mapping[str, int | str] | None = None,
        missing: str | None = None,
    ) -> Any:
        response = self._send(method, url, action=action, json=json, params=params, missing=missing)
        try:
            return response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            raise HelpdeskRejected(
                f"Chatwoot answered {action} in account {self.account_id} with something that "
                f"is not JSON ({_media_type(response)} from {origin(url)}): is "
                f"{origin(self.base_url)} Chatwoot's address?"
            ) from None

    def _send(
        self,
        method: str,
        url: str,
        *,
        action: str,
        json: Any = None,
        params: Mapping[str, int | str] | None = None,
        missing: str | None = None,
    ) -> httpx.Response:
        response = self.client.exchange(
            method, url, self._token, action=action, what=self.token_name, json=json, params=params
        )
        self._raise_for_status(response, action, missing)
        return response

    def _raise_for_status(self, response: httpx.Response, action: str, missing: str | None) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = _error_detail(response).replace(self._token, "***")
        where = origin(response.request.url)
        if status == 429 or status >= 500 or status == 408:
            raise HelpdeskUnavailable(
                f"Chatwoot answered {status} while {action} at {where}{detail}; try again later",
                retry_after=retry_after(response.headers),
            )
        if status in (401, 403):
            raise HelpdeskTokenRejected(
                f"Chatwoot refused the {self.token_name} ({status}) while {action}{detail}: "
                f"{self._advice(detail, status)}"
            )
        if status == 404:
            raise HelpdeskNotFound(
                f"Chatwoot answered 404 while {action}{detail}: "
                + (
                    missing
                    or f"check the account id ({self.account_id}) and the Chatwoot URL ({where})"
                )
            )
        if 300 <= status < 400:
            raise HelpdeskRejected(
                f"Chatwoot answered {action} with a redirect ({status}) at {where}: give "
                "Chatwoot's own base address, the one its API answers on"
            )
        raise HelpdeskRejected(f"Chatwoot refused {action} ({status}){detail}")

    def _advice(self, said: str, status: int) -> str:
        account = self.account_id
        if "not authorized for bots" in said:
            return (
                "this is an agent bot's token; give a user's access token instead (an "
                f"administrator's of account {account}: Profile settings → Access token)"
            )
        if "Invalid Access Token" in said:
            return "Chatwoot knows no such token (revoked, regenerated or mistyped)"
        if "access this account" in said:
            return f"the token's user or bot is not a member of Chatwoot account {account}"
        if "not authorized to do this action" in said:
            return (
                f"this needs an administrator of account {account}; the token is an agent's "
                "(use an administrator's access token: Profile settings → Access token)"
            )
        if "suspended" in said:
            return f"Chatwoot account {account} is suspended"
        if status == 403:
            return "the token's user lacks the rights for this call"
        return "check the token"

    def _shape(self, action: str, expected: str) -> HelpdeskRejected:
        return HelpdeskRejected(
            f"Chatwoot answered {action} in account {self.account_id} with JSON of another "
            f"shape than {expected}: is {origin(self.base_url)} a Chatwoot?"
        )


def probe_api_token(
    client: ChatwootClient, *, base_url: str, account_id: int, token: str
) -> TokenProbe:
    """Whether Chatwoot accepts ``token`` as the account's API token, by reading a
    conversation no account has (``GET …/conversations/2147483647``): nothing changes.

    Chatwoot checks the token, then (for a bot) that the endpoint is open to bots, then the
    account, then looks the conversation up: 404 "Resource could not be found" (or 200, if
    that conversation exists) means every check passed. Before 4.14.2 (chatwoot#14655)
    ``show`` was not open to bots: 401 "not authorized for bots" means the token is a valid
    bot's, but that Chatwoot will not let it read a conversation.
    """
    root = client._account_url(base_url, account_id, "")
    url = f"{root}/conversations/{PROBE_CONVERSATION_ID}"
    response = client.exchange(
        "GET", url, token, action="checking the API token", what="API token (--api-token)"
    )
    status = response.status_code
    detail = _error_detail(response).replace(token, "***")
    if status in (200, 404):
        return TokenProbe("accepted", f"answered {status} to a harmless read")
    if status in (401, 403):
        if "not authorized for bots" in detail:
            return TokenProbe("bots_cannot_read", detail.removeprefix(": "))
        if "access this account" in detail:
            return TokenProbe("wrong_account", detail.removeprefix(": "))
        return TokenProbe("rejected", detail.removeprefix(": ") or f"{status}")
    if status == 429 or status >= 500 or status == 408:
        raise HelpdeskUnavailable(
            f"Chatwoot answered {status} while checking the API token at {origin(url)}{detail}"
        )
    raise HelpdeskRejected(
        f"Chatwoot answered {status} while checking the API token at {origin(url)}{detail}"
    )


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _agent_bot(entry: object) -> AgentBot | None:
    if not isinstance(entry, dict) or not _is_id(entry.get("id")):
        return None
    account_id = entry.get("account_id")
    token = entry.get("access_token")
    return AgentBot(
        id=entry["id"],
        name=_text(entry.get("name")) or "",
        account_id=account_id if _is_id(account_id) else None,
        access_token=token if isinstance(token, str) and token.strip() else None,
    )


def _webhook(entry: object) -> Webhook | None:
    if not isinstance(entry, dict) or not _is_id(entry.get("id")):
        return None
    url = _text(entry.get("url"))
    if url is None:
        return None
    subscriptions = entry.get("subscriptions")
    events = (
        tuple(s for s in subscriptions if isinstance(s, str))
        if isinstance(subscriptions, list)
        else ()
    )
    secret = entry.get("secret")
    return Webhook(
        id=entry["id"],
        url=url,
        name=_text(entry.get("name")),
        subscriptions=events,
        secret=secret if isinstance(secret, str) and secret.strip() else None,
        has_secret="secret" in entry,
    )


def _definition(entry: object) -> AttributeDefinition | None:
    if not isinstance(entry, dict) or not _is_id(entry.get("id")):
        return None
    key = _text(entry.get("attribute_key"))
    if key is None:
        return None
    model = entry.get("attribute_model")
    if isinstance(model, int) and not isinstance(model, bool):
        model = {v: k for k, v in ATTRIBUTE_MODELS.items()}.get(model, str(model))
    shown = entry.get("attribute_display_type")
    if isinstance(shown, int) and not isinstance(shown, bool):
        shown = {v: k for k, v in DISPLAY_TYPES.items()}.get(shown, str(shown))
    return AttributeDefinition(
        id=entry["id"],
        key=key,
        model=model if isinstance(model, str) else "",
        display_type=shown if isinstance(shown, str) else "",
    )


__all__ = [
    "ATTRIBUTE_MODELS",
    "DISPLAY_TYPES",
    "PROBE_CONVERSATION_ID",
    "AgentBot",
    "AttributeDefinition",
    "ChatwootAdmin",
    "Profile",
    "TokenProbe",
    "Webhook",
    "probe_api_token",
]
