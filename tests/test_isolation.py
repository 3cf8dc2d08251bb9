"""Decoding in a child process (``adapter.audio.isolated``): the same result as in-process,
the audio layer's errors as they were, and a child that crashes, eats memory, spins or hangs
ends as a named error while this process (the receiver's, under ``up``) goes on.

The misbehaving children are tasks defined here (the child imports this module to run them);
the limits are made small through ``DecodeBounds``."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from adapter.audio import PreparedAudio, prepare
from adapter.audio.isolated import (
    MAX_SECONDS_ALLOWED,
    DecodeBounds,
    DecoderPool,
    prepare_isolated,
    run_isolated,
)
from adapter.engines.base import EngineLimits
from adapter.errors import BadAudio, NotAudio, TranscriberError, TransientError
from adapter.store import State
from adapter.transcribe import ChunkPolicy, shape
from tests.audio import gen
from tests.conftest import REPO
from tests.fixtures import AUDIO
from tests.helpers import OpenAIStandIn, make_settings, signed_headers, wait_until
from tests.isolation_tasks import (
    Abort,
    EatMemory,
    ExitsSilently,
    Fails,
    Hang,
    KilledFromOutside,
    RaisesBadAudio,
    Segfault,
    Spin,
)
from tests.jobs.pipeline import telegram, transcription_calls
from tests.processes import Proc, add_account, env_for, processes, row
from tests.standins.chatwoot_server import ChatwootStandIn
from tests.test_single_box import free_port

OPENAI = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=1400.0)
#: roomy limits for the tests that shrink one of them
ROOMY = DecodeBounds(wall_seconds=120.0)


@pytest.fixture(scope="module")
def pool() -> Iterator[DecoderPool]:
    made = DecoderPool()
    yield made
    made.close()


# ─── the same result as in-process ──────────────────────────────────────────────────────────


def _comparable(prepared: PreparedAudio, root: Path) -> PreparedAudio:
    """``prepared`` with its chunk paths relative to their own folder (each run makes its own
    ``prepared-*`` folder) and checked to be inside ``root``."""
    chunks = []
    for chunk in prepared.chunks:
        assert chunk.path.is_file()
        assert chunk.path.resolve().is_relative_to(root.resolve())
        chunks.append(replace(chunk, path=Path(chunk.path.name)))
    return replace(prepared, chunks=tuple(chunks))


@pytest.mark.parametrize("remove_silence", [True, False])
def test_a_voice_note_comes_back_as_in_process(
    tmp_path: Path, pool: DecoderPool, remove_silence: bool
) -> None:
    src = AUDIO / "es1.ogg"
    here = prepare(src, tmp_path / "here", OPENAI, remove_silence=remove_silence)
    there = prepare_isolated(
        src, tmp_path / "there", OPENAI, remove_silence=remove_silence, pool=pool
    )
    assert _comparable(there, tmp_path / "there") == _comparable(here, tmp_path / "here")


def test_a_long_recording_in_chunks_comes_back_as_in_process(
    tmp_path: Path, pool: DecoderPool
) -> None:
    layout = gen.bursts(75.0, burst=6.0, gap=2.5)
    src = gen.write(tmp_path / "long.mp3", gen.pattern(layout, 22050), "mp3")
    limits = EngineLimits(max_bytes=25 * 1024 * 1024, max_seconds=31.0)
    here = prepare(src, tmp_path / "here", limits, target_chunk_seconds=30.0)
    there = prepare_isolated(src, tmp_path / "there", limits, target_chunk_seconds=30.0, pool=pool)
    assert len(there.chunks) > 1
    assert _comparable(there, tmp_path / "there") == _comparable(here, tmp_path / "here")
    for a, b in zip(here.chunks, there.chunks, strict=True):
        assert abs(a.path.stat().st_size - b.path.stat().st_size) < 64  # Ogg serials differ


def test_shape_decodes_in_a_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``adapter.transcribe.shape``, what the pipeline and ``transcriber transcribe`` call: the
    decode never runs here (a ``prepare`` broken in this process is not the one that runs)."""

    class Engine:
        name = "stub"
        limits = OPENAI

    expected = prepare(AUDIO / "en1.ogg", tmp_path / "here", OPENAI)

    def not_here(*args: object, **kwargs: object) -> PreparedAudio:
        raise AssertionError("decoded in the parent")

    monkeypatch.setattr("adapter.audio.isolated.prepare", not_here)
    engine = Engine()
    prepared = shape(AUDIO / "en1.ogg", tmp_path / "w", engine, ChunkPolicy(), remove_silence=True)  # type: ignore[arg-type]
    assert _comparable(prepared, tmp_path / "w") == _comparable(expected, tmp_path / "here")
    with pytest.raises(BadAudio):
        shape(
            _write(tmp_path / "x.ogg", b"OggS" + b"\x00" * 200),
            tmp_path / "w",
            engine,  # type: ignore[arg-type]
            ChunkPolicy(),
            remove_silence=True,
            bounds=DecodeBounds(memory_bytes=256 * 2**20),
        )


