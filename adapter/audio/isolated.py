"""Decoding customers' audio in a child process with limits, so that a decoder that crashes or
runs away costs one transcription, never the process that answers webhooks.

    prepare_isolated(src, workdir, limits, ...)   prepare() in a child; same result, same errors
    measure_isolated(src)                          stereo.measure_channels() in a child, likewise
    run_isolated(task, bounds)                     any task in a child (what the tests inject)

Why a child: PyAV is FFmpeg in C. A segfault in a demuxer, a forged header that makes it
allocate gigabytes, or a loop that never ends would, in a thread, take the whole process down
with it: under ``transcriber up`` that is the webhook receiver too. In a child it is an exit
status, read by the parent and named as an error of the tree:

    the child …                          raised here                       retried?
    raised an error of the tree           that error, rebuilt as it was     as in-process
    hit the memory limit (RLIMIT_AS)      BadAudio, detail decode_memory    no: the same file
    hit the CPU limit (RLIMIT_CPU)        BadAudio, detail decode_cpu       needs the same again
    died of a signal (SIGSEGV, SIGABRT…)  BadAudio, detail decoder_crashed  (FFmpeg is
                                                                            deterministic)
    outlived the wall-clock limit         TransientError, decode_timeout    yes: a busy machine
    was killed by someone else (SIGKILL)  TransientError, decode_killed     yes: the kernel's OOM
                                                                            killer, an operator
    exited without an answer              TransientError, decode_lost       yes

CPU and wall time follow the audio's length: the child probes the file first (under the base
limits), reports the measured duration, and both limits grow by a per-audio-second allowance.
Memory is a fixed allowance of address space on top of what the child holds when it starts.

How the child is made: the ``forkserver`` context. The parent has threads (the Dramatiq worker
threads, lease heartbeats, the batcher), uvloop's epoll and open database and Redis sockets:
``fork`` would copy all of it, locks held by other threads included (a logging or malloc lock
held at the fork deadlocks the child), and a child's exit could shut down sockets it shares.
The fork server is a fresh interpreter, started once, that has imported this module (numpy and
PyAV) and nothing else; each child is a fork of it, so starting one costs a few milliseconds
instead of ``spawn``'s second of imports. One such child is kept started and waiting
(``SPARES``), so even that start, and multiprocessing re-running the parent's main script in
the child, happen off the path of the next decode. Each child does one decode and exits: its
limits, memory and any state a hostile file left behind go with it.

The parent only waits: it gets back the :class:`PreparedAudio` (paths and figures; the chunk
files are written by the child in ``workdir``) or the :class:`ChannelMeasure` (figures), never
decoded audio.
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Protocol, TypeVar, cast

from adapter.audio.decode import decode_bound
from adapter.audio.prepare import PreparedAudio, prepare
from adapter.audio.probe import AudioInfo, probe
from adapter.audio.stereo import ChannelMeasure, measure_channels
from adapter.engines.base import EngineLimits
from adapter.errors import BadAudio, TranscriberError, TransientError

log = logging.getLogger(__name__)

#: address space a decode may add to what its child holds when it starts (RLIMIT_AS). The
#: audio layer streams: three hours of MP3 peak under 250 MB of RSS (bench/memory_audio.py)
MEMORY_BYTES = 1024 * 1024 * 1024
#: CPU seconds for opening and probing the file, and added for every second of measured audio
#: (shaping takes about 0.015 CPU s per audio second: Opus encoding, bench/chunks.py)
CPU_SECONDS = 30.0
CPU_PER_AUDIO_SECOND = 0.1
#: wall-clock seconds, likewise (looser than CPU: a busy machine shares its cores)
WALL_SECONDS = 60.0
WALL_PER_AUDIO_SECOND = 0.25
#: however long the file claims to be, never more than this (under the first step's one-hour
#: time limit, so the child is always stopped by its own limits first)
MAX_SECONDS_ALLOWED = 50 * 60.0
#: a length a file can really hold: fewer bytes a second than any codec we decode spends
#: (AMR-NB at 4.75 kbit/s is ≈600), so a 1 KB file claiming 12 hours gets 10 s, not hours
MIN_BYTES_PER_AUDIO_SECOND = 100
#: children kept started and waiting for their one decode
SPARES = 1
#: how the children are made (see the module docstring)
CONTEXT = "forkserver"

#: modules the audio layer imports only when it first runs
_LAZY_IMPORTS = ("numpy.ma", "av.subtitles.stream")
#: the longest the waiting thread stays in one blocking call: an exception sent to it (Dramatiq's
#: time limit, ``TimeLimitExceeded``) arrives only between two of them, and kills the child
_POLL_SECONDS = 1.0
#: seconds given to a child to exit after it answered, or after SIGKILL
_REAP_SECONDS = 5.0

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class DecodeBounds:
    """The limits of one decode (the defaults are this module's constants)."""

    memory_bytes: int = MEMORY_BYTES
    cpu_seconds: float = CPU_SECONDS
    cpu_per_audio_second: float = CPU_PER_AUDIO_SECOND
    wall_seconds: float = WALL_SECONDS
    wall_per_audio_second: float = WALL_PER_AUDIO_SECOND

    def cpu(self, audio_seconds: float | None) -> float:
        grown = self.cpu_seconds + self.cpu_per_audio_second * max(audio_seconds or 0.0, 0.0)
        return min(grown, max(self.cpu_seconds, MAX_SECONDS_ALLOWED))

    def wall(self, audio_seconds: float | None) -> float:
        grown = self.wall_seconds + self.wall_per_audio_second * max(audio_seconds or 0.0, 0.0)
        return min(grown, max(self.wall_seconds, MAX_SECONDS_ALLOWED))


Measured = Callable[[float], None]


class Task(Protocol[T_co]):
    """Work for a child: a picklable callable that is told how to report the audio's length
    (its limits then grow) and returns a picklable result."""

    def __call__(self, measured: Measured) -> T_co: ...


def _probed(src: Path, measured: Measured) -> AudioInfo:
    """Probe ``src`` and report its length (so the limits grow with it). The length a file
    claims (its timestamps) is believed only as far as its size allows."""
    info = probe(src)
    measured(min(info.duration, src.stat().st_size / MIN_BYTES_PER_AUDIO_SECOND))
    return info


@dataclass(frozen=True)
class PrepareTask:
    """``prepare`` with its arguments: probes first, so the limits follow the audio's length."""

    src: Path
    workdir: Path
    limits: EngineLimits
    remove_silence: bool
    target_chunk_seconds: float
    channel: int | None = None

    def __call__(self, measured: Measured) -> PreparedAudio:
        _probed(self.src, measured)
        return prepare(
            self.src,
            self.workdir,
            self.limits,
            remove_silence=self.remove_silence,
            target_chunk_seconds=self.target_chunk_seconds,
            channel=self.channel,
        )


@dataclass(frozen=True)
class MeasureTask:
    """``measure_channels`` of ``src``: probes first, so the limits follow the audio's length."""

    src: Path

    def __call__(self, measured: Measured) -> ChannelMeasure:
        info = _probed(self.src, measured)
        if info.channels != 2:  # nothing to measure: no decoding for a mono voice note
            return ChannelMeasure(info.channels, info.duration, ())
        return measure_channels(self.src, max_seconds=decode_bound(info.duration))


def prepare_isolated(
    src: Path,
    workdir: Path,
    limits: EngineLimits,
    *,
    remove_silence: bool = True,
    target_chunk_seconds: float = 600.0,
    channel: int | None = None,
    bounds: DecodeBounds | None = None,
    pool: DecoderPool | None = None,
) -> PreparedAudio:
    """:func:`adapter.audio.prepare` in a child process under ``bounds``; its result and its
    errors as they would have been here, and the errors of the table in the module docstring."""
    task = PrepareTask(src, workdir, limits, remove_silence, target_chunk_seconds, channel)
    return run_isolated(task, bounds or DecodeBounds(), pool=pool)


def measure_isolated(
    src: Path, *, bounds: DecodeBounds | None = None, pool: DecoderPool | None = None
) -> ChannelMeasure:
    """:func:`adapter.audio.stereo.measure_channels` in a child process under ``bounds`` (its
    decoded length bounded as ``prepare`` bounds it); errors as :func:`prepare_isolated`'s."""
    return run_isolated(MeasureTask(src), bounds or DecodeBounds(), pool=pool)


def run_isolated(task: Task[T], bounds: DecodeBounds, *, pool: DecoderPool | None = None) -> T:
    """Run ``task`` in a child of ``pool`` (the process's own by default) under ``bounds``."""
    return (pool or default_pool()).run(task, bounds)


# ─── the parent's side ──────────────────────────────────────────────────────────────────────


class _Child:
    """One started child and our end of its pipe; it serves one request, then exits."""

    def __init__(self, context: BaseContext) -> None:
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        self.conn: Connection = parent_end
        self.process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(child_end,), name="transcriber-decode", daemon=True
        )
        self.process.start()
        child_end.close()
        self.killed = False

    def kill(self) -> None:
        if self.process.exitcode is None:
            self.killed = True
            self.process.kill()

    def close(self) -> None:
        """Kill it if it still runs, reap it and close the pipe."""
        self.kill()
        self.process.join(_REAP_SECONDS)
        self.conn.close()
        if self.process.exitcode is not None:
            self.process.close()


