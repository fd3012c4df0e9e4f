"""Fixtures for the batch toolkit's tests: a fake server, a client for it, and a way to wait.

Nothing here measures time: calls overlap because the fake holds them
(``fake.faults.hold``), and tests wait for events, never for a clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio
import pytest

from tahdah_async import RetryPolicy, TahdahClient
from tahdah_async.testing import FakeTahdah, Hold
from tests.conftest import RecordingSleep

T = TypeVar("T")

WAIT = 60.0
"""Seconds before a test that waits for an event gives up: it only runs out on a real hang."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeTahdah]:
    async with FakeTahdah() as server:
        yield server


@pytest.fixture
async def client(fake: FakeTahdah, sleeps: RecordingSleep) -> AsyncIterator[TahdahClient]:
    """A client of the fake whose retries record their waits and return at once."""
    policy = RetryPolicy(sleep=sleeps, random=lambda: 0.0)
    async with TahdahClient(fake.token, base_url=fake.url, retry=policy) as client:
        yield client


class Changes:
    """A counter to wait on: :meth:`until` returns once a condition holds.

    Whoever changes what the condition reads calls :meth:`changed`; the condition is checked
    again after each change, so a test waits for the state it needs, not for a while.
    """

    def __init__(self) -> None:
        self.count = 0
        self._event = anyio.Event()

    def changed(self) -> None:
        self.count += 1
        self._event.set()
        self._event = anyio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        with anyio.fail_after(WAIT):
            while not condition():
                await self._event.wait()


async def beside(job: Callable[[], Awaitable[T]], steps: Callable[[], Awaitable[None]]) -> T:
    """Run ``job`` and, beside it, the test's ``steps``; return what ``job`` returned."""
    results: list[T] = []

    async def run() -> None:
        results.append(await job())

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await steps()
    (result,) = results
    return result


async def when_held(hold: Hold, count: int, job: Callable[[], Awaitable[T]]) -> T:
    """Run ``job``; once ``count`` calls wait in ``hold``, release it; return what job returned.

    So those ``count`` calls were certainly at the fake at the same time.
    """

    async def steps() -> None:
        await hold.arrived(count)
        hold.release()

    return await beside(job, steps)
