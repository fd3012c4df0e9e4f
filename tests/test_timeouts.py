"""Timeouts against real slow servers, and the ``Timeout`` value itself.

Every timeout here is a fraction of a second; each test also runs under an outer
``asyncio.timeout`` so a timeout that does not fire fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tahdah_async import APIConnectionError, APITimeoutError, TahdahClient, Timeout
from tests.conftest import TOKEN, RecordingSleep
from tests.servers import Script, no_wait, respond, serve, stall, stall_body, trickle_body

GUARD = 3.0
"""Seconds after which a call that should have timed out counts as hanging."""


@pytest.fixture
async def script() -> AsyncIterator[Script]:
    script = Script()
    yield script
    script.gate.set()


async def timed(call: Awaitable[object]) -> tuple[Exception | None, float]:
    """Await ``call`` under the guard; return what it raised (if anything) and how long it took."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(GUARD):
            await call
    except TimeoutError:
        raise AssertionError(f"the call was still running after {GUARD} s") from None
    except Exception as exc:
        return exc, time.perf_counter() - started
    return None, time.perf_counter() - started


async def test_a_silent_server_raises_a_read_timeout(script: Script) -> None:
    script.reply(stall(script.gate))
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, timeout=Timeout(read=0.2), max_retries=0) as client,
    ):
        error, took = await timed(client.trust_groups.list(1))
    assert isinstance(error, APITimeoutError)
    assert isinstance(error, APIConnectionError)
    assert error.request_sent is True
    assert error.method == "GET"
    assert error.path == "/api/trustgroups/legalentities/1/trustgroups"
    assert 0.15 <= took < 0.9
    assert script.count == 1


async def test_a_body_that_stalls_raises_a_read_timeout(script: Script) -> None:
    script.reply(stall_body(script.gate))
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, timeout=Timeout(read=0.2), max_retries=0) as client,
    ):
        error, took = await timed(client.trust_groups.list(1))
    assert isinstance(error, APITimeoutError)
    assert error.request_sent is True
    assert 0.15 <= took < 0.9


async def test_a_read_timeout_is_retried_for_a_get(script: Script, sleeps: RecordingSleep) -> None:
    script.reply(stall(script.gate), respond(200, []))
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, timeout=Timeout(read=0.1), retry=no_wait(sleeps)) as c,
    ):
        error, _ = await timed(c.trust_groups.list(1))
    assert error is None
    assert script.count == 2
    assert sleeps.delays == [0.5]


async def test_a_read_timeout_is_not_retried_for_a_post(
    script: Script, sleeps: RecordingSleep
) -> None:
    script.reply(stall(script.gate), respond(200, {"id": 1}))
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, timeout=Timeout(read=0.1), retry=no_wait(sleeps)) as c,
    ):
        error, _ = await timed(c.candidates.create(first_name="Ada"))
    assert isinstance(error, APITimeoutError)
    assert script.count == 1
    assert sleeps.delays == []


async def test_the_total_timeout_bounds_a_trickling_body(script: Script) -> None:
    # A byte every 50 ms never trips the read timeout; only the total one can stop it.
    script.reply(trickle_body(script.gate, every=0.05))
    timeout = Timeout(read=0.5, total=0.3)
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, timeout=timeout, max_retries=0) as client,
    ):
        error, took = await timed(client.trust_groups.list(1))
    assert isinstance(error, APITimeoutError)
    assert 0.25 <= took < 1.0


async def test_waiting_for_a_pooled_connection_times_out_before_sending(script: Script) -> None:
    script.reply(stall(script.gate), respond(200, []))
    timeout = Timeout(read=2, pool=0.2)
    async with (
        serve(script) as url,
        TahdahClient(
            TOKEN, base_url=url, timeout=timeout, connection_limit=1, max_retries=0
        ) as client,
    ):
        busy = asyncio.create_task(client.trust_groups.list(1))
        await script.wait_for(1)
        error, took = await timed(client.trust_groups.list(2))
        assert isinstance(error, APITimeoutError)
        assert error.request_sent is False
        assert 0.15 <= took < 0.9
        assert script.count == 1  # the second request never left
        script.gate.set()
        assert await busy == []


async def test_with_options_overrides_the_timeout_for_its_calls_only(script: Script) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.25)
        return await respond(200, [])(request)

    script.reply(slow)
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, timeout=Timeout(read=0.75), max_retries=0) as client,
    ):
        hasty = client.with_options(timeout=Timeout(read=0.05))
        error, _ = await timed(hasty.trust_groups.list(1))
        assert isinstance(error, APITimeoutError)  # the server answers only after 0.25 s
        assert hasty.timeout == Timeout(read=0.05)

        error, _ = await timed(client.trust_groups.list(1))
        assert error is None
        assert client.timeout == Timeout(read=0.75)


async def test_with_options_can_lengthen_the_timeout(script: Script) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.2)
        return await respond(200, [])(request)

    script.reply(slow)
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, timeout=Timeout(read=0.05), max_retries=0) as client,
    ):
        error, _ = await timed(client.with_options(timeout=0.6).trust_groups.list(1))
        assert error is None
        error, _ = await timed(client.trust_groups.list(1))
        assert isinstance(error, APITimeoutError)


# -- the Timeout value -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["connect", "read", "total", "pool"])
@pytest.mark.parametrize("value", [0, 0.0, -1, -0.001, math.nan, True])
def test_timeout_rejects_non_positive_values(field: str, value: float) -> None:
    kwargs: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field):
        Timeout(**kwargs)


@pytest.mark.parametrize("value", [0, -2.5])
def test_a_non_positive_number_is_refused_where_a_timeout_is_expected(value: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Timeout.of(value)
    with pytest.raises(ValueError, match="positive"):
        TahdahClient(TOKEN, timeout=value)


@pytest.mark.parametrize("value", ["5", None, [1]])
def test_a_timeout_of_the_wrong_type_is_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        Timeout.of(value)


def test_a_number_sets_connect_and_read() -> None:
    assert Timeout.of(2.5) == Timeout(connect=2.5, read=2.5, total=None, pool=None)
    assert Timeout.of(3) == Timeout(connect=3, read=3)
    assert TahdahClient(TOKEN, timeout=4).timeout == Timeout(connect=4, read=4)


def test_a_timeout_is_kept_as_given() -> None:
    given = Timeout(connect=1, read=2, total=3, pool=4)
    assert Timeout.of(given) is given
    assert TahdahClient(TOKEN, timeout=given).timeout is given


def test_timeout_defaults_and_none() -> None:
    default = Timeout()
    assert (default.connect, default.read, default.total, default.pool) == (10.0, 60.0, None, None)
    unlimited = Timeout(connect=None, read=None)
    assert unlimited.connect is None
    assert unlimited.read is None


def test_timeout_maps_onto_aiohttp() -> None:
    mapped = Timeout(connect=1, read=2, total=3, pool=4).to_aiohttp()
    assert mapped == aiohttp.ClientTimeout(total=3, connect=4, sock_connect=1, sock_read=2)
