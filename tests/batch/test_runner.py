"""run_batch and run_chunked: bounded concurrency, per-item outcomes, chunks, progress, cancel."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tahdah_async import TahdahClient
from tahdah_async.batch import (
    AlreadyDone,
    BatchError,
    ItemResult,
    Progress,
    Throttle,
    run_batch,
    run_chunked,
)
from tahdah_async.models import Candidate
from tahdah_async.testing import FakeTahdah
from tests.batch.conftest import WAIT, when_held

Gate = int | anyio.CapacityLimiter | Throttle

GATES: list[Callable[[int], Gate]] = [
    lambda limit: limit,
    lambda limit: anyio.CapacityLimiter(limit),
    lambda limit: Throttle(limit),
]
GATE_IDS = ["int", "CapacityLimiter", "Throttle"]


class Counting:
    """An operation that records its calls and how many of them ran at once.

    Item ``i`` returns ``i * 10``; items in ``fail`` raise ``ValueError``. The first calls wait
    until ``together`` of them run at once (so overlap is forced, not hoped for); then each
    call waits for ``release`` when one is given (forever, if it is never set).
    """

    def __init__(
        self,
        *,
        together: int = 1,
        fail: frozenset[int] = frozenset(),
        release: anyio.Event | None = None,
    ) -> None:
        self.together = together
        self.fail = fail
        self.release = release
        self.calls: list[int] = []
        self.running = 0
        self.most = 0
        self.gathered = anyio.Event()
        """Set once ``together`` calls run at once."""

    async def __call__(self, item: int) -> int:
        self.calls.append(item)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.running >= self.together:
                self.gathered.set()
            await self.gathered.wait()  # a checkpoint when already set: other calls may run
            if self.release is not None:
                await self.release.wait()
            if item in self.fail:
                raise ValueError(f"item {item} is bad")
            return item * 10
        finally:
            self.running -= 1


class Recorded:
    """A recorder that keeps every result it is given."""

    def __init__(self) -> None:
        self.results: list[ItemResult[Any, Any]] = []

    def record(self, result: ItemResult[Any, Any]) -> None:
        self.results.append(result)

    @property
    def outcomes(self) -> dict[str, str]:
        return {result.key: result.outcome for result in self.results}


def outcomes(results: tuple[ItemResult[Any, Any], ...]) -> list[tuple[str, str]]:
    return [(result.key, result.outcome) for result in results]


# -- concurrency ---------------------------------------------------------------------------


@pytest.mark.parametrize("make_gate", GATES, ids=GATE_IDS)
async def test_calls_at_once_reach_the_limit_and_never_pass_it(
    make_gate: Callable[[int], Gate],
) -> None:
    operation = Counting(together=3)

    with anyio.fail_after(WAIT):
        result = await run_batch(range(12), operation, concurrency=make_gate(3))

    assert operation.most == 3
    assert sorted(operation.calls) == list(range(12))
    assert [r.value for r in result.results] == [i * 10 for i in range(12)]
    assert result.counts == {"ok": 12, "failed": 0, "skipped": 0, "cancelled": 0}


async def test_fewer_items_than_the_limit_run_all_at_once() -> None:
    operation = Counting(together=2)

    with anyio.fail_after(WAIT):
        await run_batch([1, 2], operation, concurrency=5)

    assert operation.most == 2


async def test_a_shared_limiter_bounds_two_batches_together() -> None:
    operation = Counting(together=3)
    limiter = anyio.CapacityLimiter(3)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: run_batch(range(8), operation, concurrency=limiter))
            group.start_soon(lambda: run_batch(range(8, 16), operation, concurrency=limiter))

    assert operation.most == 3
    assert sorted(operation.calls) == list(range(16))


@pytest.mark.parametrize("make_gate", GATES, ids=GATE_IDS)
async def test_the_fake_server_never_sees_more_calls_than_the_limit(
    make_gate: Callable[[int], Gate], fake: FakeTahdah, client: TahdahClient
) -> None:
    hold = fake.faults.hold(times=3)  # the first three calls wait at the fake together

    async def create(n: int) -> Candidate:
        return await client.candidates.create(first_name="Ada", last_name=f"L{n}")

    result = await when_held(
        hold, 3, lambda: run_batch(range(10), create, concurrency=make_gate(3))
    )

    assert result.counts["ok"] == 10
    assert len(fake.state.candidates) == 10
    assert fake.max_in_flight == 3


async def test_the_fake_server_never_sees_more_chunk_calls_than_the_limit(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    hold = fake.faults.hold(times=2)  # the first call of each of two chunks, at once

    async def create(chunk: list[int]) -> list[Candidate]:
        return [await client.candidates.create(first_name="A", last_name=f"{n}") for n in chunk]

    result = await when_held(
        hold, 2, lambda: run_chunked(range(9), create, chunk_size=3, concurrency=2)
    )

    assert result.counts["ok"] == 9
    assert fake.max_in_flight == 2


async def test_an_unbounded_shared_limiter_is_accepted() -> None:
    operation = Counting()

    result = await run_batch(range(4), operation, concurrency=anyio.CapacityLimiter(math.inf))

    assert result.counts["ok"] == 4


# -- partial failures ----------------------------------------------------------------------


async def test_one_failure_never_stops_the_others() -> None:
    operation = Counting(fail=frozenset({2, 5}))

    result = await run_batch(range(8), operation, concurrency=3)

    assert sorted(operation.calls) == list(range(8))
    assert outcomes(result.results) == [
        ("0", "ok"),
        ("1", "ok"),
        ("2", "failed"),
        ("3", "ok"),
        ("4", "ok"),
        ("5", "failed"),
        ("6", "ok"),
        ("7", "ok"),
    ]
    assert [str(r.error) for r in result.failed] == ["item 2 is bad", "item 5 is bad"]
    assert all(isinstance(r.error, ValueError) and r.value is None for r in result.failed)
    assert [(r.item, r.value, r.error) for r in result.ok][:2] == [(0, 0, None), (1, 10, None)]
    assert result.counts == {"ok": 6, "failed": 2, "skipped": 0, "cancelled": 0}
    assert result.stopped_by is None
    assert not result.complete


async def test_each_failed_item_keeps_its_own_error_object() -> None:
    errors = {n: LookupError(f"no {n}") for n in range(4)}

    async def operation(n: int) -> int:
        raise errors[n]

    result = await run_batch(range(4), operation, concurrency=2)

    assert [r.error for r in result.results] == [errors[0], errors[1], errors[2], errors[3]]


class FailThird:
    """Item 2 fails once items 0 and 1 are running; every other item waits until cancelled."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.others = Counting(together=2, release=anyio.Event())  # never released

    async def __call__(self, n: int) -> int:
        self.calls.append(n)
        if n == 2:
            await self.others.gathered.wait()
            raise ValueError("stop here")
        return await self.others(n)