class DecoderPool:
    """Children made by ``context``, ``spares`` of them started ahead and waiting."""

    def __init__(self, *, context: str = CONTEXT, spares: int = SPARES) -> None:
        self._context = multiprocessing.get_context(context)
        if context == "forkserver":
            # what the fork server imports once, before it forks any child; numpy and PyAV
            # import the last two at the first percentile and the first open: each child would
            # pay them again (numpy.ma is 40 ms), under its memory limit
            self._context.set_forkserver_preload([__name__, *_LAZY_IMPORTS])
        self._spares = spares
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._closed = False

    def warm(self) -> None:
        """Start the fork server and the spare children now rather than at the first decode."""
        self._refill()

    def run(self, task: Task[T], bounds: DecodeBounds) -> T:
        child = self._take()
        try:
            child.conn.send((task, bounds))
            try:
                self._refill()  # while the child works
            except OSError as exc:  # the next decode starts its own child
                log.warning("could not start a spare decoding process: %s", exc)
            return cast(T, _await(child, bounds))
        finally:
            child.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()

    def _take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.process.is_alive():
                    return child
                child.close()
        return _Child(self._context)

    def _refill(self) -> None:
        with self._lock:
            while not self._closed and len(self._idle) < self._spares:
                self._idle.append(_Child(self._context))


