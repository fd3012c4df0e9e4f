"""The webhook receiver under load and at shutdown, over real loopback sockets.

Two thousand concurrent deliveries mix valid ones, resends (some while the first copy is still
being handled), forged or malformed signatures and deliveries whose handler fails; the ledger
of handler runs must show every valid delivery processed exactly once, in both modes. Then a
real application shutdown in ack-then-process mode: what was accepted is drained, what cannot
finish is cancelled and named in the log, and what arrives meanwhile is refused with a 503.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Final

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.typedefs import Middleware
from yarl import URL

from tahdah_async.models import Candidate
from tahdah_async.webhooks import (
    ACK_THEN_PROCESS,
    PROCESS_THEN_ACK,
    SIGNATURE_HEADER,
    VERB_HEADER,
    Delivery,
    MemoryDedupeStore,
    WebhookRouter,
    delivery_key,
    sign,
)
from tests.webhooks.helpers import MOUNT, SECRET, Client, Reply, mount, post, post_signed, serve_app

CREATED = "candidates.created"
UPDATED = "candidates.updated"
FORGER = "wh_someone-else-entirely"
LOGGER = "tahdah_async.webhooks"

# -- the plan of the 2,000-delivery wave ------------------------------------------------------

VALID = range(0, 1300)
"""``candidates.created`` deliveries that must each be processed exactly once."""
ALSO_UPDATED = range(0, 100)
"""The same bodies under ``candidates.updated``: different deliveries, processed too."""
HELD = range(0, 30)
"""Valid deliveries whose handler waits until their resends have reached the receiver."""
RESENDS_IN_FLIGHT = 2
RESENT = range(100, 340)
"""Valid deliveries sent twice at once (the even ones with the verb in upper case)."""
TAMPERED = range(400, 500)
"""Valid deliveries also sent with the signature of another secret."""
FAILING = range(2000, 2100)
"""Deliveries whose handler raises until it is fixed."""
FAILING_HELD = range(2000, 2010)
"""Failing deliveries resent once while the first copy is still being handled."""
FORGED = range(5000, 5050)
"""Bodies only ever signed with another secret: no handler may ever see them."""
MALFORMED = range(6000, 6040)
"""Bodies sent with signatures of the wrong shape."""
WAVE = 2000

HANG_GUARD: Final = 60.0
"""Seconds a test may take before it counts as hung (asyncio debug mode is slow)."""
WAVE_HANG_GUARD: Final = 300.0
"""The same for the 2,000-delivery wave: ~10 s alone in debug mode, several times that on a
loaded 2-core machine. It only fires on a real hang; nothing in the wave waits on time."""


def body_of(n: int) -> bytes:
    return json.dumps({"id": n, "firstName": f"Learner {n}", "tags": ["wave"]}).encode()


def event_kind(verb: str) -> str:
    return "CandidateUpdated" if verb.lower() == UPDATED else "CandidateCreated"


@attrs.frozen
class Planned:
    """One request of the wave."""

    kind: str
    n: int
    verb: str
    body: bytes
    signature: str
    after_start: bool = False
    """Sent only once the first copy's handler has started (a resend while in flight)."""

    @property
    def delivery(self) -> tuple[str, int]:
        return event_kind(self.verb), self.n


def malformed_signature(n: int, body: bytes) -> str:
    good = sign(body, SECRET)
    shapes = [
        good[:-1],  # truncated
        "sha256=" + good[7:],  # prefixed, still 64 characters
        good[:-1] + "g",  # not hex
        good + "0",  # too long
        "",  # empty
    ]
    return shapes[n % len(shapes)]


