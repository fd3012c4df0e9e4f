"""Time limits (a handler's, a request body's) that cost a queue entry, not a timer each.

``asyncio.timeout`` makes an object and a timer per use: about a third of what dispatching a
delivery to one handler costs. A :class:`TimeLimit` belongs to one handler registration (or
one receiver's body reads), so every run under it has the same length and the runs expire in
the order they began: a queue per event loop, with one timer for its front, does the same
work.

The semantics are ``asyncio.timeout``'s: an expired run's task is cancelled, and the
``CancelledError`` becomes ``TimeoutError`` when nothing else asked to cancel the task
meanwhile (``Task.cancelling``/``uncancel``)::

    limit = TimeLimit(30.0)
    await within(limit, work())  # TimeoutError after 30 s
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable
from typing import Any, Final, TypeVar

__all__ = ["TimeLimit", "within"]

T = TypeVar("T")

_RUNNING: Final = 0
_ENDED: Final = 1
_EXPIRED: Final = 2
_COMPACT_SLACK: Final = 1024
"""Ended runs a queue may hold behind a long one before it is rebuilt without them."""


class TimeLimit:
    """A time limit of ``seconds`` for any number of runs, on any event loops."""

    __slots__ = ("_queues", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._queues: dict[asyncio.AbstractEventLoop, _Queue] = {}

    def begin(self, task: asyncio.Task[Any] | None = None) -> Run:
        """Start a run of ``task`` (by default the current one) under this limit; end it
        with :meth:`Run.end`.

        Raises:
            RuntimeError: no task is running.
        """
        if task is None:
            task = asyncio.current_task()
            if task is None:
                raise RuntimeError("a time limit needs a task")
        loop = task.get_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queue_for(loop)
        return queue.begin(task)

    def _queue_for(self, loop: asyncio.AbstractEventLoop) -> _Queue:
        # Once per loop: forget the queues of loops closed since (a test's, say).
        live = {known: q for known, q in self._queues.items() if not known.is_closed()}
        queue = live[loop] = _Queue(loop, self.seconds)
        self._queues = live
        return queue


class Run:
    """One run under a :class:`TimeLimit`."""

    __slots__ = ("_cancelling", "_deadline", "_queue", "_state", "_task")

    def __init__(self, queue: _Queue, task: asyncio.Task[Any], deadline: float) -> None:
        self._queue = queue
        self._task: asyncio.Task[Any] | None = task
        self._deadline = deadline
        self._cancelling = task.cancelling()
        self._state = _RUNNING

    def end(self) -> bool:
        """End the run; return whether it expired with no other cancellation requested (a
        ``CancelledError`` it ends with is then its ``TimeoutError``)."""
        state, self._state = self._state, _ENDED
        task, self._task = self._task, None  # an ended run keeps nothing alive
        if state == _RUNNING:
            self._queue.running -= 1
            return False
        if state == _EXPIRED and task is not None:
            return task.uncancel() <= self._cancelling
        return False


class _Queue:
    """The runs of one limit on one loop, in the order they began (and so will expire)."""

    __slots__ = ("_loop", "_runs", "_seconds", "_timer", "running")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self._loop = loop
        self._seconds = seconds
        self._runs: collections.deque[Run] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self.running = 0

    def begin(self, task: asyncio.Task[Any]) -> Run:
        run = Run(self, task, self._loop.time() + self._seconds)
        runs = self._runs
        while runs and runs[0]._state != _RUNNING:  # the common case: the runs before ended
            runs.popleft()
        runs.append(run)
        self.running += 1
        if self._timer is None:
            self._timer = self._loop.call_at(run._deadline, self._expire)
        elif len(runs) > 2 * self.running + _COMPACT_SLACK:
            # A long run at the front keeps ended ones behind it: drop them (amortised O(1)).
            self._runs = collections.deque(r for r in runs if r._state == _RUNNING)
        return run

    def _expire(self) -> None:
        self._timer = None
        now = self._loop.time()
        runs = self._runs
        while runs and (runs[0]._state != _RUNNING or runs[0]._deadline <= now):
            run = runs.popleft()
            if run._state == _RUNNING and run._task is not None:
                run._state = _EXPIRED
                self.running -= 1
                run._task.cancel()
        if runs:
            self._timer = self._loop.call_at(runs[0]._deadline, self._expire)


async def within(limit: TimeLimit, work: Awaitable[T], task: asyncio.Task[Any] | None = None) -> T:
    """Await ``work`` under ``limit``, raising ``TimeoutError`` when it expires.

    As with ``asyncio.timeout``, work that swallows its expiry and returns has succeeded.
    ``task`` is the current task, if the caller has it at hand.
    """
    run = limit.begin(task)
    try:
        result = await work
    except BaseException as exc:
        if run.end() and isinstance(exc, asyncio.CancelledError):
            raise TimeoutError from exc
        raise
    run.end()
    return result