def _await(child: _Child, bounds: DecodeBounds) -> object:
    """The child's answer, or the error its end or its limits mean."""
    started = time.monotonic()
    audio_seconds: float | None = None
    while True:
        wall = bounds.wall(audio_seconds)
        remaining = started + wall - time.monotonic()
        if remaining <= 0:
            child.kill()
            raise TransientError(
                f"decoding the audio took longer than {_seconds(wall)} s and was stopped "
                "(a retry may find the machine less busy)",
                reason="decode_timeout",
            )
        ready = wait([child.conn, child.process.sentinel], min(remaining, _POLL_SECONDS))
        if child.conn not in ready:
            if ready:  # it exited without a word
                raise _ended(child, bounds, audio_seconds)
            continue
        try:
            kind, payload = child.conn.recv()
        except (EOFError, OSError):
            raise _ended(child, bounds, audio_seconds) from None
        if kind == "measured":
            audio_seconds = float(payload)
        elif kind == "done":
            return payload
        elif kind == "error":
            raise payload
        elif kind == "memory":
            raise BadAudio(
                f"decoding the audio needed more than {bounds.memory_bytes / 2**20:.0f} MiB "
                "of memory and was stopped",
                reason="decode_memory",
            )
        else:
            raise RuntimeError(f"decoding failed in the child: {payload}")


