"""The handlers' and body reads' time limits: asyncio.timeout's semantics, a queue per loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from tahdah_async.webhooks._limits import TimeLimit, within

SHORT = 0.01
"""A limit that must expire: what it guards never finishes, so no timing is asserted."""
LONG = 3600.0
"""A limit that must not expire during a test."""


async def limited(limit: TimeLimit, work: asyncio.Future[object] | None = None) -> object:
    """Await ``work`` (forever if None) within ``limit``, as the router runs a handler."""
    return await within(limit, work if work is not None else asyncio.Event().wait())


async def test_an_expired_run_raises_timeout_error_and_leaves_no_cancel_request() -> None:
    with pytest.raises(TimeoutError):
        await limited(TimeLimit(SHORT))
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_a_run_that_finishes_in_time_returns_its_result() -> None:
    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    done.set_result("ok")
    assert await limited(TimeLimit(LONG), done) == "ok"


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    task = asyncio.create_task(limited(TimeLimit(LONG)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_expiry_and_an_outside_cancellation_together_are_a_cancellation() -> None:
    limit = TimeLimit(SHORT)
    started = asyncio.Event()

    async def caught_at_expiry() -> None:
        run = limit.begin()
        try:
            started.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            # The limit expired; now someone else cancels too, before the run ends.
            current = asyncio.current_task()
            assert current is not None
            current.cancel()
            assert not run.end()
            raise

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(caught_at_expiry())


async def test_runs_expire_in_order_and_each_alone() -> None:
    limit = TimeLimit(SHORT)
    finished: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    finished.set_result(None)
    outcomes = await asyncio.gather(
        limited(limit), limited(limit, finished), limited(limit), return_exceptions=True
    )
    assert [type(outcome) for outcome in outcomes] == [TimeoutError, type(None), TimeoutError]


async def test_a_swallowed_expiry_counts_as_finished_like_asyncio_timeout() -> None:
    limit = TimeLimit(SHORT)
    run = limit.begin()
    with contextlib.suppress(asyncio.CancelledError):  # the handler swallows it and returns
        await asyncio.Event().wait()
    assert run.end() is True  # expired: the caller's CancelledError would be its TimeoutError
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_ended_runs_behind_a_long_one_do_not_pile_up() -> None:
    limit = TimeLimit(LONG)
    first = limit.begin()
    for _ in range(10_000):
        limit.begin().end()
    queue = limit._queues[asyncio.get_running_loop()]
    assert queue.running == 1
    assert len(queue._runs) <= 2 + 1024 + 1
    first.end()
    assert queue.running == 0


def test_each_event_loop_has_its_own_queue_and_closed_ones_are_forgotten() -> None:
    limit = TimeLimit(SHORT)
    outcomes: list[str] = []

    async def expire_once() -> None:
        try:
            await limited(limit)
        except TimeoutError:
            outcomes.append("timeout")

    threads = [threading.Thread(target=asyncio.run, args=(expire_once(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    asyncio.run(expire_once())
    assert outcomes == ["timeout"] * 4
    assert len(limit._queues) == 1  # only the last loop's: the closed ones were dropped


async def test_a_run_outside_a_task_is_refused() -> None:
    loop = asyncio.get_running_loop()
    refused: asyncio.Future[RuntimeError] = loop.create_future()

    def begin_in_a_callback() -> None:
        try:
            TimeLimit(LONG).begin()
        except RuntimeError as exc:
            refused.set_result(exc)

    loop.call_soon(begin_in_a_callback)
    assert "needs a task" in str(await refused)
