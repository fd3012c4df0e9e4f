"""The router on its own (no aiohttp): registration, composition and concurrent dispatch."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from typing import Any

import anyio
import pytest

from tahdah_async.models import Candidate, Model
from tahdah_async.webhooks import Delivery, DispatchResult, WebhookRouter
from tahdah_async.webhooks import events as ev
from tests.webhooks.helpers import HANG_GUARD, make_delivery

CREATED = ev.CandidateCreated(id=212233, first_name="Sam")
CREATED_DELIVERY = make_delivery("candidates.created", b'{"id":212233,"firstName":"Sam"}')


class Calls:
    """Records the (event, delivery) pairs handlers are called with, by handler name."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, Delivery]] = []

    def names(self) -> list[str]:
        return sorted(name for name, _, _ in self.seen)

    def handler(self, name: str) -> Any:
        async def handle(event: Any, delivery: Delivery) -> None:
            self.seen.append((name, event, delivery))

        return handle


async def dispatch(router: WebhookRouter, verb: str, payload: Any) -> DispatchResult:
    """Parse ``payload`` for ``verb`` and dispatch it, as the receiver does."""
    return await router.dispatch(router.parse(verb, payload), make_delivery(verb))


# -- registration -----------------------------------------------------------------------------


async def test_on_an_event_type_receives_that_event_and_its_delivery() -> None:
    router, calls = WebhookRouter(), Calls()
    router.on(ev.CandidateCreated)(calls.handler("created"))
    router.on(ev.CandidateUpdated)(calls.handler("updated"))
    result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert calls.seen == [("created", CREATED, CREATED_DELIVERY)]
    assert result == DispatchResult(event=CREATED, handled=1, unknown=False, errors=())
    assert result.ok


async def test_on_as_a_decorator_returns_the_handler() -> None:
    router = WebhookRouter()
    seen: list[ev.CandidateCreated] = []

    @router.on(ev.CandidateCreated)
    async def handle(event: ev.CandidateCreated, delivery: Delivery) -> None:
        seen.append(event)

    assert callable(handle)
    await handle(CREATED, CREATED_DELIVERY)  # still the plain coroutine function
    await router.dispatch(CREATED, CREATED_DELIVERY)
    assert seen == [CREATED, CREATED]


@pytest.mark.parametrize(
    "spelling", ["candidates.created", "CANDIDATES.CREATED", "Candidates.Created"]
)
async def test_on_a_verb_compares_case_insensitively(spelling: str) -> None:
    router, calls = WebhookRouter(), Calls()
    router.on(spelling)(calls.handler("verb"))
    await dispatch(router, "candidates.created", {"id": 1})
    await dispatch(router, "CANDIDATES.created", {"id": 2})
    await dispatch(router, "candidates.updated", {"id": 3})
    assert calls.names() == ["verb", "verb"]
    assert [event.id for _, event, _ in calls.seen] == [1, 2]
    assert all(isinstance(event, ev.CandidateCreated) for _, event, _ in calls.seen)


async def test_several_handlers_for_one_event_all_run() -> None:
    router, calls = WebhookRouter(), Calls()
    router.on(ev.CandidateCreated)(calls.handler("a"))
    router.on(ev.CandidateCreated)(calls.handler("b"))
    router.on("candidates.created")(calls.handler("c"))
    router.on(Candidate)(calls.handler("d"))
    router.on_any(calls.handler("e"))
    result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert calls.names() == ["a", "b", "c", "d", "e"]
    assert result.handled == 5
    assert result.ok


async def test_a_base_class_handler_receives_its_subclass_events() -> None:
    router, calls = WebhookRouter(), Calls()
    router.on(Candidate)(calls.handler("candidate"))
    router.on(Model)(calls.handler("model"))
    for verb in ("candidates.created", "candidates.updated", "candidates.deleted"):
        await dispatch(router, verb, {"id": 5})
    await dispatch(router, "legalEntities.created", {"name": "Northfield"})
    assert calls.names() == ["candidate"] * 3 + ["model"] * 4
    assert {type(e) for n, e, _ in calls.seen if n == "candidate"} == {
        ev.CandidateCreated,
        ev.CandidateUpdated,
        ev.CandidateDeleted,
    }


