"""What every inbox must do, whatever keeps its rows.

A subclass of :class:`InboxContract` (named ``Test...``) provides the fixture ``inbox``: an
opened, empty inbox made with ``clock=clock`` and closed after the test. The ``clock`` fixture
is a :class:`FakeClock` (defined here; a subclass may override it): time moves only when a test
moves it, so no test measures or waits for time.

Ids are whatever the inbox hands out: the tests assume they grow and are never used again
(not even after a purge), never that they are consecutive or start at 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
from collections.abc import Mapping
from typing import Any

import attrs
import pytest

from tahdah_async.webhooks import delivery_key
from tahdah_async.webhooks.inbox import (
    DEFAULT_RETENTION,
    ERROR_LIMIT,
    EVERYTHING,
    Inbox,
    NewDelivery,
    Selection,
    State,
    StoredDelivery,
)

__all__ = ["LEASE", "START", "FakeClock", "InboxContract", "make_delivery"]

START = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
"""Where a :class:`FakeClock` starts (microseconds included, to check they are kept)."""
LEASE = 60.0
"""The lease of most claims, in seconds."""
LONG = 3600.0
"""A lease no test lets run out."""
MISSING = 10**9
"""An id no test's inbox hands out."""


class FakeClock:
    """A clock for an inbox under test: time moves only when :meth:`advance` moves it."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the time ``seconds`` forward."""
        self.now += dt.timedelta(seconds=seconds)