def plan() -> list[Planned]:
    wave: list[Planned] = []

    def signed(kind: str, n: int, verb: str = CREATED, *, after_start: bool = False) -> None:
        body = body_of(n)
        wave.append(Planned(kind, n, verb, body, sign(body, SECRET), after_start))

    for n in VALID:
        signed("valid", n)
    for n in ALSO_UPDATED:
        signed("valid", n, UPDATED)
    for n in HELD:
        for _ in range(RESENDS_IN_FLIGHT):
            signed("resend", n, after_start=True)
    for n in RESENT:
        signed("resend", n, CREATED.upper() if n % 2 == 0 else CREATED)
    for n in FAILING:
        signed("failing", n)
    for n in FAILING_HELD:
        signed("failing", n, after_start=True)
    for n in TAMPERED:
        body = body_of(n)
        wave.append(Planned("bad", n, CREATED, body, sign(body, FORGER)))
    for n in FORGED:
        body = body_of(n)
        wave.append(Planned("bad", n, CREATED, body, sign(body, FORGER)))
    for n in MALFORMED:
        body = body_of(n)
        wave.append(Planned("bad", n, CREATED, body, malformed_signature(n, body)))
    assert len(wave) == WAVE
    return wave


# -- the receiving side -----------------------------------------------------------------------


