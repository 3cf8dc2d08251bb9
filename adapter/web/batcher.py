"""Group commit: the blocking work of many concurrent requests done in one call, off the loop.

A request hands its item to ``Batcher.submit`` and awaits the result. A drain task takes
everything queued (up to ``max_batch`` items) and runs ``handle`` over the whole batch in a
worker thread; the requests that arrive meanwhile form the next batch. Under load one call (for
the webhook receiver: one transaction, one commit) serves many requests, while a lone request on
an idle server is handled at once, without waiting for company. With ``max_in_flight`` > 1, up
to that many batches run at once (each in its own thread), but a further one starts only once
it would be as big as the smallest in flight: batches keep their size (and share their fixed
cost), while one batch's CPU work overlaps another's wait for the database.

Guarantees:

* every submitted item gets exactly one result: ``handle`` returns one per item, and if it
  raises (or returns the wrong number) ``fail`` makes one per item; nothing is left hanging;
* a request cancelled while waiting does not cancel its item, which is still handled (its
  result is dropped); a drain task, if cancelled, first waits for its batch in the thread;
* nothing to start or stop: drain tasks exist only while items wait and end when the queue is
  empty. A server shutting down gracefully waits for its in-flight requests, which wait for
  their batch, so pending work is drained before the process exits. State is per event loop,
  so uvicorn ``--workers N`` (one loop per process) and Starlette's ``TestClient`` (a loop per
  portal) each get their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from weakref import WeakKeyDictionary

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 256


@dataclass(eq=False)
class _LoopState(Generic[T, R]):
    queue: deque[tuple[T, asyncio.Future[R]]] = field(default_factory=deque)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # drain tasks (strong refs)
    running: list[int] = field(default_factory=list)  # sizes of the batches in flight


class Batcher(Generic[T, R]):
    """Run ``handle(items) -> results`` (blocking, same order) for batches of submitted items."""

    def __init__(
        self,
        handle: Callable[[Sequence[T]], Sequence[R]],
        fail: Callable[[T], R],
        *,
        max_batch: int = MAX_BATCH,
        max_in_flight: int = 1,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._handle = handle
        self._fail = fail
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._loops: WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState[T, R]] = (
            WeakKeyDictionary()
        )

    async def submit(self, item: T) -> R:
        """The result of ``item``, once the batch it joined is done."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _LoopState()
        future: asyncio.Future[R] = loop.create_future()
        state.queue.append((item, future))
        if not state.tasks or (
            len(state.tasks) < self._max_in_flight
            and len(state.running) == len(state.tasks)
            and self._worth_another(state)
        ):
            task = loop.create_task(self._drain(loop, state))
            state.tasks.add(task)
        return await future

    @staticmethod
    def _worth_another(state: _LoopState[T, R]) -> bool:
        """Another batch beside those in flight only once it is as big as the smallest of them:
        batches keep their size (their fixed cost stays shared) while one's CPU work overlaps
        another's wait for the database. (A drain task not started yet takes the whole queue.)
        """
        return len(state.queue) >= min(state.running, default=1)

    def pending(self) -> int:
        """Items waiting for a batch on the running loop (for tests and diagnostics)."""
        state = self._loops.get(asyncio.get_running_loop())
        return 0 if state is None else len(state.queue)

    def _run(self, items: list[T]) -> Sequence[R]:
        """In the worker thread: never raises."""
        try:
            results = self._handle(items)
            if len(results) == len(items):
                return results
            log.error("batch handler returned %d results for %d items", len(results), len(items))
        except Exception:
            log.exception("batch handler failed on %d items", len(items))
        return [self._fail(item) for item in items]

    async def _drain(self, loop: asyncio.AbstractEventLoop, state: _LoopState[T, R]) -> None:
        queue = state.queue
        try:
            while queue and (len(state.tasks) == 1 or self._worth_another(state)):
                batch = [queue.popleft() for _ in range(min(len(queue), self._max_batch))]
                state.running.append(len(batch))
                work = loop.run_in_executor(None, self._run, [item for item, _ in batch])
                try:
                    results = await asyncio.shield(work)
                except asyncio.CancelledError:
                    # the loop is going away: the thread finishes the batch (it may commit),
                    # so its requests get their true answers before the cancellation goes on
                    results = await work
                    self._resolve(batch, results)
                    raise
                finally:
                    state.running.remove(len(batch))
                self._resolve(batch, results)
        finally:
            task = asyncio.current_task()
            if task is not None:
                state.tasks.discard(task)
            while queue and not state.tasks:  # only after a cancellation: never leave a
                item, future = queue.popleft()  # request hanging
                if not future.done():
                    future.set_result(self._fail(item))

    @staticmethod
    def _resolve(batch: list[tuple[T, asyncio.Future[R]]], results: Sequence[R]) -> None:
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # a cancelled request: its item was handled all the same
                future.set_result(result)


__all__ = ["MAX_BATCH", "Batcher"]
