"""The client's retries against the fake's planned faults, over real loopback sockets.

Each test plans a fault on :class:`FakeTahdah`, makes a real call with a client whose sleep is
recorded (so no test waits for a backoff), and checks what the fake received
(``fake.requests``) beside what the client did. Nothing is timed: a delay is waited out by a
sleep the test injects into the fake (and opens when it chooses), a call is kept at the server
by a hold until the test releases it, and ``fake.idle()`` says when the fake has finished
handling a call whose client already gave up.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tahdah_async import (
    APIConnectionError,
    APITimeoutError,
    ConflictError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    TahdahClient,
    Timeout,
)
from tahdah_async.testing import FakeTahdah, Faults
from tests.conftest import RecordingSleep, finishes_at_once
from tests.servers import record_attempt_limits

CREATE = "candidates.create"
LIST = "trust_groups.list"
CREDITS = "event_credits.add"
# The documented route is a PUT, which aiohttp itself re-sends once after a dropped
# connection. As a POST, the only retry of a dropped call is the client's own.
CREDITS_AS_POST = {CREDITS: "POST /api/eventcredits/legalentities/{legalEntityId}"}
WAIT = 60.0
"""A guard against a hang only: every wait below ends on an event long before this."""
QUICK_TIMEOUT = Timeout(read=0.05)
"""A read timeout that must fire: only ever used against a call the fake never answers in time
(held by an injected sleep the test has not opened), so load cannot change the outcome."""


def statuses(fake: FakeTahdah, operation: str | None = None) -> list[int]:
    """The statuses the fake answered, in order (0: the connection was dropped)."""
    return [r.status for r in fake.requests if operation is None or r.operation == operation]


async def until_idle(fake: FakeTahdah) -> None:
    """Wait until the fake handled every call to its end (one may outlive its timed-out client)."""
    await asyncio.wait_for(fake.idle(), WAIT)
    assert fake.in_flight == 0


async def after_the_fake_saw_earlier_clients_leave(fake: FakeTahdah) -> None:
    """Return once the fake has seen every connection that was closed before this call.

    A new connection is answered only after the fake's loop handled what reached it earlier,
    the close of an older connection included. The path has no route, so it is not recorded.
    """
    async with aiohttp.ClientSession() as session, session.get(f"{fake.url}/no-route") as reply:
        assert reply.status == 404


class GatedSleep:
    """A sleep to inject into the fake: records each wait, then waits until :meth:`open`."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.entered = asyncio.Event()
        """Set once a call is waiting in this sleep."""
        self._open = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.entered.set()
        await self._open.wait()

    def open(self) -> None:
        """End every wait, now and later."""
        self._open.set()


def client_for(fake: FakeTahdah, sleeps: RecordingSleep, **options: Any) -> TahdahClient:
    """A client of ``fake`` whose retries sleep nothing and have no jitter."""
    policy = RetryPolicy(sleep=sleeps, random=lambda: 0.0, **options.pop("policy", {}))
    return TahdahClient(
        fake.token, base_url=fake.url, retry=policy, routes=dict(fake.routes), **options
    )


@pytest.fixture
def gate() -> GatedSleep:
    return GatedSleep()


@pytest.fixture
async def fake(gate: GatedSleep) -> AsyncIterator[FakeTahdah]:
    """A started fake whose delays wait for the test's ``gate`` (opened before it stops)."""
    async with FakeTahdah(sleep=gate) as started:
        try:
            yield started
        finally:
            gate.open()


@pytest.fixture
async def client(fake: FakeTahdah, sleeps: RecordingSleep) -> AsyncIterator[TahdahClient]:
    async with client_for(fake, sleeps) as made:
        yield made


@pytest.fixture
async def once(fake: FakeTahdah, sleeps: RecordingSleep) -> AsyncIterator[TahdahClient]:
    """A client that never retries, so each call is one request."""
    async with client_for(fake, sleeps, max_retries=0) as made:
        yield made


# -- 429 and Retry-After ---------------------------------------------------------------------


