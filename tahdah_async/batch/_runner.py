"""Run one async operation over many items: bounded, per-item outcomes, chunks, resume."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar

import anyio
import attrs

from ._throttle import Throttle, count

__all__ = [
    "AlreadyDone",
    "BatchError",
    "BatchResult",
    "ItemResult",
    "Outcome",
    "Progress",
    "Recorder",
    "run_batch",
    "run_chunked",
]

T = TypeVar("T")
R = TypeVar("R")

Outcome: TypeAlias = Literal["ok", "failed", "skipped", "cancelled"]
"""``ok``: done now; ``failed``: the call raised; ``skipped``: done by an earlier run;
``cancelled``: not finished because the batch stopped (fail-fast, or cancelled)."""
OUTCOMES: tuple[Outcome, ...] = ("ok", "failed", "skipped", "cancelled")


@attrs.frozen
class ItemResult(Generic[T, R]):
    """What happened to one item."""

    key: str
    """The item's key: its position, or what the ``key`` function returned."""
    item: T
    outcome: Outcome
    value: R | None = None
    """What the operation returned (``ok`` only)."""
    error: Exception | None = None
    """What the operation raised (``failed`` only)."""

    @property
    def done(self) -> bool:
        """Whether the item is done, now or by an earlier run."""
        return self.outcome in ("ok", "skipped")


@attrs.frozen
class Progress:
    """How far a batch has got; given to the ``progress`` callback after each call."""

    total: int | None
    """How many items there are (``None`` when the items are an iterator of unknown size)."""
    ok: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def finished(self) -> int:
        """Items with an outcome so far."""
        return self.ok + self.failed + self.skipped


@attrs.frozen
class BatchResult(Generic[T, R]):
    """Every item's outcome, in input order."""

    results: tuple[ItemResult[T, R], ...]
    stopped_by: Exception | None = None
    """The failure that stopped the batch early (fail-fast, or an error in ``stop_on``)."""

    def by_outcome(self, outcome: Outcome) -> list[ItemResult[T, R]]:
        """The results with one outcome."""
        return [result for result in self.results if result.outcome == outcome]

    @property
    def ok(self) -> list[ItemResult[T, R]]:
        return self.by_outcome("ok")

    @property
    def failed(self) -> list[ItemResult[T, R]]:
        return self.by_outcome("failed")

    @property
    def counts(self) -> dict[Outcome, int]:
        """How many items ended with each outcome."""
        counts: dict[Outcome, int] = dict.fromkeys(OUTCOMES, 0)
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    @property
    def complete(self) -> bool:
        """Whether every item is done (now or earlier)."""
        return all(result.done for result in self.results)


class Recorder(Protocol):
    """Receives each result as soon as it is known (a report writer, for instance)."""

    def record(self, result: ItemResult[Any, Any]) -> None: ...


Gate: TypeAlias = "int | anyio.CapacityLimiter | Throttle"


async def run_batch(
    items: Iterable[T],
    operation: Callable[[T], Awaitable[R]],
    *,
    concurrency: Gate = 8,
    key: Callable[[T], str] | None = None,
    done: Iterable[str] = (),
    fail_fast: bool = False,
    stop_on: tuple[type[Exception], ...] = (),
    progress: Callable[[Progress], object] | None = None,
    recorder: Recorder | None = None,
) -> BatchResult[T, R]:
    """Call ``operation`` on every item, a bounded number at once; return every outcome.

    A failing call is recorded and the others go on, unless ``fail_fast`` is set: then the
    first failure cancels the calls in flight and those not started (``cancelled``).
    Cancelling the batch itself propagates, after recording what finished.

    Args:
        items: the items; an iterator is read as the batch goes.
        operation: ``async def operation(item) -> value``.
        concurrency: the most calls at once: an int, an ``anyio.CapacityLimiter`` shared
            with other work, or a :class:`Throttle` that also backs off on 429.
        key: the item's key, for reports and resuming (default: its position, ``"0"``...).
        done: keys finished by an earlier run: those items are ``skipped``, not called.
        fail_fast: stop at the first failure.
        stop_on: errors that stop the batch like ``fail_fast`` (such as an
            ``AuthenticationError``, which every later call would meet too).
        progress: called with a :class:`Progress` after each outcome.
        recorder: given each :class:`ItemResult` as soon as it is known.
    """

    async def call(chunk: list[T]) -> list[R]:
        return [await operation(chunk[0])]

    return await _run(
        items, call, 1, concurrency, key, done, fail_fast, stop_on, progress, recorder
    )


async def run_chunked(
    items: Iterable[T],
    operation: Callable[[list[T]], Awaitable[Sequence[R]]],
    *,
    chunk_size: int = 100,
    concurrency: Gate = 8,
    key: Callable[[T], str] | None = None,
    done: Iterable[str] = (),
    fail_fast: bool = False,
    stop_on: tuple[type[Exception], ...] = (),
    progress: Callable[[Progress], object] | None = None,
    recorder: Recorder | None = None,
) -> BatchResult[T, R]:
    """Like :func:`run_batch`, for endpoints taking lists: one call per chunk of items.

    ``operation`` gets up to ``chunk_size`` items (never one already ``done``) and returns
    one value per item, in order (a list or another sequence); each item's outcome is its
    chunk's. A call returning anything else (the wrong number of values, ``None``, a
    generator, a string) fails its whole chunk with :class:`BatchError`, whose ``keys`` name
    the chunk's items, since the values cannot be matched to items; like any failure, it
    stops the batch when ``fail_fast`` is set.
    """
    size = count(chunk_size, "chunk_size")
    return await _run(
        items, operation, size, concurrency, key, done, fail_fast, stop_on, progress, recorder
    )


