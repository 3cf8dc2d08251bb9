"""The Chatwoot API client: post the private note, set ``transcript_language``, and the two
listing GETs the reader (``adapter.helpdesk.reader``) pages through: conversations by latest
activity, and a conversation's messages.

One ``ChatwootClient`` (one pooled ``httpx.Client``) per process, made by the process's
composition root after any fork (a connection pool must not cross one). Timeouts are explicit:
connect 5 s, read 15 s.
Redirects are not followed (a 3xx is reported: the configured URL is wrong). The usual proxy
variables (``HTTPS_PROXY``, ``NO_PROXY``) apply, as for any httpx client.

The API token is passed to every call and sent as the ``api_access_token`` header; the
client never stores it, and no exception message contains it (messages show ids and the
Chatwoot origin, never headers).

``exchange`` sends any other call with the same pool, timeouts and size cap and hands back
the answer whatever its status: ``adapter.helpdesk.admin`` (the account settings ``accounts
connect`` and ``doctor`` use) maps those statuses itself. A TLS failure is named as such.

Errors are mapped once, here, onto ``adapter.errors``:

==========================================  ==============================================
what happened                               raised
==========================================  ==============================================
5xx, 408, 429 (``retry_after`` from         ``HelpdeskUnavailable`` (transient)
Retry-After), timeout, connection error,
a non-JSON answer where JSON is needed
401, 403                                    ``HelpdeskTokenRejected`` (permanent; the
                                            message says which kind of token would do)
404                                         ``HelpdeskNotFound`` (permanent)
422, other 4xx, 3xx, JSON that is not an    ``HelpdeskRejected`` (permanent; the two above
object, a bad base URL or token             are its subclasses)
==========================================  ==============================================

Tokens. Chatwoot (``AccessTokenAuthHelper``) lets an agent bot call ``messages#create``,
``conversations#custom_attributes`` and, since it added ``show`` to
``BOT_ACCESSIBLE_ENDPOINTS``, ``conversations#show``; the published swagger lists only
``userApiKey`` for the last two, and older Chatwoot versions answer a bot's ``GET`` with 401
"Access to this endpoint is not authorized for bots". The two listings
(``conversations#index``, ``messages#index``) are never open to bots: they need a user's
access token. An administrator's sees every inbox; an agent's lists only the conversations of
the agent's inboxes (``ConversationFinder``, ``PermissionFilterService``), and reading another
inbox's conversation answers 401 "You are not authorized to do this action" (Pundit's
``NotAuthorizedError``, rendered by ``RequestExceptionHandler``). Each 401 message is turned into
advice naming the kind of token to use.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapter.errors import (
    HelpdeskNotFound,
    HelpdeskRejected,
    HelpdeskTokenRejected,
    HelpdeskUnavailable,
)
from adapter.httputil import USER_AGENT, origin, retry_after

#: connect 5 s, read 15 s (the contract's helpdesk timeouts); writes and pool waits alike
API_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
#: the largest API response we read; a conversation is a few kB
MAX_RESPONSE_BYTES = 5 * 1024 * 1024
TRANSCRIPT_LANGUAGE = "transcript_language"

_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")  # visible ASCII: what a header value can carry
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class ChatwootClient:
    """Chatwoot's account API, as the adapter uses it. Thread-safe; share one per process."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = API_TIMEOUT,
    ) -> None:
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"ChatwootClient(timeout={self._client.timeout!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ChatwootClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the three write-back calls of the contract -----------------------------------------

    def post_note(
        self,
        base_url: str,
        account_id: int,
        conversation_id: int,
        api_token: str,
        payload: Mapping[str, Any],
    ) -> int:
        """``POST …/conversations/{c}/messages`` with ``payload``; the new message's id.

        Returns 0 when Chatwoot answered 2xx without a usable id (an HTML page, an empty
        body, a JSON object without ``id``): the note was created, and raising would make the
        caller retry and post it twice. The caller stores 0 as "delivered, id unknown".

        A timeout after Chatwoot received the request is reported as transient; retrying can
        then post a second note. Chatwoot offers no idempotency key for messages, so this is
        the one duplicate the adapter cannot rule out.
        """
        url = self._conversation_url(base_url, account_id, conversation_id, "/messages")
        response = self._send(
            "POST",
            url,
            api_token,
            json=payload,
            action="posting the note",
            account_id=account_id,
            conversation_id=conversation_id,
        )
        try:
            data = response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            return 0
        message_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id <= 0:
            return 0
        return message_id

    def get_conversation(
        self, base_url: str, account_id: int, conversation_id: int, api_token: str
    ) -> dict[str, Any]:
        """``GET …/conversations/{c}``: the conversation as a JSON object."""
        url = self._conversation_url(base_url, account_id, conversation_id, "")
        return self._get_object(
            url,
            api_token,
            action=f"reading conversation {conversation_id}",
            account_id=account_id,
            conversation_id=conversation_id,
        )

    def set_transcript_language(
        self,
        base_url: str,
        account_id: int,
        conversation_id: int,
        api_token: str,
        code: str,
    ) -> bool:
        """Set the conversation attribute ``transcript_language`` to ``code``, keeping the others.

        Chatwoot's ``POST …/custom_attributes`` *replaces* the whole set, so the existing
        attributes are read first (``GET …/conversations/{c}``) and merged. Returns False
        when the attribute already had that value (nothing written), True otherwise.

        The read and the write are two requests: an attribute another client sets in between
        is lost. Chatwoot has no conditional update; the window is one round trip.
        When the read's JSON has no ``custom_attributes`` or a non-object there, nothing is
        written (``HelpdeskRejected``): writing would wipe attributes we could not see.
        """
        if not _LANGUAGE.fullmatch(code):
            raise ValueError("code must be an ISO 639-1 code such as 'es'")
        conversation = self.get_conversation(base_url, account_id, conversation_id, api_token)
        if "custom_attributes" not in conversation:
            raise HelpdeskRejected(
                f"Chatwoot's conversation {conversation_id} in account {account_id} has no "
                "custom_attributes in its JSON; not overwriting them"
            )
        existing = conversation["custom_attributes"]
        if existing is None:
            existing = {}
        if not isinstance(existing, dict):
            raise HelpdeskRejected(
                f"Chatwoot's conversation {conversation_id} in account {account_id} has "
                "custom_attributes that are not an object; not overwriting them"
            )
        if existing.get(TRANSCRIPT_LANGUAGE) == code:
            return False
        merged = {**existing, TRANSCRIPT_LANGUAGE: code}
        url = self._conversation_url(base_url, account_id, conversation_id, "/custom_attributes")
        self._send(
            "POST",
            url,
            api_token,
            json={"custom_attributes": merged},
            action="setting transcript_language",
            account_id=account_id,
            conversation_id=conversation_id,
        )
        return True

    # -- the two listings the reader pages through (a user's token; never a bot's) -----------

    def list_conversations(
        self,
        base_url: str,
        account_id: int,
        api_token: str,
        *,
        page: int,
        inbox_id: int | None = None,
    ) -> dict[str, Any]:
        """``GET …/conversations?status=all&sort_by=last_activity_at_desc&page=N[&inbox_id=X]``.

        Every status, latest activity first, 25 a page under ``data.payload`` (``data.meta``
        has the counts). The parsed JSON object as Chatwoot sent it: its shape is the
        reader's to check.
        """
        _require_positive("page", page)
        params: dict[str, int | str] = {"status": "all", "sort_by": "last_activity_at_desc"}
        if inbox_id is not None:
            _require_positive("inbox_id", inbox_id)
            params["inbox_id"] = inbox_id
        params["page"] = page
        url = self._account_url(base_url, account_id, "/conversations")
        where = f" of inbox {inbox_id}" if inbox_id is not None else ""
        return self._get_object(
            url,
            api_token,
            params=params,
            action=f"listing conversations{where} (page {page})",
            account_id=account_id,
        )

    def list_messages(
        self,
        base_url: str,
        account_id: int,
        conversation_id: int,
        api_token: str,
        *,
        before: int | None = None,
        after: int | None = None,
    ) -> dict[str, Any]:
        """``GET …/conversations/{c}/messages[?before=ID][&after=ID]``: ``{"meta", "payload"}``.

        Chatwoot's ``MessageFinder``: no parameter gives the latest 20, ``before`` the 20 before
        that id, ``after`` up to 100 after it, both the ones in between (up to 1000); each
        oldest first. The parsed JSON object as Chatwoot sent it.
        """
        params: dict[str, int] = {}
        for name, value in (("before", before), ("after", after)):
            if value is not None:
                _require_positive(name, value)
                params[name] = value
        url = self._conversation_url(base_url, account_id, conversation_id, "/messages")
        return self._get_object(
            url,
            api_token,
            params=params,
            action=f"reading the messages of conversation {conversation_id}",
            account_id=account_id,
            conversation_id=conversation_id,
        )

    # -- any other call (``adapter.helpdesk.admin``): the answer whatever its status ---------

    def exchange(
        self,
        method: str,
        url: str,
        token: str,
        *,
        action: str,
        what: str = "token",
        json: Any = None,
        params: Mapping[str, int | str] | None = None,
    ) -> httpx.Response:
        """One request with this client's pool, timeouts and size cap; the answer, its body
        read, whatever its status (the caller maps it). ``token`` goes in ``api_access_token``
        (``what`` names it in the error when it cannot be a header); a request with no token
        (``""``) sends none. Transport errors are mapped as for every call here; a TLS
        failure says so, with the reason (``certificate verify failed: …``)."""
        headers: dict[str, str] = {}
        if token:
            if not isinstance(token, str) or not _TOKEN.fullmatch(token):
                raise HelpdeskRejected(
                    f"the {what} is empty or has characters an HTTP header cannot carry"
                )
            headers["api_access_token"] = token
        where = origin(url)
        with _mapped_transport_errors(action, where):
            try:
                request = self._client.build_request(
                    method, url, json=json, params=params, headers=headers
                )
                return self._exchange(request, action)
            except httpx.ConnectError as exc:
                reason = _tls_reason(exc)
                if reason is None:
                    raise
                raise HelpdeskUnavailable(
                    f"TLS failed with {where} while {action}: {reason}; check the URL's host "
                    "name and that its certificate is valid and trusted here"
                ) from None

    # -- plumbing ---------------------------------------------------------------------------

    @classmethod
    def _conversation_url(
        cls, base_url: str, account_id: int, conversation_id: int, suffix: str
    ) -> str:
        _require_positive("conversation_id", conversation_id)
        return cls._account_url(base_url, account_id, f"/conversations/{conversation_id}{suffix}")

    @staticmethod
    def _account_url(base_url: str, account_id: int, path: str) -> str:
        _require_positive("account_id", account_id)
        try:
            parts = urlsplit(base_url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port
        except ValueError:
            valid = False
        if not valid or parts.query or parts.fragment or "@" in parts.netloc:
            raise HelpdeskRejected(
                "the account's Chatwoot URL is not a plain http(s) URL "
                "(expected something like https://chatwoot.example.com)"
            )
        root = base_url.rstrip("/")
        return f"{root}/api/v1/accounts/{account_id}{path}"

    def _get_object(
        self,
        url: str,
        api_token: str,
        *,
        action: str,
        account_id: int,
        conversation_id: int | None = None,
        params: Mapping[str, int | str] | None = None,
    ) -> dict[str, Any]:
        """A GET whose answer must be a JSON object: not JSON is transient (a proxy's page in
        the way), JSON of another kind is not."""
        response = self._send(
            "GET",
            url,
            api_token,
            params=params,
            action=action,
            account_id=account_id,
            conversation_id=conversation_id,
        )
        try:
            data = response.json()
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            raise HelpdeskUnavailable(
                f"Chatwoot answered {action} in account {account_id} with something that is "
                f"not JSON ({_media_type(response)} from {origin(url)})"
            ) from None
        if not isinstance(data, dict):
            raise HelpdeskRejected(
                f"Chatwoot answered {action} in account {account_id} with JSON that is not an "
                "object"
            )
        return data

    def _send(
        self,
        method: str,
        url: str,
        api_token: str,
        *,
        action: str,
        account_id: int,
        conversation_id: int | None = None,
        json: Any = None,
        params: Mapping[str, int | str] | None = None,
    ) -> httpx.Response:
        """One request; the answer with its body read, or the mapped error."""
        if not isinstance(api_token, str) or not _TOKEN.fullmatch(api_token):
            raise HelpdeskRejected(
                f"the API token of account {account_id} is empty or has characters an HTTP "
                "header cannot carry"
            )
        with _mapped_transport_errors(action, origin(url)):
            request = self._client.build_request(
                method, url, json=json, params=params, headers={"api_access_token": api_token}
            )
            response = self._exchange(request, action)
        _raise_for_status(response, action, account_id, conversation_id, api_token)
        return response

    def _exchange(self, request: httpx.Request, action: str) -> httpx.Response:
        """Send ``request`` and read at most ``MAX_RESPONSE_BYTES`` of the answer's body."""
        streamed = self._client.send(request, stream=True)
        try:
            body = bytearray()
            for chunk in streamed.iter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise HelpdeskRejected(
                        f"Chatwoot's answer to {action} was larger than "
                        f"{MAX_RESPONSE_BYTES} bytes ({origin(request.url)})"
                    )
        finally:
            streamed.close()
        # The body was read (and decoded) by hand to cap it; hand it to a response for .json().
        headers = [
            (name, value)
            for name, value in streamed.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code, headers=headers, content=bytes(body), request=request
        )


@contextlib.contextmanager
def _mapped_transport_errors(action: str, where: str) -> Iterator[None]:
    """httpx's exceptions as the error tree, not chained (their messages may show the URL)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise HelpdeskUnavailable(f"timed out {action} at {where} ({type(exc).__name__})") from None
    except httpx.InvalidURL:
        # httpx prepares the next request of a 3xx even when not following it; a
        # Location it cannot parse ends up here.
        raise HelpdeskRejected(
            f"Chatwoot answered {action} at {where} with a redirect to an invalid URL"
        ) from None
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        raise HelpdeskRejected(
            f"could not send the request for {action} to {where} ({type(exc).__name__})"
        ) from None
    except httpx.TransportError as exc:
        raise HelpdeskUnavailable(
            f"could not reach Chatwoot at {where} while {action} ({type(exc).__name__})"
        ) from None
    except httpx.HTTPError as exc:
        raise HelpdeskUnavailable(
            f"HTTP error while {action} at {where} ({type(exc).__name__})"
        ) from None


def _raise_for_status(
    response: httpx.Response,
    action: str,
    account_id: int,
    conversation_id: int | None,
    token: str,
) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    # A server that echoes request headers must not get the token into our messages.
    detail = _error_detail(response).replace(token, "***")
    where = origin(response.request.url)
    if status == 429:
        raise HelpdeskUnavailable(
            f"Chatwoot is rate limiting us (429) while {action} at {where}{detail}",
            retry_after=retry_after(response.headers),
        )
    if status >= 500 or status == 408:
        raise HelpdeskUnavailable(
            f"Chatwoot answered {status} while {action} at {where}{detail}",
            retry_after=retry_after(response.headers),
        )
    if status in (401, 403):
        token = (
            "user token (--user-token)"
            if action.startswith(("listing ", "reading the messages"))
            else "API token (--api-token)"
        )
        raise HelpdeskTokenRejected(
            f"Chatwoot rejected the {token} ({status}) of account {account_id} while "
            f"{action}{detail}: {_token_advice(status, detail, account_id, conversation_id)}"
        )
    if status == 404:
        if conversation_id is None:
            raise HelpdeskNotFound(
                f"Chatwoot answered 404 while {action} at {where}{detail}: check the account "
                f"id ({account_id}) and the account's Chatwoot URL"
            )
        raise HelpdeskNotFound(
            f"conversation {conversation_id} not found (404) in account {account_id} at "
            f"{where} while {action}{detail}"
        )
    if status == 422:
        raise HelpdeskRejected(f"Chatwoot refused {action} (422){detail}")
    if 300 <= status < 400:
        location = response.headers.get("location")
        try:
            target = origin(response.request.url.join(location)) if location else "nowhere"
        except httpx.InvalidURL:
            target = "an invalid URL"
        raise HelpdeskRejected(
            f"Chatwoot answered {action} with a redirect ({status}) to {target}: set the "
            "account's Chatwoot URL to the address the API answers on"
        )
    raise HelpdeskRejected(f"Chatwoot answered {status} while {action} at {where}{detail}")


def _token_advice(status: int, said: str, account_id: int, conversation_id: int | None) -> str:
    """What to do about a 401/403, from Chatwoot's own words (``render_unauthorized``)."""
    if "not authorized for bots" in said:
        return (
            "this is an agent bot's token, and bots may not read lists; reading conversations "
            "and messages needs a user's access token (an administrator's, from the profile "
            "page)"
        )
    if "Invalid Access Token" in said:
        return (
            "Chatwoot knows no such token (revoked, regenerated or mistyped); set the "
            "account's token again"
        )
    if "access this account" in said:
        return f"the token's user or bot does not belong to Chatwoot account {account_id}"
    if "not authorized to do this action" in said:
        what = "that conversation" if conversation_id is None else f"conversation {conversation_id}"
        return (
            f"the token's user may not see {what}: an agent's token sees only the "
            "conversations of the agent's inboxes; add the agent to the inbox or use an "
            "administrator's token"
        )
    if status == 403:
        return "the token's user or bot lacks the rights for this call"
    return "check the token (an agent bot's token must belong to this account)"


def _tls_reason(exc: BaseException) -> str | None:
    """The TLS library's reason when ``exc`` (or what caused it) is a TLS failure."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            reason = getattr(seen, "verify_message", None) or getattr(seen, "reason", None)
            text = str(reason or seen)
            return _CONTROL.sub(" ", text).strip()[:200] or type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return None


def _require_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int")


def _error_detail(response: httpx.Response) -> str:
    """Chatwoot's own error text (``{"error": …}``, ``{"message": …}``), short and on one line."""
    try:
        data = response.json()
    except ValueError:
        return ""
    text: object = None
    if isinstance(data, dict):
        for key in ("error", "message", "description", "errors"):
            if data.get(key):
                text = data[key]
                break
    if isinstance(text, list):
        text = "; ".join(str(item) for item in text[:3])
    if not isinstance(text, str) or not text.strip():
        return ""
    clean = _CONTROL.sub(" ", text).strip()
    return f': "{clean[:200]}"'


def _media_type(response: httpx.Response) -> str:
    value = response.headers.get("content-type", "no content type")
    return _CONTROL.sub(" ", value.split(";", 1)[0].strip())[:60] or "no content type"


__all__ = ["API_TIMEOUT", "MAX_RESPONSE_BYTES", "TRANSCRIPT_LANGUAGE", "ChatwootClient"]