async def test_fail_fast_calls_nothing_after_the_first_failure() -> None:
    operation = FailThird()

    with anyio.fail_after(WAIT):
        result = await run_batch(range(8), operation, concurrency=3, fail_fast=True)

    calls = operation.calls

    assert calls == [0, 1, 2]
    assert isinstance(result.stopped_by, ValueError)
    assert str(result.stopped_by) == "stop here"
    assert [r.key for r in result.failed] == ["2"]
    assert result.ok == []
    assert [r.key for r in result.by_outcome("cancelled")][-4:] == ["4", "5", "6", "7"]


async def test_fail_fast_gives_every_item_an_outcome() -> None:
    operation = FailThird()
    recorder = Recorded()

    with anyio.fail_after(WAIT):
        result = await run_batch(
            range(8), operation, concurrency=3, fail_fast=True, recorder=recorder
        )

    expected = [(str(n), "failed" if n == 2 else "cancelled") for n in range(8)]
    assert outcomes(result.results) == expected
    assert sorted(recorder.outcomes.items()) == expected
    assert result.counts == {"ok": 0, "failed": 1, "skipped": 0, "cancelled": 7}


async def test_stop_on_stops_only_for_the_errors_named() -> None:
    async def operation(n: int) -> int:
        calls.append(n)
        if n == 1:
            raise ValueError("carry on")
        if n == 3:
            raise KeyError("stop")
        return n

    calls: list[int] = []

    result = await run_batch(range(6), operation, concurrency=1, stop_on=(KeyError,))

    assert calls == [0, 1, 2, 3]
    assert isinstance(result.stopped_by, KeyError)
    assert outcomes(result.results)[:4] == [
        ("0", "ok"),
        ("1", "failed"),
        ("2", "ok"),
        ("3", "failed"),
    ]
    assert ("5", "cancelled") in outcomes(result.results)


async def test_cancelling_the_batch_propagates_after_recording_what_finished() -> None:
    operation = Counting()
    recorder = Recorded()
    returned = False

    with anyio.CancelScope() as scope:

        def progress(snapshot: Progress) -> None:
            if snapshot.ok == 3:
                scope.cancel()

        await run_batch(range(10), operation, concurrency=1, progress=progress, recorder=recorder)
        returned = True

    assert scope.cancelled_caught
    assert not returned
    assert operation.calls == [0, 1, 2]
    assert [r.key for r in recorder.results if r.outcome == "ok"] == ["0", "1", "2"]
    assert "9" in recorder.outcomes
    assert recorder.outcomes["9"] == "cancelled"


