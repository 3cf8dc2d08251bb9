"""The Chatwoot stand-in as the tests use it: every request checked against Chatwoot's spec.

The stand-in itself is ``adapter.standins.ChatwootStandIn`` (the demo runs on it too); this
module plugs into it a check built from Chatwoot's published OpenAPI spec
(``tests/fixtures/chatwoot/swagger.json``) and adds what only tests need.

- ``ChatwootStandIn(account_id=1, api_token="test-token", user_token="test-user-token",
  strict=True, swagger_path=…, keep_unknown_content_attributes=False)``: the package's
  stand-in with ``SpecCheck`` plugged in. Every API request body is validated against the
  request schema of that exact operation; ``strict=True`` also flags top-level keys the spec
  does not declare (the spec has no ``additionalProperties: false``, so a typo such as
  ``"privat"`` would otherwise pass).
- ``SpecCheck(swagger_path=…, strict=True)``: that check, for ``ChatwootStandIn(check=…)``.
- The account's settings (``adapter.standins.chatwoot_admin.ADMIN_OPERATIONS``: agent bots,
  webhooks, custom attribute definitions, inbox bots, the profile) are checked the same way; a
  body wrapped under the key Rails' ParamsWrapper uses (``{"webhook": {...}}``) is checked as
  the flat body the spec documents.
- ``spec_violations(operation, body, response_status=None)`` checks any body against the spec
  (any of ``OPERATIONS``: ``MESSAGES_OP``, ``SHOW_OP``, ``CUSTOM_ATTRIBUTES_OP``,
  ``LIST_CONVERSATIONS_OP``, ``LIST_MESSAGES_OP``, or of ``ADMIN_OPERATIONS``): the request
  schema, or with
  ``response_status`` the response schema. The stand-in's answers are checked against the
  response schemas in ``test_chatwoot.py``, not on every request (a listing of thousands of
  conversations stays cheap to serve).
- ``fixture_payload(name, *, attachment_urls=None, account_id=None)`` loads a shared fixture
  and points its ``data_url``s at blobs; ``webhook_headers(secret, body, …)`` signs a body the
  way the contract says Chatwoot does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from adapter import standins
from adapter.standins import (
    ADMIN_OPERATIONS,
    CUSTOM_ATTRIBUTES_OP,
    LIST_CONVERSATIONS_OP,
    LIST_MESSAGES_OP,
    MESSAGES_OP,
    OPERATIONS,
    SHOW_OP,
    Operation,
    RecordedRequest,
)
from adapter.standins.chatwoot_admin import WRAPPED
from tests.fixtures import CHATWOOT

SWAGGER_PATH = CHATWOOT / "swagger.json"
_SPEC_URI = "urn:chatwoot:swagger"


class _SchemaBook:
    """Request and response schemas of the operations, resolved from the spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)

    def _pointer(self, method: str, template: str) -> str:
        escaped = template.replace("~", "~0").replace("/", "~1")
        return f"/paths/{escaped}/{method.lower()}"

    def operation(self, method: str, template: str) -> dict[str, Any]:
        node: Any = self.spec["paths"][template][method.lower()]
        return dict(node)

    def request_validator(self, method: str, template: str) -> OAS31Validator | None:
        operation = self.operation(method, template)
        body = operation.get("requestBody")
        if body is None:
            return None
        pointer = self._pointer(method, template) + "/requestBody/content/application~1json/schema"
        return OAS31Validator({"$ref": f"{_SPEC_URI}#{pointer}"}, registry=self.registry)

    def declared_properties(self, method: str, template: str) -> frozenset[str] | None:
        operation = self.operation(method, template)
        body = operation.get("requestBody")
        if body is None:
            return None
        schema = body["content"]["application/json"]["schema"]
        while "$ref" in schema:
            ref = schema["$ref"]
            assert ref.startswith("#/")
            node: Any = self.spec
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
        return frozenset(schema.get("properties", {}))

    def response_validator(self, method: str, template: str, status: int) -> OAS31Validator:
        pointer = (
            self._pointer(method, template)
            + f"/responses/{status}/content/application~1json/schema"
        )
        return OAS31Validator({"$ref": f"{_SPEC_URI}#{pointer}"}, registry=self.registry)

    def requires_body(self, method: str, template: str) -> bool:
        body = self.operation(method, template).get("requestBody")
        return bool(body and body.get("required"))


