"""Throttle: a shared concurrency limit that pauses every task and backs off after a 429."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tahdah_async import RequestEvent, ResponseEvent, RetryPolicy, TahdahClient
from tahdah_async._response import Response
from tahdah_async.batch import Progress, Throttle, import_learners, run_batch
from tahdah_async.errors import RateLimitError, status_error
from tahdah_async.models import Candidate
from tahdah_async.testing import FakeTahdah, Hold
from tests.batch.conftest import WAIT, Changes, beside
from tests.conftest import RecordingSleep

CREATE = "candidates.create"
REGISTER = "learning_experiences.register_learners"
RETRY_AFTER = 30.0
"""Long, to show it costs no wall time: every pause is on a clock the test moves."""


class FakeClock:
    """A clock and a sleep that advances it, so pauses take no wall time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def throttle(concurrency: int = 8, **options: Any) -> tuple[Throttle, FakeClock]:
    clock = FakeClock()
    return Throttle(concurrency, clock=clock, sleep=clock.sleep, **options), clock


def rate_limit_error(retry_after: float | None) -> RateLimitError:
    response = Response(
        method="POST",
        url=URL("https://api.tahdah.test/api/candidates"),
        status=429,
        reason="Too Many Requests",
        headers=CIMultiDictProxy(CIMultiDict()),
        content=b"",
        elapsed=0.0,
    )
    error = status_error(response, retry_after=retry_after)
    assert isinstance(error, RateLimitError)
    return error


# -- pure logic on a fake clock ------------------------------------------------------------


def test_a_429_pauses_new_calls_and_halves_the_limit() -> None:
    gate, _ = throttle(8)

    gate.rate_limited(2.0)

    assert gate.paused_for() == 2.0
    assert gate.limit == 4
    assert gate.rate_limits == 1


def test_429s_during_a_pause_extend_it_but_cut_the_limit_once() -> None:
    gate, clock = throttle(8)
    gate.rate_limited(2.0)

    clock.now = 1.0
    gate.rate_limited(3.0)
    assert gate.paused_for() == 3.0
    assert gate.limit == 4

    clock.now = 1.5
    gate.rate_limited(0.5)  # ends sooner than the pause already planned
    assert gate.paused_for() == 2.5
    assert gate.limit == 4
    assert gate.rate_limits == 3


def test_a_429_after_the_pause_cuts_again() -> None:
    gate, clock = throttle(8)
    gate.rate_limited(2.0)

    clock.now = 2.0
    gate.rate_limited(1.0)

    assert gate.limit == 2
    assert gate.paused_for() == 1.0


def test_a_429_in_an_extended_pause_does_not_cut_again() -> None:
    gate, clock = throttle(8)
    gate.rate_limited(1.0)  # paused until 1.0
    clock.now = 0.5
    gate.rate_limited(1.0)  # the same storm: paused until 1.5

    clock.now = 1.2  # still inside that one pause
    gate.rate_limited(0.1)

    assert gate.limit == 4


@pytest.mark.parametrize(
    ("concurrency", "floor", "after_one", "after_two"),
    [(4, 3, 3, 3), (8, 3, 4, 3), (1, 1, 1, 1), (5, 1, 2, 1)],
)
def test_the_limit_never_drops_below_min_concurrency(
    concurrency: int, floor: int, after_one: int, after_two: int
) -> None:
    gate, clock = throttle(concurrency, min_concurrency=floor)

    gate.rate_limited(1.0)
    assert gate.limit == after_one
    clock.now = 5.0
    gate.rate_limited(1.0)
    assert gate.limit == after_two


@pytest.mark.parametrize(
    ("retry_after", "pause"),
    [(None, 1.5), (0.0, 0.0), (-3.0, 0.0), (10.0, 10.0), (500.0, 30.0)],
)
def test_the_pause_is_retry_after_bounded_by_max_pause(
    retry_after: float | None, pause: float
) -> None:
    gate, _ = throttle(8, default_pause=1.5, max_pause=30.0)

    gate.rate_limited(retry_after)

    assert gate.paused_for() == pause
    assert gate.limit == 4