class CountingStore(MemoryDedupeStore):
    """The in-memory store, counting claims per key so a test can see resends arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: collections.Counter[str] = collections.Counter()
        self.changed = asyncio.Event()

    async def claim(self, key: str, ttl: float) -> bool:
        # No await before the inner claim: it must stay atomic, as the protocol requires.
        self.claims[key] += 1
        self.changed.set()
        return await super().claim(key, ttl)


class Ledger:
    """Handlers that count every run and every success per delivery; some fail or wait.

    No handler time limit: a held handler waits for an event (its resends have arrived),
    however long the wave takes to bring them, and no limit may fire in this test.
    """

    def __init__(self) -> None:
        self.router = WebhookRouter(timeout=None)
        self.runs: collections.Counter[tuple[str, int]] = collections.Counter()
        self.successes: collections.Counter[tuple[str, int]] = collections.Counter()
        self.broken = True
        self.gate = asyncio.Event()
        self.started: dict[tuple[str, int], asyncio.Event] = collections.defaultdict(asyncio.Event)
        self.held = {("CandidateCreated", n) for n in (*HELD, *FAILING_HELD)}

        @self.router.on(Candidate)
        async def handle(event: Candidate, delivery: Delivery) -> None:
            assert isinstance(event.id, int)
            key = (type(event).__name__, event.id)
            self.runs[key] += 1
            self.started[key].set()
            if key in self.held:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)
            if self.broken and event.id in FAILING:
                raise RuntimeError(f"handler broken for {event.id}")
            self.successes[key] += 1


def headers_of(item: Planned) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        VERB_HEADER: item.verb,
        SIGNATURE_HEADER: item.signature,
    }


async def send(http: Client, item: Planned) -> Reply:
    return await post(http, item.body, headers_of(item))


async def resend(session: aiohttp.ClientSession, url: URL, item: Planned) -> Reply:
    """Send ``item`` over ``session``: its own connections, so it never queues behind the wave."""
    async with session.post(url, data=item.body, headers=headers_of(item)) as response:
        return Reply(
            status=response.status, text=await response.text(), headers=dict(response.headers)
        )


async def run_wave(
    http: Client, ledger: Ledger, store: CountingStore, wave: Sequence[Planned]
) -> list[Reply]:
    """Send the whole wave at once; release the held handlers once their resends arrived.

    A resend waits for the event saying its first copy's handler started, then goes over a
    session of its own (a connection each), so it reaches the receiver while that handler is
    held, however long the rest of the wave queues for the client's pool.
    """
    copies = collections.Counter(
        delivery_key(i.verb, hashlib.sha256(i.body).hexdigest())
        for i in wave
        if i.kind != "bad" and i.delivery in ledger.held
    )

    async def release_when_resends_arrived() -> None:
        while any(store.claims[key] < count for key, count in copies.items()):
            store.changed.clear()
            await store.changed.wait()
        ledger.gate.set()

    connector = aiohttp.TCPConnector(limit=sum(item.after_start for item in wave))
    async with aiohttp.ClientSession(connector=connector) as resender:
        url = http.make_url(MOUNT)

        async def one(item: Planned) -> Reply:
            if not item.after_start:
                return await send(http, item)
            await ledger.started[item.delivery].wait()
            return await resend(resender, url, item)

        async with asyncio.TaskGroup() as group:
            group.create_task(release_when_resends_arrived())
            # The held deliveries go first, so their handlers start (and are released) early
            # in the wave rather than behind it; the replies keep the order of the plan.
            order = sorted(range(len(wave)), key=lambda i: wave[i].delivery not in ledger.held)
            sent = {i: group.create_task(one(wave[i])) for i in order}
    return [sent[i].result() for i in range(len(wave))]


def statuses(replies: Sequence[Reply]) -> collections.Counter[tuple[int, str]]:
    return collections.Counter((r.status, r.what) for r in replies)


def failures_logged(caplog: pytest.LogCaptureFixture) -> collections.Counter[str]:
    """The body-hash prefixes of the handler failures the router logged, with counts."""
    found: collections.Counter[str] = collections.Counter()
    for record in caplog.records:
        message = record.getMessage()
        if record.name == LOGGER and message.startswith("webhook handler failed"):
            (sha256,) = re.findall(r"\(sha256 ([0-9a-f]{16})\)", message)
            found[sha256] += 1
    return found


def key_of(verb: str, n: int) -> str:
    """The dedupe key of the delivery of ``body_of(n)`` under ``verb``."""
    return delivery_key(verb, hashlib.sha256(body_of(n)).hexdigest())


def prefix(n: int) -> str:
    return hashlib.sha256(body_of(n)).hexdigest()[:16]


@pytest.mark.parametrize("mode", [PROCESS_THEN_ACK, ACK_THEN_PROCESS])
async def test_two_thousand_mixed_concurrent_deliveries_are_each_processed_once(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = Ledger()
    store = CountingStore()
    app, receiver = mount(ledger.router, mode=mode, dedupe=store)
    wave = plan()
    acking = mode == ACK_THEN_PROCESS
    accepted = (202, "accepted") if acking else (200, "processed")
    caplog.set_level(logging.ERROR, logger=LOGGER)

    async with asyncio.timeout(WAVE_HANG_GUARD):
        # All 2,000 are sent at once over up to 500 connections (more than 500 only measures
        # the test server's listen backlog of 128); the 70 resends sent while their first copy
        # is held go over connections of their own (see run_wave), so they never queue behind
        # the wave and the held handlers are released as soon as the resends have arrived.
        async with serve_app(app, connector_limit=500) as http:
            replies = await run_wave(http, ledger, store, wave)
            await receiver.drain(within=WAVE_HANG_GUARD)  # a limit that must never fire
            assert receiver.pending == 0

            # Each resend sent while its first copy was held claimed while that copy ran: the
            # store saw every copy, and a resend of a failing delivery in process-then-ack
            # mode waited for the failure, then claimed again (and ran: see below).
            claims = {n: store.claims[key_of(CREATED, n)] for n in (*HELD, *FAILING_HELD)}
            assert claims == {
                **dict.fromkeys(HELD, 1 + RESENDS_IN_FLIGHT),
                **dict.fromkeys(FAILING_HELD, 2 if acking else 3),
            }

            by_delivery: dict[tuple[str, int], list[Reply]] = collections.defaultdict(list)
            for item, reply in zip(wave, replies, strict=True):
                if item.kind != "bad":
                    by_delivery[item.delivery].append(reply)

            # Every forged or malformed signature: 401, and its body never reached a handler.
            bad = [r for i, r in zip(wave, replies, strict=True) if i.kind == "bad"]
            assert statuses(bad) == {(401, "invalid_signature"): 190}
            assert not any(("CandidateCreated", n) in ledger.runs for n in (*FORGED, *MALFORMED))

            failing_keys = [("CandidateCreated", n) for n in FAILING]
            # Every valid delivery: run once, succeeded once, answered once as new.
            valid = {k: v for k, v in by_delivery.items() if k[1] not in FAILING}
            expected_valid = {("CandidateCreated", n) for n in VALID} | {
                ("CandidateUpdated", n) for n in ALSO_UPDATED
            }
            assert set(valid) == expected_valid
            for key, copies in valid.items():
                assert statuses(copies) == {
                    accepted: 1,
                    **({(200, "duplicate"): len(copies) - 1} if len(copies) > 1 else {}),
                }, key
            assert set(ledger.runs) == expected_valid | set(failing_keys)
            assert {k: ledger.runs[k] for k in expected_valid} == dict.fromkeys(expected_valid, 1)
            assert +ledger.successes == collections.Counter(expected_valid)

            # Failing deliveries: a 500 for every copy when the sender hears the outcome, so it
            # retries; in ack-then-process mode the first copy was acknowledged already.
            failing = {k: v for k, v in by_delivery.items() if k[1] in FAILING}
            assert set(failing) == set(failing_keys)
            for (_, n), copies in failing.items():
                resent = n in FAILING_HELD
                if acking:
                    expected = {(202, "accepted"): 1, **({(200, "duplicate"): 1} if resent else {})}
                    runs = 1  # the resend was a duplicate of a delivery being processed
                else:
                    expected = {(500, "handler_failed"): 2 if resent else 1}
                    runs = 2 if resent else 1  # the resend waited, then ran after the failure
                assert statuses(copies) == expected, n
                assert ledger.runs[("CandidateCreated", n)] == runs, n
            assert failures_logged(caplog) == {
                prefix(n): ledger.runs[("CandidateCreated", n)] for n in FAILING
            }

            # No 5xx except from the failing handlers (and none at all in ack-then-process).
            five_hundreds = [i for i, r in zip(wave, replies, strict=True) if r.status >= 500]
            assert {i.kind for i in five_hundreds} == (set() if acking else {"failing"})
            assert len(five_hundreds) == (0 if acking else len(FAILING) + len(FAILING_HELD))

            # The handler is fixed; the sender's retries are processed now, and only once.
            ledger.broken = False
            retries = await asyncio.gather(
                *(post_signed(http, body_of(n), verb=CREATED) for n in FAILING)
            )
            await receiver.drain(within=WAVE_HANG_GUARD)
            assert statuses(retries) == {accepted: len(FAILING)}
            again = await asyncio.gather(
                *(post_signed(http, body_of(n), verb=CREATED) for n in FAILING)
            )
            assert statuses(again) == {(200, "duplicate"): len(FAILING)}
            await receiver.drain(within=WAVE_HANG_GUARD)

    assert +ledger.successes == collections.Counter(expected_valid) + collections.Counter(
        ("CandidateCreated", n) for n in FAILING
    )


# -- shutdown ---------------------------------------------------------------------------------

FINISHING = range(1, 41)
"""Accepted deliveries still running at shutdown: they finish once the drain has begun."""
STUCK = (101, 102, 103)
"""Accepted deliveries that never finish: cancelled at the drain timeout, and logged."""
LATE = 999
DRAIN_TIMEOUT = 0.5
"""Short: it must fire (for ``STUCK``), and nothing that must finish depends on its length."""


def held_at_the_edge() -> tuple[Middleware, asyncio.Event, asyncio.Event]:
    """A middleware holding requests marked ``X-Hold`` (a slow auth check, say) until released,
    so one can reach the receiver after the application began shutting down."""
    held, release = asyncio.Event(), asyncio.Event()

    @web.middleware
    async def hold(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if "X-Hold" in request.headers:
            held.set()
            await release.wait()
        return await handler(request)

    return hold, held, release


async def test_shutdown_in_ack_mode_drains_what_finishes_logs_what_does_not_and_refuses_late(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = WebhookRouter(timeout=None)
    finish = asyncio.Event()
    all_started = asyncio.Event()
    processed: list[int] = []
    cancelled: list[tuple[int, int]] = []
    reached: list[int] = []

    @router.on(Candidate)
    async def handle(event: Candidate, delivery: Delivery) -> None:
        assert isinstance(event.id, int)
        reached.append(event.id)
        if len(reached) == len(FINISHING) + len(STUCK):
            all_started.set()
        if event.id in STUCK:
            try:
                await asyncio.Event().wait()  # never set: only the drain timeout ends this
            except asyncio.CancelledError:
                cancelled.append((event.id, len(processed)))
                raise
        await finish.wait()  # set when cleanup (the drain) begins
        processed.append(event.id)

    hold, held, release = held_at_the_edge()
    app, receiver = mount(
        router, middlewares=[hold], mode=ACK_THEN_PROCESS, drain_timeout=DRAIN_TIMEOUT
    )
    shutting_down = asyncio.Event()
    pending_at_cleanup: list[int] = []

    async def seen(_: web.Application) -> None:
        shutting_down.set()

    async def cleanup_begins(_: web.Application) -> None:
        # Runs first in the cleanup, then the webhook sub-app's drain, with no await between:
        # the finishing handlers wake only once the drain is waiting. Each then ends in the
        # single step it resumes in (one handler, no await after ``finish``), and those steps
        # were scheduled before the drain's timer existed, so they all run before it can fire,
        # however slow the machine: only the stuck ones are unfinished when it does.
        pending_at_cleanup.append(receiver.pending)
        finish.set()

    app.on_shutdown.append(seen)  # after the webhook sub-app's own shutdown hook
    app.on_cleanup.insert(0, cleanup_begins)  # before the webhook sub-app's drain
    keys = {n: key_of(CREATED, n) for n in (*FINISHING, *STUCK)}

    caplog.set_level(logging.INFO, logger=LOGGER)
    async with asyncio.timeout(HANG_GUARD):
        async with serve_app(app) as http:
            replies = await asyncio.gather(
                *(post_signed(http, body_of(n), verb=CREATED) for n in (*FINISHING, *STUCK))
            )
            assert statuses(replies) == {(202, "accepted"): len(FINISHING) + len(STUCK)}
            await all_started.wait()
            assert receiver.pending == len(FINISHING) + len(STUCK)

            late = asyncio.create_task(
                post_signed(http, body_of(LATE), verb=CREATED, headers={"X-Hold": "1"})
            )
            await held.wait()
            closing = asyncio.create_task(http.server.close())
            await shutting_down.wait()
            # Nothing accepted has finished or been dropped yet.
            assert receiver.pending == len(FINISHING) + len(STUCK)
            release.set()
            late_reply = await late
            still_running = receiver.pending
            await closing

    assert late_reply.status == 503
    assert late_reply.what == "shutting_down"
    assert late_reply.headers["Retry-After"] == "5"
    assert LATE not in reached

    # Every accepted delivery was still running when the late one was refused and when the
    # drain began; those that could finish did, during the drain: none lost.
    assert still_running == len(FINISHING) + len(STUCK)
    assert pending_at_cleanup == [len(FINISHING) + len(STUCK)]
    assert sorted(processed) == list(FINISHING)
    assert receiver.pending == 0
    # The drain timeout fired: the stuck ones (which only a cancellation ends) were cancelled,
    # and only after every finishing one had finished (the drain waited for them).
    assert sorted(cancelled) == [(n, len(FINISHING)) for n in STUCK]

    # Each unfinished delivery is named in exactly one error line; no finished one is.
    errors = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.ERROR]
    unfinished_lines = [r.getMessage() for r in errors if "did not finish" in r.getMessage()]
    assert len(unfinished_lines) == len(STUCK)
    for n in STUCK:
        (line,) = (m for m in unfinished_lines if keys[n] in m)
        assert "cancelled" in line
        assert f"{DRAIN_TIMEOUT:.1f} s" in line
    for n in FINISHING:
        assert not any(keys[n] in r.getMessage() for r in errors)
    # The refusal has its own line, like every delivery.
    late_lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and "-> 503 shutting_down" in r.getMessage()
    ]
    assert len(late_lines) == 1


@pytest.mark.parametrize("mode", [PROCESS_THEN_ACK, ACK_THEN_PROCESS])
async def test_a_delivery_reaching_the_receiver_during_a_real_shutdown_is_503(mode: str) -> None:
    router = WebhookRouter()
    reached: list[Any] = []

    @router.on_any
    async def handle(event: Any, delivery: Delivery) -> None:
        reached.append(event)

    hold, held, release = held_at_the_edge()
    app, receiver = mount(router, middlewares=[hold], mode=mode)
    shutting_down = asyncio.Event()

    async def seen(_: web.Application) -> None:
        shutting_down.set()

    app.on_shutdown.append(seen)
    async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
        first = await post_signed(http, body_of(1), verb=CREATED)
        late = asyncio.create_task(
            post_signed(http, body_of(2), verb=CREATED, headers={"X-Hold": "1"})
        )
        await held.wait()
        closing = asyncio.create_task(http.server.close())
        await shutting_down.wait()
        release.set()
        reply = await late
        await closing

    assert first.status == (202 if mode == ACK_THEN_PROCESS else 200)
    assert (reply.status, reply.what, reply.headers["Retry-After"]) == (503, "shutting_down", "5")
    assert [e.id for e in reached] == [1]
    assert receiver.pending == 0


# -- a store that answers over the network ----------------------------------------------------


@contextlib.contextmanager
def recording_server_errors() -> Iterator[list[str]]:
    """What aiohttp logs when a handler raises (an unhandled exception is a bare 500)."""
    found: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(f"{record.getMessage()}: {record.exc_info and record.exc_info[1]!r}")

    logger = logging.getLogger("aiohttp.server")
    handler = Recorder(logging.ERROR)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)


class NetworkedStore(MemoryDedupeStore):
    """A store like one over Redis or SQL: ``release`` has taken effect on the server while its
    reply is still on the way back (held here until the test lets it through)."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = 0
        self.claimed = asyncio.Event()
        self.released = asyncio.Event()
        self.reply = asyncio.Event()

    async def claim(self, key: str, ttl: float) -> bool:
        self.claims += 1
        self.claimed.set()
        return await super().claim(key, ttl)

    async def release(self, key: str) -> None:
        await super().release(key)
        self.released.set()
        await self.reply.wait()


