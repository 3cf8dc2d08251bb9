"""Fixtures of the chat tests: the OpenAI stand-in (it speaks ``/chat/completions``) and its key."""

from __future__ import annotations

from tests.standins.openai_server import api_key, openai_server  # noqa: F401 - fixtures