async def test_entering_waits_out_the_pause() -> None:
    gate, clock = throttle(2)
    gate.rate_limited(2.5)

    async with gate:
        assert gate.in_use == 1
        assert clock.now == 2.5

    assert clock.sleeps == [2.5]
    assert gate.in_use == 0
    assert gate.paused_for() == 0.0


async def test_entering_when_not_paused_does_not_sleep() -> None:
    gate, clock = throttle(2)

    async with gate:
        pass

    assert clock.sleeps == []


async def test_successes_raise_the_limit_by_one_per_limit_successes_up_to_the_max() -> None:
    gate, _ = throttle(8)
    gate.rate_limited(1.0)
    limits = []

    for _ in range(30):
        async with gate:
            pass
        limits.append(gate.limit)

    # From 4: four successes make it 5, five more 6, six more 7, seven more 8; then it stays.
    assert limits.index(5) == 3
    assert limits.index(6) == 8
    assert limits.index(7) == 14
    assert limits.index(8) == 21
    assert limits[21:] == [8] * 9


async def test_other_failures_neither_pause_nor_count_as_successes() -> None:
    gate, _ = throttle(4)
    gate.rate_limited(0.0)
    assert gate.limit == 2

    for _ in range(5):
        with pytest.raises(ValueError, match="boom"):
            async with gate:
                raise ValueError("boom")

    assert gate.limit == 2
    assert gate.paused_for() == 0.0
    assert gate.rate_limits == 1
    assert gate.in_use == 0


async def test_a_rate_limit_error_leaving_the_gate_is_reported() -> None:
    gate, _ = throttle(6)

    with pytest.raises(RateLimitError):
        async with gate:
            raise rate_limit_error(3.0)

    assert gate.rate_limits == 1
    assert gate.paused_for() == 3.0
    assert gate.limit == 3
    assert gate.in_use == 0


async def test_a_rate_limit_error_without_retry_after_pauses_the_default() -> None:
    gate, _ = throttle(6, default_pause=0.75)

    with pytest.raises(RateLimitError):
        async with gate:
            raise rate_limit_error(None)

    assert gate.paused_for() == 0.75


async def test_a_task_cancelled_while_it_waits_out_a_pause_gives_its_slot_back() -> None:
    clock = FakeClock()
    asleep = anyio.Event()
    in_use_asleep: list[int] = []

    async def sleep(seconds: float) -> None:
        clock.sleeps.append(seconds)
        in_use_asleep.append(gate.in_use)
        asleep.set()
        await anyio.sleep_forever()  # the pause never ends: only the cancel gets it out

    gate = Throttle(1, clock=clock, sleep=sleep)
    holding = anyio.Event()
    queued = anyio.Event()
    release = anyio.Event()
    entered: list[str] = []
    waiter_scope = anyio.CancelScope()

    async def holder() -> None:
        async with gate:
            entered.append("holder")
            holding.set()
            await release.wait()

    async def waiter() -> None:
        with waiter_scope:
            queued.set()  # it goes straight on to queue for the slot: nothing yields before
            async with gate:
                entered.append("waiter")

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(holder)
            await holding.wait()
            group.start_soon(waiter)
            await queued.wait()
            assert entered == ["holder"]
            gate.rate_limited(30.0)  # a 429 arrives while the waiter queues for the slot
            release.set()
            await asleep.wait()
            assert gate.in_use == 1  # the waiter got the slot and now waits out the pause
            waiter_scope.cancel()

    assert in_use_asleep == [1]  # it slept holding the slot, after queueing for it
    assert clock.sleeps == [30.0]
    assert entered == ["holder"]
    assert gate.in_use == 0


