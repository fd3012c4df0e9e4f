"""Fixtures for the batch toolkit's tests: a fake server with latency and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tahdah_async import RetryPolicy, TahdahClient
from tahdah_async.testing import FakeTahdah

LATENCY = 0.02
"""Seconds the fake spends on every call: long enough for calls to overlap, short enough to
keep the directory fast."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeTahdah]:
    async with FakeTahdah(latency=LATENCY) as server:
        yield server


@pytest.fixture
async def tahdah(fake: FakeTahdah) -> AsyncIterator[TahdahClient]:
    # Real sleeps (a Retry-After is really waited out), but short backoffs and no jitter.
    policy = RetryPolicy(initial_delay=0.01, max_delay=0.02, random=lambda: 0.0)
    async with TahdahClient(fake.token, base_url=fake.url, retry=policy) as client:
        yield client
