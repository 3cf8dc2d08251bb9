"""Tasks for ``tests/test_isolation.py`` that misbehave in a decoding child. A module of its
own and light: the child imports it to unpickle its task, within the task's wall-clock limit."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from adapter.audio.isolated import Measured
from adapter.errors import BadAudio


class Segfault:
    def __call__(self, measured: Measured) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)


class Abort:
    def __call__(self, measured: Measured) -> None:
        os.abort()


class EatMemory:
    def __call__(self, measured: Measured) -> None:
        held = []
        while True:
            held.append(bytearray(8 * 1024 * 1024))


class Spin:
    """Burn CPU until ``seconds`` have been used, then answer (forever when None)."""

    def __init__(self, seconds: float | None = None, audio_seconds: float | None = None):
        self.seconds = seconds
        self.audio_seconds = audio_seconds

    def __call__(self, measured: Measured) -> str:
        if self.audio_seconds is not None:
            measured(self.audio_seconds)
        while self.seconds is None or time.process_time() < self.seconds:
            pass
        return "spun"


class Hang:
    """Write the child's pid to ``pid_file``, then sleep ``seconds``."""

    def __init__(self, pid_file: Path, seconds: float, audio_seconds: float | None = None):
        self.pid_file = pid_file
        self.seconds = seconds
        self.audio_seconds = audio_seconds

    def __call__(self, measured: Measured) -> str:
        self.pid_file.write_text(str(os.getpid()))
        if self.audio_seconds is not None:
            measured(self.audio_seconds)
        threading.Event().wait(self.seconds)  # a decode that never ends (on its own)
        return "woke"


class KilledFromOutside:
    def __call__(self, measured: Measured) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class ExitsSilently:
    def __call__(self, measured: Measured) -> None:
        os._exit(3)


class Fails:
    def __call__(self, measured: Measured) -> None:
        raise KeyError("surprise")


class RaisesBadAudio:
    def __call__(self, measured: Measured) -> None:
        raise BadAudio("the stream is corrupt", reason="unsupported_format")
