"""The receiver with an inbox, and the worker that runs what it stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tahdah_async.webhooks import (
    ACK_THEN_PROCESS,
    Delivery,
    InboxWorker,
    MemoryDedupeStore,
    WebhookRouter,
)
from tahdah_async.webhooks import events as ev
from tahdah_async.webhooks.inbox import (
    Inbox,
    MemoryInbox,
    NewDelivery,
    Selection,
    SQLiteInbox,
    State,
)
from tests.webhooks.helpers import HANG_GUARD, mount, post_signed, serve_app, webhook_client

CREATED = "candidates.created"
BODY = b'{"id": 41, "firstName": "Ada"}'


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


NewInbox = Callable[..., Inbox]


@pytest.fixture(params=["memory", "sqlite"])
def new_inbox(request: pytest.FixtureRequest, tmp_path: Path) -> NewInbox:
    """Makes an inbox of each embedded kind (``clock=`` as the inbox takes it)."""
    if request.param == "memory":
        return MemoryInbox
    return lambda **options: SQLiteInbox(tmp_path / "inbox.db", **options)


class Handlers:
    """A router whose candidate handler records its deliveries and fails when told to."""

    def __init__(self) -> None:
        self.router = WebhookRouter(timeout=None)
        self.deliveries: list[Delivery] = []
        self.failures = 0
        self.ran = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

        @self.router.on(ev.CandidateCreated)
        async def handle(event: ev.CandidateCreated, delivery: Delivery) -> None:
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            self.deliveries.append(delivery)
            self.ran.set()
            if self.failures:
                self.failures -= 1
                raise RuntimeError("the handler is broken")


def worker_for(handlers: Handlers, inbox: Inbox, clock: Clock, **options: Any) -> InboxWorker:
    # No jitter: the retry comes exactly ``backoff * 2 ** (attempt - 1)`` seconds later.
    return InboxWorker(handlers.router, inbox, clock=clock, jitter=lambda: 1.0, **options)


async def test_a_stored_delivery_is_answered_200_and_run_by_the_application_s_worker(
    new_inbox: NewInbox,
) -> None:
    handlers, inbox = Handlers(), new_inbox()
    async with asyncio.timeout(HANG_GUARD), webhook_client(handlers.router, inbox=inbox) as http:
        stored = await post_signed(http, BODY, verb=CREATED)
        await handlers.ran.wait()  # the receiver woke the worker: no polling interval
        again = await post_signed(http, BODY, verb=CREATED)
        replayed = await post_signed(http, BODY, verb="candidates.updated")
    async with inbox:  # the application's cleanup waited for the worker, then closed it
        row = await inbox.get(1)
    assert (stored.status, stored.what) == (200, "stored")
    assert (again.status, again.what) == (200, "duplicate")
    assert (replayed.status, replayed.what) == (200, "duplicate")  # the verb is not signed
    (delivery,) = handlers.deliveries
    assert (delivery.attempt, delivery.inbox_id) == (1, 1)
    assert delivery.body == BODY
    assert delivery.body_sha256 == hashlib.sha256(BODY).hexdigest()
    assert row is not None
    assert row.state is State.DONE
    assert "Webhook-Signature" not in row.headers
    assert row.headers["Webhook-Verb"] == CREATED


async def test_a_failing_delivery_is_retried_with_backoff_then_parked_and_replayed(
    new_inbox: NewInbox,
) -> None:
    handlers, clock = Handlers(), Clock()
    inbox = new_inbox(clock=clock)
    handlers.failures = 3
    worker = worker_for(handlers, inbox, clock, max_attempts=3, backoff=10)
    app, _ = mount(handlers.router, inbox=inbox, worker=False)
    async with serve_app(app) as http:
        check = await post_signed(http, BODY, verb=CREATED)
    assert (check.status, check.what) == (200, "stored")
    async with inbox:
        assert await worker.work_once() == 1
        row = await inbox.get(1)
        assert row is not None
        assert (row.state, row.attempts) == (State.FAILED, 1)
        assert row.next_attempt_at == clock.now + dt.timedelta(seconds=10)
        assert row.last_error is not None
        assert "the handler is broken" in row.last_error
        assert await worker.work_once() == 0  # not due yet
        clock.advance(10)
        assert await worker.work_once() == 1
        row = await inbox.get(1)
        assert row is not None
        assert row.next_attempt_at == clock.now + dt.timedelta(seconds=20)  # doubled
        clock.advance(20)
        assert await worker.work_once() == 1
        row = await inbox.get(1)
        assert row is not None
        assert (row.state, row.attempts) == (State.DEAD, 3)
        clock.advance(3600)
        assert await worker.work_once() == 0  # dead rows wait for a person

        assert await inbox.replay(Selection(state=State.DEAD)) == 1
        assert await worker.work_once() == 1
        row = await inbox.get(1)
    assert row is not None
    assert (row.state, row.attempts) == (State.DONE, 1)
    assert [d.attempt for d in handlers.deliveries] == [1, 2, 3, 1]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "invalid_json"),
        (b'{"id": 7, "firstName": {"not": "a name"}}', "invalid_payload"),
    ],
)
async def test_a_payload_that_cannot_run_is_stored_then_parked_dead_with_its_reason(
    body: bytes, reason: str, new_inbox: NewInbox
) -> None:
    handlers, clock = Handlers(), Clock()
    inbox = new_inbox(clock=clock)
    app, _ = mount(handlers.router, inbox=inbox, worker=False)
    async with serve_app(app) as http:
        reply = await post_signed(http, body, verb=CREATED)
    assert (reply.status, reply.what) == (200, "stored")  # nothing is lost at the door
    async with inbox:
        await worker_for(handlers, inbox, clock).work_once()
        row = await inbox.get(1)
    assert row is not None
    assert row.state is State.DEAD
    assert row.attempts == 1  # a rerun cannot fix it: no retries
    assert row.last_error is not None
    assert row.last_error.startswith(reason)
    assert handlers.deliveries == []


async def test_a_worker_takes_over_the_rows_of_a_worker_that_died(new_inbox: NewInbox) -> None:
    handlers, clock = Handlers(), Clock()
    async with new_inbox(clock=clock) as inbox:
        received = clock.now
        await inbox.put(NewDelivery(key="sha256:1", verb=CREATED, body=BODY, received_at=received))
        (held,) = await inbox.claim("killed-worker", 10, lease=60)  # and then it was killed
        survivor = worker_for(handlers, inbox, clock, lease=60)
        assert await survivor.work_once() == 0  # the lease is still live
        clock.advance(61)
        assert await survivor.work_once() == 1
        row = await inbox.get(held.id)
    assert row is not None
    assert row.state is State.DONE
    (delivery,) = handlers.deliveries
    assert delivery.attempt == 2  # the handler can tell it may have run before
    assert delivery.received_at == received


async def test_stopping_a_worker_gives_unfinished_rows_back_at_once(new_inbox: NewInbox) -> None:
    handlers, clock = Handlers(), Clock()
    handlers.gate = asyncio.Event()  # never set: the handler does not finish
    async with asyncio.timeout(HANG_GUARD), new_inbox(clock=clock) as inbox:
        await inbox.put(NewDelivery(key="sha256:1", verb=CREATED, body=BODY, received_at=clock.now))
        worker = worker_for(handlers, inbox, clock)
        await worker.start()
        await handlers.entered.wait()
        await worker.stop(within=0)
        row = await inbox.get(1)
        assert row is not None
        assert (row.state, row.lease_owner) == (State.PENDING, None)
        handlers.gate.set()
        assert await worker_for(handlers, inbox, clock).work_once() == 1
    assert worker.running == 0
    assert len(handlers.deliveries) == 1


class BrokenInbox(MemoryInbox):
    async def put(self, delivery: NewDelivery) -> tuple[bool, int]:
        raise ConnectionError("the database is gone")


async def test_an_inbox_that_cannot_store_is_503_so_the_sender_retries() -> None:
    handlers = Handlers()
    async with webhook_client(handlers.router, inbox=BrokenInbox(), worker=False) as http:
        reply = await post_signed(http, BODY, verb=CREATED)
    assert (reply.status, reply.what) == (503, "inbox_unavailable")
    assert reply.headers["Retry-After"] == "5"


async def test_an_unknown_verb_can_be_refused_before_it_is_stored(new_inbox: NewInbox) -> None:
    handlers, inbox = Handlers(), new_inbox()
    async with webhook_client(
        handlers.router, inbox=inbox, worker=False, unknown_verb_status=404
    ) as http:
        refused = await post_signed(http, BODY, verb="widgets.exploded")
        async with inbox:
            stats = await inbox.stats()
    assert (refused.status, refused.what) == (404, "unknown_verb")
    assert sum(stats.by_state.values()) == 0


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"dedupe": MemoryDedupeStore()}, ValueError),
        ({"mode": ACK_THEN_PROCESS}, ValueError),
        ({"worker": "yes"}, TypeError),
    ],
)
def test_an_inbox_refuses_options_that_contradict_it(
    options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        mount(WebhookRouter(), inbox=MemoryInbox(), **options)


def test_a_worker_must_work_on_the_receiver_s_inbox() -> None:
    router = WebhookRouter()
    with pytest.raises(ValueError, match="the receiver's inbox"):
        mount(router, inbox=MemoryInbox(), worker=InboxWorker(router, MemoryInbox()))


async def test_a_live_worker_keeps_extending_the_lease_of_a_long_handler(
    new_inbox: NewInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    handlers, clock = Handlers(), Clock()
    handlers.gate = asyncio.Event()
    async with asyncio.timeout(HANG_GUARD), new_inbox(clock=clock) as inbox:
        await inbox.put(NewDelivery(key="sha256:1", verb=CREATED, body=BODY, received_at=clock.now))
        extended = asyncio.Event()
        extend = inbox.extend

        async def extend_and_tell(owner: str, ids: Any, lease: float) -> set[int]:
            held = await extend(owner, ids, lease)
            extended.set()
            return held

        monkeypatch.setattr(inbox, "extend", extend_and_tell)
        # A short real lease, so the keep-alive timer (a third of it) comes round; no polling
        # meanwhile. The inbox's clock is the test's, moved far past the first lease.
        worker = worker_for(handlers, inbox, clock, lease=0.3, poll_interval=3600)
        await worker.start()
        await handlers.entered.wait()
        clock.advance(3600)
        for _ in range(2):  # the second extension surely began after the clock moved
            extended.clear()
            await extended.wait()
        other = worker_for(handlers, inbox, clock, owner="other")
        assert await other.work_once() == 0  # the lease is live: nothing to take over
        handlers.gate.set()
        await worker.stop()
        row = await inbox.get(1)
    assert row is not None
    assert (row.state, row.attempts) == (State.DONE, 1)
    assert row.lease_owner is None
    assert len(handlers.deliveries) == 1