class BatchError(Exception):
    """An operation broke the batch's contract (such as returning too few values).

    When a chunk's call broke it, every item of the chunk fails with this one error and
    ``keys`` names them; ``keys`` is empty for an error about one item.
    """

    def __init__(self, message: str, *, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys
        """The keys of the items whose call broke the contract, in order."""


class AlreadyDone(Exception):
    """Raised by an operation to say its item was done before (by an earlier run).

    The item's outcome is ``skipped``, with ``value`` as its value.
    """

    def __init__(self, value: Any = None) -> None:
        super().__init__("already done")
        self.value = value


MAX_WORKERS = 1024
"""The most workers a batch starts (for a limiter with more, or infinite, tokens)."""


async def _run(
    items: Iterable[T],
    operation: Callable[[list[T]], Awaitable[Sequence[R]]],
    chunk_size: int,
    concurrency: Gate,
    key: Callable[[T], str] | None,
    done: Iterable[str],
    fail_fast: bool,
    stop_on: tuple[type[Exception], ...],
    progress: Callable[[Progress], object] | None,
    recorder: Recorder | None,
) -> BatchResult[T, R]:
    gate, workers = _gate(concurrency)
    finished = frozenset(done)
    total = len(items) if isinstance(items, Sequence) else None
    results: dict[int, ItemResult[T, R]] = {}
    tally = dict.fromkeys(("ok", "failed", "skipped"), 0)
    stopped_by: Exception | None = None

    def settle(index: int, result: ItemResult[T, R]) -> None:
        results[index] = result
        if result.outcome != "cancelled":
            tally[result.outcome] += 1
        if recorder is not None:
            recorder.record(result)
        if progress is not None and result.outcome != "cancelled":
            progress(Progress(total, **tally))

    def chunks() -> Iterator[list[tuple[int, str, T]]]:
        chunk: list[tuple[int, str, T]] = []
        for index, item in enumerate(items):
            item_key = str(index) if key is None else key(item)
            if item_key in finished:
                settle(index, ItemResult(item_key, item, "skipped"))
                continue
            chunk.append((index, item_key, item))
            if len(chunk) == chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    pending = chunks()

    def settle_chunk(chunk: list[tuple[int, str, T]], outcome: Outcome, **fields: Any) -> None:
        for index, item_key, item in chunk:
            if index not in results:
                settle(index, ItemResult(item_key, item, outcome, **fields))

    async def worker(scope: anyio.CancelScope) -> None:
        nonlocal stopped_by
        # Check before taking a chunk: one taken after the batch stopped would be lost.
        while stopped_by is None and (chunk := next(pending, None)) is not None:
            try:
                async with gate:
                    returned = await operation([item for _, _, item in chunk])
                # Inside the try: a broken return value fails this chunk, not the batch.
                values = _values(returned, chunk)
            except AlreadyDone as done_before:
                settle_chunk(chunk, "skipped", value=done_before.value)
            except Exception as exc:
                settle_chunk(chunk, "failed", error=exc)
                if stopped_by is None and (fail_fast or isinstance(exc, stop_on)):
                    stopped_by = exc
                    scope.cancel()
            except BaseException:
                settle_chunk(chunk, "cancelled")  # in flight when the batch was cancelled
                raise
            else:
                for (index, item_key, item), value in zip(chunk, values, strict=True):
                    settle(index, ItemResult(item_key, item, "ok", value=value))

    try:
        async with anyio.create_task_group() as group:
            for _ in range(workers):
                group.start_soon(worker, group.cancel_scope)
    except BaseExceptionGroup as group_error:
        # A failing callback (key, progress, recorder) fails in every worker alike: raise it
        # as itself, not wrapped in a group.
        first = group_error.exceptions[0]
        if all(type(other) is type(first) for other in group_error.exceptions):
            raise first from None
        raise
    finally:
        # What never started because the batch stopped is "cancelled" when the items are a
        # sequence; an iterator is not read any further (it may be endless).
        if total is not None:
            for chunk in pending:
                settle_chunk(chunk, "cancelled")
    return BatchResult(tuple(results[index] for index in sorted(results)), stopped_by)


def _values(returned: object, chunk: list[tuple[int, str, Any]]) -> list[Any]:
    """The values a chunk's call returned, one per item; :class:`BatchError` if not."""
    keys = tuple(item_key for _, item_key, _ in chunk)
    # A string is a sequence of characters, never one value per item: refuse it too.
    if isinstance(returned, str | bytes | bytearray) or not isinstance(returned, Sequence):
        raise BatchError(
            f"the operation returned {type(returned).__name__}, not a sequence of values, "
            f"for {len(chunk)} items",
            keys=keys,
        )
    try:
        # Length first: a huge sequence of the wrong length is never copied.
        found = len(returned)
        values = list(returned) if found == len(chunk) else []
    except Exception as exc:
        raise BatchError(
            f"reading the values the operation returned for {len(chunk)} items failed: "
            f"{type(exc).__name__}",
            keys=keys,
        ) from exc
    if len(values) != len(chunk):
        found = found if not values else len(values)
        raise BatchError(f"the operation returned {found} values for {len(chunk)} items", keys=keys)
    return values


def _gate(concurrency: Gate) -> tuple[Any, int]:
    if isinstance(concurrency, Throttle):
        return concurrency, concurrency.max_concurrency
    if isinstance(concurrency, anyio.CapacityLimiter):
        tokens = concurrency.total_tokens
        return concurrency, MAX_WORKERS if tokens > MAX_WORKERS else max(1, int(tokens))
    limit = count(concurrency, "concurrency")
    return anyio.CapacityLimiter(limit), limit
