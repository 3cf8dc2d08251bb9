"""The pipeline in one process (``pipeline``): a runtime whose worker threads run the real
actors, the receiver's test client, and account 3 wired to the Chatwoot and OpenAI stand-ins.

Steps retry after 50 ms instead of 2 s: these tests count attempts, and the retry policy's
delays are ``tests/jobs/test_step.py``'s. A test about a step's own logic (an engine error, a
download retry, a refused file) runs on SQLite only (``sqlite_only``); the ledger's statements
are tested on both databases in ``tests/store``, and the paths through them that matter (a note,
duplicates, chunks joined, a delivery retried, lost work) run here on both too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dramatiq
import pytest
from starlette.testclient import TestClient

from adapter import accounts as acc
from adapter.runtime import Runtime
from adapter.settings import Settings
from tests.helpers import OpenAIStandIn, make_settings, stand_in_account
from tests.jobs.pipeline import Pipeline
from tests.standins.chatwoot_server import ChatwootStandIn


@pytest.fixture
def settings(database_url: str, tmp_path: Path, fernet_key: str) -> Settings:
    return make_settings(database_url, tmp_path, fernet_key, TRANSCRIBER_RETRY_BASE_SECONDS="0.05")


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    w = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=50)
    w.start()
    yield w
    w.stop(timeout=5000)


@pytest.fixture
def pipeline(
    client: TestClient,
    runtime: Runtime,
    worker: dramatiq.Worker,
    chatwoot: ChatwootStandIn,
    openai_server: OpenAIStandIn,
) -> Pipeline:
    """Account 3 on the stand-ins, transcribing with OpenAI's ``whisper-1``, and the rest."""
    changes = stand_in_account(chatwoot, openai_server)
    acc.create_account(runtime.accounts, runtime.keyring, 3, changes)
    return Pipeline(client, runtime, worker, chatwoot, openai_server)
