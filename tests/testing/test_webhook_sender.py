"""The fake's webhook sender against real receivers on loopback.

Most tests point the fake at the SDK's own receiver (``create_webhook_app``), mounted under
``/hooks/`` in an application whose middleware records every answer, so both sides of each
delivery can be checked: what the fake recorded in ``deliveries`` and what the receiver did.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tahdah_async import TahdahClient
from tahdah_async.testing import FakeTahdah
from tahdah_async.testing.fake import DEFAULT_SECRET
from tahdah_async.webhooks import (
    SIGNATURE_HEADER,
    VERB_HEADER,
    Delivery,
    WebhookRouter,
    create_webhook_app,
    sign,
    verify_signature,
)
from tahdah_async.webhooks.events import (
    CandidateCreated,
    CatalogueEntryPublished,
    TrackerTargetUpdated,
    TrustGroupMemberUpdated,
)
from tests.conftest import finishes_at_once
from tests.servers import refusing_port

SECRET = "wh_s3nder-test-secret"
QUICK: dict[str, Any] = {"secret": SECRET, "webhook_backoff": 0.001}
"""Fake options: our secret and a backoff that costs no time (no test depends on how long)."""
WAIT = 60.0
"""A guard against a hang only: every wait below ends on an event long before this."""

Handler = Callable[[Any, Delivery], Awaitable[None]]


@attrs.define
class Receiver:
    """A real receiver: what its handlers heard and what it answered."""

    server: TestServer
    heard: list[tuple[str, Any]] = attrs.field(factory=list)
    """(verb, event) of every handler run that succeeded."""
    answers: list[tuple[int, str]] = attrs.field(factory=list)
    """(status, the answer's ``status`` field) of every request."""
    _news: asyncio.Event = attrs.field(factory=asyncio.Event)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hooks/"))

    def hear(self, verb: str, event: Any) -> None:
        self.heard.append((verb, event))
        self._news.set()

    async def until_heard(self, count: int) -> None:
        """Wait until handlers have succeeded for ``count`` deliveries."""
        async with asyncio.timeout(WAIT):
            while len(self.heard) < count:
                self._news.clear()
                await self._news.wait()


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    """Start receivers with the SDK's webhook application; each closes after the test.

    ``await receivers(behaviour=None, secret=SECRET)``: ``behaviour`` runs for every delivery
    (raising makes the receiver answer 500); the default one just records.
    """
    servers: list[TestServer] = []

    async def start(behaviour: Handler | None = None, secret: str = SECRET) -> Receiver:
        receiver: Receiver

        @web.middleware
        async def record(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            response = await handler(request)
            assert isinstance(response, web.Response)
            assert response.text is not None
            receiver.answers.append((response.status, json.loads(response.text)["status"]))
            return response

        router = WebhookRouter()

        @router.on_any
        async def on_any(event: Any, delivery: Delivery) -> None:
            if behaviour is not None:
                await behaviour(event, delivery)
            receiver.hear(delivery.verb, event)

        app = web.Application(middlewares=[record])
        app.add_subapp("/hooks/", create_webhook_app(router, secrets=secret))
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        receiver = Receiver(server)
        return receiver

    try:
        yield start
    finally:
        for server in servers:
            await server.close()


@attrs.define
class Capture:
    """A bare endpoint that records each request and answers the next scripted status."""

    statuses: list[int] = attrs.field(factory=list)
    requests: list[tuple[dict[str, str], bytes]] = attrs.field(factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return web.Response(status=status)


@pytest.fixture
async def capture() -> AsyncIterator[tuple[Capture, str]]:
    """A :class:`Capture` answering 200 unless told otherwise, and its URL."""
    endpoint = Capture(statuses=[200])
    app = web.Application()
    app.router.add_post("/capture", endpoint.handle)
    async with TestServer(app) as server:
        yield endpoint, str(server.make_url("/capture"))


def first_names(receiver: Receiver) -> list[str]:
    return [event.first_name for _, event in receiver.heard]


async def create(fake: FakeTahdah, *names: str) -> None:
    """Create candidates through the real client (one ``candidates.created`` each)."""
    async with TahdahClient(fake.token, base_url=fake.url) as client:
        for name in names:
            await client.candidates.create(first_name=name, last_name="Tester")


async def settled(fake: FakeTahdah) -> None:
    """``fake.settle()``, failing instead of hanging if it never returns."""
    await asyncio.wait_for(fake.settle(), WAIT)


# -- what is sent --------------------------------------------------------------------------------


async def test_deliveries_are_signed_with_the_configured_secret(
    capture: tuple[Capture, str],
) -> None:
    endpoint, url = capture
    async with FakeTahdah(webhook_urls=[url], **QUICK) as fake:
        await create(fake, "Zoë")
        await settled(fake)

    ((headers, body),) = endpoint.requests
    assert headers[VERB_HEADER] == "candidates.created"
    assert headers["Content-Type"] == "application/json"
    assert headers[SIGNATURE_HEADER] == sign(body, SECRET)
    assert verify_signature(body, headers[SIGNATURE_HEADER], SECRET)
    assert not verify_signature(body, headers[SIGNATURE_HEADER], DEFAULT_SECRET)
    # The bare resource, no envelope; non-ASCII sent as UTF-8 and signed as sent.
    assert json.loads(body) == fake.events[0][1]
    assert json.loads(body)["firstName"] == "Zoë"
    assert "Zoë".encode() in body
    (delivery,) = fake.deliveries
    assert (delivery.verb, delivery.url, delivery.body) == ("candidates.created", url, body)
    assert delivery.signature == headers[SIGNATURE_HEADER]
    assert delivery.payload["firstName"] == "Zoë"


async def test_the_default_secret_signs_when_none_is_given(
    capture: tuple[Capture, str],
) -> None:
    endpoint, url = capture
    async with FakeTahdah(webhook_urls=[url], webhook_backoff=0.001) as fake:
        fake.publish_catalogue_entry(title="Manual handling")
        await settled(fake)

    ((headers, body),) = endpoint.requests
    assert headers[SIGNATURE_HEADER] == sign(body, DEFAULT_SECRET)


async def test_each_trigger_sends_its_verb_and_the_receiver_types_it(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await receivers()
    async with FakeTahdah(webhook_urls=[receiver.url], **QUICK) as fake:
        (partner,) = fake.seed(legal_entities=[{"name": "Harbour Care Ltd"}]).legal_entities
        seeded = fake.seed(
            trust_groups=[{"name": "Regional partners", "members": [partner]}],
            targets=[{"name": "Attendance", "target": 90, "achieved": 40, "candidateId": 77}],
        )
        (group,) = seeded.trust_groups
        (target,) = seeded.targets

        fake.update_target(target, achieved=85)
        fake.update_member(group, partner, "Suspended")
        entry = fake.publish_catalogue_entry(title="Manual handling", price=120)
        await create(fake, "Ada")
        await settled(fake)

    assert [verb for verb, _ in receiver.heard] == [
        "tracker.target.updated",
        "trustGroups.member.updated",
        "catalogue.entry.published",
        "candidates.created",
    ]
    assert [type(event) for _, event in receiver.heard] == [
        TrackerTargetUpdated,
        TrustGroupMemberUpdated,
        CatalogueEntryPublished,
        CandidateCreated,
    ]
    updated_target, updated_member, published, created = (e for _, e in receiver.heard)
    assert (updated_target.id, updated_target.achieved, updated_target.candidate_id) == (
        target,
        85,
        77,
    )
    assert (updated_member.legal_entity_id, updated_member.status) == (partner, "Suspended")
    assert (published.id, published.title) == (entry, "Manual handling")
    assert created.first_name == "Ada"
    assert receiver.answers == [(200, "processed")] * 4


async def test_events_fire_without_subscribers_and_settle_returns_at_once() -> None:
    async with FakeTahdah(**QUICK) as fake:
        fake.publish_catalogue_entry(title="Manual handling")

        # Nothing to deliver, so settling never waits for anything.
        assert finishes_at_once(fake.settle())
        assert [verb for verb, _ in fake.events] == ["catalogue.entry.published"]
        assert fake.deliveries == []


# -- retries ---------------------------------------------------------------------------------


async def test_a_receiver_failing_twice_is_retried_until_it_accepts(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    calls = 0

    async def flaky(event: Any, delivery: Delivery) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise RuntimeError("database unavailable")

    receiver = await receivers(flaky)
    async with FakeTahdah(webhook_urls=[receiver.url], **QUICK) as fake:
        await create(fake, "Ada")
        await settled(fake)

    (delivery,) = fake.deliveries
    assert [(a.status, a.error) for a in delivery.attempts] == [
        (500, None),
        (500, None),
        (200, None),
    ]
    assert delivery.delivered is True
    assert calls == 3
    assert first_names(receiver) == ["Ada"]
    assert receiver.answers == [(500, "handler_failed")] * 2 + [(200, "processed")]


async def test_a_receiver_always_failing_is_given_up_after_webhook_attempts(
    capture: tuple[Capture, str], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, url = capture
    endpoint.statuses = [503]
    async with FakeTahdah(webhook_urls=[url], webhook_attempts=3, **QUICK) as fake:
        await create(fake, "Ada", "Grace")
        await settled(fake)

    # Giving up on the first event does not hold back the second.
    assert [[a.status for a in d.attempts] for d in fake.deliveries] == [[503] * 3, [503] * 3]
    assert [d.delivered for d in fake.deliveries] == [False, False]
    assert len(endpoint.requests) == 6
    gave_up = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert gave_up == [f"webhook candidates.created to {url} gave up after 3 attempts"] * 2


@pytest.mark.parametrize("status", [301, 404, 410])
async def test_any_answer_but_2xx_is_a_failure(capture: tuple[Capture, str], status: int) -> None:
    endpoint, url = capture
    endpoint.statuses = [status, 202]
    async with FakeTahdah(webhook_urls=[url], **QUICK) as fake:
        await create(fake, "Ada")
        await settled(fake)

    (delivery,) = fake.deliveries
    assert [a.status for a in delivery.attempts] == [status, 202]
    assert delivery.delivered is True


async def test_a_url_with_nothing_listening_records_connection_errors() -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/hooks"
        async with FakeTahdah(webhook_urls=[url], webhook_attempts=2, **QUICK) as fake:
            await create(fake, "Ada")
            await settled(fake)

    (delivery,) = fake.deliveries
    assert [a.status for a in delivery.attempts] == [None, None]
    for attempt in delivery.attempts:
        assert attempt.error is not None
        assert attempt.error.startswith("ClientConnectorError: ")
    assert delivery.delivered is False


# -- order and fan-out -------------------------------------------------------------------------


async def test_events_to_one_url_arrive_in_order_one_at_a_time(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    running = peak = 0
    all_made = asyncio.Event()
    failed_once = False

    async def first_blocks_then_fails(event: Any, delivery: Delivery) -> None:
        nonlocal running, peak, failed_once
        running += 1
        peak = max(peak, running)
        try:
            if not failed_once:
                # The first delivery stays in the receiver until every change was made, so
                # a sender that did not wait for it would deliver the others meanwhile.
                await all_made.wait()
                failed_once = True
                raise RuntimeError("first try fails")
        finally:
            running -= 1

    receiver = await receivers(first_blocks_then_fails)
    names = ["Ada", "Grace", "Alan", "Barbara", "Edsger"]
    async with FakeTahdah(webhook_urls=[receiver.url], **QUICK) as fake:
        await create(fake, *names)
        assert receiver.answers == []  # the first delivery is still in the receiver
        all_made.set()
        await settled(fake)

    # The first delivery's retry comes before the second delivery.
    assert first_names(receiver) == names
    assert [[a.status for a in d.attempts] for d in fake.deliveries] == [[500, 200]] + [[200]] * 4
    assert receiver.answers == [(500, "handler_failed")] + [(200, "processed")] * 5
    assert peak == 1


async def test_every_url_gets_every_event(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    first, second = await receivers(), await receivers()
    async with FakeTahdah(webhook_urls=[first.url, second.url], **QUICK) as fake:
        await create(fake, "Ada", "Grace", "Alan")
        await settled(fake)

    assert first_names(first) == ["Ada", "Grace", "Alan"]
    assert first_names(second) == ["Ada", "Grace", "Alan"]
    assert len(fake.deliveries) == 6
    for url in (first.url, second.url):
        mine = [d for d in fake.deliveries if d.url == url]
        assert [d.payload["firstName"] for d in mine] == ["Ada", "Grace", "Alan"]
        assert all(d.delivered for d in mine)


async def test_a_slow_url_does_not_hold_back_another(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    release = asyncio.Event()

    async def blocked(event: Any, delivery: Delivery) -> None:
        await release.wait()

    slow, quick = await receivers(blocked), await receivers()
    async with FakeTahdah(webhook_urls=[slow.url, quick.url], **QUICK) as fake:
        await create(fake, "Ada", "Grace")
        await quick.until_heard(2)

        assert first_names(quick) == ["Ada", "Grace"]
        assert slow.heard == []
        release.set()
        await settled(fake)

    assert first_names(slow) == ["Ada", "Grace"]


# -- planned webhook faults --------------------------------------------------------------------


async def test_a_duplicated_webhook_is_processed_once_by_the_receiver(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await receivers()
    async with FakeTahdah(webhook_urls=[receiver.url], **QUICK) as fake:
        fake.faults.duplicate_webhook()
        await create(fake, "Ada", "Grace")
        await settled(fake)

    original, copy, second = fake.deliveries
    assert (copy.body, copy.signature, copy.verb) == (
        original.body,
        original.signature,
        original.verb,
    )
    assert second.payload["firstName"] == "Grace"  # only the next webhook was duplicated
    assert [[a.status for a in d.attempts] for d in fake.deliveries] == [[200]] * 3
    assert receiver.answers == [(200, "processed"), (200, "duplicate"), (200, "processed")]
    assert first_names(receiver) == ["Ada", "Grace"]
    assert fake.faults.duplicate_webhooks == 0


async def test_a_bad_signature_is_rejected_and_the_rejection_recorded(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await receivers()
    async with FakeTahdah(webhook_urls=[receiver.url], webhook_attempts=2, **QUICK) as fake:
        fake.faults.bad_signature_webhook()
        await create(fake, "Mallory", "Grace")
        await settled(fake)

    forged, good = fake.deliveries
    assert not verify_signature(forged.body, forged.signature, SECRET)
    assert [a.status for a in forged.attempts] == [401, 401]
    assert forged.delivered is False
    assert [a.status for a in good.attempts] == [200]
    assert good.delivered is True
    assert receiver.answers == [(401, "invalid_signature")] * 2 + [(200, "processed")]
    assert first_names(receiver) == ["Grace"]
    assert fake.faults.bad_signature_webhooks == 0


async def test_a_receiver_with_another_secret_rejects_every_delivery(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await receivers(secret="wh_someone_else")
    async with FakeTahdah(webhook_urls=[receiver.url], webhook_attempts=2, **QUICK) as fake:
        await create(fake, "Ada")
        await settled(fake)

    (delivery,) = fake.deliveries
    assert [a.status for a in delivery.attempts] == [401, 401]
    assert receiver.heard == []


# -- settle ----------------------------------------------------------------------------------


async def test_settle_waits_for_every_delivery(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    settling = asyncio.Event()

    async def held_until_settling(event: Any, delivery: Delivery) -> None:
        # The receiver answers nothing until the test is inside settle().
        await settling.wait()

    receiver = await receivers(held_until_settling)
    async with FakeTahdah(webhook_urls=[receiver.url], **QUICK) as fake:
        await create(fake, "Ada", "Grace", "Alan")

        assert len(fake.deliveries) == 3
        assert [d.delivered for d in fake.deliveries] == [False, False, False]

        settling.set()  # takes effect only once this task waits in settle()
        await settled(fake)

        assert [d.delivered for d in fake.deliveries] == [True, True, True]
        assert first_names(receiver) == ["Ada", "Grace", "Alan"]
        # Nothing new: settling again sends nothing more and returns at once.
        attempts = [list(d.attempts) for d in fake.deliveries]
        assert finishes_at_once(fake.settle())
        assert [d.attempts for d in fake.deliveries] == attempts
        assert len(receiver.answers) == 3


async def test_settle_waits_for_events_fired_while_it_waits(
    receivers: Callable[..., Awaitable[Receiver]],
) -> None:
    started: list[FakeTahdah] = []

    async def chain(event: Any, delivery: Delivery) -> None:
        # The first delivery triggers another change while settle() is already waiting.
        if event.title == "first":
            started[0].publish_catalogue_entry(title="second")

    receiver = await receivers(chain)
    async with FakeTahdah(webhook_urls=[receiver.url], **QUICK) as fake:
        started.append(fake)
        fake.publish_catalogue_entry(title="first")
        await settled(fake)

        assert [event.title for _, event in receiver.heard] == ["first", "second"]
        assert [d.delivered for d in fake.deliveries] == [True, True]


async def test_sender_logs_each_attempt(
    capture: tuple[Capture, str], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, url = capture
    endpoint.statuses = [500, 200]
    caplog.set_level(logging.DEBUG, logger="tahdah_async.testing")
    async with FakeTahdah(webhook_urls=[url], **QUICK) as fake:
        await create(fake, "Ada")
        await settled(fake)

    attempts = [
        r.getMessage().split(" in ")[0]
        for r in caplog.records
        if r.name == "tahdah_async.testing" and " attempt " in r.getMessage()
    ]
    assert attempts == [
        f"webhook candidates.created to {url} attempt 1 -> 500",
        f"webhook candidates.created to {url} attempt 2 -> 200",
    ]