async def test_a_resend_claiming_while_a_failure_is_being_released_keeps_its_in_flight_entry() -> (
    None
):
    store = NetworkedStore()
    router = WebhookRouter()
    runs: list[int] = []
    second_started, second_may_end = asyncio.Event(), asyncio.Event()

    @router.on(Candidate)
    async def handle(event: Candidate, delivery: Delivery) -> None:
        runs.append(len(runs) + 1)
        if len(runs) == 2:
            second_started.set()
            await second_may_end.wait()
        if len(runs) <= 2:
            raise RuntimeError("still broken")

    app, _ = mount(router, dedupe=store)
    with recording_server_errors() as server_errors:
        async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
            body = body_of(1)
            first = asyncio.create_task(post_signed(http, body, verb=CREATED))
            await store.released.wait()  # run 1 failed; its claim is gone, the reply is not
            second = asyncio.create_task(post_signed(http, body, verb=CREATED))
            await second_started.wait()
            store.reply.set()
            first_reply = await first
            store.claimed.clear()
            third = asyncio.create_task(post_signed(http, body, verb=CREATED))
            while store.claims < 3:  # the third copy reached the receiver during run 2
                store.claimed.clear()
                await store.claimed.wait()
            second_may_end.set()
            replies = [first_reply, await second, await third]

    assert [(r.status, r.text) for r in replies] == [
        (500, '{"status": "handler_failed", "failed": 1}'),
        (500, '{"status": "handler_failed", "failed": 1}'),
        (200, '{"status": "processed", "handlers": 1}'),  # it waited for run 2, then ran
    ]
    assert runs == [1, 2, 3]
    assert server_errors == []