def make_delivery(
    n: int,
    verb: str = "test.event",
    *,
    received_at: dt.datetime | None = None,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> NewDelivery:
    """Return the ``n``-th test delivery: its own body (so its own key), received ``n``
    seconds after :data:`START` unless ``received_at`` is given."""
    if body is None:
        body = f'{{"n": {n}}}'.encode()
    return NewDelivery(
        key=delivery_key(hashlib.sha256(f"{n}".encode() + body).hexdigest()),
        verb=verb,
        body=body,
        headers={"Webhook-Verb": verb, "Content-Type": "application/json"}
        if headers is None
        else headers,
        secret_index=n % 2,
        received_at=START + dt.timedelta(seconds=n) if received_at is None else received_at,
    )


async def put_new(inbox: Inbox, delivery: NewDelivery) -> int:
    """Store ``delivery``, which must be new; return its id."""
    stored, id = await inbox.put(delivery)
    assert stored
    return id


async def must_get(inbox: Inbox, id: int) -> StoredDelivery:
    row = await inbox.get(id)
    assert row is not None, f"row {id} is missing"
    return row


async def claim_one(inbox: Inbox, owner: str, id: int, lease: float = LEASE) -> StoredDelivery:
    """Claim one row, which must be ``id`` (the only runnable row, or the oldest)."""
    claimed = await inbox.claim(owner, 1, lease)
    assert ids_of(claimed) == [id], f"claimed {ids_of(claimed)}, not [{id}]"
    return claimed[0]


async def row_in(
    inbox: Inbox,
    clock: FakeClock,
    n: int,
    state: State,
    verb: str = "test.event",
    *,
    received_at: dt.datetime | None = None,
) -> int:
    """Store the ``n``-th delivery and bring it to ``state``; return its id.

    No other row may be runnable: each row is claimed as the oldest one. A ``processing`` row
    is held by ``"holder"`` for an hour; a ``failed`` one runs again in a day.
    """
    id = await put_new(inbox, make_delivery(n, verb, received_at=received_at))
    if state is State.PENDING:
        return id
    await claim_one(inbox, "holder", id, LONG)
    if state is State.DONE:
        assert await inbox.complete("holder", id)
    elif state is State.FAILED:
        assert await inbox.fail("holder", id, "boom", clock() + dt.timedelta(days=1))
    elif state is State.DEAD:
        assert await inbox.fail("holder", id, "boom", None)
    assert (await must_get(inbox, id)).state is state
    return id


async def one_of_each(inbox: Inbox, clock: FakeClock) -> dict[State, int]:
    """One row in every state (made in this order: the pending row is the newest)."""
    return {
        state: await row_in(inbox, clock, n, state)
        for n, state in enumerate(
            [State.DONE, State.FAILED, State.DEAD, State.PROCESSING, State.PENDING]
        )
    }


def ids_of(rows: list[StoredDelivery]) -> list[int]:
    return [row.id for row in rows]


def is_utc(moment: dt.datetime | None) -> bool:
    return moment is not None and moment.utcoffset() == dt.timedelta(0)


class InboxContract:
    """The behaviour shared by every :class:`~tahdah_async.webhooks.inbox.Inbox`."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    def test_the_inbox_satisfies_the_protocol(self, inbox: Inbox) -> None:
        assert isinstance(inbox, Inbox)

    async def test_opening_an_open_inbox_changes_nothing(self, inbox: Inbox) -> None:
        id = await put_new(inbox, make_delivery(1))
        await inbox.open()
        assert (await must_get(inbox, id)).key == make_delivery(1).key

    # -- put -------------------------------------------------------------------------------

    async def test_put_stores_a_pending_row(self, inbox: Inbox) -> None:
        delivery = make_delivery(7, "trust_group.created")
        stored, id = await inbox.put(delivery)
        assert stored is True
        assert await inbox.get(id) == StoredDelivery(
            id=id,
            key=delivery.key,
            verb="trust_group.created",
            body=delivery.body,
            headers=dict(delivery.headers),
            secret_index=1,
            received_at=delivery.received_at,
            state=State.PENDING,
            attempts=0,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=None,
            last_error=None,
            done_at=None,
        )

    async def test_ids_grow(self, inbox: Inbox) -> None:
        ids = [await put_new(inbox, make_delivery(n)) for n in range(5)]
        assert ids == sorted(set(ids))

    async def test_a_known_key_returns_its_row_unchanged(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        first = make_delivery(1)
        id = await put_new(inbox, first)
        await claim_one(inbox, "a", id)
        before = await must_get(inbox, id)
        resent = attrs.evolve(
            make_delivery(2, "other.verb"),
            key=first.key,
            received_at=clock() + dt.timedelta(hours=1),
        )
        assert await inbox.put(resent) == (False, id)
        assert await inbox.put(first) == (False, id)
        assert await inbox.get(id) == before
        assert ids_of(await inbox.rows()) == [id]

    async def test_concurrent_puts_of_one_key_store_one_row(self, inbox: Inbox) -> None:
        answers = await asyncio.gather(*(inbox.put(make_delivery(1)) for _ in range(20)))
        assert sorted(stored for stored, _ in answers) == [False] * 19 + [True]
        assert len({id for _, id in answers}) == 1
        assert len(await inbox.rows()) == 1

    async def test_a_purged_key_can_be_stored_again(self, inbox: Inbox, clock: FakeClock) -> None:
        id = await row_in(inbox, clock, 1, State.DONE)
        assert await inbox.purge(Selection(ids=[id])) == 1
        stored, again = await inbox.put(make_delivery(1))
        assert stored is True
        assert again > id
        assert (await must_get(inbox, again)).state is State.PENDING

    @pytest.mark.parametrize(
        ("body", "headers"),
        [
            (b'{"id": 1}', {"Webhook-Verb": "x", "Content-Type": "application/json"}),
            (b"\xff\xfe\x00\x80 not UTF-8 \xc3\x28 \x00", {"User-Agent": "Tahdah/1.0 (é ☃ 𝄞)"}),
            (bytes(range(256)) * 4, {"Content-Type": 'text/plain; charset="x"', "A": ""}),
            (b"", {}),
        ],
        ids=["json", "not-utf8", "every-byte", "empty"],
    )
    async def test_bodies_and_headers_come_back_exactly(
        self, inbox: Inbox, body: bytes, headers: dict[str, str]
    ) -> None:
        id = await put_new(inbox, make_delivery(1, body=body, headers=headers))
        for row in [
            await must_get(inbox, id),
            (await inbox.rows())[0],
            (await inbox.claim("a", 1, LEASE))[0],
        ]:
            assert type(row.body) is bytes
            assert row.body == body
            assert dict(row.headers) == headers

    async def test_times_come_back_as_utc_to_the_microsecond(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        elsewhere = dt.timezone(dt.timedelta(hours=5, minutes=30))
        received = dt.datetime(2026, 3, 4, 10, 36, 7, 123457, tzinfo=elsewhere)
        retry_at = dt.datetime(2026, 3, 4, 12, 0, 0, 1, tzinfo=elsewhere)
        first = await put_new(inbox, make_delivery(1, received_at=received))
        second = await put_new(inbox, make_delivery(2))

        row = await claim_one(inbox, "a", first, 12.000001)
        assert row.received_at == received
        assert row.lease_expires_at == clock() + dt.timedelta(seconds=12, microseconds=1)
        assert await inbox.fail("a", first, "boom", retry_at)
        clock.advance(0.000001)
        await claim_one(inbox, "a", second)
        assert await inbox.complete("a", second)

        failed, done = await must_get(inbox, first), await must_get(inbox, second)
        assert (failed.received_at, failed.next_attempt_at) == (received, retry_at)
        assert done.done_at == clock()
        for moment in [failed.received_at, failed.next_attempt_at, done.done_at]:
            assert is_utc(moment), moment
        stats = await inbox.stats()
        assert stats.oldest_pending == received
        assert is_utc(stats.oldest_pending)

    # -- claim -----------------------------------------------------------------------------

    async def test_claim_takes_the_oldest_rows_up_to_the_limit(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        ids = [await put_new(inbox, make_delivery(n)) for n in range(5)]
        first = await inbox.claim("a", 3, LEASE)
        assert ids_of(first) == ids[:3]
        for row in first:
            assert row.state is State.PROCESSING
            assert row.attempts == 1
            assert row.lease_owner == "a"
            assert row.lease_expires_at == clock() + dt.timedelta(seconds=LEASE)
            assert await inbox.get(row.id) == row  # as they are after the claim
        assert ids_of(await inbox.claim("b", 3, LEASE)) == ids[3:]
        assert await inbox.claim("c", 3, LEASE) == []

    async def test_claim_takes_every_kind_of_runnable_row_in_id_order(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        expired = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", expired, 10)
        await row_in(inbox, clock, 2, State.DONE)
        retried = await put_new(inbox, make_delivery(3))
        await claim_one(inbox, "a", retried, LONG)
        assert await inbox.fail("a", retried, "boom", clock() + dt.timedelta(seconds=5))
        await row_in(inbox, clock, 4, State.DEAD)
        await row_in(inbox, clock, 5, State.PROCESSING)  # held for an hour
        pending = await put_new(inbox, make_delivery(6))
        clock.advance(11)

        assert ids_of(await inbox.claim("b", 2, LEASE)) == [expired, retried]
        assert ids_of(await inbox.claim("b", 10, LEASE)) == [pending]

    async def test_a_live_lease_is_skipped_and_an_expired_one_taken_over(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id)
        clock.advance(LEASE - 1)
        assert await inbox.claim("b", 10, LEASE) == []
        clock.advance(2)
        taken = await claim_one(inbox, "b", id, 30)
        assert (taken.state, taken.attempts, taken.lease_owner) == (State.PROCESSING, 2, "b")
        assert taken.lease_expires_at == clock() + dt.timedelta(seconds=30)
        assert await inbox.get(id) == taken

    async def test_an_owner_does_not_take_back_its_own_expired_lease(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id)
        clock.advance(LEASE + 1)
        assert await inbox.claim("a", 10, LEASE) == []
        assert (await claim_one(inbox, "b", id)).attempts == 2

    async def test_a_failed_row_runs_again_once_due(self, inbox: Inbox, clock: FakeClock) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id)
        assert await inbox.fail("a", id, "boom", clock() + dt.timedelta(seconds=30))
        assert await inbox.claim("a", 10, LEASE) == []
        clock.advance(29.999999)
        assert await inbox.claim("b", 10, LEASE) == []
        clock.advance(0.000001)
        again = await claim_one(inbox, "a", id)
        assert (again.state, again.attempts, again.lease_owner) == (State.PROCESSING, 2, "a")
        assert again.last_error == "boom"

    async def test_done_and_dead_rows_are_never_claimed(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        await row_in(inbox, clock, 1, State.DONE)
        await row_in(inbox, clock, 2, State.DEAD)
        clock.advance(DEFAULT_RETENTION.total_seconds() / 2)
        assert await inbox.claim("a", 10, LEASE) == []

    async def test_concurrent_claims_never_share_a_row(self, inbox: Inbox) -> None:
        ids = [await put_new(inbox, make_delivery(n)) for n in range(30)]
        claims = await asyncio.gather(*(inbox.claim(f"w{i}", 3, LEASE) for i in range(20)))
        claimed = [row.id for rows in claims for row in rows]
        assert sorted(claimed) == ids  # each row once
        for i, rows in enumerate(claims):
            assert len(rows) <= 3
            for row in rows:
                assert (row.lease_owner, row.attempts) == (f"w{i}", 1)
                assert await inbox.get(row.id) == row

    # -- extend ----------------------------------------------------------------------------

    async def test_extend_renews_only_the_leases_the_owner_holds(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        mine = [await put_new(inbox, make_delivery(n)) for n in range(2)]
        assert ids_of(await inbox.claim("a", 2, LEASE)) == mine
        theirs = await put_new(inbox, make_delivery(3))
        await claim_one(inbox, "b", theirs)
        done = await row_in(inbox, clock, 4, State.DONE)
        pending = await put_new(inbox, make_delivery(5))
        before = {id: await must_get(inbox, id) for id in (theirs, pending, done)}
        clock.advance(10)

        held = await inbox.extend("a", [*mine, theirs, pending, done, MISSING], 120)
        assert held == set(mine)
        for id in mine:
            row = await must_get(inbox, id)
            assert row.lease_expires_at == clock() + dt.timedelta(seconds=120)
            assert (row.state, row.lease_owner, row.attempts) == (State.PROCESSING, "a", 1)
        for id, row in before.items():
            assert await inbox.get(id) == row
        assert await inbox.extend("a", [], 120) == set()

    async def test_an_expired_lease_not_taken_over_is_still_held(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id, 10)
        clock.advance(20)
        assert await inbox.extend("a", [id], LEASE) == {id}
        assert (await must_get(inbox, id)).lease_expires_at == clock() + dt.timedelta(seconds=LEASE)
        assert await inbox.claim("b", 10, LEASE) == []
        clock.advance(LEASE + 1)  # expired again, and still not taken
        assert await inbox.complete("a", id) is True

    @pytest.mark.parametrize("late", ["extend", "complete", "fail", "retry", "release"])
    async def test_a_lease_taken_over_is_lost_to_its_first_owner(
        self, inbox: Inbox, clock: FakeClock, late: str
    ) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id, 10)
        clock.advance(11)
        await claim_one(inbox, "b", id)
        taken = await must_get(inbox, id)

        if late == "extend":
            assert await inbox.extend("a", [id], LEASE) == set()
        elif late == "complete":
            assert await inbox.complete("a", id) is False
        elif late == "fail":
            assert await inbox.fail("a", id, "late", None) is False
        elif late == "retry":
            assert await inbox.fail("a", id, "late", clock()) is False
        else:
            assert await inbox.release("a", [id]) == 0
        assert await inbox.get(id) == taken
        assert await inbox.complete("b", id) is True

    # -- complete, fail --------------------------------------------------------------------

    async def test_complete_marks_a_held_row_done(self, inbox: Inbox, clock: FakeClock) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id)
        clock.advance(5)
        assert await inbox.complete("a", id) is True
        row = await must_get(inbox, id)
        assert (row.state, row.done_at, row.attempts) == (State.DONE, clock(), 1)
        assert (row.lease_owner, row.lease_expires_at) == (None, None)
        assert await inbox.complete("a", id) is False
        assert await inbox.get(id) == row

    async def test_only_a_held_row_can_be_completed_or_failed(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        rows = await one_of_each(inbox, clock)
        before = {id: await must_get(inbox, id) for id in rows.values()}
        for id in [*rows.values(), MISSING]:
            assert await inbox.complete("a", id) is False
            assert await inbox.fail("a", id, "boom", None) is False
            assert await inbox.fail("a", id, "boom", clock()) is False
        # The processing row is "holder"'s: nobody else's, whatever its lease says.
        clock.advance(2 * LONG)
        assert await inbox.complete("a", rows[State.PROCESSING]) is False
        for id, row in before.items():
            assert await inbox.get(id) == row

    async def test_fail_with_a_retry_time_schedules_another_run(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id)
        retry_at = clock() + dt.timedelta(minutes=5)
        assert await inbox.fail("a", id, "TimeoutError()", retry_at) is True
        row = await must_get(inbox, id)
        assert (row.state, row.next_attempt_at, row.last_error) == (
            State.FAILED,
            retry_at,
            "TimeoutError()",
        )
        assert (row.lease_owner, row.lease_expires_at, row.attempts) == (None, None, 1)
        assert row.done_at is None

    async def test_fail_without_a_retry_time_parks_the_row_dead(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id)
        assert await inbox.fail("a", id, "invalid_payload: no id", None) is True
        row = await must_get(inbox, id)
        assert (row.state, row.last_error, row.next_attempt_at) == (
            State.DEAD,
            "invalid_payload: no id",
            None,
        )
        assert (row.lease_owner, row.lease_expires_at, row.done_at) == (None, None, None)
        clock.advance(30 * 86_400)
        assert await inbox.claim("b", 10, LEASE) == []

    @pytest.mark.parametrize(
        "error",
        ["", "short", "é" * ERROR_LIMIT, "é" * (ERROR_LIMIT + 1), "x☃" * ERROR_LIMIT],
        ids=["empty", "short", "at-limit", "one-over", "far-over"],
    )
    async def test_the_error_is_kept_cut_to_the_limit(self, inbox: Inbox, error: str) -> None:
        id = await put_new(inbox, make_delivery(1))
        await claim_one(inbox, "a", id)
        assert await inbox.fail("a", id, error, None)
        assert (await must_get(inbox, id)).last_error == error[:ERROR_LIMIT]

    # -- release ---------------------------------------------------------------------------

    async def test_release_gives_back_held_rows_runnable_at_once(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        first, second, expired, theirs = [await put_new(inbox, make_delivery(n)) for n in range(4)]
        assert ids_of(await inbox.claim("a", 2, LEASE)) == [first, second]
        await claim_one(inbox, "a", expired, 1)
        await claim_one(inbox, "b", theirs)
        pending = await put_new(inbox, make_delivery(5))
        clock.advance(2)  # the lease on `expired` ran out, but nobody took it
        before = await must_get(inbox, theirs)

        given_back = await inbox.release("a", [first, second, expired, theirs, pending, MISSING])
        assert given_back == 3
        for id in (first, second, expired):
            row = await must_get(inbox, id)
            assert (row.state, row.lease_owner, row.lease_expires_at) == (State.PENDING, None, None)
            assert row.attempts == 1
        assert await inbox.get(theirs) == before
        assert await inbox.release("a", [first]) == 0
        assert await inbox.release("a", []) == 0
        assert ids_of(await inbox.claim("a", 10, LEASE)) == [first, second, expired, pending]

    # -- get and rows ----------------------------------------------------------------------

    async def test_get_of_an_unknown_id_is_none(self, inbox: Inbox) -> None:
        assert await inbox.get(MISSING) is None
        await put_new(inbox, make_delivery(1))
        assert await inbox.get(MISSING) is None

    async def test_rows_select_on_every_field(self, inbox: Inbox, clock: FakeClock) -> None:
        # Received an hour apart, verbs alternating; done at the start and 40 s later.
        hour = dt.timedelta(hours=1)
        plan = [State.DONE, State.DEAD, State.FAILED, State.PROCESSING, State.DONE, State.PENDING]
        ids = []
        done_at = []
        for n, state in enumerate(plan):
            verb = "a.x" if n % 2 == 0 else "b.y"
            ids.append(await row_in(inbox, clock, n, state, verb, received_at=START + n * hour))
            if state is State.DONE:
                done_at.append(clock())
            clock.advance(10)
        d0, dead, failed, processing, d4, pending = ids
        assert done_at == [START, START + dt.timedelta(seconds=40)]

        async def selected(**fields: Any) -> list[int]:
            return ids_of(await inbox.rows(Selection(**fields)))

        assert ids_of(await inbox.rows()) == ids
        assert ids_of(await inbox.rows(EVERYTHING)) == ids
        assert await selected(ids=[d4, dead, MISSING]) == [dead, d4]
        assert await selected(ids=[]) == []
        assert await selected(state=State.DONE) == [d0, d4]
        assert await selected(state=State.PENDING) == [pending]
        assert await selected(state=State.PROCESSING) == [processing]
        assert await selected(verb="a.x") == [d0, failed, d4]
        assert await selected(verb="nope") == []
        assert await selected(received_after=START + 2 * hour) == [failed, processing, d4, pending]
        assert await selected(received_before=START + 2 * hour) == [d0, dead]
        assert await selected(done_before=done_at[1]) == [d0]
        assert await selected(done_before=done_at[1] + dt.timedelta(microseconds=1)) == [d0, d4]
        assert await selected(received_after=START + hour, received_before=START + 4 * hour) == [
            dead,
            failed,
            processing,
        ]
        assert await selected(verb="a.x", state=State.DONE) == [d0, d4]
        assert await selected(verb="a.x", state=State.DONE, received_after=START + hour) == [d4]
        assert await selected(ids=[d0, dead], verb="b.y") == [dead]
        for row in await inbox.rows():
            assert await inbox.get(row.id) == row

    async def test_rows_page_by_id(self, inbox: Inbox, clock: FakeClock) -> None:
        ids = [await put_new(inbox, make_delivery(n, "a" if n < 3 else "b")) for n in range(6)]
        assert ids_of(await inbox.rows(limit=2)) == ids[:2]
        assert ids_of(await inbox.rows(limit=2, after_id=ids[1])) == ids[2:4]
        assert ids_of(await inbox.rows(limit=10, after_id=ids[3])) == ids[4:]
        assert await inbox.rows(after_id=ids[-1]) == []
        assert await inbox.rows(limit=0) == []
        only_b = Selection(verb="b")
        assert ids_of(await inbox.rows(only_b, limit=1)) == ids[3:4]
        assert ids_of(await inbox.rows(only_b, limit=1, after_id=ids[3])) == ids[4:5]
        assert ids_of(await inbox.rows(only_b, after_id=ids[0])) == ids[3:]

    async def test_rows_give_100_unless_told(self, inbox: Inbox) -> None:
        ids = [await put_new(inbox, make_delivery(n)) for n in range(101)]
        assert ids_of(await inbox.rows()) == ids[:100]
        assert ids_of(await inbox.rows(after_id=ids[99])) == ids[100:]
        assert ids_of(await inbox.rows(limit=101)) == ids

    # -- replay, purge, prune --------------------------------------------------------------

    async def test_replay_makes_finished_rows_runnable_from_scratch(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        rows = await one_of_each(inbox, clock)
        untouched = {s: await must_get(inbox, rows[s]) for s in (State.PROCESSING, State.PENDING)}
        assert await inbox.replay(EVERYTHING) == 3
        for state in (State.DONE, State.FAILED, State.DEAD):
            row = await must_get(inbox, rows[state])
            assert (row.state, row.attempts) == (State.PENDING, 0), state
            assert (row.next_attempt_at, row.done_at) == (None, None), state
            assert (row.lease_owner, row.lease_expires_at) == (None, None), state
        for state, row in untouched.items():
            assert await inbox.get(rows[state]) == row
        # Runnable now, the failed row's retry time forgotten; the held row is still held.
        claimed = await inbox.claim("b", 10, LEASE)
        assert ids_of(claimed) == [rows[s] for s in (State.DONE, State.FAILED, State.DEAD)] + [
            rows[State.PENDING]
        ]
        assert {row.attempts for row in claimed} == {1}

    async def test_replay_acts_on_the_selection_only(self, inbox: Inbox, clock: FakeClock) -> None:
        extra_dead = await row_in(inbox, clock, 9, State.DEAD, "other")
        rows = await one_of_each(inbox, clock)
        before = {id: await must_get(inbox, id) for id in [*rows.values(), extra_dead]}
        assert await inbox.replay(Selection(state=State.PROCESSING)) == 0
        assert await inbox.replay(Selection(state=State.PENDING)) == 0
        assert await inbox.replay(Selection(ids=[rows[State.PROCESSING], MISSING])) == 0
        assert await inbox.replay(Selection(state=State.DEAD, verb="other")) == 1
        assert (await must_get(inbox, extra_dead)).state is State.PENDING
        for id, row in before.items():
            if id != extra_dead:
                assert await inbox.get(id) == row
        assert await inbox.replay(Selection(ids=[rows[State.DONE], rows[State.PENDING]])) == 1
        assert (await must_get(inbox, rows[State.DONE])).state is State.PENDING

    async def test_purge_deletes_only_done_and_dead_rows(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        rows = await one_of_each(inbox, clock)
        assert await inbox.purge(EVERYTHING) == 2
        assert await inbox.get(rows[State.DONE]) is None
        assert await inbox.get(rows[State.DEAD]) is None
        kept = [rows[s] for s in (State.FAILED, State.PROCESSING, State.PENDING)]
        assert ids_of(await inbox.rows()) == kept
        assert await inbox.purge(EVERYTHING) == 0

    async def test_purge_acts_on_the_selection_only(self, inbox: Inbox, clock: FakeClock) -> None:
        a = await row_in(inbox, clock, 1, State.DONE, "a")
        b = await row_in(inbox, clock, 2, State.DONE, "b")
        dead = await row_in(inbox, clock, 3, State.DEAD, "a")
        failed = await row_in(inbox, clock, 4, State.FAILED, "a")
        assert await inbox.purge(Selection(state=State.FAILED)) == 0
        assert await inbox.purge(Selection(verb="a", state=State.DONE)) == 1
        assert ids_of(await inbox.rows()) == [b, dead, failed]
        assert await inbox.purge(Selection(ids=[b, failed])) == 1
        assert ids_of(await inbox.rows()) == [dead, failed]
        assert a not in ids_of(await inbox.rows())

    async def test_prune_deletes_rows_done_longer_than_the_retention(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        old = await row_in(inbox, clock, 1, State.DONE)
        dead = await row_in(inbox, clock, 2, State.DEAD)
        failed = await row_in(inbox, clock, 3, State.FAILED)
        clock.advance(60)
        recent = await row_in(inbox, clock, 4, State.DONE)
        clock.advance(DEFAULT_RETENTION.total_seconds() - 60)
        assert await inbox.prune() == 0  # done exactly the retention ago: kept
        clock.advance(1)
        assert await inbox.prune() == 1
        assert ids_of(await inbox.rows()) == [dead, failed, recent]
        age = DEFAULT_RETENTION - dt.timedelta(seconds=59)  # since `recent` was done
        assert await inbox.prune(age) == 0
        assert await inbox.prune(age - dt.timedelta(microseconds=1)) == 1
        assert ids_of(await inbox.rows()) == [dead, failed]
        assert old not in ids_of(await inbox.rows())

    # -- arguments -------------------------------------------------------------------------

    async def test_naive_times_are_refused(self, inbox: Inbox) -> None:
        naive = dt.datetime(2026, 1, 1)
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
    async def test_a_lease_is_a_positive_number_of_seconds(
        self, inbox: Inbox, lease: float
    ) -> None:
        with pytest.raises(ValueError, match="lease"):
            await inbox.claim("a", 1, lease)
        with pytest.raises(ValueError, match="lease"):
            await inbox.extend("a", [1], lease)

    async def test_a_negative_limit_is_refused(self, inbox: Inbox) -> None:
        await inbox.put(make_delivery(1))
        with pytest.raises(ValueError, match="limit"):
            await inbox.claim("a", -1, LEASE)
        with pytest.raises(ValueError, match="limit"):
            await inbox.rows(limit=-1)
        assert await inbox.claim("a", 0, LEASE) == []
        assert (await inbox.stats()).by_state[State.PENDING] == 1

    # -- stats -----------------------------------------------------------------------------

    async def test_stats_of_an_empty_inbox(self, inbox: Inbox) -> None:
        stats = await inbox.stats()
        assert dict(stats.by_state) == dict.fromkeys(State, 0)
        assert dict(stats.by_verb) == {}
        assert stats.oldest_pending is None

    async def test_stats_count_by_state_and_verb(self, inbox: Inbox, clock: FakeClock) -> None:
        plan = [
            ("a", State.DONE),
            ("a", State.DONE),
            ("a", State.DEAD),
            ("b", State.FAILED),
            ("b", State.PROCESSING),
            ("a", State.PENDING),
            ("c", State.PENDING),
        ]
        for n, (verb, state) in enumerate(plan):
            await row_in(inbox, clock, n, state, verb)
        stats = await inbox.stats()
        assert set(stats.by_state) == set(State)
        assert dict(stats.by_state) == {
            State.PENDING: 2,
            State.PROCESSING: 1,
            State.DONE: 2,
            State.FAILED: 1,
            State.DEAD: 1,
        }
        assert {verb: dict(counts) for verb, counts in stats.by_verb.items()} == {
            "a": {State.DONE: 2, State.DEAD: 1, State.PENDING: 1},
            "b": {State.FAILED: 1, State.PROCESSING: 1},
            "c": {State.PENDING: 1},
        }
        # Rows 3 (failed) and 5, 6 (pending) are still to run; make_delivery(n) came at n s.
        assert stats.oldest_pending == START + dt.timedelta(seconds=3)

    async def test_the_oldest_pending_row_is_the_earliest_received(
        self, inbox: Inbox, clock: FakeClock
    ) -> None:
        times = [START + dt.timedelta(hours=h) for h in (5, 2, 9)]
        for n, received_at in enumerate(times):
            await put_new(inbox, make_delivery(n, received_at=received_at))
        assert (await inbox.stats()).oldest_pending == times[1]
        ids = ids_of(await inbox.claim("a", 3, LEASE))
        assert (await inbox.stats()).oldest_pending is None
        assert await inbox.complete("a", ids[1])
        assert await inbox.fail("a", ids[2], "boom", clock() + dt.timedelta(hours=1))
        assert (await inbox.stats()).oldest_pending == times[2]
        assert await inbox.release("a", [ids[0]]) == 1
        assert (await inbox.stats()).oldest_pending == times[0]

    async def test_a_row_goes_through_its_whole_life(self, inbox: Inbox, clock: FakeClock) -> None:
        counter = itertools.count(1)
        id = await put_new(inbox, make_delivery(1))
        for _ in range(2):  # two failed runs, a third that succeeds
            row = await claim_one(inbox, "a", id)
            assert row.attempts == next(counter)
            assert await inbox.fail("a", id, f"run {row.attempts}", clock())
        row = await claim_one(inbox, "a", id)
        assert row.attempts == 3
        assert row.last_error == "run 2"
        assert await inbox.complete("a", id)
        stats = await inbox.stats()
        assert stats.by_state[State.DONE] == 1
        assert sum(stats.by_state.values()) == 1
