"""The inbox contract, and what is particular to :class:`MemoryInbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tahdah_async.webhooks.inbox import MemoryInbox

from .contract import FakeClock, InboxContract, make_delivery


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
