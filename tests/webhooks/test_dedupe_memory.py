"""The dedupe-store contract, run against :class:`MemoryDedupeStore` with an injected clock."""

from __future__ import annotations

import pytest

from tahdah_async.webhooks import DedupeStore, MemoryDedupeStore

from .dedupe_contract import DedupeContract


class Clock:
    """A settable monotonic clock: time moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ClockLapse:
    """Time passes when the test ticks: each tick moves the clock by a fifth of a short lease."""

    short = 5.0

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def tick(self) -> None:
        self.clock.now += self.short / 5


class TestMemoryDedupeStore(DedupeContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def store(self, clock: Clock) -> MemoryDedupeStore:
        return MemoryDedupeStore(clock=clock)

    @pytest.fixture
    def peer(self, store: MemoryDedupeStore) -> DedupeStore:
        # An in-process store is shared by sharing the object.
        return store

    @pytest.fixture
    def lapse(self, clock: Clock) -> ClockLapse:
        return ClockLapse(clock)
