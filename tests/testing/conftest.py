"""Fixtures shared by the testing kit's tests: the fake and a plain session to reach it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tahdah_async.testing import FakeTahdah


@pytest.fixture
def fake(fake_tahdah: FakeTahdah) -> FakeTahdah:
    """The plugin's started fake (a file may override it with one of its own)."""
    return fake_tahdah


@pytest.fixture
async def raw() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, for requests the SDK's client would refuse to send."""
    async with aiohttp.ClientSession() as session:
        yield session
