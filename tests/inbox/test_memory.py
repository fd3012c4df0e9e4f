"""The inbox contract, and what is particular to :class:`MemoryInbox`."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from tahdah_async.webhooks.inbox import MemoryInbox, Selection, State

from .contract import LEASE, FakeClock, InboxContract, make_delivery


class TestMemoryInbox(InboxContract):
    @pytest.fixture
    async def inbox(self, clock: FakeClock) -> AsyncIterator[MemoryInbox]:
        async with MemoryInbox(clock=clock) as inbox:
            yield inbox


async def test_it_works_without_being_opened() -> None:
    inbox = MemoryInbox()
    stored, id = await inbox.put(make_delivery(1))
    assert stored
    await inbox.close()
    assert (await inbox.get(id)) is not None
    assert repr(inbox) == "<MemoryInbox rows=1>"


async def test_rows_cannot_be_changed_through_what_it_returns() -> None:
    headers = {"Webhook-Verb": "x"}
    inbox = MemoryInbox()
    _, id = await inbox.put(make_delivery(1, headers=headers))
    headers["Webhook-Verb"] = "changed"
    row = await inbox.get(id)
    assert row is not None
    assert dict(row.headers) == {"Webhook-Verb": "x"}
    with pytest.raises(TypeError):
        row.headers["Webhook-Verb"] = "changed"  # type: ignore[index]


async def test_naive_times_are_refused() -> None:
    naive = dt.datetime(2026, 1, 1)
    inbox = MemoryInbox()
    with pytest.raises(ValueError, match="timezone-aware"):
        await inbox.put(make_delivery(1, received_at=naive))
    _, id = await inbox.put(make_delivery(2))
    await inbox.claim("a", 1, LEASE)
    with pytest.raises(ValueError, match="timezone-aware"):
        await inbox.fail("a", id, "boom", naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        await inbox.rows(Selection(received_after=naive))
    assert (await inbox.stats()).by_state[State.PROCESSING] == 1


@pytest.mark.parametrize("lease", [0.0, -1.0, float("nan"), float("inf")])
async def test_a_lease_is_a_positive_number_of_seconds(lease: float) -> None:
    inbox = MemoryInbox()
    with pytest.raises(ValueError, match="lease"):
        await inbox.claim("a", 1, lease)
    with pytest.raises(ValueError, match="lease"):
        await inbox.extend("a", [1], lease)


async def test_a_negative_limit_is_refused() -> None:
    inbox = MemoryInbox()
    await inbox.put(make_delivery(1))
    with pytest.raises(ValueError, match="limit"):
        await inbox.claim("a", -1, LEASE)
    with pytest.raises(ValueError, match="limit"):
        await inbox.rows(limit=-1)
    assert await inbox.claim("a", 0, LEASE) == []