# ─── the audio layer's errors, as they were ─────────────────────────────────────────────────


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "data",
    [b"", b"OggS" + b"\x00" * 200, b"%PDF-1.7\n" + b"x" * 4000, b"ID3" + os.urandom(3000)],
)
def test_the_audio_layers_errors_come_back_as_they_were(
    tmp_path: Path, pool: DecoderPool, data: bytes
) -> None:
    src = _write(tmp_path / "attachment.bin", data)
    with pytest.raises(TranscriberError) as here:
        prepare(src, tmp_path / "here", OPENAI)
    with pytest.raises(TranscriberError) as there:
        prepare_isolated(src, tmp_path / "there", OPENAI, pool=pool)
    assert type(there.value) is type(here.value)
    assert isinstance(there.value, BadAudio | NotAudio)
    assert (str(there.value), there.value.reason, there.value.detail) == (
        str(here.value),
        here.value.reason,
        here.value.detail,
    )


def test_an_error_keeps_its_detail(pool: DecoderPool) -> None:
    with pytest.raises(BadAudio) as caught:
        run_isolated(RaisesBadAudio(), ROOMY, pool=pool)
    assert (caught.value.reason, caught.value.detail) == ("bad_audio", "unsupported_format")


def test_limits_too_small_are_still_a_value_error(tmp_path: Path, pool: DecoderPool) -> None:
    tiny = EngineLimits(max_bytes=1000, max_seconds=None)
    with pytest.raises(ValueError, match="less than a second"):
        prepare_isolated(AUDIO / "en1.ogg", tmp_path, tiny, pool=pool)


def test_any_other_exception_is_named(pool: DecoderPool) -> None:
    with pytest.raises(RuntimeError, match="KeyError: 'surprise'"):
        run_isolated(Fails(), ROOMY, pool=pool)


# ─── a child that crashes or runs away ──────────────────────────────────────────────────────


@pytest.mark.parametrize(("task", "name"), [(Segfault(), "SIGSEGV"), (Abort(), "SIGABRT")])
def test_a_crash_is_bad_audio_and_this_process_goes_on(
    tmp_path: Path, pool: DecoderPool, task: object, name: str
) -> None:
    with pytest.raises(BadAudio) as caught:
        run_isolated(task, ROOMY, pool=pool)  # type: ignore[arg-type]
    assert str(caught.value) == f"the audio decoder crashed on this file ({name})"
    assert caught.value.detail == "decoder_crashed"
    # and the next decode works
    prepared = prepare_isolated(AUDIO / "en1.ogg", tmp_path, OPENAI, pool=pool)
    assert prepared.chunks


def test_eating_memory_is_stopped_at_the_limit(pool: DecoderPool) -> None:
    with pytest.raises(BadAudio) as caught:
        run_isolated(EatMemory(), replace(ROOMY, memory_bytes=64 * 2**20), pool=pool)
    assert (
        str(caught.value) == "decoding the audio needed more than 64 MiB of memory and was stopped"
    )
    assert caught.value.detail == "decode_memory"


def test_a_real_decode_over_the_memory_limit_is_stopped(tmp_path: Path, pool: DecoderPool) -> None:
    """The audio layer's own allocations (numpy, FFmpeg) under a limit too small for them."""
    layout = gen.bursts(60.0, burst=5.0, gap=2.0)
    src = gen.write(tmp_path / "minute.wav", gen.pattern(layout, 8000), "wav")
    with pytest.raises(BadAudio) as caught:
        prepare_isolated(src, tmp_path, OPENAI, bounds=replace(ROOMY, memory_bytes=1), pool=pool)
    assert caught.value.detail == "decode_memory"


def test_spinning_is_stopped_at_the_cpu_limit(pool: DecoderPool) -> None:
    bounds = replace(ROOMY, cpu_seconds=1.0, cpu_per_audio_second=0.0)
    with pytest.raises(BadAudio) as caught:
        run_isolated(Spin(), bounds, pool=pool)
    assert str(caught.value) == "decoding the audio used more than 1 s of CPU and was stopped"
    assert caught.value.detail == "decode_cpu"


def test_the_cpu_limit_grows_with_the_audios_length(pool: DecoderPool) -> None:
    """1 s to probe, then 0.1 s per audio second: 10 s of audio may use 2 s."""
    bounds = replace(ROOMY, cpu_seconds=1.0, cpu_per_audio_second=0.1)
    assert run_isolated(Spin(seconds=1.3, audio_seconds=10.0), bounds, pool=pool) == "spun"


def test_hanging_is_stopped_at_the_wall_clock_limit_and_the_child_killed(
    tmp_path: Path, pool: DecoderPool
) -> None:
    pool.warm()
    pid = pool._idle[-1].process.pid  # the spare this decode takes
    bounds = replace(ROOMY, wall_seconds=1.0, wall_per_audio_second=0.0)
    with pytest.raises(TransientError) as caught:
        run_isolated(Hang(tmp_path / "pid", 3600), bounds, pool=pool)
    assert caught.value.detail == "decode_timeout"
    assert str(caught.value) == (
        "decoding the audio took longer than 1 s and was stopped "
        "(a retry may find the machine less busy)"
    )
    assert pid is not None
    with pytest.raises(ProcessLookupError):  # killed and reaped before the error was raised
        os.kill(pid, 0)


