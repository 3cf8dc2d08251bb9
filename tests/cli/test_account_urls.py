"""``accounts add/update`` refuse a ``--chatwoot-url`` or ``--base-url`` on a cloud metadata
or link-local address (issue 14): the account's tokens and OpenAI key would be sent there.
The host is judged as written, in any form a resolver reads, without DNS."""

from __future__ import annotations

import json

import pytest

from tests.cli.helpers import Call, adding, one_line_failure

REFUSED = [
    "http://169.254.169.254/v1",
    "http://169.254.170.2/v1",
    "http://[fd00:ec2::254]/v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://2852039166/v1",
    "http://0251.0376.0251.0376/v1",
    "http://169.254.169.254./v1",
    "http://metadata.google.internal/v1",
    "http://Metadata.Google.Internal./v1",
    "http://[fe80::1]:8000/v1",
    "http://0.0.0.0:8000/v1",
]


@pytest.mark.parametrize("url", REFUSED)
def test_base_url_on_a_metadata_or_link_local_address_is_refused(call: Call, url: str) -> None:
    line = one_line_failure(call(adding(7, "--engine", "openai", "--base-url", url)))
    assert "--base-url" in line and "must not point to" in line
    assert call(["accounts", "list", "--json"]).stdout.strip() == "[]"


@pytest.mark.parametrize("url", REFUSED[::3])
def test_chatwoot_url_on_a_metadata_or_link_local_address_is_refused(call: Call, url: str) -> None:
    args = adding(7)
    args[args.index("--chatwoot-url") + 1] = url.removesuffix("/v1")
    line = one_line_failure(call(args))
    assert "--chatwoot-url" in line and "must not point to" in line


def test_update_cannot_move_an_account_there(call: Call) -> None:
    assert call(adding(7)).returncode == 0
    for option in ("--base-url", "--chatwoot-url"):
        moved = call(["accounts", "update", "7", option, "http://169.254.169.254"])
        assert "a cloud metadata address" in one_line_failure(moved)
    [view] = json.loads(call(["accounts", "list", "--json"]).stdout)
    assert view["chatwoot_url"] == "https://chatwoot.example.test"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/v1", "http://10.0.0.5:8000/v1", "http://speaches.internal/v1"]
)
def test_private_and_named_endpoints_are_still_accepted(call: Call, url: str) -> None:
    added = call(adding(7, "--engine", "openai", "--base-url", url, "--model", "my-whisper"))
    assert added.returncode == 0, added.stderr
