"""``accounts add|update`` options for what a note holds beyond the transcript: summaries,
the chat model, translation, redaction, speakers (``adapter.extras``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli.helpers import Call, adding, one_line_failure


def view(call: Call, account_id: int) -> dict[str, Any]:
    views = json.loads(call(["accounts", "list", "--json"]).stdout)
    [found] = [v for v in views if v["account_id"] == account_id]
    return found


def test_the_extras_are_off_unless_asked(call: Call) -> None:
    assert call(adding(7)).returncode == 0
    shown = view(call, 7)
    assert shown["summary_min_seconds"] == 0
    assert shown["chat_model"] is None and shown["chat_base_url"] is None
    assert shown["translate_to"] is None
    assert shown["redact"] == [] and shown["phone_region"] is None
    assert shown["speakers"] is None


def test_each_extra_is_set_shown_and_turned_off(call: Call) -> None:
    given = [
        *("--summary-min-seconds", "60", "--chat-model", "llama3.1:8b"),
        *("--chat-base-url", "http://127.0.0.1:11434/v1", "--translate-to", "EN"),
        *("--redact", "email, cards", "--phone-region", "es"),
        *("--speakers", "Agent, Customer"),
    ]
    assert call(adding(7, *given)).returncode == 0
    shown = view(call, 7)
    assert shown["summary_min_seconds"] == 60
    assert shown["chat_model"] == "llama3.1:8b"
    assert shown["chat_base_url"] == "http://127.0.0.1:11434/v1"
    assert shown["translate_to"] == "en"
    assert shown["redact"] == ["cards", "email"]
    assert shown["phone_region"] == "ES"
    assert shown["speakers"] == ["Agent", "Customer"]

    off = ["--chat-model", "", "--chat-base-url", "off", "--translate-to", "off"]
    off += ["--redact", "off", "--phone-region", "off", "--speakers", "off"]
    off += ["--summary-min-seconds", "0"]
    assert call(["accounts", "update", "7", *off]).returncode == 0
    shown = view(call, 7)
    assert shown["summary_min_seconds"] == 0
    assert (shown["chat_model"], shown["chat_base_url"], shown["translate_to"]) == (None,) * 3
    assert (shown["redact"], shown["phone_region"], shown["speakers"]) == ([], None, None)


def test_chat_model_off_means_none(call: Call) -> None:
    assert call(adding(7, "--chat-model", "off")).returncode == 0
    assert view(call, 7)["chat_model"] == "off"


def test_speakers_on_means_the_default_labels(call: Call) -> None:
    assert call(adding(7, "--speakers", "on")).returncode == 0
    assert view(call, 7)["speakers"] == ["Speaker 1", "Speaker 2"]


def test_an_update_leaves_the_extras_it_does_not_name(call: Call) -> None:
    assert call(adding(7, "--redact", "iban", "--translate-to", "de")).returncode == 0
    assert call(["accounts", "update", "7", "--speakers", "A,B"]).returncode == 0
    shown = view(call, 7)
    assert (shown["redact"], shown["translate_to"]) == (["iban"], "de")


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--redact", "cards,passwords", "unknown redaction kind"),
        ("--redact", ",", "must name kinds"),
        ("--translate-to", "english", "ISO 639-1"),
        ("--translate-to", "e1", "ISO 639-1"),
        ("--phone-region", "XX", "region code"),
        ("--phone-region", "usa", "region code"),
        ("--speakers", "Agent", "exactly two names"),
        ("--speakers", "A,B,C", "exactly two names"),
        ("--speakers", "Agent,agent", "must differ"),
        ("--speakers", "Agent,\u202eremotsuC", "control or invisible"),
        ("--speakers", "A," + "x" * 41, "at most 40"),
        ("--chat-base-url", "ftp://llm.example.com", "http(s) URL"),
        ("--chat-base-url", "http://169.254.169.254/v1", "must not point to"),
        ("--chat-base-url", "http://user:pw@llm.example.com/v1", "credentials"),
        ("--chat-model", "gpt\x07", "model name"),
    ],
)
def test_bad_extras_are_one_line_naming_the_option(
    call: Call, option: str, value: str, named: str
) -> None:
    result = call(adding(7, option, value))
    assert named in one_line_failure(result)
    assert option in result.stderr
    assert call(["accounts", "list", "--json"]).stdout.strip() == "[]"


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "soon"])
def test_a_bad_summary_minimum_is_bad_usage(call: Call, value: str) -> None:
    result = call(adding(7, "--summary-min-seconds", value))
    assert result.returncode == 2
    assert "--summary-min-seconds" in result.stderr