async def test_cancelling_the_batch_records_every_unfinished_item_as_cancelled() -> None:
    operation = Counting()
    recorder = Recorded()

    with anyio.CancelScope() as scope:

        def progress(snapshot: Progress) -> None:
            if snapshot.ok == 3:
                scope.cancel()

        await run_batch(range(10), operation, concurrency=1, progress=progress, recorder=recorder)

    assert sorted(recorder.outcomes.items(), key=lambda pair: int(pair[0])) == [
        (str(n), "ok" if n < 3 else "cancelled") for n in range(10)
    ]


async def test_cancelling_from_outside_a_task_group_propagates() -> None:
    operation = Counting(together=2, release=anyio.Event())  # the calls never end by themselves
    scope = anyio.CancelScope()
    returned = False

    async def batch() -> None:
        nonlocal returned
        with scope:
            await run_batch(range(4), operation, concurrency=2)
            returned = True

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(batch)
            await operation.gathered.wait()  # both calls are in flight
            scope.cancel()

    assert scope.cancelled_caught
    assert not returned
    assert operation.calls == [0, 1]
    assert operation.running == 0


# -- chunks --------------------------------------------------------------------------------


async def test_chunks_have_exactly_chunk_size_items_but_the_last() -> None:
    chunks: list[list[int]] = []

    async def operation(chunk: list[int]) -> list[int]:
        chunks.append(chunk)
        return [n * 10 for n in chunk]

    result = await run_chunked(range(10), operation, chunk_size=4, concurrency=1)

    assert chunks == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [r.value for r in result.results] == [n * 10 for n in range(10)]
    assert result.counts == {"ok": 10, "failed": 0, "skipped": 0, "cancelled": 0}


async def test_chunks_never_carry_items_already_done() -> None:
    chunks: list[list[int]] = []

    async def operation(chunk: list[int]) -> list[int]:
        chunks.append(chunk)
        return chunk

    result = await run_chunked(
        range(10), operation, chunk_size=4, concurrency=1, done={"1", "2", "8"}
    )

    assert chunks == [[0, 3, 4, 5], [6, 7, 9]]
    assert [r.key for r in result.by_outcome("skipped")] == ["1", "2", "8"]
    assert [r.outcome for r in result.results][:3] == ["ok", "skipped", "skipped"]
    assert result.complete


async def test_a_chunk_returning_the_wrong_number_of_values_fails_only_that_chunk() -> None:
    async def operation(chunk: list[int]) -> list[int]:
        return chunk[:-1] if 5 in chunk else chunk

    result = await run_chunked(range(10), operation, chunk_size=4, concurrency=2)

    assert [r.key for r in result.failed] == ["4", "5", "6", "7"]
    errors = {id(r.error) for r in result.failed}
    assert len(errors) == 1
    error = result.failed[0].error
    assert isinstance(error, BatchError)
    assert str(error) == "the operation returned 3 values for 4 items"
    assert [r.key for r in result.ok] == ["0", "1", "2", "3", "8", "9"]
    assert result.stopped_by is None


async def test_a_chunk_that_raises_fails_each_of_its_items() -> None:
    async def operation(chunk: list[int]) -> list[int]:
        if 0 in chunk:
            raise RuntimeError("chunk refused")
        return chunk

    result = await run_chunked(range(5), operation, chunk_size=2, concurrency=2)

    assert outcomes(result.results) == [
        ("0", "failed"),
        ("1", "failed"),
        ("2", "ok"),
        ("3", "ok"),
        ("4", "ok"),
    ]
    assert str(result.results[1].error) == "chunk refused"


# -- progress, keys, recorders, lazy input -------------------------------------------------


async def test_progress_counts_up_to_the_final_counts() -> None:
    seen: list[Progress] = []
    operation = Counting(fail=frozenset({3}))

    result = await run_batch(range(6), operation, concurrency=2, done={"0"}, progress=seen.append)

    assert [p.finished for p in seen] == [1, 2, 3, 4, 5, 6]
    for before, after in itertools.pairwise(seen):
        assert after.ok >= before.ok
        assert after.failed >= before.failed
        assert after.skipped >= before.skipped
    assert {p.total for p in seen} == {6}
    assert seen[-1] == Progress(total=6, ok=4, failed=1, skipped=1)
    counts = result.counts
    assert (seen[-1].ok, seen[-1].failed, seen[-1].skipped) == (
        counts["ok"],
        counts["failed"],
        counts["skipped"],
    )