def test_the_wall_clock_limit_grows_with_the_audios_length(
    tmp_path: Path, pool: DecoderPool
) -> None:
    """2 s to start and probe, then 1 s per audio second: 30 s of audio may take 32 s."""
    bounds = replace(ROOMY, wall_seconds=2.0, wall_per_audio_second=1.0)
    assert run_isolated(Hang(tmp_path / "pid", 2.5, audio_seconds=30.0), bounds, pool=pool) == (
        "woke"
    )


class Interrupted(Exception):
    """What Dramatiq's time limit does to a worker thread: an exception sent to it."""


def test_an_exception_sent_to_the_waiting_thread_kills_the_child(
    tmp_path: Path, pool: DecoderPool
) -> None:
    pid_file = tmp_path / "pid"
    os.mkfifo(pid_file)  # reading it waits for the child to write its pid: no polling
    caught: list[BaseException] = []

    def decode() -> None:
        try:
            run_isolated(Hang(pid_file, 3600), ROOMY, pool=pool)
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=decode)
    thread.start()
    child = int(pid_file.read_text())  # the child is in its task
    assert thread.ident is not None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(Interrupted)
    )
    thread.join(10)
    assert [type(exc) for exc in caught] == [Interrupted]
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


@pytest.mark.parametrize(
    ("task", "detail"), [(KilledFromOutside(), "decode_killed"), (ExitsSilently(), "decode_lost")]
)
def test_a_child_gone_for_other_reasons_is_transient(
    pool: DecoderPool, task: object, detail: str
) -> None:
    with pytest.raises(TransientError) as caught:
        run_isolated(task, ROOMY, pool=pool)  # type: ignore[arg-type]
    assert caught.value.detail == detail


def test_a_spare_that_died_is_replaced(tmp_path: Path) -> None:
    pool = DecoderPool(spares=1)
    try:
        pool.warm()
        [spare] = pool._idle
        assert spare.process.pid is not None
        os.kill(spare.process.pid, signal.SIGKILL)
        spare.process.join(10)
        assert prepare_isolated(AUDIO / "en1.ogg", tmp_path, OPENAI, pool=pool).chunks
    finally:
        pool.close()


# ─── under `transcriber up`: the receiver lives on ──────────────────────────────────────────

#: put on the PYTHONPATH of a `transcriber up`: every interpreter it starts (the fork server
#: included) loads it, so each decoding child dies of SIGSEGV as it starts on the audio
_CRASHING_DECODER = """
import os, signal
from adapter.audio import isolated

def _crash(self, measured):
    os.kill(os.getpid(), signal.SIGSEGV)

isolated.PrepareTask.__call__ = _crash
"""


@pytest.mark.slow
def test_up_answers_webhooks_after_its_decoder_crashed(
    tmp_path: Path, fernet_key: str, chatwoot: ChatwootStandIn, openai_server: OpenAIStandIn
) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_CRASHING_DECODER)
    settings = make_settings(f"sqlite:///{tmp_path / 'box.db'}", tmp_path, fernet_key)
    add_account(settings, chatwoot, openai_server)
    port = free_port()
    env = env_for(settings, TRANSCRIBER_LOG_LEVEL="INFO", PYTHONPATH=f"{hook}:{REPO}")
    url = f"http://127.0.0.1:{port}/webhooks/chatwoot/3"
    body = json.dumps(telegram(chatwoot, (AUDIO / "en1.ogg").read_bytes())).encode()
    with processes() as procs:
        box = Proc(["up", "--port", str(port), "--threads", "2"], env, tmp_path / "up.log")
        procs.append(box)
        wait_until(lambda: "Uvicorn running on" in box.output(), 60, "`up`", on=box.printed)
        first = httpx.post(url, content=body, headers=signed_headers(body, delivery="d-1"))
        assert first.status_code == 202, first.text
        [tid] = first.json()["transcriptions"]
        wait_until(lambda: chatwoot.notes(321), 60, "the failure note", on=chatwoot.arrived)
        ended = row(settings, tid)
        assert (ended.state, ended.reason) == (State.failed, "bad_audio")
        assert ended.error == "the audio decoder crashed on this file (SIGSEGV)"
        # the process that crashed was the decoder's: the receiver still answers
        assert box.popen.poll() is None
        again = httpx.post(url, content=body, headers=signed_headers(body, delivery="d-2"))
        assert again.status_code == 202, again.text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        assert box.term() == 0
    assert transcription_calls(openai_server) == 0


def test_a_claimed_length_never_buys_more_than_the_cap() -> None:
    """A file's timestamps can claim twelve hours: the limits stop below the step's own."""
    bounds = DecodeBounds()
    assert bounds.wall(12 * 3600) == MAX_SECONDS_ALLOWED == bounds.cpu(12 * 3600)
    assert bounds.wall(60) == pytest.approx(60 + 0.25 * 60)  # a real voice note: unchanged
