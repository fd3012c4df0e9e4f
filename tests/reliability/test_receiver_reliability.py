"""The webhook receiver under load and at shutdown, over real loopback sockets.

Two thousand concurrent deliveries mix valid ones, resends (some while the first copy is still
being handled, some under another verb), forged or malformed signatures and deliveries whose
handler fails; the ledger of handler runs must show every valid delivery processed exactly
once, in both modes. Then a real application shutdown in ack-then-process mode: what was
accepted is drained, what cannot finish is cancelled and named in the log, and what arrives
meanwhile is refused with a 503. Last, the claim token at work: a run whose lease expired
cannot free the claim of the run that took over.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
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
    Claim,
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
DUPLICATE: Final = (200, "duplicate")
IN_PROGRESS: Final = (409, "in_progress")

# -- the plan of the 2,000-delivery wave ------------------------------------------------------

VALID = range(0, 1280)
"""``candidates.created`` deliveries that must each be processed exactly once."""
UPDATED_BODIES = range(3000, 3100)
"""``candidates.updated`` deliveries of bodies of their own: new deliveries, processed too."""
HELD = range(0, 30)
"""Valid deliveries whose handler waits until their resends have reached the receiver; the
last resend of each goes under ``candidates.updated``, the same delivery to the receiver."""
RESENDS_IN_FLIGHT = 2
RESENT = range(100, 340)
"""Valid deliveries sent twice at once (the even ones with the verb in upper case)."""
TAMPERED = range(400, 500)
"""Valid deliveries also sent with the signature of another secret."""
OTHER_VERB = range(500, 520)
"""Valid deliveries sent again under ``candidates.updated`` once processed: a replay of a
signed body under an unsigned verb, which must be a duplicate and run no handler."""
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


def sha256_of(n: int) -> str:
    return hashlib.sha256(body_of(n)).hexdigest()


def key_of(n: int) -> str:
    """The dedupe key of the delivery of ``body_of(n)``, under any verb."""
    return delivery_key(sha256_of(n))


def prefix(n: int) -> str:
    return sha256_of(n)[:16]


class When(enum.Enum):
    """When a request of the wave is sent."""

    AT_ONCE = "at once"
    STARTED = "once the first copy's handler has started (a resend while in flight)"
    COMMITTED = "once the first copy's claim is committed (a resend of a processed delivery)"


@attrs.frozen
class Planned:
    """One request of the wave."""

    kind: str
    n: int
    verb: str
    body: bytes
    signature: str
    delivery: tuple[str, int]
    """The event (type name, id) the first copy of this body is handled as."""
    when: When = When.AT_ONCE


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

    def signed(kind: str, n: int, verb: str = CREATED, *, when: When = When.AT_ONCE) -> None:
        body = body_of(n)
        first = "CandidateUpdated" if n in UPDATED_BODIES else "CandidateCreated"
        wave.append(Planned(kind, n, verb, body, sign(body, SECRET), (first, n), when))

    def bad(n: int, signature: str) -> None:
        wave.append(Planned("bad", n, CREATED, body_of(n), signature, ("CandidateCreated", n)))

    for n in VALID:
        signed("valid", n)
    for n in UPDATED_BODIES:
        signed("valid", n, UPDATED)
    for n in HELD:
        for i in range(RESENDS_IN_FLIGHT):
            verb = UPDATED if i == RESENDS_IN_FLIGHT - 1 else CREATED
            signed("resend", n, verb, when=When.STARTED)
    for n in RESENT:
        signed("resend", n, CREATED.upper() if n % 2 == 0 else CREATED)
    for n in OTHER_VERB:
        signed("resend", n, UPDATED, when=When.COMMITTED)
    for n in FAILING:
        signed("failing", n)
    for n in FAILING_HELD:
        signed("failing", n, when=When.STARTED)
    for n in (*TAMPERED, *FORGED):
        bad(n, sign(body_of(n), FORGER))
    for n in MALFORMED:
        bad(n, malformed_signature(n, body_of(n)))
    assert len(wave) == WAVE
    return wave


# -- the receiving side -----------------------------------------------------------------------


class CountingStore(MemoryDedupeStore):
    """The in-memory store, counting claims per key so a test can see resends arrive, and
    signalling commits so a test can send a copy once its delivery is processed.

    ``changed`` is set at every claim (and by the wave at every answer to a resend)."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: collections.Counter[str] = collections.Counter()
        self.changed = asyncio.Event()
        self.committed: collections.defaultdict[str, asyncio.Event] = collections.defaultdict(
            asyncio.Event
        )

    # No await before the inner calls: each must stay atomic, as the protocol requires.

    async def claim(self, key: str, lease: float) -> Claim:
        self.claims[key] += 1
        self.changed.set()
        return await super().claim(key, lease)

    async def commit(self, key: str, token: str, ttl: float) -> bool:
        done = await super().commit(key, token, ttl)
        if done:
            self.committed[key].set()
        return done


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

    A copy sent later waits for the event it depends on (its first copy's handler started,
    or its first copy's claim committed), then goes over a session of its own (a connection
    each), so it reaches the receiver at that stage, however long the rest of the wave queues
    for the client's pool. A resend has arrived once the store saw its claim, or once it was
    answered: either alone would hang the wave, rather than fail it, if the receiver made a
    resend wait for its first copy or claimed it under another key.
    """
    resends = collections.Counter(i.delivery for i in wave if i.when is When.STARTED)
    answered: collections.Counter[tuple[str, int]] = collections.Counter()
    body_key = {i.delivery: delivery_key(hashlib.sha256(i.body).hexdigest()) for i in wave}

    def arrived(delivery: tuple[str, int], count: int) -> bool:
        return store.claims[body_key[delivery]] > count or answered[delivery] == count

    async def release_when_resends_arrived() -> None:
        while not all(arrived(delivery, count) for delivery, count in resends.items()):
            store.changed.clear()
            await store.changed.wait()
        ledger.gate.set()

    connector = aiohttp.TCPConnector(limit=sum(item.when is not When.AT_ONCE for item in wave))
    async with aiohttp.ClientSession(connector=connector) as resender:
        url = http.make_url(MOUNT)

        async def one(item: Planned) -> Reply:
            if item.when is When.AT_ONCE:
                return await send(http, item)
            if item.when is When.COMMITTED:
                await store.committed[body_key[item.delivery]].wait()
                return await resend(resender, url, item)
            await ledger.started[item.delivery].wait()
            reply = await resend(resender, url, item)
            answered[item.delivery] += 1
            store.changed.set()
            return reply

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
    # A copy arriving while its first copy runs: the sender must come back later, unless the
    # first copy was acknowledged already.
    while_running = DUPLICATE if acking else IN_PROGRESS
    caplog.set_level(logging.ERROR, logger=LOGGER)

    async with asyncio.timeout(WAVE_HANG_GUARD):
        # All 2,000 are sent at once over up to 500 connections (more than 500 only measures
        # the test server's listen backlog of 128); the 90 copies sent at a given stage of
        # their first copy go over connections of their own (see run_wave), so they never
        # queue behind the wave and the held handlers are released as soon as the resends
        # have arrived.
        async with serve_app(app, connector_limit=500) as http:
            replies = await run_wave(http, ledger, store, wave)
            await receiver.drain(within=WAVE_HANG_GUARD)  # a limit that must never fire
            assert receiver.pending == 0

            # Each resend sent while its first copy was held claimed while that copy ran, and
            # only once: none waits for the outcome and claims again.
            claims = {n: store.claims[key_of(n)] for n in (*HELD, *FAILING_HELD)}
            assert claims == {
                **dict.fromkeys(HELD, 1 + RESENDS_IN_FLIGHT),
                **dict.fromkeys(FAILING_HELD, 2),
            }

            by_delivery: dict[tuple[str, int], list[Reply]] = collections.defaultdict(list)
            for item, reply in zip(wave, replies, strict=True):
                if item.kind != "bad":
                    by_delivery[item.delivery].append(reply)

            # Every forged or malformed signature: 401, and its body never reached a handler.
            bad = [r for i, r in zip(wave, replies, strict=True) if i.kind == "bad"]
            assert statuses(bad) == {(401, "invalid_signature"): 190}
            assert not any(("CandidateCreated", n) in ledger.runs for n in (*FORGED, *MALFORMED))

            # Every "come back later" says when.
            busy = [r for r in replies if (r.status, r.what) == IN_PROGRESS]
            assert all(r.headers.get("Retry-After") == "5" for r in busy)
            if acking:
                assert busy == []

            failing_keys = [("CandidateCreated", n) for n in FAILING]
            # Every valid delivery: run once, succeeded once, answered once as new; its other
            # copies never ran a handler, whatever their verb.
            valid = {k: v for k, v in by_delivery.items() if k[1] not in FAILING}
            expected_valid = {("CandidateCreated", n) for n in VALID} | {
                ("CandidateUpdated", n) for n in UPDATED_BODIES
            }
            assert set(valid) == expected_valid
            for key, copies in valid.items():
                counted = statuses(copies)
                assert counted[accepted] == 1, key
                others = counted - collections.Counter({accepted: 1})
                assert others.total() == len(copies) - 1, key
                if key[1] in HELD:  # resent while held: it was still running
                    assert others == {while_running: RESENDS_IN_FLIGHT}, key
                elif key[1] in OTHER_VERB:  # resent under another verb once processed
                    assert others == {DUPLICATE: 1}, key
                elif key[1] in RESENT:
                    # Sent at the same moment as the first copy: it may arrive while that
                    # copy's handler runs or after; which one is up to the scheduler.
                    assert set(others) <= {DUPLICATE, while_running}, key
                else:
                    assert others == {}, key
            assert set(ledger.runs) == expected_valid | set(failing_keys)
            assert {k: ledger.runs[k] for k in expected_valid} == dict.fromkeys(expected_valid, 1)
            assert +ledger.successes == collections.Counter(expected_valid)

            # Failing deliveries: a 500 for the first copy when the sender hears the outcome,
            # so it retries; a resend while it ran was told to come back (or, in
            # ack-then-process mode, that the first copy was acknowledged already).
            failing = {k: v for k, v in by_delivery.items() if k[1] in FAILING}
            assert set(failing) == set(failing_keys)
            first_failing = (202, "accepted") if acking else (500, "handler_failed")
            for (_, n), copies in failing.items():
                resent = n in FAILING_HELD
                expected = {first_failing: 1, **({while_running: 1} if resent else {})}
                assert statuses(copies) == expected, n
                assert ledger.runs[("CandidateCreated", n)] == 1, n

            # No 5xx except from the failing handlers (and none at all in ack-then-process).
            five_hundreds = [i for i, r in zip(wave, replies, strict=True) if r.status >= 500]
            assert {i.kind for i in five_hundreds} == (set() if acking else {"failing"})
            assert len(five_hundreds) == (0 if acking else len(FAILING))

            # The sender comes back with every copy told to: a duplicate now for what was
            # processed, and a failing delivery runs again (and fails again, still broken).
            told = [i for i, r in zip(wave, replies, strict=True) if r.status == IN_PROGRESS[0]]
            back = await asyncio.gather(*(send(http, item) for item in told))
            await receiver.drain(within=WAVE_HANG_GUARD)
            assert [(i.n, r.status, r.what) for i, r in zip(told, back, strict=True)] == [
                (i.n, *((500, "handler_failed") if i.n in FAILING else DUPLICATE)) for i in told
            ]
            assert {i.n for i in told if i.n in FAILING} == (set() if acking else set(FAILING_HELD))
            runs_while_broken = {n: 1 + (n in FAILING_HELD and not acking) for n in FAILING}
            assert {n: ledger.runs[("CandidateCreated", n)] for n in FAILING} == runs_while_broken
            assert failures_logged(caplog) == {prefix(n): runs_while_broken[n] for n in FAILING}
            assert +ledger.successes == collections.Counter(expected_valid)

            # The handler is fixed; the sender's retries are processed now, and only once.
            ledger.broken = False
            retries = await asyncio.gather(
                *(post_signed(http, body_of(n), verb=CREATED) for n in FAILING)
            )
            await receiver.drain(within=WAVE_HANG_GUARD)
            assert statuses(retries) == {accepted: len(FAILING)}
            again = await asyncio.gather(
                *(
                    post_signed(http, body_of(n), verb=verb)
                    for n in FAILING
                    for verb in (CREATED, UPDATED)
                )
            )
            assert statuses(again) == {DUPLICATE: 2 * len(FAILING)}
            await receiver.drain(within=WAVE_HANG_GUARD)

    assert +ledger.successes == collections.Counter(expected_valid) + collections.Counter(
        ("CandidateCreated", n) for n in FAILING
    )
    assert {n: ledger.runs[("CandidateCreated", n)] for n in FAILING} == {
        n: runs + 1 for n, runs in runs_while_broken.items()
    }
    # No body ever ran as another event than its first copy's.
    assert not any(("CandidateUpdated", n) in ledger.runs for n in (*VALID, *FAILING))


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
    # What drain() names a task by: the verb as logs show it, and the body hash.
    names = {n: f"{CREATED!r} sha256={sha256_of(n)}" for n in (*FINISHING, *STUCK)}

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
        (line,) = (m for m in unfinished_lines if f"delivery {names[n]} did not" in m)
        assert "cancelled" in line
        assert f"{DRAIN_TIMEOUT:.1f} s" in line
    for n in FINISHING:
        assert not any(sha256_of(n) in r.getMessage() for r in errors)
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


# -- the claim token ----------------------------------------------------------------------------


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


class Clock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LEASE: Final = 60.0
"""The claim lease: the keeper's timer (every third of it, in real time) never fires during
the test, so only the injected clock decides when a claim expires."""


async def test_a_run_whose_lease_expired_cannot_release_the_claim_of_the_run_that_took_over() -> (
    None
):
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    router = WebhookRouter(timeout=None)
    runs: list[int] = []
    started = [asyncio.Event(), asyncio.Event()]
    may_end = [asyncio.Event(), asyncio.Event()]

    @router.on(Candidate)
    async def handle(event: Candidate, delivery: Delivery) -> None:
        run = len(runs)
        runs.append(run + 1)
        if run >= len(started):  # a third run: the test fails on ``runs`` rather than hangs
            return
        started[run].set()
        await may_end[run].wait()
        if run == 0:
            raise RuntimeError("run 1 fails, long after its lease expired")

    app, _ = mount(router, dedupe=store, dedupe_lease=LEASE)
    body = body_of(1)
    with recording_server_errors() as server_errors:
        async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
            first = asyncio.create_task(post_signed(http, body, verb=CREATED))
            await started[0].wait()
            clock.now += LEASE + 1  # run 1's claim has expired: a resend claims it anew
            second = asyncio.create_task(post_signed(http, body, verb=CREATED))
            await started[1].wait()
            may_end[0].set()
            first_reply = await first  # run 1 failed and released with its own, stale token
            third = await post_signed(http, body, verb=UPDATED)
            may_end[1].set()
            second_reply = await second
            fourth = await post_signed(http, body, verb=CREATED)

    assert (first_reply.status, first_reply.json()) == (
        500,
        {"status": "handler_failed", "failed": 1},
    )
    # Run 2 still holds the claim: a third copy (under any verb) is told to come back.
    assert (third.status, third.what, third.headers.get("Retry-After")) == (
        *IN_PROGRESS,
        "5",
    )
    assert (second_reply.status, second_reply.json()) == (
        200,
        {"status": "processed", "handlers": 1},
    )
    assert (fourth.status, fourth.what) == DUPLICATE
    assert runs == [1, 2]
    assert len(store) == 1
    assert server_errors == []