async def test_chunked_progress_reports_each_item() -> None:
    seen: list[Progress] = []

    async def operation(chunk: list[int]) -> list[int]:
        return chunk

    await run_chunked(range(5), operation, chunk_size=2, concurrency=1, progress=seen.append)

    assert [p.ok for p in seen] == [1, 2, 3, 4, 5]
    assert seen[-1] == Progress(total=5, ok=5)


async def test_a_generator_is_read_lazily_and_has_no_total() -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for n in range(20):
            pulled += 1
            yield n

    pulled_at_call: dict[int, int] = {}

    async def operation(n: int) -> int:
        pulled_at_call[n] = pulled
        await anyio.lowlevel.checkpoint()
        return n

    seen: list[Progress] = []

    result = await run_batch(items(), operation, concurrency=3, progress=seen.append)

    assert [r.value for r in result.results] == list(range(20))
    assert pulled_at_call[0] <= 3
    assert all(pulled_at_call[n] <= n + 3 for n in range(20))
    assert {p.total for p in seen} == {None}
    assert seen[-1].finished == 20


async def test_keys_name_items_and_done_keys_are_skipped_without_a_call() -> None:
    calls: list[str] = []

    async def operation(name: str) -> str:
        calls.append(name)
        return name.upper()

    result = await run_batch(
        ["ann", "bob", "cy"], operation, key=str.upper, done={"BOB"}, concurrency=1
    )

    assert calls == ["ann", "cy"]
    assert outcomes(result.results) == [("ANN", "ok"), ("BOB", "skipped"), ("CY", "ok")]
    assert result.results[1].item == "bob"
    assert all(r.done for r in result.results)
    assert result.complete


async def test_the_recorder_gets_each_result_once_as_it_is_known() -> None:
    recorder = Recorded()
    operation = Counting(fail=frozenset({1}))

    result = await run_batch(range(4), operation, concurrency=1, done={"3"}, recorder=recorder)

    assert [(r.key, r.outcome) for r in recorder.results] == [
        ("0", "ok"),
        ("1", "failed"),
        ("2", "ok"),
        ("3", "skipped"),
    ]
    assert sorted(recorder.results, key=lambda r: r.key) == list(result.results)


# -- arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"concurrency": 0}, ValueError, "concurrency must be at least 1"),
        ({"concurrency": -2}, ValueError, "concurrency must be at least 1"),
        ({"concurrency": True}, TypeError, "concurrency must be an int, got bool"),
        ({"concurrency": 2.5}, TypeError, "concurrency must be an int, got float"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be at least 1"),
        ({"chunk_size": False}, TypeError, "chunk_size must be an int, got bool"),
    ],
)
async def test_bad_arguments_fail_before_any_call(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    pulled: list[int] = []

    def items() -> Iterator[int]:
        for n in range(3):
            pulled.append(n)
            yield n

    calls: list[object] = []

    async def one(n: int) -> int:
        calls.append(n)
        return n

    async def chunk(ns: list[int]) -> list[int]:
        calls.append(ns)
        return ns

    async def run() -> object:
        if "chunk_size" in options:
            return await run_chunked(items(), chunk, **options)
        return await run_batch(items(), one, **options)

    with pytest.raises(error, match=message):
        await run()

    assert calls == []
    assert pulled == []


async def test_an_operation_can_say_an_item_was_already_done() -> None:
    async def work(item: int) -> int:
        if item % 2:
            raise AlreadyDone(f"earlier-{item}")
        return item * 10

    result = await run_batch(range(4), work, concurrency=2)

    assert [(r.outcome, r.value) for r in result.results] == [
        ("ok", 0),
        ("skipped", "earlier-1"),
        ("ok", 20),
        ("skipped", "earlier-3"),
    ]
    assert result.complete


async def test_a_failing_progress_callback_raises_its_own_error() -> None:
    async def work(item: int) -> int:
        return item

    def progress(_: Progress) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        await run_batch(range(3), work, progress=progress)


async def test_stopping_a_batch_over_an_endless_iterator_returns() -> None:
    async def work(item: int) -> int:
        if item == 5:
            raise ValueError("bad item")
        return item

    with anyio.fail_after(WAIT):
        result = await run_batch(itertools.count(), work, concurrency=2, fail_fast=True)

    assert isinstance(result.stopped_by, ValueError)
    assert result.counts["failed"] == 1
    assert len(result.results) < 20  # what was never taken is not read, let alone reported
