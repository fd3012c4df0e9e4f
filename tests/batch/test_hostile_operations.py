"""run_chunked and run_batch with operations that return the wrong thing.

Whatever an operation returns for a chunk, the batch goes on: the chunk's items fail with a
:class:`BatchError` naming them, the other chunks keep their outcomes, and nothing escapes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import pytest

from tahdah_async.batch import BatchError, run_batch, run_chunked


class LyingLength(Sequence[int]):
    """A sequence whose ``len`` raises."""

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        raise IndexError(index)

    def __len__(self) -> int:
        raise RuntimeError("no length")


def numbers() -> Iterator[int]:
    yield from (0, 1)


WRONG: list[tuple[str, Any, str]] = [
    ("None", None, "the operation returned NoneType, not a sequence of values, for 2 items"),
    ("generator", numbers(), "the operation returned generator, not a sequence of values"),
    ("string", "ab", "the operation returned str, not a sequence of values, for 2 items"),
    ("bytes", b"ab", "the operation returned bytes, not a sequence of values, for 2 items"),
    ("dict", {0: 0, 1: 1}, "the operation returned dict, not a sequence of values"),
    ("int", 2, "the operation returned int, not a sequence of values, for 2 items"),
    ("too many", [0, 1, 2], "the operation returned 3 values for 2 items"),
    ("empty", [], "the operation returned 0 values for 2 items"),
    ("raising len", LyingLength(), "reading the values the operation returned for 2 items"),
]


@pytest.mark.parametrize(("returned", "message"), [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
async def test_a_chunk_returning_the_wrong_thing_fails_only_that_chunk(
    returned: Any, message: str
) -> None:
    async def operation(chunk: list[int]) -> Any:
        return returned if 2 in chunk else [item * 10 for item in chunk]

    result = await run_chunked(range(6), operation, chunk_size=2, concurrency=1)

    assert [(r.key, r.outcome) for r in result.results] == [
        ("0", "ok"),
        ("1", "ok"),
        ("2", "failed"),
        ("3", "failed"),
        ("4", "ok"),
        ("5", "ok"),
    ]
    assert [r.value for r in result.ok] == [0, 10, 40, 50]
    errors = {id(r.error) for r in result.failed}
    assert len(errors) == 1
    error = result.failed[0].error
    assert isinstance(error, BatchError)
    assert str(error).startswith(message)
    assert error.keys == ("2", "3")
    assert result.stopped_by is None


async def test_a_chunk_returning_none_stops_a_fail_fast_batch_like_any_failure() -> None:
    async def operation(chunk: list[int]) -> Any:
        return None if 2 in chunk else chunk

    result = await run_chunked(range(6), operation, chunk_size=2, concurrency=1, fail_fast=True)

    assert [(r.key, r.outcome) for r in result.results] == [
        ("0", "ok"),
        ("1", "ok"),
        ("2", "failed"),
        ("3", "failed"),
        ("4", "cancelled"),
        ("5", "cancelled"),
    ]
    assert isinstance(result.stopped_by, BatchError)
    assert result.stopped_by.keys == ("2", "3")


async def test_the_keys_of_a_failed_chunk_are_the_key_function_s() -> None:
    async def operation(chunk: list[str]) -> Any:
        return None

    result = await run_chunked(["a", "b", "c"], operation, chunk_size=2, key=str.upper)

    keys = {r.key: r.error.keys for r in result.failed if isinstance(r.error, BatchError)}
    assert keys == {"A": ("A", "B"), "B": ("A", "B"), "C": ("C",)}


@pytest.mark.parametrize(
    "returned", [None, "text", [1, 2], numbers()], ids=["None", "str", "list", "generator"]
)
async def test_run_batch_keeps_whatever_one_call_returns_as_the_value(returned: object) -> None:
    async def operation(item: int) -> object:
        return returned

    result = await run_batch(range(2), operation)

    assert [(r.outcome, r.value) for r in result.results] == [("ok", returned)] * 2
