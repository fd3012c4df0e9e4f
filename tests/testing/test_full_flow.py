"""A whole integration offline: the real client drives the fake, the real receiver hears it.

The flow of the issue: create a legal entity, add it to a trust group, create candidates,
register them on an experience, add credits, issue a badge. At the end the receiver has seen
every expected verb exactly once, each delivery signed with the fake's secret.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tahdah_async import Candidate, LearnerRegistration, TahdahClient
from tahdah_async.testing import FakeTahdah
from tahdah_async.webhooks import Delivery, WebhookRouter, create_webhook_app, verify_signature
from tahdah_async.webhooks.events import (
    CandidateCreated,
    EventCreditsUpdated,
    LedgerEntryCreated,
    LegalEntityCreated,
    RegistrationCreated,
    TrustGroupMemberAdded,
)

SECRET = "wh_flow_secret"


class Heard:
    """What the receiver's handlers saw."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, Any, Delivery]] = []

    def verbs(self) -> Counter[str]:
        return Counter(verb for verb, _, _ in self.deliveries)

    def events(self, kind: type[Any]) -> list[Any]:
        return [event for _, event, _ in self.deliveries if isinstance(event, kind)]


def id_of(candidate: Candidate) -> int:
    assert isinstance(candidate.id, int)
    return candidate.id


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TestServer, Heard]]:
    heard = Heard()
    router = WebhookRouter()

    @router.on_any
    async def record(event: Any, delivery: Delivery) -> None:
        heard.deliveries.append((delivery.verb, event, delivery))

    server = TestServer(create_webhook_app(router, secrets=SECRET))
    await server.start_server()
    try:
        yield server, heard
    finally:
        await server.close()


async def test_a_whole_integration_is_heard_once_per_change(
    receiver: tuple[TestServer, Heard],
) -> None:
    server, heard = receiver
    async with (
        FakeTahdah(secret=SECRET, webhook_urls=[server.make_url("/")]) as fake,
        TahdahClient(fake.token, base_url=fake.url) as client,
    ):
        seeded = fake.seed(
            trust_groups=[{"name": "Regional partners"}],
            experiences=[{"name": "First aid at work", "code": "FAW-1"}],
            badge_templates=[{"name": "First aider"}],
        )
        (group_id,) = seeded.trust_groups
        (experience_id,) = seeded.experiences
        (template_id,) = seeded.badge_templates

        entity_id = await client.legal_entities.create(fake.owner_id, name="Harbour Care Ltd")
        await client.trust_groups.add_member(fake.owner_id, group_id, entity_id)
        learners = [
            await client.candidates.create(first_name=first, last_name=last, email=email)
            for first, last, email in [
                ("Ada", "Lovelace", "ada@example.com"),
                ("Grace", "Hopper", "grace@example.com"),
                ("Alan", "Turing", "alan@example.com"),
            ]
        ]
        results = await client.learning_experiences.register_learners(
            fake.owner_id,
            experience_id,
            [
                LearnerRegistration(
                    candidate_id=id_of(learner), behavior=1, registration_date=dt.date(2026, 12, 1)
                )
                for learner in learners
            ],
        )
        await client.event_credits.add(
            fake.owner_id,
            [{"eventTemplateId": 7, "numberOfCredits": 30}],
            order_number="SO-1001",
        )
        await client.digital_badges.issue(
            fake.owner_id, template_id, candidate_id=id_of(learners[0]), email="ada@example.com"
        )
        await fake.settle()

    # Every change was heard exactly once; the badge went to an existing learner (no event).
    assert heard.verbs() == Counter(
        {
            "legalEntities.created": 1,
            "trustGroups.member.added": 1,
            "candidates.created": 3,
            "registrations.created": 3,
            "eventCredits.updated": 1,
            "finance.entry.created": 1,
        }
    )
    assert all(delivery.delivered for delivery in fake.deliveries)
    assert [attempt.status for d in fake.deliveries for attempt in d.attempts] == [200] * 10

    # The receiver verified each signature; check it independently too.
    for _, _, delivery in heard.deliveries:
        header = delivery.headers["Webhook-Signature"]
        assert verify_signature(delivery.body, header, SECRET)

    # And the events carry what the client did, typed.
    (created,) = heard.events(LegalEntityCreated)
    assert (created.id, created.name) == (entity_id, "Harbour Care Ltd")
    (added,) = heard.events(TrustGroupMemberAdded)
    assert (added.trust_group_id, added.legal_entity_id) == (group_id, entity_id)
    assert {c.id for c in heard.events(CandidateCreated)} == {c.id for c in learners}
    registrations = heard.events(RegistrationCreated)
    assert {r.candidate_id for r in registrations} == {c.id for c in learners}
    assert {r.candidate_experience_id for r in registrations} == {
        int(r.candidate_experience_id) for r in results
    }
    (credits,) = heard.events(EventCreditsUpdated)
    assert [(b.event_template_id, b.balance) for b in credits.balances] == [(7, 30)]
    (ledger,) = heard.events(LedgerEntryCreated)
    assert ledger.invoice_detail.po_number == "SO-1001"
    assert ledger.invoice_detail.items[0].quantity == 30

    # The fake's state agrees with what was heard.
    assert fake.state.balance(fake.owner_id, 7) == 30
    assert [badge.candidate_id for badge in fake.state.badges] == [learners[0].id]
    assert entity_id in fake.state.trust_groups[group_id].members
