"""Fault injection: make the fake misbehave on purpose, for resilience tests."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from typing import Literal

import attrs

from .._checks import check_count

__all__ = ["Fault", "Faults", "Hold"]


class Hold:
    """Calls the fake keeps waiting, body read, until the test releases them.

    A test uses it to know, without measuring time, that calls are at the server: ``await
    hold.arrived(3)`` returns once three calls are held, and :meth:`release` answers them (and
    every later call the hold would have caught) as usual.
    """

    def __init__(self) -> None:
        self.count = 0
        """How many calls have reached the hold so far."""
        self._released = asyncio.Event()
        self._arrival = asyncio.Event()

    @property
    def released(self) -> bool:
        """Whether :meth:`release` was called."""
        return self._released.is_set()

    async def arrived(self, count: int = 1) -> None:
        """Wait until at least ``count`` calls have reached the hold.

        It waits for as long as it takes (fewer calls than ``count`` never end it): put it under
        a timeout in a test.
        """
        while self.count < count:
            self._arrival.clear()
            await self._arrival.wait()

    def release(self) -> None:
        """Let the held calls (and any later ones) go on to be answered."""
        self._released.set()

    async def enter(self) -> None:
        """Called by the fake for each held call: count it, then wait for the release."""
        self.count += 1
        self._arrival.set()
        await self._released.wait()


@attrs.define
class Fault:
    """One planned misbehaviour of the next matching calls."""

    kind: Literal["status", "delay", "drop", "hold"]
    times: int
    operation: str | None
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    hold: Hold | None = None


class Faults:
    """The faults planned for a :class:`FakeTahdah`; each is used up by the calls it hits.

    ``operation`` limits a fault to one SDK call name (``"candidates.create"``); ``None`` means
    any call. Faults apply in the order they were planned, before authentication.
    """

    def __init__(self, operations: Iterable[str] | None = None) -> None:
        self.operations = None if operations is None else frozenset(operations)
        """The call names a fault may be limited to (``None``: any name)."""
        self.planned: list[Fault] = []
        self.duplicate_webhooks = 0
        self.bad_signature_webhooks = 0
        self.holds: list[Hold] = []
        """Every hold planned so far, released or not."""

    def fail(
        self,
        status: int = 503,
        *,
        times: int = 1,
        operation: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` matching calls with ``status`` (and ``Retry-After``)."""
        if not 400 <= status <= 599:
            raise ValueError("a fault status must be 4xx or 5xx")
        if retry_after is not None and not 0 <= retry_after < math.inf:
            raise ValueError("retry_after must be a finite number of seconds, not negative")
        self._plan(Fault("status", times, operation, status=status, retry_after=retry_after))

    def rate_limit(
        self, retry_after: float = 1.0, *, times: int = 1, operation: str | None = None
    ) -> None:
        """Answer the next ``times`` matching calls with 429 and ``Retry-After``."""
        self.fail(429, times=times, operation=operation, retry_after=retry_after)

    def delay(self, seconds: float, *, times: int = 1, operation: str | None = None) -> None:
        """Wait ``seconds`` before handling the next ``times`` matching calls."""
        if not 0 <= seconds < math.inf:
            raise ValueError("a delay must be a finite number of seconds, not negative")
        self._plan(Fault("delay", times, operation, delay=seconds))

    def hold(self, *, times: int = 1, operation: str | None = None) -> Hold:
        """Keep the next ``times`` matching calls waiting until the returned hold is released.

        Like every fault, a hold is used up by the calls it matches; the body is then read, as for
        :meth:`delay`, and the call waits (a client that leaves mid-body uses up its share of
        ``times`` without reaching the hold). :meth:`FakeTahdah.stop` releases every hold.
        """
        hold = Hold()
        self._plan(Fault("hold", times, operation, hold=hold))
        self.holds.append(hold)
        return hold

    def drop_connection(self, *, times: int = 1, operation: str | None = None) -> None:
        """Close the connection without answering the next ``times`` matching calls."""
        self._plan(Fault("drop", times, operation))

    def duplicate_webhook(self, times: int = 1) -> None:
        """Send each of the next ``times`` webhooks twice."""
        self.duplicate_webhooks += _positive(times)

    def bad_signature_webhook(self, times: int = 1) -> None:
        """Sign each of the next ``times`` webhooks with the wrong secret."""
        self.bad_signature_webhooks += _positive(times)

    def clear(self) -> None:
        """Forget every planned fault and release every hold."""
        self.planned.clear()
        self.release_holds()
        self.duplicate_webhooks = self.bad_signature_webhooks = 0

    def release_holds(self) -> None:
        """Release every hold, so that no call stays waiting."""
        for hold in self.holds:
            hold.release()

    def take(self, operation: str) -> Fault | None:
        """Use up and return the first fault planned for ``operation``, if any."""
        for fault in self.planned:
            if fault.operation in (None, operation):
                fault.times -= 1
                if not fault.times:
                    self.planned.remove(fault)
                return fault
        return None

    def _plan(self, fault: Fault) -> None:
        _positive(fault.times)
        if (
            fault.operation is not None
            and self.operations is not None
            and fault.operation not in self.operations
        ):
            raise ValueError(f"unknown operation {fault.operation!r}: use an SDK call name")
        self.planned.append(fault)


def _positive(times: int) -> int:
    return check_count(times, "times")
