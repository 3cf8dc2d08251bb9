"""The process's decode pool: a few threads that run live Whisper calls, finals first.

A live stream asks for two kinds of work: the final transcript of an utterance that ended (a
client waits for it) and a partial one of the utterance still spoken (nice to have). The pool
runs :data:`URGENT` work before :data:`IDLE` work, each in the order it came, on ``size``
threads; a partial that waited too long finds its utterance committed and returns at once.
Its size bounds the CPU that live transcription takes (``TRANSCRIBER_STREAM_DECODERS``):
the webhook receiver and the workers keep the rest. Threads start with the first call, so a
process that never streams never starts one.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

URGENT = 0
IDLE = 1


class DecodePool:
    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._queue: list[tuple[int, int, Callable[[], Any], Future[Any]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._busy = 0

    def submit(self, fn: Callable[[], T], *, urgent: bool) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the decode pool is closed")
            if len(self._threads) < self.size:
                self._start()
            heapq.heappush(self._queue, (URGENT if urgent else IDLE, next(self._order), fn, future))
            self._ready.notify()
        return future

    def idle(self) -> bool:
        """No call runs or waits."""
        with self._ready:
            return self._busy == 0 and not self._queue

    def close(self) -> None:
        with self._ready:
            self._closed = True
            for _, _, _, future in self._queue:
                future.cancel()
            self._queue.clear()
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    def _start(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"live-decode-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                _, _, fn, future = heapq.heappop(self._queue)
                if not future.set_running_or_notify_cancel():
                    continue
                self._busy += 1
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the waiting stream, never lost
                future.set_exception(exc)
            finally:
                with self._ready:
                    self._busy -= 1


__all__ = ["IDLE", "URGENT", "DecodePool"]
