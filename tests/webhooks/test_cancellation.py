"""Cancellation and the router: a ``CancelledError`` a handler raises itself is its failure;
a cancellation of the receiver's own task (shutdown, a client gone) still propagates.

A handler "raises CancelledError itself" as real code does: it awaits a task that something
else cancelled (:func:`await_a_cancelled_task`). No test orders anything by sleeping: handlers
wait on events, and :data:`HANG_GUARD` only bounds a real hang.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tahdah_async.webhooks import ACK_THEN_PROCESS, Delivery, WebhookRouter
from tahdah_async.webhooks import events as ev
from tests.webhooks.helpers import HANG_GUARD, Reply, make_delivery, mount, post_signed, serve_app

VERB = "legalEntities.created"
UNKNOWN_VERB = "nothing.knows.this"
BODY = b'{"name": "Cancel Training Ltd", "childAgeLimit": 16, "currencyId": 1}'
LOGGER = "tahdah_async.webhooks"
FAILED = "webhook handler failed"


async def await_a_cancelled_task() -> None:
    """Raise ``CancelledError`` in the caller the way a handler meets one: by awaiting a task
    that something else cancelled (nobody asked to cancel the caller)."""
    other = asyncio.create_task(asyncio.Event().wait())
    other.cancel()
    await other


def check(reply: Reply, status: int, what: str) -> Any:
    assert reply.status == status, reply.text
    assert reply.what == what
    return reply.json()


def logged(caplog: pytest.LogCaptureFixture, level: int = logging.ERROR) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


class Flaky:
    """A handler that raises ``CancelledError`` on its first call and succeeds after."""

    def __init__(self) -> None:
        self.calls = 0
        self.done = 0

    async def __call__(self, event: Any, delivery: Delivery) -> None:
        self.calls += 1
        if self.calls == 1:
            await await_a_cancelled_task()
        self.done += 1


def register(router: WebhookRouter, kind: str, handler: Any) -> None:
    if kind == "type":
        router.on(ev.LegalEntityCreated)(handler)
    elif kind == "verb":
        router.on(VERB)(handler)
    elif kind == "any":
        router.on_any(handler)
    else:
        router.on_unknown(handler)


# -- a handler's own CancelledError is a failure ----------------------------------------------


@pytest.mark.parametrize("kind", ["type", "verb", "any", "unknown"])
async def test_one_handler_raising_cancelled_error_is_500_and_the_delivery_released(
    kind: str,
) -> None:
    router = WebhookRouter(timeout=None)
    flaky = Flaky()
    register(router, kind, flaky)
    reported: list[BaseException] = []

    @router.on_error
    async def on_error(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append(error)

    verb = UNKNOWN_VERB if kind == "unknown" else VERB
    app, _ = mount(router)
    async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
        first = check(await post_signed(http, BODY, verb=verb), 500, "handler_failed")
        assert first == {"status": "handler_failed", "failed": 1}
        assert [type(e) for e in reported] == [asyncio.CancelledError]
        # Released: the sender's resend is processed, not answered `duplicate`.
        if kind == "unknown":
            check(await post_signed(http, BODY, verb=verb), 202, "unknown_verb")
        else:
            check(await post_signed(http, BODY, verb=verb), 200, "processed")
        check(await post_signed(http, BODY, verb=verb), 200, "duplicate")
    assert (flaky.calls, flaky.done) == (2, 1)


async def test_the_sibling_of_a_handler_raising_cancelled_error_finishes() -> None:
    router = WebhookRouter(timeout=None)
    flaky = Flaky()
    router.on(ev.LegalEntityCreated)(flaky)
    failure_reported = asyncio.Event()
    sibling: list[str] = []

    @router.on(ev.LegalEntityCreated)
    async def waits_for_the_failure(event: Any, delivery: Delivery) -> None:
        if not sibling:  # the first delivery: still running when the other handler fails
            await failure_reported.wait()
        sibling.append("finished")

    @router.on_error
    async def on_error(error: BaseException, event: Any, delivery: Delivery) -> None:
        assert isinstance(error, asyncio.CancelledError)
        failure_reported.set()

    app, _ = mount(router)
    async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
        first = check(await post_signed(http, BODY, verb=VERB), 500, "handler_failed")
        assert first == {"status": "handler_failed", "failed": 1}
        assert sibling == ["finished"]  # it ran to its end after the failure, not cancelled
        second = check(await post_signed(http, BODY, verb=VERB), 200, "processed")
        assert second == {"status": "processed", "handlers": 2}
        check(await post_signed(http, BODY, verb=VERB), 200, "duplicate")
    assert sibling == ["finished", "finished"]
    assert (flaky.calls, flaky.done) == (2, 1)


@pytest.mark.parametrize("handlers", [1, 2])
async def test_ack_then_process_logs_the_failure_and_releases_the_delivery(
    handlers: int, caplog: pytest.LogCaptureFixture
) -> None:
    router = WebhookRouter(timeout=None)
    flaky = Flaky()
    router.on(ev.LegalEntityCreated)(flaky)
    sibling: list[str] = []
    if handlers == 2:

        @router.on(ev.LegalEntityCreated)
        async def other(event: Any, delivery: Delivery) -> None:
            sibling.append("finished")

    app, receiver = mount(router, mode=ACK_THEN_PROCESS)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
            check(await post_signed(http, BODY, verb=VERB), 202, "accepted")
            await receiver.drain(within=HANG_GUARD)
            errors = logged(caplog)
            assert len(errors) == 1
            assert errors[0].startswith(FAILED)
            assert "CancelledError" in errors[0]
            assert any(
                "processed in the background: 500 handler_failed" in line
                for line in logged(caplog, logging.INFO)
            )
            # Released: the resend is accepted and its handlers run again.
            check(await post_signed(http, BODY, verb=VERB), 202, "accepted")
            await receiver.drain(within=HANG_GUARD)
            check(await post_signed(http, BODY, verb=VERB), 200, "duplicate")
    assert (flaky.calls, flaky.done) == (2, 1)
    assert sibling == ["finished", "finished"][: 2 * (handlers - 1)]
    assert len(logged(caplog)) == 1


# -- the rest of the class: on_error hooks ----------------------------------------------------


@pytest.mark.parametrize("handlers", [1, 2])
async def test_an_on_error_hook_raising_cancelled_error_is_logged_and_ignored(
    handlers: int, caplog: pytest.LogCaptureFixture
) -> None:
    router = WebhookRouter(timeout=None)
    calls: list[str] = []

    @router.on(ev.LegalEntityCreated)
    async def breaks(event: Any, delivery: Delivery) -> None:
        calls.append("breaks")
        if calls.count("breaks") == 1:
            raise RuntimeError("the handler broke")

    if handlers == 2:

        @router.on(ev.LegalEntityCreated)
        async def fine(event: Any, delivery: Delivery) -> None:
            calls.append("fine")

    @router.on_error
    async def cancelled_hook(error: BaseException, event: Any, delivery: Delivery) -> None:
        await await_a_cancelled_task()

    @router.on_error
    async def next_hook(error: BaseException, event: Any, delivery: Delivery) -> None:
        calls.append(f"next hook: {error}")

    app, _ = mount(router)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
            check(await post_signed(http, BODY, verb=VERB), 500, "handler_failed")
            check(await post_signed(http, BODY, verb=VERB), 200, "processed")
    # The hook after the cancelled one still ran; the sibling finished both times.
    assert calls.count("next hook: the handler broke") == 1
    assert calls.count("fine") == 2 * (handlers - 1)
    assert calls.count("breaks") == 2
    assert [line for line in logged(caplog) if not line.startswith(FAILED)] == [
        "a webhook on_error handler failed"
    ]


# -- a real cancellation still propagates -----------------------------------------------------


@pytest.mark.parametrize("handlers", [1, 2])
async def test_cancelling_dispatch_during_an_on_error_hook_propagates(handlers: int) -> None:
    router = WebhookRouter(timeout=None)
    in_hook = asyncio.Event()
    hook: list[str] = []

    @router.on(ev.CandidateCreated)
    async def breaks(event: Any, delivery: Delivery) -> None:
        raise RuntimeError("the handler broke")

    if handlers == 2:

        @router.on(ev.CandidateCreated)
        async def fine(event: Any, delivery: Delivery) -> None:
            pass

    @router.on_error
    async def stuck(error: BaseException, event: Any, delivery: Delivery) -> None:
        in_hook.set()
        try:
            await asyncio.Event().wait()  # only a cancellation ends this
        except asyncio.CancelledError:
            hook.append("cancelled")
            raise

    event = ev.CandidateCreated(id=1, first_name="Sam")
    dispatching = asyncio.create_task(router.dispatch(event, make_delivery("candidates.created")))
    async with asyncio.timeout(HANG_GUARD):
        await in_hook.wait()
        dispatching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dispatching
    assert dispatching.cancelled()
    assert hook == ["cancelled"]


@pytest.mark.parametrize("handlers", [1, 2])
async def test_a_cancelled_handler_cleaning_up_its_own_task_still_propagates(
    handlers: int,
) -> None:
    # The handler, once cancelled, cancels and awaits its helper task: that await raises a
    # second CancelledError, which is still this cancellation, not a handler failure.
    router = WebhookRouter(timeout=None)
    started: list[str] = []
    all_started = asyncio.Event()
    reported: list[BaseException] = []

    for name in ["first", "second"][:handlers]:

        async def waits(event: Any, delivery: Delivery, name: str = name) -> None:
            helper = asyncio.create_task(asyncio.Event().wait())
            started.append(name)
            if len(started) == handlers:
                all_started.set()
            try:
                await asyncio.Event().wait()  # only a cancellation ends this
            finally:
                helper.cancel()
                await helper

        router.on(ev.CandidateCreated)(waits)

    @router.on_error
    async def on_error(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append(error)

    event = ev.CandidateCreated(id=1, first_name="Sam")
    dispatching = asyncio.create_task(router.dispatch(event, make_delivery("candidates.created")))
    async with asyncio.timeout(HANG_GUARD):
        await all_started.wait()
        dispatching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dispatching
    assert dispatching.cancelled()
    assert reported == []


async def test_a_client_gone_cancels_the_handler_without_reporting_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # aiohttp's TestServer cancels a handler whose client disconnected (handler_cancellation).
    router = WebhookRouter(timeout=None)
    entered, cancelled = asyncio.Event(), asyncio.Event()
    calls: list[str] = []
    reported: list[BaseException] = []

    @router.on(ev.LegalEntityCreated)
    async def waits(event: Any, delivery: Delivery) -> None:
        calls.append("called")
        if len(calls) > 1:
            return
        entered.set()
        try:
            await asyncio.Event().wait()  # only a cancellation ends this
        except asyncio.CancelledError:
            cancelled.set()
            raise

    @router.on_error
    async def on_error(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append(error)

    app, _ = mount(router)
    with caplog.at_level(logging.ERROR, logger=LOGGER):
        async with asyncio.timeout(HANG_GUARD), serve_app(app) as http:
            request = asyncio.create_task(post_signed(http, BODY, verb=VERB))
            await entered.wait()
            request.cancel()  # the client goes away
            with pytest.raises(asyncio.CancelledError):
                await request
            await cancelled.wait()
            # Released: the resend (waiting for the first run's outcome if need be) is processed.
            check(await post_signed(http, BODY, verb=VERB), 200, "processed")
    assert calls == ["called", "called"]
    assert reported == []
    assert not [line for line in logged(caplog) if line.startswith(FAILED)]


# -- KeyboardInterrupt and SystemExit stop the process, as anywhere else -----------------------


@pytest.mark.parametrize("handlers", [1, 2])
@pytest.mark.parametrize("stop", [SystemExit, KeyboardInterrupt])
@pytest.mark.parametrize("raiser", ["handler", "on_error"])
def test_keyboard_interrupt_and_system_exit_propagate(
    raiser: str, stop: type[BaseException], handlers: int
) -> None:
    # A fresh event loop of its own: these escape the loop that runs them, by design.
    router = WebhookRouter(timeout=None)
    reported: list[BaseException] = []
    fine_done: list[asyncio.Event] = []  # made inside the loop that waits on it

    if handlers == 2:

        @router.on(ev.CandidateCreated)
        async def fine(event: Any, delivery: Delivery) -> None:
            fine_done[0].set()

    @router.on(ev.CandidateCreated)
    async def stops(event: Any, delivery: Delivery) -> None:
        if handlers == 2:
            # Every task has started before the loop stops, so none is left never awaited.
            await fine_done[0].wait()
        if raiser == "handler":
            raise stop("stop")
        raise RuntimeError("the handler broke")

    @router.on_error
    async def on_error(error: BaseException, event: Any, delivery: Delivery) -> None:
        reported.append(error)
        if raiser == "on_error":
            raise stop("stop")

    async def main() -> None:
        fine_done.append(asyncio.Event())
        event = ev.CandidateCreated(id=1, first_name="Sam")
        await router.dispatch(event, make_delivery("candidates.created"))

    with pytest.raises(stop):
        asyncio.run(main())
    # Never collected as a handler's failure, nor swallowed as an error handler's.
    assert [type(e) for e in reported] == ([] if raiser == "handler" else [RuntimeError])