async def test_on_any_runs_for_known_and_unknown_verbs() -> None:
    router, calls = WebhookRouter(), Calls()
    router.on_any(calls.handler("any"))
    known = await dispatch(router, "candidates.created", {"id": 1})
    unknown = await dispatch(router, "widgets.exploded", {"id": 2})
    assert calls.names() == ["any", "any"]
    assert (known.handled, known.unknown) == (1, False)
    assert (unknown.handled, unknown.unknown) == (1, True)
    assert isinstance(calls.seen[1][1], ev.UnknownEvent)


async def test_on_unknown_runs_only_for_verbs_nothing_knows() -> None:
    router, calls = WebhookRouter(), Calls()
    router.on_unknown(calls.handler("unknown"))
    known = await dispatch(router, "candidates.created", {"id": 1})
    assert calls.seen == []
    assert (known.handled, known.unknown) == (0, False)

    result = await dispatch(router, "widgets.exploded", {"id": 2})
    assert calls.names() == ["unknown"]
    assert calls.seen[0][1] == ev.UnknownEvent(verb="widgets.exploded", data={"id": 2})
    assert result.unknown
    assert result.handled == 1


async def test_a_verb_handler_makes_an_unregistered_verb_known() -> None:
    router, calls = WebhookRouter(), Calls()
    router.on("widgets.exploded")(calls.handler("verb"))
    router.on_unknown(calls.handler("unknown"))
    result = await dispatch(router, "Widgets.Exploded", {"id": 2})
    assert calls.names() == ["verb"]
    assert calls.seen[0][1] == ev.UnknownEvent(verb="Widgets.Exploded", data={"id": 2})
    assert not result.unknown


async def test_an_unknown_verb_without_handlers_is_reported_unknown() -> None:
    result = await dispatch(WebhookRouter(), "widgets.exploded", {})
    assert result == DispatchResult(
        event=ev.UnknownEvent(verb="widgets.exploded", data={}), handled=0, unknown=True, errors=()
    )