def _ended(child: _Child, bounds: DecodeBounds, audio_seconds: float | None) -> Exception:
    """What the exit of a child that gave no answer means."""
    child.process.join(_REAP_SECONDS)
    code = child.process.exitcode
    if code is not None and code < 0:
        sig = signal.Signals(-code)
        if sig == signal.SIGXCPU:
            return BadAudio(
                f"decoding the audio used more than {_seconds(bounds.cpu(audio_seconds))} s of CPU "
                "and was stopped",
                reason="decode_cpu",
            )
        if sig == signal.SIGKILL:
            return TransientError(
                "the decoding process was killed from outside (out of memory on the machine?)",
                reason="decode_killed",
            )
        return BadAudio(
            f"the audio decoder crashed on this file ({sig.name})", reason="decoder_crashed"
        )
    return TransientError(
        f"the decoding process exited (status {code}) without an answer", reason="decode_lost"
    )


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}"


_default: tuple[int, DecoderPool] | None = None
_default_lock = threading.Lock()


def default_pool() -> DecoderPool:
    """The process's pool, made at first use in each process (the fork server, too, is per
    process: a forked copy of a process makes its own)."""
    global _default
    with _default_lock:
        if _default is None or _default[0] != os.getpid():
            _default = (os.getpid(), DecoderPool())
        return _default[1]


def warm() -> None:
    """Start the process's fork server and spare child ahead of the first decode (a failure is
    logged: the first decode tries again)."""
    try:
        default_pool().warm()
    except OSError as exc:
        log.warning("could not start the decoding processes ahead of time: %s", exc)


# ─── the child's side ───────────────────────────────────────────────────────────────────────


def _serve(conn: Connection) -> None:
    """Wait for one request, run it under its limits, answer, exit."""
    try:
        task, bounds = conn.recv()
    except (EOFError, OSError):
        return  # a spare nobody needed: the parent closed or died
    _limit(bounds)
    cpu_start = _cpu_used()

    def measured(audio_seconds: float) -> None:
        _limit_cpu(cpu_start + bounds.cpu(audio_seconds))
        conn.send(("measured", audio_seconds))

    try:
        answer: tuple[str, object] = ("done", task(measured))
    except Exception as exc:
        if _out_of_memory(exc):
            answer = ("memory", None)
        elif isinstance(exc, TranscriberError | ValueError):
            answer = ("error", exc)
        else:  # anything else: named, as a thread would have raised it
            answer = ("failed", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(answer)
    except Exception as exc:  # an answer that does not pickle
        conn.send(("failed", f"the answer could not be sent back: {type(exc).__name__}"))


def _limit(bounds: DecodeBounds) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file behind
    size = _address_space()
    if size is not None:
        cap = size + bounds.memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    _limit_cpu(_cpu_used() + bounds.cpu(None))


def _limit_cpu(total_seconds: float) -> None:
    """SIGXCPU (which kills) once the process has used ``total_seconds`` of CPU."""
    soft = max(1, int(total_seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _address_space() -> int | None:
    """Bytes of address space this process holds now (Linux), or None where unknown."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            pages = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` was caused by an allocation failing: Python's, or an ENOMEM from FFmpeg
    (which the audio layer maps onto BadAudio) or from the kernel."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError) or (
            isinstance(seen, OSError) and seen.errno == errno.ENOMEM
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


__all__ = [
    "CONTEXT",
    "CPU_PER_AUDIO_SECOND",
    "CPU_SECONDS",
    "MEMORY_BYTES",
    "SPARES",
    "WALL_PER_AUDIO_SECOND",
    "WALL_SECONDS",
    "DecodeBounds",
    "DecoderPool",
    "MeasureTask",
    "PrepareTask",
    "Task",
    "default_pool",
    "measure_isolated",
    "prepare_isolated",
    "run_isolated",
    "warm",
]
