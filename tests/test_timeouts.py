"""Timeouts against real slow servers, and the ``Timeout`` value itself.

No test here measures how long anything took. A timeout that must fire is short and meets a
server that holds its answer until the test ends, so nothing but that timeout can end the call;
the test then checks what happened (the error, whether the request went out, what was retried).
A timeout that must not fire is :data:`LONG`, longer than the :data:`GUARD` every call runs
under, so a long timeout applied where a short one should have been fails the test instead of
passing late.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest

from tahdah_async import APIConnectionError, APITimeoutError, TahdahClient, Timeout
from tests.conftest import TOKEN, RecordingSleep
from tests.servers import (
    HANG,
    Script,
    no_wait,
    record_attempt_limits,
    respond,
    serve,
    stall,
    stall_body,
    trickle_body,
)

GUARD = HANG
"""Seconds after which a call that should have ended counts as hanging."""
LONG = 3600.0
"""A timeout that must not fire: longer than :data:`GUARD`."""
SHORT = 0.05
"""A timeout that must fire (against a server that never answers)."""


@pytest.fixture
async def script() -> AsyncIterator[Script]:
    script = Script()
    yield script
    script.gate.set()


async def outcome(call: Awaitable[object]) -> Exception | None:
    """Await ``call`` under the guard and return what it raised (``None`` if nothing)."""
    try:
        async with asyncio.timeout(GUARD):
            await call
    except TimeoutError:
        raise AssertionError(f"the call was still running after {GUARD} s") from None
    except Exception as exc:
        return exc
    return None


async def test_a_silent_server_raises_a_read_timeout(script: Script) -> None:
    # Only the read timeout is short, and the server never answers: only it can end the call.
    script.reply(stall(script.gate))
    async with (
        serve(script) as url,
        TahdahClient(
            TOKEN, base_url=url, timeout=Timeout(connect=LONG, read=0.2), max_retries=0
        ) as client,
    ):
        error = await outcome(client.trust_groups.list(1))
        await script.arrived(1)
    assert isinstance(error, APITimeoutError)
    assert isinstance(error, APIConnectionError)
    assert error.request_sent is True
    assert error.method == "GET"
    assert error.path == "/api/trustgroups/legalentities/1/trustgroups"
    assert script.count == 1


async def test_a_body_that_stalls_raises_a_read_timeout(script: Script) -> None:
    script.reply(stall_body(script.gate))
    async with (
        serve(script) as url,
        TahdahClient(
            TOKEN, base_url=url, timeout=Timeout(connect=LONG, read=0.2), max_retries=0
        ) as client,
    ):
        error = await outcome(client.trust_groups.list(1))
        await script.arrived(1)
    assert isinstance(error, APITimeoutError)
    assert error.request_sent is True
    assert script.count == 1


async def test_a_read_timeout_is_retried_for_a_get(
    script: Script, sleeps: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    script.reply(stall(script.gate), respond(200, []))
    async with (
        serve(script) as url,
        TahdahClient(
            TOKEN, base_url=url, timeout=Timeout(connect=LONG, read=0.1), retry=no_wait(sleeps)
        ) as client,
    ):
        given = record_attempt_limits(client, monkeypatch, retry_read=LONG)
        error = await outcome(client.trust_groups.list(1))
    assert error is None
    assert script.count == 2
    assert sleeps.delays == [0.5]
    # Both attempts were given the client's own timeout: the retry kept the short read timeout.
    assert given == [Timeout(connect=LONG, read=0.1).to_aiohttp()] * 2


async def test_a_read_timeout_is_not_retried_for_a_post(
    script: Script, sleeps: RecordingSleep
) -> None:
    script.reply(stall(script.gate), respond(200, {"id": 1}))
    async with (
        serve(script) as url,
        TahdahClient(
            TOKEN, base_url=url, timeout=Timeout(connect=LONG, read=0.1), retry=no_wait(sleeps)
        ) as client,
    ):
        error = await outcome(client.candidates.create(first_name="Ada"))
        await script.arrived(1)
    assert isinstance(error, APITimeoutError)
    assert error.request_sent is True
    assert script.count == 1
    assert sleeps.delays == []


async def test_the_total_timeout_bounds_a_trickling_body(script: Script) -> None:
    # The body trickles in and never ends, and there is no read timeout at all: only the total
    # timeout can stop the call.
    script.reply(trickle_body(script.gate, every=0.05, length=1 << 20))
    timeout = Timeout(connect=LONG, read=None, total=0.3)
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, timeout=timeout, max_retries=0) as client,
    ):
        error = await outcome(client.trust_groups.list(1))
    assert isinstance(error, APITimeoutError)
    assert error.request_sent is True


async def test_waiting_for_a_pooled_connection_times_out_before_sending(script: Script) -> None:
    script.reply(stall(script.gate), respond(200, []))
    async with (
        serve(script) as url,
        TahdahClient(
            TOKEN,
            base_url=url,
            timeout=Timeout(connect=LONG, read=LONG, pool=0.2),
            connection_limit=1,
            max_retries=0,
        ) as client,
    ):
        # The one connection goes to a call with no pool timeout, held by the server until told.
        patient = client.with_options(timeout=Timeout(connect=LONG, read=LONG))
        busy = asyncio.create_task(patient.trust_groups.list(1))
        await script.arrived(1)
        error = await outcome(client.trust_groups.list(2))
        assert isinstance(error, APITimeoutError)
        assert error.request_sent is False
        assert script.count == 1  # the second request never left
        script.gate.set()
        async with asyncio.timeout(GUARD):
            assert await busy == []
    assert script.count == 1


async def test_with_options_overrides_the_timeout_for_its_calls_only(script: Script) -> None:
    # The client's own call goes first and is held until the view's call, sent later with a
    # read timeout of SHORT, has timed out. Timers fire in deadline order, so by then a read
    # timeout of SHORT on the client's call would have fired too: its success shows it had none.
    release = asyncio.Event()
    script.reply(stall(release), stall(script.gate))
    async with (
        serve(script) as url,
        TahdahClient(
            TOKEN, base_url=url, timeout=Timeout(connect=LONG, read=LONG), max_retries=0
        ) as client,
    ):
        hasty = client.with_options(timeout=Timeout(connect=LONG, read=SHORT))
        own = asyncio.create_task(client.trust_groups.list(1))
        try:
            await script.arrived(1)
            error = await outcome(hasty.trust_groups.list(2))
            assert isinstance(error, APITimeoutError)
            assert error.request_sent is True
        finally:
            release.set()
        assert await outcome(own) is None
        assert own.result() == []
        assert hasty.timeout == Timeout(connect=LONG, read=SHORT)
        assert client.timeout == Timeout(connect=LONG, read=LONG)


async def test_with_options_can_lengthen_the_timeout(script: Script) -> None:
    # The view's call goes first and is held until the client's own call, sent later with the
    # client's read timeout of SHORT, has timed out: the view's call outlived that timeout.
    release = asyncio.Event()
    script.reply(stall(release), stall(script.gate))
    async with (
        serve(script) as url,
        TahdahClient(
            TOKEN, base_url=url, timeout=Timeout(connect=LONG, read=SHORT), max_retries=0
        ) as client,
    ):
        patient = client.with_options(timeout=LONG)
        call = asyncio.create_task(patient.trust_groups.list(1))
        try:
            await script.arrived(1)
            error = await outcome(client.trust_groups.list(2))
            assert isinstance(error, APITimeoutError)
        finally:
            release.set()
        assert await outcome(call) is None
        assert call.result() == []
        assert patient.timeout == Timeout(connect=LONG, read=LONG)
        assert client.timeout == Timeout(connect=LONG, read=SHORT)


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