async def test_registering_a_non_async_function_raises_type_error() -> None:
    def sync_handler(event: Any, delivery: Delivery) -> None:
        return None

    def sync_error_handler(error: BaseException, event: Any, delivery: Delivery) -> None:
        return None

    router = WebhookRouter()
    with pytest.raises(TypeError, match="async"):
        router.on(ev.CandidateCreated)(sync_handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async"):
        router.on("candidates.created")(sync_handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async"):
        router.on_any(sync_handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async"):
        router.on_unknown(sync_handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="async"):
        router.on_error(sync_error_handler)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        router.on_any(42)  # type: ignore[arg-type]
    # Nothing was registered by the failed attempts.
    assert (await router.dispatch(CREATED, CREATED_DELIVERY)).handled == 0


async def test_async_callables_and_partials_are_accepted() -> None:
    seen: list[str] = []

    class Handler:
        async def __call__(self, event: Any, delivery: Delivery) -> None:
            seen.append("object")

    async def tagged(tag: str, event: Any, delivery: Delivery) -> None:
        seen.append(tag)

    router = WebhookRouter()
    router.on(ev.CandidateCreated)(Handler())
    router.on(ev.CandidateCreated)(functools.partial(tagged, "partial"))
    await router.dispatch(CREATED, CREATED_DELIVERY)
    assert sorted(seen) == ["object", "partial"]


@pytest.mark.parametrize("target", [42, None, b"candidates.created"], ids=repr)
def test_on_rejects_a_target_that_is_not_a_type_or_verb(target: Any) -> None:
    with pytest.raises(TypeError, match="event type or a verb"):
        WebhookRouter().on(target)


@pytest.mark.parametrize("verb", ["", "   "])
def test_on_rejects_an_empty_verb(verb: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        WebhookRouter().on(verb)


# -- composition ------------------------------------------------------------------------------


async def test_include_applies_the_other_routers_handlers_and_aliases() -> None:
    app, feature, calls = WebhookRouter(), WebhookRouter(), Calls()
    feature.alias("trustgroups.memberadded", ev.TrustGroupMemberAdded)
    feature.on(ev.TrustGroupMemberAdded)(calls.handler("feature"))
    app.on_any(calls.handler("app"))
    app.include(feature)
    assert app.event_type("trustGroups.memberAdded") is ev.TrustGroupMemberAdded
    result = await dispatch(app, "trustGroups.memberAdded", {"trustGroupId": 7})
    assert calls.names() == ["app", "feature"]
    assert isinstance(calls.seen[0][1], ev.TrustGroupMemberAdded)
    assert result.handled == 2
    # The included router is unchanged by being included.
    assert feature.event_type("trustGroups.memberAdded") is ev.TrustGroupMemberAdded
    assert (await dispatch(feature, "trustGroups.memberAdded", {})).handled == 1


async def test_include_is_live_later_additions_count() -> None:
    app, feature, calls = WebhookRouter(), WebhookRouter(), Calls()
    app.include(feature)
    assert app.event_type("catalogue.entry.live") is None
    feature.on(ev.CandidateCreated)(calls.handler("later"))
    feature.alias("catalogue.entry.live", ev.CatalogueEntryPublished)
    nested = WebhookRouter()
    feature.include(nested)
    nested.on_unknown(calls.handler("nested-unknown"))
    assert app.event_type("catalogue.entry.live") is ev.CatalogueEntryPublished
    await dispatch(app, "candidates.created", {"id": 1})
    await dispatch(app, "widgets.exploded", {})
    assert calls.names() == ["later", "nested-unknown"]


async def test_the_including_routers_alias_wins() -> None:
    app, feature = WebhookRouter(), WebhookRouter()
    feature.alias("x.happened", ev.CandidateCreated)
    app.alias("x.happened", ev.CandidateUpdated)
    app.include(feature)
    assert app.event_type("x.happened") is ev.CandidateUpdated
    assert feature.event_type("x.happened") is ev.CandidateCreated


def test_including_itself_or_a_cycle_raises_value_error() -> None:
    a, b, c = WebhookRouter(), WebhookRouter(), WebhookRouter()
    with pytest.raises(ValueError, match="itself"):
        a.include(a)
    a.include(b)
    with pytest.raises(ValueError, match="itself"):
        b.include(a)
    b.include(c)
    with pytest.raises(ValueError, match="itself"):
        c.include(a)
    with pytest.raises(ValueError, match="itself"):
        c.include(b)
    with pytest.raises(TypeError, match="WebhookRouter"):
        a.include("router")  # type: ignore[arg-type]
    # The failed includes changed nothing: a delivery reaches each router once and returns.
    assert a.event_type("legalEntities.created") is ev.LegalEntityCreated


async def test_a_router_included_along_two_paths_runs_its_handlers_once() -> None:
    app, billing, crm, audit, calls = (
        WebhookRouter(),
        WebhookRouter(),
        WebhookRouter(),
        WebhookRouter(),
        Calls(),
    )
    audit.on_any(calls.handler("audit"))
    billing.include(audit)
    crm.include(audit)
    app.include(billing)
    app.include(crm)
    await dispatch(app, "candidates.created", {"id": 1})
    assert calls.names() == ["audit"]


# -- concurrency and failures -----------------------------------------------------------------


async def test_handlers_of_one_delivery_run_concurrently() -> None:
    router = WebhookRouter()
    first_started, second_started = anyio.Event(), anyio.Event()

    @router.on(ev.CandidateCreated)
    async def first(event: ev.CandidateCreated, delivery: Delivery) -> None:
        first_started.set()
        await second_started.wait()  # only returns if the other handler runs meanwhile

    @router.on(ev.CandidateCreated)
    async def second(event: ev.CandidateCreated, delivery: Delivery) -> None:
        second_started.set()
        await first_started.wait()

    with anyio.fail_after(HANG_GUARD):
        result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert result.ok
    assert result.handled == 2


async def test_a_failing_handler_does_not_stop_the_others() -> None:
    router = WebhookRouter(timeout=None)
    boom = RuntimeError("boom")
    finished: list[str] = []
    reported: list[tuple[BaseException, Any, Delivery]] = []
    failure_reported = anyio.Event()

    @router.on(ev.CandidateCreated)
    async def fails(event: ev.CandidateCreated, delivery: Delivery) -> None:
        raise boom

    @router.on(ev.CandidateCreated)
    async def slow(event: ev.CandidateCreated, delivery: Delivery) -> None:
        await failure_reported.wait()  # still running when the other one has failed
        finished.append("slow")

    @router.on_any
    async def fast(event: Any, delivery: Delivery) -> None:
        finished.append("fast")

    @router.on_error
    async def report(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append((error, event, delivery))
        failure_reported.set()

    with anyio.fail_after(HANG_GUARD):
        result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert sorted(finished) == ["fast", "slow"]
    assert result.errors == (boom,)
    assert not result.ok
    assert result.handled == 3
    assert len(reported) == 1
    assert reported[0][0] is boom
    assert reported[0][1] is CREATED
    assert reported[0][2] is CREATED_DELIVERY


async def test_every_failure_is_collected_and_reported() -> None:
    router = WebhookRouter()
    errors = [ValueError("one"), KeyError("two")]
    reported: list[BaseException] = []

    for error in errors:

        async def fails(event: Any, delivery: Delivery, error: Exception = error) -> None:
            raise error

        router.on(ev.CandidateCreated)(fails)

    @router.on_error
    async def report(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append(error)

    result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert sorted(map(repr, result.errors)) == sorted(map(repr, errors))
    assert sorted(map(repr, reported)) == sorted(map(repr, errors))


async def test_a_failing_error_handler_is_logged_and_does_not_break_dispatch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = WebhookRouter(timeout=None)
    boom = RuntimeError("boom")
    reported: list[BaseException] = []
    ran: list[str] = []
    reported_past_the_broken_one = anyio.Event()

    @router.on(ev.CandidateCreated)
    async def fails(event: ev.CandidateCreated, delivery: Delivery) -> None:
        raise boom

    @router.on(ev.CandidateCreated)
    async def succeeds(event: ev.CandidateCreated, delivery: Delivery) -> None:
        # Still running while the error handlers run, and finishing after the broken one.
        await reported_past_the_broken_one.wait()
        ran.append("succeeds")

    @router.on_error
    async def broken(error: BaseException, event: Any, delivery: Delivery) -> None:
        raise LookupError("the error handler broke")

    @router.on_error
    async def working(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append(error)
        reported_past_the_broken_one.set()

    with (
        caplog.at_level(logging.ERROR, logger="tahdah_async.webhooks"),
        anyio.fail_after(HANG_GUARD),
    ):
        result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert result.errors == (boom,)
    assert ran == ["succeeds"]
    assert reported == [boom]
    broken_records = [r for r in caplog.records if "on_error handler failed" in r.getMessage()]
    assert len(broken_records) == 1
    assert broken_records[0].name == "tahdah_async.webhooks"
    assert broken_records[0].exc_info is not None
    assert isinstance(broken_records[0].exc_info[1], LookupError)


async def test_a_failing_handler_is_logged_with_the_verb_and_body_hash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = WebhookRouter()

    @router.on(ev.CandidateCreated)
    async def fails(event: ev.CandidateCreated, delivery: Delivery) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="tahdah_async.webhooks"):
        await router.dispatch(CREATED, CREATED_DELIVERY)
    (record,) = [r for r in caplog.records if r.name == "tahdah_async.webhooks"]
    assert record.levelno == logging.ERROR
    assert "candidates.created" in record.getMessage()
    assert CREATED_DELIVERY.body_sha256[:16] in record.getMessage()


async def test_error_handlers_of_included_routers_are_called() -> None:
    app, feature = WebhookRouter(), WebhookRouter()
    reported: list[str] = []

    @feature.on(ev.CandidateCreated)
    async def fails(event: ev.CandidateCreated, delivery: Delivery) -> None:
        raise RuntimeError("boom")

    @feature.on_error
    async def feature_report(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append("feature")

    @app.on_error
    async def app_report(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append("app")

    app.include(feature)
    result = await app.dispatch(CREATED, CREATED_DELIVERY)
    assert len(result.errors) == 1
    assert sorted(reported) == ["app", "feature"]


# -- timeouts ---------------------------------------------------------------------------------
#
# A handler that must time out waits for an event nobody sets, so only its timeout can end
# it: a TimeoutError (and dispatch returning) is the proof, not how long it took. A handler
# that must not time out has no limit, or a generous one, and finishes on an event.


async def never_finishes(event: Any, delivery: Delivery) -> None:
    await anyio.Event().wait()


def timed_out_signal(router: WebhookRouter) -> anyio.Event:
    """An event set when a handler of ``router`` fails with a ``TimeoutError``."""
    timed_out = anyio.Event()

    @router.on_error
    async def note(error: BaseException, event: Any, delivery: Delivery) -> None:
        if isinstance(error, TimeoutError):
            timed_out.set()

    return timed_out


async def test_the_router_timeout_turns_a_slow_handler_into_a_timeout_error() -> None:
    router = WebhookRouter(timeout=0.05)
    done: list[str] = []
    router.on(ev.CandidateCreated)(never_finishes)

    @router.on(ev.CandidateCreated)
    async def quick(event: ev.CandidateCreated, delivery: Delivery) -> None:
        done.append("quick")  # never suspends, so no limit can cut it

    with anyio.fail_after(HANG_GUARD):
        result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert len(result.errors) == 1
    assert isinstance(result.errors[0], TimeoutError)
    assert done == ["quick"]


async def test_on_any_and_on_unknown_use_the_router_timeout() -> None:
    router = WebhookRouter(timeout=0.05)
    router.on_any(never_finishes)
    router.on_unknown(never_finishes)
    with anyio.fail_after(HANG_GUARD):
        result = await dispatch(router, "widgets.exploded", {})
    assert [type(e) for e in result.errors] == [TimeoutError, TimeoutError]


async def test_a_registration_timeout_applies_to_that_handler_only() -> None:
    router = WebhookRouter(timeout=None)
    done: list[str] = []
    timed_out = timed_out_signal(router)

    # Registered (so started) first: had it taken the other handler's limit, its deadline
    # would come first and it would time out before that one's timeout is reported.
    @router.on(ev.CandidateCreated)
    async def unhurried(event: ev.CandidateCreated, delivery: Delivery) -> None:
        await timed_out.wait()  # outlives the other handler's limit
        done.append("unhurried")

    router.on(ev.CandidateCreated, timeout=0.05)(never_finishes)

    with anyio.fail_after(HANG_GUARD):
        result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert [type(e) for e in result.errors] == [TimeoutError]
    assert done == ["unhurried"]


async def test_a_registration_timeout_overrides_the_router_timeout() -> None:
    router = WebhookRouter(timeout=0.02)
    done: list[str] = []
    timed_out = timed_out_signal(router)

    @router.on("candidates.created", timeout=None)
    async def unlimited(event: Any, delivery: Delivery) -> None:
        await timed_out.wait()  # outlives the router's limit
        done.append("unlimited")

    @router.on(ev.CandidateCreated, timeout=HANG_GUARD)
    async def generous(event: ev.CandidateCreated, delivery: Delivery) -> None:
        await timed_out.wait()
        done.append("generous")

    # Under the router's limit, started after the two above: when its limit fires, theirs
    # (had they kept the router's) would have fired too.
    router.on_any(never_finishes)

    with anyio.fail_after(HANG_GUARD):
        result = await router.dispatch(CREATED, CREATED_DELIVERY)
    assert [type(e) for e in result.errors] == [TimeoutError]  # the on_any handler's only
    assert sorted(done) == ["generous", "unlimited"]


async def test_a_handler_within_its_timeout_succeeds() -> None:
    router = WebhookRouter(timeout=HANG_GUARD)
    done: list[str] = []
    started, release = anyio.Event(), anyio.Event()

    @router.on(ev.CandidateCreated)
    async def prompt(event: ev.CandidateCreated, delivery: Delivery) -> None:
        started.set()
        await release.wait()  # suspended under its limit until the test lets it go
        done.append("prompt")

    with anyio.fail_after(HANG_GUARD):
        dispatching = asyncio.create_task(router.dispatch(CREATED, CREATED_DELIVERY))
        await started.wait()
        assert done == []
        release.set()
        assert (await dispatching).ok
    assert done == ["prompt"]


BAD_TIMEOUTS: list[tuple[object, type[Exception]]] = [
    (0, ValueError),
    (-1, ValueError),
    (-0.5, ValueError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    ("1", TypeError),
    (True, TypeError),
    ([1], TypeError),
]


@pytest.mark.parametrize(("timeout", "error"), BAD_TIMEOUTS, ids=repr)
def test_an_invalid_router_timeout_raises(timeout: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="timeout"):
        WebhookRouter(timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize(("timeout", "error"), BAD_TIMEOUTS, ids=repr)
def test_an_invalid_registration_timeout_raises(timeout: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="timeout"):
        WebhookRouter().on(ev.CandidateCreated, timeout=timeout)


@pytest.mark.parametrize("handlers", [1, 2])
async def test_cancelling_dispatch_cancels_the_handlers(handlers: int) -> None:
    router = WebhookRouter(timeout=None)
    cancelled: list[str] = []
    started: list[str] = []
    all_started = anyio.Event()

    for name in ["first", "second"][:handlers]:

        async def waits(event: Any, delivery: Delivery, name: str = name) -> None:
            started.append(name)
            if len(started) == handlers:
                all_started.set()
            try:
                await anyio.Event().wait()  # only a cancellation ends this
            except anyio.get_cancelled_exc_class():
                cancelled.append(name)
                raise

        router.on(ev.CandidateCreated)(waits)

    dispatching = asyncio.create_task(router.dispatch(CREATED, CREATED_DELIVERY))
    with anyio.fail_after(HANG_GUARD):
        await all_started.wait()
        dispatching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dispatching
    assert dispatching.cancelled()  # the cancellation propagated out of dispatch
    assert sorted(cancelled) == ["first", "second"][:handlers]


def test_a_delivery_repr_hides_the_body_and_headers() -> None:
    delivery = make_delivery(
        "candidates.created",
        b'{"email":"private@example.com"}',
        headers={"Webhook-Signature": "f" * 64, "Authorization": "key-123"},
    )
    text = repr(delivery)
    assert "candidates.created" in text
    assert "private@example.com" not in text
    assert "f" * 64 not in text
    assert "key-123" not in text


async def test_a_handler_registered_after_a_dispatch_runs_on_the_next_one() -> None:
    router = WebhookRouter()
    ran: list[str] = []

    async def first(event: object, delivery: Delivery) -> None:
        ran.append("first")

    async def second(event: object, delivery: Delivery) -> None:
        ran.append("second")

    register = router.on("custom.verb")
    register(first)
    delivery = make_delivery("custom.verb")
    await router.dispatch(router.parse("custom.verb", {}), delivery)
    register(second)  # the same decorator, used again after the lookup was cached
    await router.dispatch(router.parse("custom.verb", {}), delivery)

    assert ran == ["first", "first", "second"]


# -- the lookup caches and the unsigned verb header ---------------------------------------


async def test_a_resolved_router_grows_nothing_per_verb_and_matches_spellings_alike() -> None:
    router = WebhookRouter()
    seen: list[str] = []

    @router.on("candidates.created")
    async def created(event: Any, delivery: Delivery) -> None:
        seen.append(delivery.verb)

    router.resolve()
    table = router._table
    assert table is not None
    routes = len(table.routes)
    for verb in ("candidates.created", "Candidates.Created", " CANDIDATES.CREATED "):
        result = await router.dispatch(CREATED, make_delivery(verb, b"{}"))
        assert result.handled == 1
        assert router.event_type(verb) is ev.CandidateCreated
    # Verbs no sender would use (the header is not signed) leave no trace anywhere.
    for n in range(50):
        junk = f"x{n}" * 100
        assert (await router.dispatch(CREATED, make_delivery(junk, b"{}"))).handled == 0
        assert router.event_type(junk) is None
    assert router._table is table
    assert len(table.routes) == routes
    assert len(seen) == 3


async def test_a_resolved_router_refuses_registrations_so_none_applies_halfway() -> None:
    router, included, calls = WebhookRouter(), WebhookRouter(), Calls()
    router.include(included)
    router.on(ev.CandidateCreated)(calls.handler("before"))
    router.resolve()
    router.resolve()  # again: nothing changes
    late = calls.handler("late")
    for register in (
        lambda: router.on(ev.CandidateCreated)(late),
        lambda: included.on("candidates.created")(late),
        lambda: router.on_any(late),
        lambda: included.on_unknown(late),
        lambda: router.alias("x.y", ev.CandidateCreated),
        lambda: router.include(WebhookRouter()),
    ):
        with pytest.raises(RuntimeError, match="before the application starts"):
            register()
    await dispatch(router, "candidates.created", {"id": 1})
    assert calls.names() == ["before"]