@pytest.mark.parametrize(
    ("args", "options", "error", "message"),
    [
        ((0,), {}, ValueError, "concurrency must be at least 1"),
        ((True,), {}, TypeError, "concurrency must be an int"),
        ((4,), {"min_concurrency": 0}, ValueError, "min_concurrency must be at least 1"),
        ((4,), {"min_concurrency": 5}, ValueError, "must not exceed concurrency"),
        ((4,), {"default_pause": -1.0}, ValueError, "default_pause must be a finite"),
        ((4,), {"default_pause": math.nan}, ValueError, "default_pause must be a finite"),
        ((4,), {"max_pause": math.inf}, ValueError, "max_pause must be a finite"),
    ],
)
def test_bad_arguments_are_refused(
    args: tuple[Any, ...], options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Throttle(*args, **options)


# -- the client's on_retry hook ------------------------------------------------------------


async def test_on_retry_hears_the_429s_the_client_retries(
    fake: FakeTahdah, client: TahdahClient, sleeps: RecordingSleep
) -> None:
    gate, _ = throttle(8)
    hooked = client.with_options(on_retry=gate.on_retry)
    fake.faults.rate_limit(retry_after=5, operation=CREATE)

    made = await hooked.candidates.create(first_name="Ada", last_name="Lovelace")

    assert isinstance(made.id, int)
    assert sleeps.delays == [5.0]
    assert gate.rate_limits == 1
    assert gate.paused_for() == 5.0
    assert gate.limit == 4

    fake.faults.fail(503, operation=CREATE)
    await hooked.candidates.create(first_name="Grace", last_name="Hopper")

    assert len(sleeps.delays) == 2  # the 503 was retried too ...
    assert gate.rate_limits == 1  # ... but is no rate limit
    assert [r.status for r in fake.requests] == [429, 201, 503, 201]


# -- against the fake server ---------------------------------------------------------------
#
# The scenario: the first three creates are held at the fake, and only then is the fourth
# sent, to a 429. So when the 429 is answered no other request is on its way, and the
# timeline (requests sent, answers, pauses, the test's own steps, in the order they happened)
# tells what each task did because of it. Time stands still until the test says ``go``.

Entry = tuple[str, object]


class Timeline(Changes):
    """What happened, in order, as (kind, detail) entries."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Entry] = []

    def add(self, kind: str, detail: object = None) -> None:
        self.entries.append((kind, detail))
        self.changed()

    def after(self, entry: Entry) -> list[Entry]:
        """The entries after the first ``entry`` (none when it has not happened)."""
        if entry not in self.entries:
            return []
        return self.entries[self.entries.index(entry) + 1 :]


THE_429: Entry = ("answer", 429)
GO: Entry = ("go", None)
RELEASE: Entry = ("release", None)


def sends(entries: list[Entry]) -> list[object]:
    """The (operation, attempt) of each request sent."""
    return [detail for kind, detail in entries if kind == "send"]


class StillTime:
    """A clock that stands still, and sleeps on it that wait for the test.

    Each sleep is logged (as its ``kind`` and delay) and returns once the test calls
    :meth:`go`; the clock then reads the time the sleep was due to end.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.now = 0.0
        self.slept: list[tuple[str, float]] = []
        self._timeline = timeline
        self._go = anyio.Event()

    def __call__(self) -> float:
        return self.now

    def sleep(self, kind: str) -> Callable[[float], Awaitable[None]]:
        async def sleep(seconds: float) -> None:
            start = self.now
            self.slept.append((kind, seconds))
            self._timeline.add(kind, seconds)
            await self._go.wait()
            self.now = max(self.now, start + seconds)

        return sleep

    def count(self, kind: str) -> int:
        return sum(1 for slept, _ in self.slept if slept == kind)

    def go(self) -> None:
        self._timeline.add(*GO)
        self._go.set()


class LateRateLimit:
    """Client hooks that log each request and answer, and give the fourth create a 429.

    The fourth first attempt of a create is only sent once the three before it wait in
    ``hold`` at the fake, and the 429 is planned just before it goes.
    """

    def __init__(
        self,
        fake: FakeTahdah,
        hold: Hold,
        timeline: Timeline,
        *,
        retry_after: float = RETRY_AFTER,
    ) -> None:
        self.fake = fake
        self.hold = hold
        self.timeline = timeline
        self.retry_after = retry_after
        self.attempts = 0

    async def on_request(self, event: RequestEvent) -> None:
        if event.operation == CREATE and event.attempt == 1:
            self.attempts += 1
            if self.attempts == 4:
                await self.hold.arrived(3)
                self.fake.faults.rate_limit(retry_after=self.retry_after, operation=CREATE)
        self.timeline.add("send", (event.operation, event.attempt))

    def on_response(self, event: ResponseEvent) -> None:
        self.timeline.add("answer", event.response.status)


def release(hold: Hold, timeline: Timeline) -> None:
    timeline.add(*RELEASE)
    hold.release()


async def test_a_429_pauses_every_task_and_halves_then_recovers_the_limit(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    timeline = Timeline()
    time = StillTime(timeline)
    gate = Throttle(4, clock=time, sleep=time.sleep("pause"))
    hold = fake.faults.hold(times=3, operation=CREATE)
    hooks = LateRateLimit(fake, hold, timeline)
    once = client.with_options(
        max_retries=0, on_request=hooks.on_request, on_response=hooks.on_response
    )
    limits: list[tuple[int, int]] = []  # (failed so far, limit) after each outcome

    async def create(n: int) -> Candidate:
        return await once.candidates.create(first_name="Ada", last_name=f"L{n}")

    def progress(snapshot: Progress) -> None:
        limits.append((snapshot.failed, gate.limit))
        timeline.add("outcome", limits[-1])

    async def steps() -> None:
        await timeline.until(lambda: bool(limits))  # the 429's outcome: the held calls have none
        # The three held calls are answered during the pause, and their tasks pause too.
        release(hold, timeline)
        await timeline.until(
            lambda: time.count("pause") == 4 or bool(sends(timeline.after(THE_429)))
        )
        time.go()

    result = await beside(
        lambda: run_batch(range(20), create, concurrency=gate, progress=progress), steps
    )

    assert result.counts == {"ok": 19, "failed": 1, "skipped": 0, "cancelled": 0}
    assert [r.key for r in result.failed] == ["3"]
    assert isinstance(result.failed[0].error, RateLimitError)
    after = timeline.after(THE_429)
    pause = after[: after.index(GO)]
    # Until the pause ended nothing was sent: the held calls were answered (without raising
    # the halved limit), and every task paused.
    assert Counter(pause) == {
        ("outcome", (1, 2)): 4,
        ("pause", RETRY_AFTER): 4,
        RELEASE: 1,
        ("answer", 201): 3,
    }
    assert sends(after) == [(CREATE, 1)] * 16  # items 4 to 19, all after the pause
    assert time.slept == [("pause", RETRY_AFTER)] * 4  # each waited out the Retry-After
    assert gate.rate_limits == 1
    assert limits[0] == (1, 2)  # the 429 came first, and halved the limit at once
    assert gate.limit == 4
    assert fake.max_in_flight == 4


async def test_without_a_throttle_the_other_tasks_keep_going(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    timeline = Timeline()
    hold = fake.faults.hold(times=3, operation=CREATE)
    # A pause for this Retry-After would outlast the test's WAIT: whatever is sent before the
    # test gives up was sent while that pause would have been running.
    hooks = LateRateLimit(fake, hold, timeline, retry_after=10 * WAIT)
    once = client.with_options(
        max_retries=0, on_request=hooks.on_request, on_response=hooks.on_response
    )
    in_flight_then: list[int] = []

    async def create(n: int) -> Candidate:
        return await once.candidates.create(first_name="Ada", last_name=f"L{n}")

    async def steps() -> None:
        # The calls in flight with the 429 stay held, and its pause could not have ended: yet
        # every other item is sent.
        await timeline.until(lambda: len(sends(timeline.after(THE_429))) == 16)
        in_flight_then.append(fake.in_flight)
        release(hold, timeline)

    result = await beside(lambda: run_batch(range(20), create, concurrency=4), steps)

    assert [r.key for r in result.failed] == ["3"]
    assert result.counts == {"ok": 19, "failed": 1, "skipped": 0, "cancelled": 0}
    after = timeline.after(THE_429)
    assert after[0] == ("send", (CREATE, 1))  # the next item went at once
    during = after[: after.index(RELEASE)]
    assert sends(during) == [(CREATE, 1)] * 16  # items 4 to 19
    assert sends(after) == sends(during)
    assert in_flight_then == [3]  # the three held calls were still unanswered
    assert hold.count == 3


async def test_a_429_the_client_retries_pauses_a_whole_import(fake: FakeTahdah) -> None:
    (experience,) = fake.seed(experiences=[{"name": "Fire Safety"}]).experiences
    learners = [
        Candidate(first_name="Ada", last_name=f"L{n}", external_id=f"NF-{n}") for n in range(12)
    ]
    timeline = Timeline()
    time = StillTime(timeline)
    gate = Throttle(4, clock=time, sleep=time.sleep("pause"))
    hold = fake.faults.hold(times=3, operation=CREATE)
    hooks = LateRateLimit(fake, hold, timeline)

    async def steps() -> None:
        await timeline.until(lambda: bool(timeline.after(THE_429)))
        release(hold, timeline)
        await timeline.until(
            lambda: time.count("pause") == 3 or bool(sends(timeline.after(THE_429)))
        )
        time.go()

    # The retried call itself waits out the Retry-After, on the same still clock.
    async with TahdahClient(
        fake.token,
        base_url=fake.url,
        retry=RetryPolicy(sleep=time.sleep("retry"), random=lambda: 0.0),
        on_request=hooks.on_request,
        on_response=hooks.on_response,
    ) as client:
        result = await beside(
            lambda: import_learners(
                client,
                fake.owner_id,
                experience,
                learners,
                behavior=1,
                concurrency=gate,
                chunk_size=5,
            ),
            steps,
        )

    assert result.counts == {"ok": 12, "failed": 0, "skipped": 0, "cancelled": 0}
    assert gate.rate_limits == 1  # heard through the client's on_retry hook
    after = timeline.after(THE_429)
    assert after[0] == ("retry", RETRY_AFTER)  # the limited call waits before its retry
    pause = after[: after.index(GO)]
    assert Counter(pause) == {
        ("retry", RETRY_AFTER): 1,
        RELEASE: 1,
        ("answer", 201): 3,
        ("pause", RETRY_AFTER): 3,
    }
    # After the pause: the retry, the 8 creates not started yet, 3 registers.
    assert Counter(sends(after)) == {(CREATE, 2): 1, (CREATE, 1): 8, (REGISTER, 1): 3}
    assert time.slept == [("retry", RETRY_AFTER)] + [("pause", RETRY_AFTER)] * 3
    assert len(fake.state.candidates) == 12


async def test_calls_in_flight_at_a_cut_do_not_count_towards_recovery() -> None:
    gate, _ = throttle(4)
    entered = [anyio.Event() for _ in range(3)]
    release = anyio.Event()

    async def in_flight(index: int) -> None:
        async with gate:
            entered[index].set()
            await release.wait()

    async with anyio.create_task_group() as group:
        for index in range(3):
            group.start_soon(in_flight, index)
        for event in entered:
            await event.wait()
        gate.rate_limited(0.0)  # the limit drops to 2 while three calls are still out
        release.set()

    # Those three finishing proved nothing about the new limit.
    assert gate.limit == 2
    for _ in range(2):  # two calls started under the new limit do
        async with gate:
            pass
    assert gate.limit == 3


async def test_a_burst_of_immediate_429s_cuts_the_limit_once() -> None:
    gate, _ = throttle(16)
    inside = [anyio.Event() for _ in range(8)]
    go = anyio.Event()

    async def call(index: int) -> None:
        async with gate:
            inside[index].set()
            await go.wait()
            raise rate_limit_error(0.0)  # no pause window to hide behind

    async def limited(index: int) -> None:
        with pytest.raises(RateLimitError):
            await call(index)

    async with anyio.create_task_group() as group:
        for index in range(8):
            group.start_soon(limited, index)
        for event in inside:
            await event.wait()
        go.set()

    assert gate.rate_limits == 8
    assert gate.limit == 8
