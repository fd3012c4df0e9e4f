"""Every operation of the route table, end to end: the real client against FakeTahdah.

Each test calls one SDK method over a real socket, checks the typed value it returns, and
checks what the fake's state (and the webhooks it fired) say the call changed. The guard at the
bottom keeps the table complete: a new route without a test here fails the suite.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tahdah_async import (
    ROUTES,
    APIStatusError,
    BadgeRecipient,
    BadgeTemplate,
    Candidate,
    EventTemplateCredit,
    LearnerRegistration,
    LearningExperience,
    LegalEntity,
    Pathway,
    PathwayType,
    Person,
    Registration,
    RegistrationResult,
    Role,
    TahdahClient,
    Target,
    TrustGroup,
    TrustGroupMember,
)
from tahdah_async.testing import FakeTahdah, RequestRecord

T = TypeVar("T")

COVERED: dict[str, list[str]] = {}
"""Operation name -> the tests below that exercise it (filled at import by ``covers``)."""


def covers(*operations: str) -> Callable[[T], T]:
    """Record that the decorated test exercises these operations."""

    def mark(test: T) -> T:
        for operation in operations:
            COVERED.setdefault(operation, []).append(getattr(test, "__name__", repr(test)))
        return test

    return mark


@pytest.fixture
def client(tahdah_client: TahdahClient) -> TahdahClient:
    return tahdah_client


def served(fake: FakeTahdah, operation: str) -> list[RequestRecord]:
    """Return the requests the fake answered on ``operation``'s route; fail if none was 2xx.

    Two operations may share one endpoint (register learners / create registrations): the
    fake records the first name, so requests are matched on the route, not the name.
    """
    route = fake.routes[operation]
    hits = [r for r in fake.requests if fake.routes[r.operation] == route]
    assert hits, f"no request reached {route}"
    assert all(r.method == route.method for r in hits)
    assert any(200 <= r.status < 300 for r in hits), [r.status for r in hits]
    return hits


def verbs(fake: FakeTahdah) -> list[str]:
    return [verb for verb, _ in fake.events]


def an_int(value: object) -> int:
    assert isinstance(value, int), value
    assert not isinstance(value, bool), value
    return value


# -- trust groups --------------------------------------------------------------------------


@covers("trust_groups.list")
async def test_trust_groups_list_returns_only_the_owners_groups(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (child,) = fake.seed(legal_entities=[{"name": "Harbour Care Ltd"}]).legal_entities
    mine = fake.seed(
        trust_groups=[
            {"name": "Regional partners", "monthlyPrice": 12.5, "colourCode": "#1f6feb"},
            {"name": "Free network", "membersPubliclyVisible": True, "accessRights": [1, 4]},
        ]
    ).trust_groups
    fake.seed(trust_groups=[{"name": "Child's own"}], owner_id=child)

    groups = await client.trust_groups.list(fake.owner_id)

    assert [(g.id, g.name) for g in groups] == [
        (mine[0], "Regional partners"),
        (mine[1], "Free network"),
    ]
    assert all(isinstance(g, TrustGroup) for g in groups)
    assert (groups[0].monthly_price, groups[0].colour_code) == (12.5, "#1f6feb")
    assert (groups[1].members_publicly_visible, groups[1].access_rights) == (True, (1, 4))
    assert groups[1].monthly_price is None
    assert [str(uuid.UUID(str(g.uid))) for g in groups] == [g.uid for g in groups]
    served(fake, "trust_groups.list")


@covers("trust_groups.create")
async def test_trust_groups_create_stores_the_group_and_returns_it(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    group = await client.trust_groups.create(
        fake.owner_id,
        name="Partners",
        monthly_price=9.5,
        annual_price=99.0,
        show_on_badge=True,
        access_rights=(1, 2),
    )

    assert isinstance(group, TrustGroup)
    group_id = an_int(group.id)
    assert (group.name, group.monthly_price, group.annual_price) == ("Partners", 9.5, 99.0)
    assert (group.show_on_badge, group.access_rights) == (True, (1, 2))
    assert uuid.UUID(str(group.uid)).version == 4
    record = fake.state.trust_groups[group_id]
    assert record.owner_id == fake.owner_id
    assert record.data == {
        "name": "Partners",
        "monthlyPrice": 9.5,
        "annualPrice": 99.0,
        "showOnBadge": True,
        "accessRights": [1, 2],
        "uid": group.uid,
    }
    assert record.members == {}
    (hit,) = served(fake, "trust_groups.create")
    assert hit.status == 201


@covers("trust_groups.update")
async def test_trust_groups_update_changes_only_the_fields_sent(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (group_id,) = fake.seed(
        trust_groups=[{"name": "Partners", "uid": "0b7c1f62-2f7e-4d43-9b8e-6b1d1c1a2f00"}]
    ).trust_groups

    await client.trust_groups.update(
        fake.owner_id,
        group_id,
        TrustGroup(description="Providers in the north", show_in_details=False),
    )

    assert fake.state.trust_groups[group_id].data == {
        "name": "Partners",
        "uid": "0b7c1f62-2f7e-4d43-9b8e-6b1d1c1a2f00",
        "description": "Providers in the north",
        "showInDetails": False,
    }
    (hit,) = served(fake, "trust_groups.update")
    assert hit.status == 204


@covers("trust_groups.list_legal_entity_members")
async def test_trust_groups_list_legal_entity_members_all_and_filtered(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    a, b = fake.seed(legal_entities=[{"name": "Alpha Ltd"}, {"name": "Beta CIC"}]).legal_entities
    g1, g2 = fake.seed(
        trust_groups=[{"name": "One", "members": [a]}, {"name": "Two", "members": [b]}]
    ).trust_groups

    everyone = await client.trust_groups.list_legal_entity_members(fake.owner_id)
    only_two = await client.trust_groups.list_legal_entity_members(
        fake.owner_id, trust_group_ids=[g2]
    )

    assert all(isinstance(m, TrustGroupMember) for m in everyone)
    assert [(m.trust_group_id, m.legal_entity_id, m.name, m.status) for m in everyone] == [
        (g1, a, "Alpha Ltd", "Active"),
        (g2, b, "Beta CIC", "Active"),
    ]
    assert all(isinstance(m.added_at, dt.datetime) for m in everyone)
    assert [(m.trust_group_id, m.legal_entity_id) for m in only_two] == [(g2, b)]
    hits = served(fake, "trust_groups.list_legal_entity_members")
    assert [h.path for h in hits] == [
        f"/api/trustgroups/legalentities/{fake.owner_id}/legalentities"
    ] * 2


@covers("trust_groups.list_candidate_members")
async def test_trust_groups_list_candidate_members_lists_people_of_member_entities(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (member,) = fake.seed(legal_entities=[{"name": "Alpha Ltd"}]).legal_entities
    (group_id,) = fake.seed(trust_groups=[{"name": "One", "members": [member]}]).trust_groups
    (learner,) = fake.seed(candidates=[{"firstName": "Ada", "lastName": "Lovelace"}]).candidates
    fake.state.legal_entities[member].people.extend(
        [{"candidateId": learner}, {"email": "staff@alpha.example"}]
    )

    members = await client.trust_groups.list_candidate_members(fake.owner_id)
    filtered = await client.trust_groups.list_candidate_members(
        fake.owner_id, trust_group_ids=[group_id + 999]
    )

    (only,) = members
    assert isinstance(only, TrustGroupMember)
    assert (only.trust_group_id, only.candidate_id, only.legal_entity_id) == (
        group_id,
        learner,
        member,
    )
    assert (only.name, only.status) == ("Ada Lovelace", "Active")
    assert filtered == []
    served(fake, "trust_groups.list_candidate_members")


@covers("trust_groups.add_member")
async def test_trust_groups_add_member_puts_the_entity_in_the_group(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (member,) = fake.seed(legal_entities=[{"name": "Alpha Ltd"}]).legal_entities
    (group_id,) = fake.seed(trust_groups=[{"name": "One"}]).trust_groups

    await client.trust_groups.add_member(fake.owner_id, group_id, member)

    members = fake.state.trust_groups[group_id].members
    assert list(members) == [member]
    assert members[member].status == "Active"
    assert fake.events == [
        (
            "trustGroups.member.added",
            {
                "trustGroupId": group_id,
                "legalEntityId": member,
                "name": "Alpha Ltd",
                "addedAt": members[member].added_at,
                "status": "Active",
            },
        )
    ]
    served(fake, "trust_groups.add_member")


@covers("trust_groups.remove_member")
async def test_trust_groups_remove_member_takes_the_entity_out(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    a, b = fake.seed(legal_entities=[{"name": "Alpha"}, {"name": "Beta"}]).legal_entities
    (group_id,) = fake.seed(trust_groups=[{"name": "One", "members": [a, b]}]).trust_groups

    await client.trust_groups.remove_member(fake.owner_id, group_id, a)

    assert list(fake.state.trust_groups[group_id].members) == [b]
    (hit,) = served(fake, "trust_groups.remove_member")
    assert (
        hit.path
        == f"/api/trustgroups/legalentities/{fake.owner_id}/trustgroup/{group_id}/members/{a}"
    )


# -- event credits -------------------------------------------------------------------------


@covers("event_credits.add")
async def test_event_credits_add_changes_balances_per_template(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    key = await client.event_credits.add(
        fake.owner_id,
        [
            EventTemplateCredit(event_template_id=77, number_of_credits=10),
            {"eventTemplateId": 78, "numberOfCredits": 4},
        ],
        order_number="ORD-1001",
        idempotency_key="key-ord-1001",
    )
    generated = await client.event_credits.add(
        fake.owner_id, [EventTemplateCredit(event_template_id=77, number_of_credits=-3)]
    )

    assert key == "key-ord-1001"
    assert uuid.UUID(generated).version == 4
    assert fake.state.idempotency_keys == {"key-ord-1001", generated}
    assert fake.state.balance(fake.owner_id, 77) == 7
    assert fake.state.balance(fake.owner_id, 78) == 4
    assert [lot.order_number for lot in fake.state.credits[(fake.owner_id, 78)]] == ["ORD-1001"]
    assert verbs(fake) == ["eventCredits.updated", "finance.entry.created", "eventCredits.updated"]
    assert fake.events[2][1]["balances"] == [{"eventTemplateId": 77, "balance": 7}]
    assert fake.state.ledger_entries[0]["invoiceDetail"]["poNumber"] == "ORD-1001"
    assert len(served(fake, "event_credits.add")) == 2


# -- tracker -------------------------------------------------------------------------------


def seed_targets(fake: FakeTahdah) -> tuple[int, int, tuple[int, ...]]:
    ada, bob = fake.seed(
        candidates=[{"firstName": "Ada", "lastName": "L"}, {"firstName": "Bob", "lastName": "B"}]
    ).candidates
    targets = fake.seed(
        targets=[
            {
                "name": "Units passed",
                "target": 10,
                "achieved": 4,
                "dueDate": "2026-06-30",
                "status": "OnTrack",
                "candidateId": ada,
            },
            {"name": "Attendance", "target": 95.5, "achieved": 97, "candidateId": bob},
            {"name": "Cohort completions", "target": 40, "achieved": 12, "weighting": 2},
        ]
    ).targets
    return ada, bob, targets


@covers("tracker.candidate_targets")
async def test_tracker_candidate_targets_returns_the_candidates_targets(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    ada, _, targets = seed_targets(fake)

    found = await client.tracker.candidate_targets(fake.owner_id, ada)

    assert found == [
        Target(
            id=targets[0],
            name="Units passed",
            target=10.0,
            achieved=4.0,
            due_date=dt.date(2026, 6, 30),
            status="OnTrack",
            candidate_id=ada,
        )
    ]
    served(fake, "tracker.candidate_targets")


@covers("tracker.legal_entity_targets")
async def test_tracker_legal_entity_targets_returns_every_target(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    ada, bob, targets = seed_targets(fake)

    found = await client.tracker.legal_entity_targets(fake.owner_id)

    assert [(t.id, t.name, t.target, t.candidate_id) for t in found] == [
        (targets[0], "Units passed", 10.0, ada),
        (targets[1], "Attendance", 95.5, bob),
        (targets[2], "Cohort completions", 40.0, None),
    ]
    assert found[2].extra == {"weighting": 2}
    served(fake, "tracker.legal_entity_targets")


# -- learning experiences and pathways -----------------------------------------------------

EXPERIENCE: dict[str, Any] = {
    "name": "First aid at work",
    "pathwayType": {"id": 3, "name": "Short course"},
    "startDate": "2026-01-05",
    "endDate": "2026-01-07",
    "code": "FAW-1",
}


@covers("learning_experiences.register_learners")
async def test_register_learners_registers_each_candidate(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    ada, bob = fake.seed(candidates=[{"firstName": "Ada"}, {"firstName": "Bob"}]).candidates
    (experience_id,) = fake.seed(experiences=[EXPERIENCE]).experiences

    results = await client.learning_experiences.register_learners(
        fake.owner_id,
        experience_id,
        [
            LearnerRegistration(
                candidate_id=ada, behavior=2, registration_date=dt.date(2025, 9, 3)
            ),
            {"candidateId": bob, "behavior": 1, "registrationDate": "2024-09-10"},
        ],
    )

    registrations = fake.state.experiences[experience_id].registrations
    assert [(r.candidate_id, r.behavior, r.registration_date) for r in registrations] == [
        (ada, 2, "2025-09-03"),
        (bob, 1, "2024-09-10"),
    ]
    assert results == [
        RegistrationResult(
            candidate_id=str(r.candidate_id),
            candidate_experience_id=str(r.candidate_experience_id),
            registration_date=dt.date.fromisoformat(r.registration_date),
        )
        for r in registrations
    ]
    assert verbs(fake) == ["registrations.created"] * 2
    served(fake, "learning_experiences.register_learners")


async def test_register_learners_response_is_the_documented_shape(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    # REFERENCE 2.4: a JSON array, one element per registration, every value a string.
    ada, bob = fake.seed(candidates=[{"firstName": "Ada"}, {"firstName": "Bob"}]).candidates
    (experience_id,) = fake.seed(experiences=[EXPERIENCE]).experiences

    raw = await client.with_raw_response(
        client.learning_experiences.register_learners,
        fake.owner_id,
        experience_id,
        [
            {"candidateId": ada, "behavior": 2, "registrationDate": "2025-09-03"},
            {"candidateId": bob, "behavior": 1, "registrationDate": "2024-09-10"},
        ],
    )

    assert raw.status == 200
    assert raw.response.is_json
    body = raw.response.json()
    made = fake.state.experiences[experience_id].registrations
    assert body == [
        {
            "candidateId": str(ada),
            "candidateExperienceId": str(made[0].candidate_experience_id),
            "registrationDate": "2025-09-03",
        },
        {
            "candidateId": str(bob),
            "candidateExperienceId": str(made[1].candidate_experience_id),
            "registrationDate": "2024-09-10",
        },
    ]
    assert all(isinstance(value, str) for item in body for value in item.values())
    assert [r.candidate_experience_id for r in raw.data] == [
        str(r.candidate_experience_id) for r in made
    ]


@covers("learning_experiences.list")
async def test_learning_experiences_list(fake: FakeTahdah, client: TahdahClient) -> None:
    first, second = fake.seed(experiences=[EXPERIENCE, {"name": "Manual handling"}]).experiences
    (child,) = fake.seed(legal_entities=[{"name": "Child"}]).legal_entities
    fake.seed(experiences=[{"name": "Not ours"}], owner_id=child)

    found = await client.learning_experiences.list(fake.owner_id)

    assert [(e.id, e.name) for e in found] == [
        (first, "First aid at work"),
        (second, "Manual handling"),
    ]
    assert all(isinstance(e, LearningExperience) for e in found)
    assert found[0].pathway_type == PathwayType(id=3, name="Short course")
    assert found[0].extra == {"code": "FAW-1"}
    served(fake, "learning_experiences.list")


@covers("learning_experiences.get")
async def test_learning_experiences_get(fake: FakeTahdah, client: TahdahClient) -> None:
    (experience_id,) = fake.seed(experiences=[EXPERIENCE]).experiences

    found = await client.learning_experiences.get(fake.owner_id, experience_id)

    assert isinstance(found, LearningExperience)
    assert (found.id, found.name) == (experience_id, "First aid at work")
    assert (found.start_date, found.end_date) == (dt.date(2026, 1, 5), dt.date(2026, 1, 7))
    served(fake, "learning_experiences.get")


@covers("pathways.list")
async def test_pathways_list(fake: FakeTahdah, client: TahdahClient) -> None:
    first, second = fake.seed(experiences=[EXPERIENCE, {"name": "Level 3 Diploma"}]).experiences

    found = await client.pathways.list(fake.owner_id)

    assert all(isinstance(p, Pathway) for p in found)
    assert [(p.id, p.name) for p in found] == [
        (first, "First aid at work"),
        (second, "Level 3 Diploma"),
    ]
    assert found[1].pathway_type is None
    served(fake, "pathways.list")


@covers("pathways.get")
async def test_pathways_get(fake: FakeTahdah, client: TahdahClient) -> None:
    (pathway_id,) = fake.seed(experiences=[EXPERIENCE]).experiences

    found = await client.pathways.get(fake.owner_id, pathway_id)

    assert found == Pathway(
        id=pathway_id,
        name="First aid at work",
        pathway_type=PathwayType(id=3, name="Short course"),
        start_date=dt.date(2026, 1, 5),
        end_date=dt.date(2026, 1, 7),
        extra={"code": "FAW-1"},
    )
    served(fake, "pathways.get")


@covers("pathways.list_registrations", "pathways.create_registrations")
async def test_pathways_create_then_list_registrations(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (ada,) = fake.seed(candidates=[{"firstName": "Ada"}]).candidates
    (pathway_id,) = fake.seed(experiences=[EXPERIENCE]).experiences

    before = await client.pathways.list_registrations(fake.owner_id, pathway_id)
    (created,) = await client.pathways.create_registrations(
        fake.owner_id,
        pathway_id,
        [LearnerRegistration(candidate_id=ada, behavior=1, registration_date=dt.date(2026, 2, 1))],
    )
    after = await client.pathways.list_registrations(fake.owner_id, pathway_id)

    assert before == []
    (stored,) = fake.state.experiences[pathway_id].registrations
    assert created == RegistrationResult(
        candidate_id=str(ada),
        candidate_experience_id=str(stored.candidate_experience_id),
        registration_date=dt.date(2026, 2, 1),
    )
    assert after == [
        Registration(
            candidate_id=ada,
            candidate_experience_id=stored.candidate_experience_id,
            experience_id=pathway_id,
            registration_date=dt.date(2026, 2, 1),
        )
    ]
    assert (stored.candidate_id, stored.behavior) == (ada, 1)
    assert len(served(fake, "pathways.list_registrations")) == 2
    (hit,) = served(fake, "pathways.create_registrations")
    assert hit.path.endswith(f"/experiences/{pathway_id}/learners")


# -- digital badges ------------------------------------------------------------------------


@covers("digital_badges.issue")
async def test_digital_badges_issue_matches_an_existing_learner(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (ada,) = fake.seed(
        candidates=[{"externalId": "EXT-7", "firstName": "Ada", "email": "ada@example.com"}]
    ).candidates
    (template_id,) = fake.seed(badge_templates=[{"name": "First aider"}]).badge_templates

    await client.digital_badges.issue(
        fake.owner_id, template_id, BadgeRecipient(external_id="EXT-7", first_name="Ada")
    )

    (badge,) = fake.state.badges
    assert (badge.template_id, badge.legal_entity_id, badge.candidate_id) == (
        template_id,
        fake.owner_id,
        ada,
    )
    assert badge.recipient == {"externalId": "EXT-7", "firstName": "Ada"}
    assert list(fake.state.candidates) == [ada]
    assert fake.events == []
    served(fake, "digital_badges.issue")


async def test_digital_badges_issue_creates_an_unknown_learner(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (template_id,) = fake.seed(badge_templates=[{"name": "First aider"}]).badge_templates

    await client.digital_badges.issue(
        fake.owner_id, template_id, email="grace@example.com", first_name="Grace"
    )

    (badge,) = fake.state.badges
    learner = fake.state.candidates[badge.candidate_id]
    assert learner.legal_entity_id == fake.owner_id
    assert learner.data == {"email": "grace@example.com", "firstName": "Grace"}
    assert verbs(fake) == ["candidates.created"]


@covers("digital_badges.list_templates")
async def test_digital_badges_list_templates(fake: FakeTahdah, client: TahdahClient) -> None:
    first, second = fake.seed(
        badge_templates=[
            {"name": "First aider", "imageUrl": "https://img.example/fa.png"},
            {"name": "Fire marshal", "description": "Level 2", "level": 2},
        ]
    ).badge_templates

    found = await client.digital_badges.list_templates(fake.owner_id)

    assert found == [
        BadgeTemplate(id=first, name="First aider", image_url="https://img.example/fa.png"),
        BadgeTemplate(id=second, name="Fire marshal", description="Level 2", extra={"level": 2}),
    ]
    served(fake, "digital_badges.list_templates")


# -- legal entities and people -------------------------------------------------------------


@covers("legal_entities.get")
async def test_legal_entities_get_returns_the_details(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (child,) = fake.seed(
        legal_entities=[
            {
                "name": "Harbour Care Ltd",
                "tradingName": "Harbour Care",
                "childAgeLimit": 16,
                "currencyId": 1,
                "timezone": "UK/London",
                "addedAt": "2025-03-04T10:11:12.5Z",
                "contactEmail": "hello@harbour.example",
            }
        ]
    ).legal_entities

    found = await client.legal_entities.get(fake.owner_id, child)

    assert isinstance(found, LegalEntity)
    assert (found.id, found.name, found.trading_name) == (child, "Harbour Care Ltd", "Harbour Care")
    assert (found.child_age_limit, found.currency_id, found.timezone) == (16, 1, "UK/London")
    assert found.added_at == dt.datetime(2025, 3, 4, 10, 11, 12, 500000, tzinfo=dt.UTC)
    assert found.contact_email == "hello@harbour.example"
    served(fake, "legal_entities.get")


@covers("legal_entities.create")
async def test_legal_entities_create_returns_the_id_and_joins_groups(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (group_id,) = fake.seed(trust_groups=[{"name": "Partners"}]).trust_groups

    new_id = await client.legal_entities.create(
        fake.owner_id,
        LegalEntity(name="Harbour Care Ltd", town="Leeds", child_age_limit=16),
        trust_group_ids=[group_id],
    )

    entity_id = an_int(new_id)
    record = fake.state.legal_entities[entity_id]
    assert record.owner_id == fake.owner_id
    assert {k: v for k, v in record.data.items() if k != "addedAt"} == {
        "name": "Harbour Care Ltd",
        "town": "Leeds",
        "childAgeLimit": 16,
    }
    assert list(fake.state.trust_groups[group_id].members) == [entity_id]
    assert verbs(fake) == ["legalEntities.created", "trustGroups.member.added"]
    assert fake.events[0][1]["id"] == entity_id
    (hit,) = served(fake, "legal_entities.create")
    assert hit.status == 201


@covers("legal_entities.connect_person")
async def test_legal_entities_connect_person_adds_then_updates_roles(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (child,) = fake.seed(legal_entities=[{"name": "Harbour Care Ltd"}]).legal_entities
    fake.seed(trust_groups=[{"name": "Partners", "members": [child]}])

    await client.legal_entities.connect_person(
        fake.owner_id,
        child,
        Person(email="sam@harbour.example", first_name="Sam", roles=(Role(id=4, name="Tutor"),)),
    )
    await client.legal_entities.connect_person(
        fake.owner_id,
        child,
        {"email": "sam@harbour.example", "roles": [{"id": 5, "name": "Assessor"}]},
    )

    assert fake.state.legal_entities[child].people == [
        {
            "email": "sam@harbour.example",
            "firstName": "Sam",
            "roles": [{"id": 5, "name": "Assessor"}],
        }
    ]
    assert verbs(fake) == ["legalEntities.person.added", "legalEntities.roles.updated"]
    assert fake.events[1][1]["legalEntityId"] == child
    assert len(served(fake, "legal_entities.connect_person")) == 2


@covers("legal_entities.list_people")
async def test_legal_entities_list_people(fake: FakeTahdah, client: TahdahClient) -> None:
    (child,) = fake.seed(legal_entities=[{"name": "Harbour Care Ltd"}]).legal_entities
    (learner,) = fake.seed(candidates=[{"firstName": "Ada"}]).candidates
    fake.state.legal_entities[child].people.extend(
        [
            {"candidateId": learner, "roles": [{"id": 1, "name": "Learner"}]},
            {"email": "sam@harbour.example", "firstName": "Sam", "lastName": "Ng"},
        ]
    )

    people = await client.legal_entities.list_people(fake.owner_id, child)

    assert people == [
        Person(candidate_id=learner, roles=(Role(id=1, name="Learner"),)),
        Person(email="sam@harbour.example", first_name="Sam", last_name="Ng"),
    ]
    served(fake, "legal_entities.list_people")


# -- candidates ----------------------------------------------------------------------------


@covers("candidates.create")
async def test_candidates_create_attaches_to_the_keys_entity(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    created = await client.candidates.create(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        date_of_birth=dt.date(1815, 12, 10),
        tags=("cohort-1",),
    )

    assert isinstance(created, Candidate)
    candidate_id = an_int(created.id)
    assert (created.first_name, created.last_name) == ("Ada", "Lovelace")
    assert (created.date_of_birth, created.tags) == (dt.date(1815, 12, 10), ("cohort-1",))
    record = fake.state.candidates[candidate_id]
    assert record.legal_entity_id == fake.owner_id
    assert record.data == {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "dateOfBirth": "1815-12-10",
        "tags": ["cohort-1"],
    }
    assert fake.events == [("candidates.created", record.wire())]
    (hit,) = served(fake, "candidates.create")
    assert hit.status == 201


@covers("candidates.update")
async def test_candidates_update_changes_only_the_fields_sent(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (ada,) = fake.seed(
        candidates=[{"firstName": "Ada", "lastName": "Lovelace", "email": "old@example.com"}]
    ).candidates

    await client.candidates.update(ada, email="ada@example.com", external_id="EXT-1")

    assert fake.state.candidates[ada].data == {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "externalId": "EXT-1",
    }
    assert verbs(fake) == ["candidates.updated"]
    served(fake, "candidates.update")


@covers("candidates.delete")
async def test_candidates_delete_removes_the_candidate(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    ada, bob = fake.seed(candidates=[{"firstName": "Ada"}, {"firstName": "Bob"}]).candidates

    await client.candidates.delete(ada)

    assert list(fake.state.candidates) == [bob]
    assert fake.events == [("candidates.deleted", {"id": ada, "firstName": "Ada"})]
    (hit,) = served(fake, "candidates.delete")
    assert (hit.method, hit.status) == ("DELETE", 204)


@covers("candidates.update_tags")
async def test_candidates_update_tags_adds_and_removes(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    (ada,) = fake.seed(candidates=[{"firstName": "Ada", "tags": ["a", "b"]}]).candidates

    await client.candidates.update_tags(ada, add=["c", "b"], remove=["a"])

    assert fake.state.candidates[ada].tags == ["b", "c"]
    assert verbs(fake) == ["candidates.updated"]
    served(fake, "candidates.update_tags")


# -- route overrides -----------------------------------------------------------------------

OVERRIDES = {
    "candidates.update": "PATCH /api/v2/candidates/{candidateId}",
    "pathways.create_registrations": (
        "POST /api/pathways/legalentities/{legalEntityId}/pathways/{experienceId}/registrations"
    ),
}


async def test_route_overrides_apply_to_the_fake_and_the_client() -> None:
    async with (
        FakeTahdah(routes=OVERRIDES) as fake,
        TahdahClient(fake.token, base_url=fake.url, routes=OVERRIDES) as client,
        TahdahClient(fake.token, base_url=fake.url, max_retries=0) as default,
    ):
        (ada,) = fake.seed(candidates=[{"firstName": "Ada"}]).candidates
        (pathway_id,) = fake.seed(experiences=[{"name": "Diploma"}]).experiences

        await client.candidates.update(ada, last_name="Lovelace")
        (result,) = await client.pathways.create_registrations(
            fake.owner_id,
            pathway_id,
            [{"candidateId": ada, "behavior": 1, "registrationDate": "2026-03-01"}],
        )
        # The default route of the overridden operation is no longer served.
        with pytest.raises(APIStatusError) as refused:
            await default.candidates.update(ada, first_name="Augusta")

    assert fake.state.candidates[ada].data == {"firstName": "Ada", "lastName": "Lovelace"}
    assert result.candidate_id == str(ada)
    assert [(r.operation, r.method, r.path, r.status) for r in fake.requests[:2]] == [
        ("candidates.update", "PATCH", f"/api/v2/candidates/{ada}", 204),
        (
            "pathways.create_registrations",
            "POST",
            f"/api/pathways/legalentities/{fake.owner_id}/pathways/{pathway_id}/registrations",
            200,
        ),
    ]
    # DELETE still lives on the old path, so PUT there is a method the fake does not allow.
    assert refused.value.status == 405
    assert refused.value.path == f"/api/candidates/{ada}"
    assert fake.routes["candidates.update"].method == client.routes["candidates.update"].method


async def test_fake_and_client_route_tables_match_by_default(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    assert dict(fake.routes) == dict(ROUTES) == dict(client.routes)


# -- the guard -----------------------------------------------------------------------------


def test_every_operation_of_the_route_table_is_exercised() -> None:
    assert set(COVERED) == set(ROUTES)
    assert len(ROUTES) == 27