@lru_cache(maxsize=4)
def _schema_book(path: Path) -> _SchemaBook:
    return _SchemaBook(json.loads(path.read_text(encoding="utf-8")))


class SpecCheck:
    """A ``RequestCheck``: the request schema of the operation in Chatwoot's spec."""

    def __init__(self, swagger_path: Path = SWAGGER_PATH, *, strict: bool = True) -> None:
        self.strict = strict
        self._book = _schema_book(swagger_path)
        self._validators = {
            op: self._book.request_validator(*op) for op in (*OPERATIONS, *ADMIN_OPERATIONS)
        }

    def __call__(self, operation: Operation, body: Any) -> list[str]:
        name = f"{operation[0]} {operation[1]}"
        wrapper = WRAPPED.get(operation)
        if wrapper is not None and isinstance(body, dict) and set(body) == {wrapper}:
            # Rails' ParamsWrapper makes a flat body and {wrapper: body} the same params; the
            # spec documents the flat one, Chatwoot's dashboard sends the wrapped one
            body = body[wrapper]
        if body is None:
            required = self._book.requires_body(*operation)
            return [f"{name}: the request body is required"] if required else []
        validator = self._validators[operation]
        if validator is None:
            return [f"{name}: the operation takes no request body"]
        violations = [
            f"{name}: {'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
            for error in validator.iter_errors(body)
        ]
        declared = self._book.declared_properties(*operation)
        if self.strict and declared is not None and isinstance(body, dict):
            undeclared = sorted(set(body) - declared)
            violations += [f"{name}: {key!r} is not a property in the spec" for key in undeclared]
        return violations


class ChatwootStandIn(standins.ChatwootStandIn):
    """The package's stand-in with the spec check plugged in (see the module docstring)."""

    def __init__(
        self,
        *,
        strict: bool = True,
        swagger_path: Path = SWAGGER_PATH,
        **kwargs: Any,
    ) -> None:
        super().__init__(check=SpecCheck(swagger_path, strict=strict), **kwargs)


def spec_violations(
    operation: Operation,
    body: Any,
    *,
    response_status: int | None = None,
    swagger_path: Path = SWAGGER_PATH,
) -> list[str]:
    """Schema errors of ``body`` for ``operation`` (e.g. ``MESSAGES_OP``) in the spec.

    The request schema by default; the response schema of ``response_status`` when given.
    """
    book = _schema_book(swagger_path)
    if response_status is None:
        validator = book.request_validator(*operation)
        if validator is None:
            return [] if body is None else ["the operation takes no request body"]
    else:
        validator = book.response_validator(*operation, response_status)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def fixture_payload(
    name: str,
    *,
    attachment_urls: Mapping[int, str] | None = None,
    account_id: int | None = None,
) -> dict[str, Any]:
    """A shared fixture body, its ``data_url``s pointed at ``attachment_urls`` (by id)."""
    body: dict[str, Any] = json.loads((CHATWOOT / name).read_text(encoding="utf-8"))
    urls = dict(attachment_urls or {})
    lists = [body.get("attachments") or []]
    lists += [m.get("attachments") or [] for m in body["conversation"].get("messages", [])]
    for attachments in lists:
        for attachment in attachments:
            if attachment["id"] in urls:
                attachment["data_url"] = urls[attachment["id"]]
    if account_id is not None:
        body["account"]["id"] = account_id
        body["conversation"]["account"]["id"] = account_id
    return body


def webhook_headers(
    secret: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    delivery: str | None = None,
) -> dict[str, str]:
    """Headers of a signed Chatwoot webhook delivery, as the contract describes them."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Chatwoot-Signature": f"sha256={digest}",
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Delivery": delivery or str(uuid.uuid4()),
    }


__all__ = [
    "CUSTOM_ATTRIBUTES_OP",
    "LIST_CONVERSATIONS_OP",
    "LIST_MESSAGES_OP",
    "MESSAGES_OP",
    "OPERATIONS",
    "SHOW_OP",
    "ChatwootStandIn",
    "RecordedRequest",
    "SpecCheck",
    "fixture_payload",
    "spec_violations",
    "webhook_headers",
]
