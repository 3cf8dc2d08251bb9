"""logging: the real stderr of a child process, parsed line by line as JSON."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.observability import (
    configure_logging,
    log_context,
    unconfigure_logging,
)
from adapter.observability.logging import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]

SECRET = "cw-token-Zx81Qw77Lm"
OPENAI_KEY = "sk-proj-A1b2C3d4E5f6G7h8I9j0KkLl"
TRANSCRIPT = "Hi, my parcel arrived damaged and I want a refund."
SIGNED = (
    "eyJfcmFpbHMiOnsibWVzc2FnZSI6IkJBaHBCZz09IiwiZXhwIjpudWxsLCJwdXIiOiJibG9iX2lkIn19"
    "--0123456789abcdef0123456789abcdef01234567"
)
SIGNED_URL = f"https://chat.example.com/rails/active_storage/blobs/redirect/{SIGNED}/v.ogg"
QUERY_SECRET = "qs-secret-991"
FORBIDDEN = (
    SECRET,
    OPENAI_KEY,
    TRANSCRIPT,
    "arrived damaged",
    SIGNED,
    "eyJfcmFpbHMi",
    QUERY_SECRET,
)

CHILD = textwrap.dedent(
    f"""
    import logging
    from adapter.observability import (
        configure_logging, log_context, register_secret, register_transcript,
    )
    from adapter.settings import Settings

    settings = Settings(_env_file=None, log_level="debug")
    configure_logging(settings)
    configure_logging(settings)  # idempotent: still one line per record

    register_secret({SECRET!r})
    register_transcript({TRANSCRIPT!r})
    log = logging.getLogger("adapter.jobs.pipeline")

    def deliver(token, note, url):
        raise RuntimeError(f"422 from helpdesk with {{token}} for {{note}} at {{url}}")

    with log_context(transcription_id=41, account_id=7, delivery_id="d-1", attempt=2):
        log.info("transcribed", extra={{"state": "transcribed", "engine": "openai",
                                        "duration_ms": 812}})
        log.info("using key %s for %s", {OPENAI_KEY!r}, {SIGNED_URL!r})
        log.warning("payload", extra={{"payload": {{"content": {TRANSCRIPT!r},
                                                   "api_access_token": "raw-token-1234"}}}})
        try:
            deliver({SECRET!r}, {TRANSCRIPT!r}, {SIGNED_URL!r})
        except RuntimeError:
            log.exception("delivery failed", extra={{"state": "failed"}})
    logging.getLogger("httpx").info(
        "HTTP Request: GET {SIGNED_URL}?token={QUERY_SECRET} 200 OK")
    logging.getLogger("httpx").warning(
        "retrying GET https://chat.example.com/x?token={QUERY_SECRET}")
    logging.getLogger("bad").info("broken %s %s", "only-one")
    log.info("outside context")
    """
)


@pytest.fixture(scope="module")
def child_lines(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    # a real file, so that tracebacks quote the source lines (which hold the literals)
    script = tmp_path_factory.mktemp("child") / "child.py"
    script.write_text(CHILD)
    prefixes = ("SENTRY", "STATSD", "TRANSCRIBER")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    raw = done.stderr.splitlines()
    for forbidden in FORBIDDEN:
        assert forbidden not in done.stderr, forbidden
    return [json.loads(line) for line in raw]  # every line must be one JSON object


def by_msg(lines: list[dict[str, object]], msg: str) -> dict[str, object]:
    (match,) = [line for line in lines if line["msg"] == msg]
    return match


def test_every_line_is_json_with_the_base_fields(child_lines: list[dict[str, object]]) -> None:
    assert len(child_lines) == 7  # configure_logging twice did not double the lines
    for line in child_lines:
        assert list(line)[:4] == ["ts", "level", "logger", "msg"]
        assert isinstance(line["ts"], str)
        assert line["ts"].endswith("Z")


def test_context_and_extra_fields(child_lines: list[dict[str, object]]) -> None:
    line = by_msg(child_lines, "transcribed")
    assert line["level"] == "INFO"
    assert line["logger"] == "adapter.jobs.pipeline"
    assert line["transcription_id"] == 41
    assert line["account_id"] == 7
    assert line["delivery_id"] == "d-1"
    assert line["attempt"] == 2
    assert line["state"] == "transcribed"
    assert line["engine"] == "openai"
    assert line["duration_ms"] == 812
    outside = by_msg(child_lines, "outside context")
    assert "transcription_id" not in outside


def test_message_arguments_are_redacted(child_lines: list[dict[str, object]]) -> None:
    line = by_msg(child_lines, "using key [redacted] for [attachment-url]")
    assert line["transcription_id"] == 41


def test_fields_are_redacted_by_key(child_lines: list[dict[str, object]]) -> None:
    line = by_msg(child_lines, "payload")
    assert line["payload"] == {"content": "[transcript]", "api_access_token": "[redacted]"}


def test_tracebacks_are_redacted(child_lines: list[dict[str, object]]) -> None:
    line = by_msg(child_lines, "delivery failed")
    assert line["level"] == "ERROR"
    assert line["exc_type"] == "RuntimeError"
    exc = line["exc"]
    assert isinstance(exc, str)
    assert "Traceback (most recent call last)" in exc
    assert "in deliver" in exc
    assert "deliver('[redacted]', '[transcript]', '[attachment-url]')" in exc  # source line
    assert "422 from helpdesk with [redacted] for [transcript] at [attachment-url]" in exc


def test_noisy_loggers_are_quiet_and_redacted(child_lines: list[dict[str, object]]) -> None:
    assert not any(str(line["msg"]).startswith("HTTP Request") for line in child_lines)
    line = by_msg(child_lines, "retrying GET https://chat.example.com/x")
    assert line["logger"] == "httpx"


def test_bad_format_arguments_keep_the_line(child_lines: list[dict[str, object]]) -> None:
    (line,) = [line for line in child_lines if line["logger"] == "bad"]
    assert "unformattable" in str(line["msg"])


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    noisy = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "openai")}
    yield
    unconfigure_logging()
    root.setLevel(level)
    root.handlers[:] = handlers
    for name, value in noisy.items():
        logging.getLogger(name).setLevel(value)


@pytest.mark.usefixtures("restore_root")
def test_configure_is_idempotent_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(None, level="WARNING")
    configure_logging(None, level="INFO")
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.INFO
    assert logging.getLogger("httpx").level == logging.WARNING
    logging.getLogger("t").info("hello %s", "world")
    err = capsys.readouterr().err
    (line,) = [json.loads(x) for x in err.splitlines() if '"logger":"t"' in x]
    assert line["msg"] == "hello world"


def context_fields() -> dict[str, object]:
    """The fields a record logged here and now carries besides the base ones."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    line = json.loads(JsonFormatter().format(record))
    return {k: v for k, v in line.items() if k not in ("ts", "level", "logger", "msg")}


def test_log_context_nests_and_unwinds() -> None:
    assert context_fields() == {}
    with log_context(account_id=1):
        with log_context(transcription_id=2, account_id=3):
            assert context_fields() == {"account_id": 3, "transcription_id": 2}
        assert context_fields() == {"account_id": 1}
    assert context_fields() == {}


def test_reserved_field_names_do_not_clobber_the_base_fields() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.__dict__["level"] = "spoofed"
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO"
    assert line["field_level"] == "spoofed"
