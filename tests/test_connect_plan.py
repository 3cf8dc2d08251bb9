"""``adapter.connect``: the pure decisions of ``accounts connect``."""

from __future__ import annotations

from adapter import connect
from adapter.helpdesk.admin import AgentBot, AttributeDefinition, Webhook

URL = "https://t.example.test/webhooks/chatwoot/3"
ALL = ("message_created", "message_updated", "conversation_updated")


def seen(**kwargs: object) -> connect.Seen:
    values: dict[str, object] = {"bots": [], "webhooks": [], "definitions": []}
    values.update(kwargs)
    return connect.Seen(**values)  # type: ignore[arg-type]


WANTED = connect.Wanted(3, "https://t.example.test/", (5, 5, 6))


def test_a_fresh_account_creates_everything() -> None:
    plan = connect.plan(seen(), WANTED)
    assert plan.url == URL
    assert (plan.bot, plan.webhook, plan.attribute_action) == (None, None, "create")
    assert plan.inboxes == {5: True, 6: True}
    assert plan.steps()[0] == 'create the agent bot "Transcriber"'
    assert plan.steps(done=True)[0] == 'created the agent bot "Transcriber"'


def test_ours_are_reused_and_others_left_alone() -> None:
    bots = [AgentBot(9, "Transcriber", 3), AgentBot(2, "Transcriber", None),
            AgentBot(4, "Transcriber", 3), AgentBot(1, "Other", 3)]  # fmt: skip
    hooks = [Webhook(7, URL, "helpdesk-transcriber", ALL, "s", True),
             Webhook(8, "https://old.test/webhooks/chatwoot/3", None, ALL, "s", True)]  # fmt: skip
    definitions = [AttributeDefinition(1, "transcript_language", "conversation_attribute", "text")]
    plan = connect.plan(
        seen(bots=bots, webhooks=hooks, definitions=definitions, inbox_bots={5: 4, 6: 9}), WANTED
    )
    assert plan.bot is not None and plan.bot.id == 4
    assert (plan.webhook_action, plan.attribute_action) == ("keep", "keep")
    assert plan.inboxes == {5: False, 6: True}
    assert [w.id for w in plan.stale] == [8]


def test_missing_subscriptions_are_added_and_extra_ones_kept() -> None:
    hook = Webhook(7, URL, "mine", ("message_created", "contact_created"), "s", True)
    plan = connect.plan(seen(webhooks=[hook]), WANTED)
    assert plan.webhook_action == "update"
    assert plan.subscriptions == (*ALL, "contact_created")


def test_a_contact_attribute_of_that_key_is_not_ours() -> None:
    contact = AttributeDefinition(1, "transcript_language", "contact_attribute", "text")
    assert connect.plan(seen(definitions=[contact]), WANTED).attribute_action == "create"


def test_versions() -> None:
    assert connect.parse_version("v4.11.2") == (4, 11, 2)
    assert connect.parse_version("4.9") == (4, 9, 0)
    assert connect.parse_version("develop") is None
    assert connect.too_old_to_sign("4.11.1")
    assert not connect.too_old_to_sign("4.11.2")
    assert not connect.too_old_to_sign(None)
    assert "4.11.2" in connect.old_chatwoot_message("4.10.0")


def test_account_changes_are_only_what_differs() -> None:
    wanted = {"api_token": "a", "webhook_secret": "w", "engine": "openai"}
    assert connect.account_changes(None, wanted) == wanted
    stored = {"api_token": "a", "webhook_secret": "old", "engine": "openai"}
    assert connect.account_changes(stored, wanted) == {"webhook_secret": "w"}
    assert connect.account_changes(wanted, wanted) == {}
