"""Property: whatever arrives — body, headers, path — the receiver never answers 5xx."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.web.signing import sign
from tests.conftest import FIXTURES
from tests.service.conftest import SECRET

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
FIXTURE = json.loads((FIXTURES / "chatwoot" / "two_audio_attachments_email.json").read_text())
KEYS = [
    "event",
    "message_type",
    "private",
    "id",
    "conversation",
    "attachments",
    "content_attributes",
]


def mutate(payload: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(payload))
    out[key] = value
    return out


SUITE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SUITE
@given(
    body=st.binary(max_size=2048),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "X-Chatwoot-Signature",
                "X-Chatwoot-Timestamp",
                "X-Chatwoot-Delivery",
                "Content-Type",
                "Content-Length",
            ]
        ),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
        max_size=5,
    ),
)
def test_random_bytes_and_headers(
    client: Any, account: int, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post("/webhooks/chatwoot/3", content=body, headers=headers)
    assert response.status_code < 500
    assert response.status_code in (202, 400, 401, 404, 413)


@SUITE
@given(payload=json_values)
def test_signed_arbitrary_json(client: Any, account: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    response = client.post(
        "/webhooks/chatwoot/3",
        content=body,
        headers={
            "X-Chatwoot-Timestamp": stamp,
            "X-Chatwoot-Signature": sign(SECRET.encode(), stamp, body),
        },
    )
    assert response.status_code in (202, 400)
    assert response.status_code == (202 if isinstance(payload, dict) else 400)


@SUITE
@given(key=st.sampled_from(KEYS), value=json_values, delivery=st.text(max_size=300))
def test_signed_mutated_fixture(
    client: Any, account: int, key: str, value: Any, delivery: str
) -> None:
    body = json.dumps(mutate(FIXTURE, key, value)).encode()
    stamp = str(int(time.time()))
    headers = {
        "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Signature": sign(SECRET.encode(), stamp, body),
    }
    if delivery.isprintable() and delivery.isascii():
        headers["X-Chatwoot-Delivery"] = delivery
    response = client.post("/webhooks/chatwoot/3", content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["status"] in ("accepted", "duplicate", "ignored")