async def test_429_retry_after_is_obeyed_then_the_call_succeeds(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    fake.faults.rate_limit(2.5, operation=CREATE)

    created = await client.candidates.create(first_name="Ada", last_name="Lovelace")

    assert sleeps.delays == [2.5]
    assert statuses(fake) == [429, 201]
    assert created.first_name == "Ada"
    assert [c.data["firstName"] for c in fake.state.candidates.values()] == ["Ada"]
    assert fake.faults.planned == []


async def test_retry_after_over_the_cap_raises_at_once(
    fake: FakeTahdah, sleeps: RecordingSleep
) -> None:
    fake.faults.rate_limit(30, operation=LIST)

    async with client_for(fake, sleeps, policy={"max_retry_after": 5}) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.trust_groups.list(fake.owner_id)

    assert caught.value.status == 429
    assert caught.value.retry_after == 30
    assert "over the 5 s cap" in str(caught.value)
    assert sleeps.delays == []
    assert statuses(fake) == [429]


async def test_rate_limit_outlasting_max_retries_gives_up(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    fake.faults.rate_limit(0.25, times=3, operation=LIST)

    with pytest.raises(RateLimitError) as caught:
        await client.trust_groups.list(fake.owner_id)

    assert "Gave up after 3 attempts" in str(caught.value)
    assert caught.value.problem is not None
    assert caught.value.problem.title == "Injected fault"
    assert sleeps.delays == [0.25, 0.25]
    assert statuses(fake) == [429, 429, 429]
    assert fake.faults.planned == []


# -- 5xx ---------------------------------------------------------------------------------------


async def test_503_then_success_on_a_get(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    fake.seed(trust_groups=[{"name": "Regional partners"}])
    fake.faults.fail(503, operation=LIST)

    groups = await client.trust_groups.list(fake.owner_id)

    assert [g.name for g in groups] == ["Regional partners"]
    assert statuses(fake) == [503, 200]
    assert sleeps.delays == [0.5]  # the default first backoff, no jitter


@pytest.mark.parametrize(("status", "answered"), [(502, [502, 201]), (503, [503, 201])])
async def test_not_handled_statuses_are_retried_on_a_post(
    fake: FakeTahdah, client: TahdahClient, status: int, answered: list[int]
) -> None:
    fake.faults.fail(status, operation=CREATE)

    await client.candidates.create(first_name="Grace", last_name="Hopper")

    assert statuses(fake) == answered
    assert len(fake.state.candidates) == 1


async def test_500_on_a_post_is_not_retried(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    fake.faults.fail(500, operation=CREATE)

    with pytest.raises(InternalServerError) as caught:
        await client.candidates.create(first_name="Grace", last_name="Hopper")

    assert caught.value.status == 500
    assert statuses(fake) == [500]
    assert sleeps.delays == []


async def test_500_on_a_get_is_retried(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    fake.faults.fail(500, operation=LIST)

    assert await client.trust_groups.list(fake.owner_id) == []

    assert statuses(fake) == [500, 200]
    assert sleeps.delays == [0.5]


async def test_a_status_fault_is_answered_before_authentication(fake: FakeTahdah) -> None:
    fake.faults.fail(409)

    async with TahdahClient("not-a-known-key", base_url=fake.url) as stranger:
        with pytest.raises(ConflictError) as caught:
            await stranger.candidates.create(first_name="Ada", last_name="Lovelace")

    assert caught.value.problem is not None
    assert caught.value.problem.detail == "fake.faults"
    assert caught.value.response.headers["Content-Type"].startswith("application/problem+json")
    assert statuses(fake) == [409]


# -- dropped connections ---------------------------------------------------------------------


async def test_a_dropped_get_is_retried_and_succeeds(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    fake.faults.drop_connection(operation=LIST)

    assert await client.trust_groups.list(fake.owner_id) == []

    assert statuses(fake) == [0, 200]
    assert {(r.operation, r.method) for r in fake.requests} == {(LIST, "GET")}


async def test_a_get_dropped_every_time_is_retried_max_retries_times(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    fake.faults.drop_connection(times=20, operation=LIST)

    with pytest.raises(APIConnectionError) as caught:
        await client.trust_groups.list(fake.owner_id)

    assert type(caught.value) is APIConnectionError
    assert caught.value.request_sent is True
    assert caught.value.method == "GET"
    assert caught.value.retry_note == "Gave up after 3 attempts"
    assert sleeps.delays == [0.5, 1.0]  # two retries of the client, doubling
    assert set(statuses(fake)) == {0}


async def test_max_retries_zero_sends_a_dropped_get_once(
    fake: FakeTahdah, once: TahdahClient
) -> None:
    fake.faults.drop_connection(operation=LIST)

    with pytest.raises(APIConnectionError):
        await once.trust_groups.list(fake.owner_id)

    assert statuses(fake) == [0]


async def test_a_dropped_post_without_idempotency_key_is_not_retried(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    fake.faults.drop_connection(operation=CREATE)

    with pytest.raises(APIConnectionError) as caught:
        await client.candidates.create(first_name="Ada", last_name="Lovelace")

    # Not a timeout, and the request may have reached the server: repeating it could
    # create the candidate twice.
    assert type(caught.value) is APIConnectionError
    assert caught.value.request_sent is True
    assert (caught.value.method, caught.value.path) == ("POST", "/api/candidates")
    assert "ServerDisconnectedError" in str(caught.value)
    assert sleeps.delays == []
    assert statuses(fake) == [0]
    assert fake.state.candidates == {}

    # The client is still usable afterwards.
    await client.candidates.create(first_name="Ada", last_name="Lovelace")
    assert statuses(fake) == [0, 201]


async def test_a_dropped_post_with_an_idempotency_key_is_retried(
    sleeps: RecordingSleep,
) -> None:
    async with FakeTahdah(routes=CREDITS_AS_POST) as fake, client_for(fake, sleeps) as client:
        fake.faults.drop_connection(operation=CREDITS)

        key = await client.event_credits.add(
            fake.owner_id, [{"eventTemplateId": 7, "numberOfCredits": 30}], idempotency_key="k-1"
        )

        assert key == "k-1"
        assert [(r.method, r.status) for r in fake.requests] == [("POST", 0), ("POST", 200)]
        assert sleeps.delays == [0.5]
        assert fake.state.idempotency_keys == {"k-1"}
        assert fake.state.balance(fake.owner_id, 7) == 30


# -- delays and timeouts ---------------------------------------------------------------------


async def test_a_delay_past_the_read_timeout_raises_the_timeout_error(
    fake: FakeTahdah, gate: GatedSleep, sleeps: RecordingSleep
) -> None:
    fake.faults.delay(0.3, operation=CREATE)

    async with client_for(fake, sleeps, timeout=QUICK_TIMEOUT) as quick:
        with pytest.raises(APITimeoutError) as caught:
            await quick.candidates.create(first_name="Ada", last_name="Lovelace")
        # The delay has not ended (the gate is shut), so nothing was answered: the client gave
        # up at its own timeout, not when the fake answered.
        assert fake.requests == []
    await after_the_fake_saw_earlier_clients_leave(fake)
    gate.open()
    await until_idle(fake)

    assert caught.value.request_sent is True
    assert (caught.value.method, caught.value.path) == ("POST", "/api/candidates")
    assert sleeps.delays == []  # a POST after sending is not repeated
    assert statuses(fake) == [0]  # its answer, once the delay ended, found the client gone
    assert fake.faults.planned == []


async def test_a_timed_out_delayed_request_logs_no_server_error(
    fake: FakeTahdah, gate: GatedSleep, sleeps: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    fake.faults.delay(0.2, operation=CREATE)

    async with client_for(fake, sleeps, timeout=QUICK_TIMEOUT) as quick:
        with pytest.raises(APITimeoutError):
            await quick.candidates.create(first_name="Ada", last_name="Lovelace")
    await after_the_fake_saw_earlier_clients_leave(fake)
    gate.open()
    await until_idle(fake)

    assert statuses(fake) == [0]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_delayed_get_times_out_and_its_retry_succeeds(
    fake: FakeTahdah, gate: GatedSleep, sleeps: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.faults.delay(0.3, operation=LIST)

    # The first attempt, kept waiting by the shut gate, must time out after 0.05 s; the retry,
    # answered at once, must not, so it goes out with a long read limit (a loaded machine may
    # take longer than 0.05 s to read even an instant answer).
    async with client_for(fake, sleeps, timeout=Timeout(read=0.05)) as patient:
        limits = record_attempt_limits(patient, monkeypatch, retry_read=3600.0)
        assert await patient.trust_groups.list(fake.owner_id) == []
        assert [given.sock_read for given in limits] == [0.05, 0.05]
        # The retry was answered while the first attempt is still waiting out its delay.
        assert statuses(fake) == [200]
        assert fake.in_flight == 1
        gate.open()
        await until_idle(fake)

    assert sleeps.delays == [0.5]
    # The retry is answered first; the delayed request ends later, its client long gone.
    assert statuses(fake) == [200, 0]


async def test_a_delay_within_the_timeout_only_slows_the_call(
    fake: FakeTahdah, client: TahdahClient, gate: GatedSleep, sleeps: RecordingSleep
) -> None:
    fake.faults.delay(0.1, operation=LIST)

    listing = asyncio.create_task(client.trust_groups.list(fake.owner_id))
    await asyncio.wait_for(gate.entered.wait(), WAIT)

    # The call waits at the fake for exactly the planned delay, unanswered until it ends.
    assert gate.delays == [0.1]
    assert (fake.in_flight, fake.requests, listing.done()) == (1, [], False)
    gate.open()
    assert await asyncio.wait_for(listing, WAIT) == []

    assert sleeps.delays == []
    assert statuses(fake) == [200]
    assert gate.delays == [0.1]  # the delay was used up by that one call


async def test_latency_and_delays_are_waited_through_the_fakes_sleep(
    sleeps: RecordingSleep,
) -> None:
    waits = RecordingSleep()
    async with (
        FakeTahdah(latency=0.05, sleep=waits) as fake,
        client_for(fake, sleeps, max_retries=0) as once,
    ):
        fake.faults.delay(0.3, operation=LIST)
        await once.trust_groups.list(fake.owner_id)
        await once.trust_groups.list(fake.owner_id)

    # The first call waits out its delay, then the latency; the second only the latency.
    assert waits.delays == [0.3, 0.05, 0.05]
    assert statuses(fake) == [200, 200]


async def test_by_default_the_fake_waits_with_asyncio_sleep(
    sleeps: RecordingSleep,
) -> None:
    async with FakeTahdah() as fake, client_for(fake, sleeps) as real:
        assert fake.sleep is asyncio.sleep
        fake.faults.delay(0.01, operation=LIST)

        assert await real.trust_groups.list(fake.owner_id) == []

    assert statuses(fake) == [200]
    assert sleeps.delays == []


# -- holds -------------------------------------------------------------------------------------


async def test_a_held_call_waits_until_released_while_others_are_answered(
    fake: FakeTahdah, once: TahdahClient
) -> None:
    hold = fake.faults.hold(operation=CREATE)
    creating = asyncio.create_task(once.candidates.create(first_name="Ada", last_name="Lovelace"))
    await asyncio.wait_for(hold.arrived(), WAIT)

    # Another operation is not held (``operation`` limits the hold): answered meanwhile.
    assert await once.trust_groups.list(fake.owner_id) == []
    assert statuses(fake) == [200]
    assert (hold.count, hold.released, fake.in_flight, creating.done()) == (1, False, 1, False)
    assert fake.state.candidates == {}

    hold.release()
    created = await asyncio.wait_for(creating, WAIT)

    assert hold.released is True
    assert statuses(fake) == [200, 201]
    assert [c.data["firstName"] for c in fake.state.candidates.values()] == ["Ada"]
    assert created.first_name == "Ada"
    assert fake.faults.planned == []
    assert fake.faults.holds == [hold]


async def test_arrived_counts_the_held_calls_and_times_limits_the_hold(
    fake: FakeTahdah, once: TahdahClient
) -> None:
    hold = fake.faults.hold(times=3, operation=LIST)
    assert finishes_at_once(hold.arrived(0))
    listings = [asyncio.create_task(once.trust_groups.list(fake.owner_id)) for _ in range(3)]

    await asyncio.wait_for(hold.arrived(1), WAIT)
    assert hold.count >= 1
    await asyncio.wait_for(hold.arrived(3), WAIT)
    assert (hold.count, fake.in_flight) == (3, 3)
    assert finishes_at_once(hold.arrived(2))  # already reached: nothing to wait for
    assert fake.faults.planned == []  # the three calls used the hold up

    # A fourth call is past ``times``: answered while the three stay held.
    assert await once.trust_groups.list(fake.owner_id) == []
    assert statuses(fake) == [200]
    assert (hold.count, fake.in_flight) == (3, 3)
    assert not any(listing.done() for listing in listings)

    hold.release()
    assert await asyncio.wait_for(asyncio.gather(*listings), WAIT) == [[], [], []]
    assert statuses(fake) == [200] * 4
    assert hold.count == 3


async def test_a_held_call_had_its_body_read_before_it_was_held(
    fake: FakeTahdah, once: TahdahClient
) -> None:
    hold = fake.faults.hold(operation=CREATE)
    creating = asyncio.create_task(once.candidates.create(first_name="Ada", last_name="Lovelace"))
    await asyncio.wait_for(hold.arrived(), WAIT)

    # The client goes away while the call is held...
    creating.cancel()
    with pytest.raises(asyncio.CancelledError):
        await creating
    await after_the_fake_saw_earlier_clients_leave(fake)
    hold.release()
    await until_idle(fake)

    # Its body was already read, so the released call was still handled: the candidate
    # exists, though the answer found no client (status 0).
    assert [c.data for c in fake.state.candidates.values()] == [
        {"firstName": "Ada", "lastName": "Lovelace"}
    ]
    assert statuses(fake) == [0]


async def test_clear_releases_every_hold(fake: FakeTahdah, once: TahdahClient) -> None:
    hold = fake.faults.hold(times=2, operation=CREATE)
    creating = asyncio.create_task(once.candidates.create(first_name="Ada", last_name="Lovelace"))
    await asyncio.wait_for(hold.arrived(), WAIT)

    fake.faults.clear()

    created = await asyncio.wait_for(creating, WAIT)
    assert created.first_name == "Ada"
    assert hold.released is True
    assert fake.faults.planned == []  # the unused second time is forgotten too
    await once.candidates.create(first_name="Grace", last_name="Hopper")
    assert statuses(fake) == [201, 201]
    assert hold.count == 1


async def test_stopping_the_fake_releases_every_hold(sleeps: RecordingSleep) -> None:
    fake = FakeTahdah()
    await fake.start()
    try:
        async with client_for(fake, sleeps, max_retries=0) as once:
            first = fake.faults.hold(operation=CREATE)
            second = fake.faults.hold(operation=LIST)
            creating = asyncio.create_task(
                once.candidates.create(first_name="Ada", last_name="Lovelace")
            )
            listing = asyncio.create_task(once.trust_groups.list(fake.owner_id))
            await asyncio.wait_for(asyncio.gather(first.arrived(), second.arrived()), WAIT)

            await asyncio.wait_for(fake.stop(), WAIT)

            # Stopping let both held calls be answered before the server closed.
            assert (first.released, second.released) == (True, True)
            assert (await creating).first_name == "Ada"
            assert await listing == []
    finally:
        await fake.stop()

    assert sorted(statuses(fake)) == [200, 201]
    assert fake.in_flight == 0


# -- planning faults ---------------------------------------------------------------------------


async def test_a_fault_for_one_operation_leaves_the_others_alone(
    fake: FakeTahdah, once: TahdahClient
) -> None:
    fake.faults.fail(503, operation=CREATE)

    assert await once.trust_groups.list(fake.owner_id) == []
    assert await once.trust_groups.list(fake.owner_id) == []
    assert len(fake.faults.planned) == 1

    with pytest.raises(InternalServerError):
        await once.candidates.create(first_name="Ada", last_name="Lovelace")
    await once.candidates.create(first_name="Ada", last_name="Lovelace")

    assert [(r.operation, r.status) for r in fake.requests] == [
        (LIST, 200),
        (LIST, 200),
        (CREATE, 503),
        (CREATE, 201),
    ]


async def test_a_fault_without_operation_hits_any_call(
    fake: FakeTahdah, once: TahdahClient
) -> None:
    fake.faults.fail(503)

    with pytest.raises(InternalServerError):
        await once.trust_groups.list(fake.owner_id)
    await once.candidates.create(first_name="Ada", last_name="Lovelace")

    assert [(r.operation, r.status) for r in fake.requests] == [(LIST, 503), (CREATE, 201)]


async def test_times_is_used_up_exactly(fake: FakeTahdah, once: TahdahClient) -> None:
    fake.faults.fail(503, times=3, operation=LIST)

    for left in (2, 1, 0):
        with pytest.raises(InternalServerError):
            await once.trust_groups.list(fake.owner_id)
        assert [f.times for f in fake.faults.planned] == ([left] if left else [])
    assert await once.trust_groups.list(fake.owner_id) == []

    assert statuses(fake) == [503, 503, 503, 200]


async def test_faults_apply_in_the_order_planned(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    fake.faults.fail(502, operation=LIST)
    fake.faults.rate_limit(0.75)
    fake.faults.fail(504, operation=LIST)

    with pytest.raises(InternalServerError) as caught:
        await client.trust_groups.list(fake.owner_id)

    assert caught.value.status == 504
    assert statuses(fake) == [502, 429, 504]
    assert sleeps.delays == [0.5, 0.75]


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param(lambda f: f.fail(200), id="fail-2xx"),
        pytest.param(lambda f: f.fail(399), id="fail-3xx"),
        pytest.param(lambda f: f.fail(600), id="fail-600"),
        pytest.param(lambda f: f.fail(503, times=0), id="fail-times-0"),
        pytest.param(lambda f: f.fail(503, times=-1), id="fail-times-negative"),
        pytest.param(lambda f: f.fail(503, times=True), id="fail-times-bool"),
        pytest.param(lambda f: f.fail(503, times=1.5), id="fail-times-float"),
        pytest.param(lambda f: f.rate_limit(times=0), id="rate-limit-times-0"),
        pytest.param(lambda f: f.delay(-0.1), id="delay-negative"),
        pytest.param(lambda f: f.delay(0.1, times=0), id="delay-times-0"),
        pytest.param(lambda f: f.drop_connection(times=0), id="drop-times-0"),
        pytest.param(lambda f: f.hold(times=0), id="hold-times-0"),
        pytest.param(lambda f: f.hold(times=-2), id="hold-times-negative"),
        pytest.param(lambda f: f.duplicate_webhook(0), id="duplicate-0"),
        pytest.param(lambda f: f.bad_signature_webhook(-1), id="bad-signature-negative"),
    ],
)
def test_faults_refuse_bad_arguments(plan: Callable[[Faults], None]) -> None:
    faults = Faults()

    # A value of the wrong kind (times=True, times=1.5) is a TypeError, a bad value ValueError.
    with pytest.raises((TypeError, ValueError), match=r"status|times|delay"):
        plan(faults)

    assert faults.planned == []
    assert faults.holds == []
    assert (faults.duplicate_webhooks, faults.bad_signature_webhooks) == (0, 0)


@pytest.mark.parametrize("retry_after", [-1.0, math.nan, math.inf])
def test_faults_refuse_a_retry_after_that_is_not_a_wait(retry_after: float) -> None:
    with pytest.raises(ValueError, match="retry_after"):
        Faults().rate_limit(retry_after)


async def test_clear_forgets_every_planned_fault(fake: FakeTahdah, once: TahdahClient) -> None:
    fake.faults.fail(503, times=5)
    fake.faults.drop_connection(operation=LIST)
    fake.faults.delay(5)
    hold = fake.faults.hold(operation=LIST)
    fake.faults.duplicate_webhook(2)
    fake.faults.bad_signature_webhook()

    fake.faults.clear()

    assert fake.faults.planned == []
    assert hold.released is True
    assert (fake.faults.duplicate_webhooks, fake.faults.bad_signature_webhooks) == (0, 0)
    assert await once.trust_groups.list(fake.owner_id) == []
    assert statuses(fake) == [200]


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param(lambda f: f.fail(503, operation="candidate.create"), id="fail"),
        pytest.param(lambda f: f.hold(operation="candidate.create"), id="hold"),
    ],
)
async def test_a_fault_for_an_unknown_operation_is_refused(
    fake: FakeTahdah, plan: Callable[[Faults], object]
) -> None:
    with pytest.raises(ValueError, match=r"unknown operation 'candidate\.create'"):
        plan(fake.faults)
    assert fake.faults.planned == []
    assert fake.faults.holds == []


@pytest.mark.parametrize("option", ["latency", "webhook_backoff"])
@pytest.mark.parametrize("seconds", [-0.1, math.nan, math.inf])
def test_the_fake_refuses_waits_that_are_not_waits(option: str, seconds: float) -> None:
    with pytest.raises(ValueError, match=option):
        FakeTahdah(**{option: seconds})  # type: ignore[arg-type]
