"""Every operation of the route table: the request on the wire and the parsed reply.

The expected methods, paths, bodies and shapes come from REFERENCE.md sections 1 and 2 (and the
resources' docstrings), written out here by hand: nothing is read back from
``tahdah_async._routes``, so a wrong route table fails these tests.

aioresponses answers every request (whatever its URL) from a queue of replies, and records what
was sent; the tests then compare the recorded method, URL, headers and JSON body with literals.
Reply bodies live in ``tests/samples/<area>/*.json`` and hold only fields the models know (a test
below runs each through the strict converter); unknown-key cases are written inline.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

import attrs
import cattrs
import pytest
from aioresponses import aioresponses
from multidict import CIMultiDict
from yarl import URL

from tahdah_async import (
    APIResponse,
    BadgeRecipient,
    BadgeTemplate,
    Candidate,
    EventTemplateCredit,
    Id,
    LearnerRegistration,
    LearningExperience,
    LegalEntity,
    Model,
    Pathway,
    PathwayType,
    Person,
    Registration,
    RegistrationResult,
    ResponseDecodeError,
    RetryPolicy,
    Role,
    Route,
    TahdahClient,
    Target,
    TrustGroup,
    TrustGroupMember,
)
from tahdah_async._converter import make_converter
from tahdah_async._routes import ROUTES
from tests.conftest import BASE_URL, TOKEN, RecordingSleep

# -- samples ---------------------------------------------------------------------------------

SAMPLES = Path(__file__).parent / "samples"
AREAS = (
    "trust_groups",
    "event_credits",
    "tracker",
    "learning_experiences",
    "pathways",
    "digital_badges",
    "legal_entities",
    "candidates",
)
SAMPLE: dict[str, Any] = {
    f"{area}/{path.name}": json.loads(path.read_text(encoding="utf-8"))
    for area in AREAS
    for path in sorted((SAMPLES / area).glob("*.json"))
}
"""Every sample file of the REST areas, by path below ``tests/samples`` (read once, at import)."""

SAMPLE_TYPES: dict[str, Any] = {
    "trust_groups/list.json": list[TrustGroup],
    "trust_groups/create.json": TrustGroup,
    "trust_groups/legal_entity_members.json": list[TrustGroupMember],
    "trust_groups/candidate_members.json": list[TrustGroupMember],
    "event_credits/credits.json": list[EventTemplateCredit],
    "tracker/candidate_targets.json": list[Target],
    "tracker/legal_entity_targets.json": list[Target],
    "learning_experiences/register_learners.json": list[RegistrationResult],
    "learning_experiences/list.json": list[LearningExperience],
    "learning_experiences/get.json": LearningExperience,
    "pathways/list.json": list[Pathway],
    "pathways/get.json": Pathway,
    "pathways/registrations.json": list[Registration],
    "pathways/create_registrations.json": list[RegistrationResult],
    "digital_badges/templates.json": list[BadgeTemplate],
    "legal_entities/get.json": LegalEntity,
    "legal_entities/create.json": LegalEntity,
    "legal_entities/people.json": list[Person],
    "candidates/create.json": Candidate,
}
"""The model each sample is a payload of."""

# -- REFERENCE 2.4, verbatim ------------------------------------------------------------------

REGISTER_BODY = {
    "candidateIds": [
        {"candidateId": 212233, "behavior": 2, "registrationDate": "2025-09-03"},
        {"candidateId": 4211124, "behavior": 1, "registrationDate": "2024-09-10"},
    ]
}
REGISTER_REPLY = [{"candidateId": "212233", "candidateExperienceId": "98001", "registrationDate": "2025-09-03"}]  # fmt: skip # noqa: E501
LEARNERS = [
    LearnerRegistration(candidate_id=212233, behavior=2, registration_date=dt.date(2025, 9, 3)),
    LearnerRegistration(candidate_id=4211124, behavior=1, registration_date=dt.date(2024, 9, 10)),
]
REGISTERED = [
    RegistrationResult(
        candidate_id="212233",
        candidate_experience_id="98001",
        registration_date=dt.date(2025, 9, 3),
    )
]

# -- what the samples parse into --------------------------------------------------------------

NORTHFIELD_UID = "3f2b8c1e-6a47-4d2e-9b1a-2c5e7f8a9d01"
TRUST_GROUPS = [
    TrustGroup(
        id=3101,
        name="Northfield Partners",
        uid=NORTHFIELD_UID,
        monthly_price=12.5,
        annual_price=125.0,
        description="Training providers in the Northfield network",
        colour_code="#1f6feb",
        icon_file="icons/partners.svg",
        public_name="Northfield Partners Network",
        extension_group_name="NFP",
        members_publicly_visible=True,
        show_on_badge=True,
        show_in_details=False,
        allow_editing_in_details=False,
        parent_trust_group=None,
        access_rights=(1, 4, 9),
    ),
    TrustGroup(
        id="3102",
        name="Free Associates",
        uid="9d0e1f2a-3b4c-4d5e-8f60-718293a4b5c6",
        monthly_price=0.0,
        annual_price=0.0,
        members_publicly_visible=False,
        parent_trust_group=NORTHFIELD_UID,
        access_rights=(),
    ),
]
CREATED_TRUST_GROUP = TrustGroup(
    id=3103,
    name="Regional Assessors",
    uid="b7c8d9e0-f1a2-4b3c-9d4e-5f6a7b8c9d0e",
    monthly_price=5.0,
    annual_price=50.0,
    colour_code="#e3b341",
    show_on_badge=False,
    access_rights=(2,),
)
LEGAL_ENTITY_MEMBERS = [
    TrustGroupMember(
        trust_group_id=3101,
        legal_entity_id=8802,
        name="Riverside College",
        added_at=dt.datetime(2025, 3, 14, 9, 30, 12, 123456, tzinfo=dt.UTC),
        status="Active",
    ),
    TrustGroupMember(
        trust_group_id="3102",
        legal_entity_id="8803",
        name="Hilltop Skills CIC",
        added_at=dt.datetime(2024, 11, 2, 16, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        status="Pending",
    ),
]
CANDIDATE_MEMBERS = [
    TrustGroupMember(
        trust_group_id=3101,
        candidate_id=212233,
        name="Ada Lovelace",
        added_at=dt.datetime(2025, 9, 3, 8, 0, tzinfo=dt.UTC),
        status="Active",
    )
]
CANDIDATE_TARGETS = [
    Target(
        id=9001,
        name="Guided learning hours",
        target=120.0,
        achieved=87.5,
        due_date=dt.date(2025, 12, 19),
        status="OnTrack",
    ),
    Target(
        id=9002,
        name="Portfolio units signed off",
        target=12.0,
        achieved=3.0,
        due_date=dt.date(2026, 3, 31),  # sent as a date-time: cut to its date
        status="Behind",
    ),
]
LEGAL_ENTITY_TARGETS = [
    Target(
        id="T-17",
        name="Learners registered this quarter",
        target=40.0,
        achieved=41.0,
        due_date=dt.date(2025, 9, 30),
        status="Achieved",
    ),
    Target(
        id=18, name="Badges issued", target=200.0, achieved=0.0, due_date=None, status="NotStarted"
    ),
]
APPRENTICESHIP = PathwayType(id=2, name="Apprenticeship")
EXPERIENCES = [
    LearningExperience(
        id=501,
        name="Level 3 Electrical Installation",
        pathway_type=APPRENTICESHIP,
        start_date=dt.date(2025, 9, 1),
        end_date=dt.date(2027, 7, 31),
    ),
    LearningExperience(
        id="502",
        name="First Aid at Work",
        pathway_type=PathwayType(id=5, name="Short course"),
        start_date=dt.date(2025, 10, 6),
        end_date=None,
    ),
]
PATHWAYS = [
    Pathway(
        id=601,
        name="Digital Marketing Pathway",
        pathway_type=PathwayType(id="PT-3", name="Bootcamp"),
        start_date=dt.date(2025, 1, 13),
        end_date=dt.date(2025, 4, 11),
    ),
    Pathway(
        id=602,
        name="Team Leader Pathway",
        pathway_type=APPRENTICESHIP,
        start_date=dt.date(2025, 9, 15),
        end_date=dt.date(2026, 9, 14),
    ),
]
REGISTRATIONS = [
    Registration(
        candidate_id="212233",
        candidate_experience_id="98001",
        experience_id=601,
        registration_date=dt.date(2025, 9, 3),
    ),
    Registration(
        candidate_id=4211124,
        candidate_experience_id=98002,
        experience_id="601",
        registration_date=dt.date(2024, 9, 10),
    ),
]
BADGE_TEMPLATES = [
    BadgeTemplate(
        id=15,
        name="Safe Working at Height",
        description="Awarded on passing the practical working-at-height assessment.",
        image_url="https://cdn.tahdah.me/badges/15.png",
    ),
    BadgeTemplate(
        id="16", name="Mentor", description=None, image_url="https://cdn.tahdah.me/badges/16.png"
    ),
]
NORTHFIELD = LegalEntity(
    added_at=dt.datetime(2025, 6, 30, 13, 45, 10, 500000, tzinfo=dt.UTC),
    name="Northfield Training Ltd",
    trading_name="Northfield Training",
    description="Construction and electrical apprenticeships",
    logo_url="https://northfield.example/logo.png",
    public_website_address="https://northfield.example",
    contact_email="hello@northfield.example",
    contact_us_link="https://northfield.example/contact",
    vat_number="GB123456789",
    charity_number=None,
    child_age_limit=16,
    address1="1 Mill Lane",
    address2="Unit 4",
    address3=None,
    town="Leeds",
    county="West Yorkshire",
    postcode="LS1 4AB",
    currency_id=1,
    timezone="UK/London",
)
PEOPLE = [
    Person(
        candidate_id=212233,
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        roles=(Role(id=3, name="Learner"),),
    ),
    Person(
        email="grace@northfield.example",
        first_name="Grace",
        last_name="Hopper",
        roles=(Role(id=1, name="Administrator"), Role(id="7", name="Assessor")),
    ),
]
ADA = Candidate(
    id=212240,
    external_id="NF-0042",
    first_name="Ada",
    last_name="Lovelace",
    email="ada@example.com",
    date_of_birth=dt.date(2001, 2, 3),
    tags=("apprentice", "2025-intake"),
)
CREDITS_KEY = "5f0c9a3e-2b1d-4c6a-8e7f-0a1b2c3d4e5f"

# -- recording and answering requests ---------------------------------------------------------

ANY_URL = re.compile(r".*")


@dataclass(frozen=True)
class Sent:
    """One request as aioresponses recorded it."""

    method: str
    url: URL
    headers: CIMultiDict[str]
    body: Any
    """The decoded JSON body; ``None`` when no body was sent."""


def sent_requests(mocked: aioresponses) -> list[Sent]:
    """Every request recorded so far: grouped by (method, URL), each group in the order sent."""
    out = []
    for (method, url), calls in mocked.requests.items():
        for call in calls:
            data = call.kwargs.get("data")
            body = None if data is None else json.loads(data)
            out.append(Sent(method, url, CIMultiDict(call.kwargs["headers"]), body))
    return out


def only_request(mocked: aioresponses) -> Sent:
    """The one request recorded (failing if there were none or several)."""
    requests = sent_requests(mocked)
    assert len(requests) == 1, requests
    return requests[0]


def reply(
    mocked: aioresponses,
    method: str,
    payload: object = None,
    *,
    raw: str | None = None,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Queue the answer to the next ``method`` request, whatever its URL.

    The body is ``payload`` as JSON, or the ``raw`` text; with neither, an empty 204.
    """
    text = raw if raw is not None else ("" if payload is None else json.dumps(payload))
    if status is None:
        status = 200 if text else 204
    mocked.add(ANY_URL, method=method, status=status, body=text, headers=headers)


def assert_standard_headers(request: Sent, *, has_body: bool) -> None:
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith("tahdah-async/")
    assert request.headers["Accept"] == "application/json"
    if has_body:
        assert request.headers["Content-Type"] == "application/json"
    else:
        assert "Content-Type" not in request.headers


def shape(value: object) -> object:
    """``value`` with every scalar's type attached, so ``125`` and ``125.0`` (or ``"1"`` and
    ``1``, or a date and a date-time) compare unequal; models become their fields."""
    if isinstance(value, Model):
        fields = attrs.fields(type(value))
        return type(value).__name__, {f.name: shape(getattr(value, f.name)) for f in fields}
    if isinstance(value, list | tuple):
        return type(value).__name__, [shape(item) for item in value]
    if isinstance(value, Mapping):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__, value


# -- the 27 operations ------------------------------------------------------------------------


@dataclass(frozen=True)
class PathId:
    """The values a test puts in one path placeholder."""

    plain: int
    text: str
    """A string id with characters that must be percent-encoded..."""
    encoded: str
    """...and how it must appear in the path."""


PATH_IDS = {
    "legalEntityId": PathId(42, "le/42", "le%2F42"),
    "legalEntityOwnerId": PathId(1, "owner 1", "owner%201"),
    "trustGroupId": PathId(7, "tg?7", "tg%3F7"),
    "memberLegalEntityId": PathId(8803, "m#8803", "m%238803"),
    "candidateId": PathId(212233, "c%1", "c%251"),
    "experienceId": PathId(501, "exp/é", "exp%2F%C3%A9"),
    "pathwayId": PathId(601, "p&w=1", "p%26w%3D1"),
    "badgeTemplateId": PathId(15, "b+t", "b%2Bt"),
}
"""Distinct values per placeholder, so ids passed in the wrong order are caught."""

Call = Callable[[TahdahClient, Unpack[tuple[Id, ...]]], Awaitable[object]]


@dataclass(frozen=True)
class Case:
    """One operation: how to call it and what must go over the wire and come back."""

    name: str
    """The SDK call name (a key of the route table)."""
    route: str
    """``METHOD /path/{placeholder}`` as REFERENCE section 2 gives it."""
    call: Call
    """Makes the call, given the client and the path ids in path order."""
    sent: Any = None
    """The JSON body that must be sent (``None``: no body)."""
    reply: str | None = None
    """The sample answered (``None``: an empty 204)."""
    returns: object = None
    """What the call must return."""

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def template(self) -> str:
        return self.route.split(" ", 1)[1]

    @property
    def placeholders(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.template)

    def path(self, ids: Mapping[str, object]) -> str:
        return self.template.format_map(ids)


CASES = [
    Case(
        "trust_groups.list",
        "GET /api/trustgroups/legalentities/{legalEntityId}/trustgroups",
        lambda c, *ids: c.trust_groups.list(*ids),
        reply="trust_groups/list.json",
        returns=TRUST_GROUPS,
    ),
    Case(
        "trust_groups.create",
        "PUT /api/trustgroups/legalentities/{legalEntityId}/trustgroup",
        lambda c, *ids: c.trust_groups.create(
            *ids, name="Regional Assessors", monthly_price=5.0, colour_code="#e3b341"
        ),
        sent={"name": "Regional Assessors", "monthlyPrice": 5.0, "colourCode": "#e3b341"},
        reply="trust_groups/create.json",
        returns=CREATED_TRUST_GROUP,
    ),
    Case(
        "trust_groups.update",
        "POST /api/trustgroups/legalentities/{legalEntityId}/trustgroup/{trustGroupId}",
        lambda c, *ids: c.trust_groups.update(
            *ids, description="Assessors across the region", show_in_details=True
        ),
        sent={"description": "Assessors across the region", "showInDetails": True},
    ),
    Case(
        "trust_groups.list_legal_entity_members",
        "GET /api/trustgroups/legalentities/{legalEntityId}/legalentities",
        lambda c, *ids: c.trust_groups.list_legal_entity_members(*ids),
        reply="trust_groups/legal_entity_members.json",
        returns=LEGAL_ENTITY_MEMBERS,
    ),
    Case(
        "trust_groups.list_candidate_members",
        "GET /api/trustgroups/legalentities/{legalEntityId}/candidates",
        lambda c, *ids: c.trust_groups.list_candidate_members(*ids),
        reply="trust_groups/candidate_members.json",
        returns=CANDIDATE_MEMBERS,
    ),
    Case(
        "trust_groups.add_member",
        "PUT /api/trustgroups/legalentities/{legalEntityId}/trustgroup/{trustGroupId}/members",
        lambda c, *ids: c.trust_groups.add_member(*ids, 8803),
        sent={"legalEntityId": 8803},
    ),
    Case(
        "trust_groups.remove_member",
        "DELETE /api/trustgroups/legalentities/{legalEntityId}/trustgroup/{trustGroupId}"
        "/members/{memberLegalEntityId}",
        lambda c, *ids: c.trust_groups.remove_member(*ids),
    ),
    Case(
        "event_credits.add",
        "PUT /api/eventcredits/legalentities/{legalEntityId}",
        lambda c, *ids: c.event_credits.add(
            *ids,
            [
                EventTemplateCredit(event_template_id=77, number_of_credits=10),
                EventTemplateCredit(event_template_id=78, number_of_credits=-2),
            ],
            order_number="ORD-1001",
            idempotency_key=CREDITS_KEY,
        ),
        sent={
            "idempotencyKey": CREDITS_KEY,
            "orderNumber": "ORD-1001",
            "eventTemplateCredits": [
                {"eventTemplateId": 77, "numberOfCredits": 10},
                {"eventTemplateId": 78, "numberOfCredits": -2},
            ],
        },
        returns=CREDITS_KEY,
    ),
    Case(
        "tracker.candidate_targets",
        "GET /api/tracker/legalentities/{legalEntityId}/candidates/{candidateId}/targets",
        lambda c, *ids: c.tracker.candidate_targets(*ids),
        reply="tracker/candidate_targets.json",
        returns=CANDIDATE_TARGETS,
    ),
    Case(
        "tracker.legal_entity_targets",
        "GET /api/tracker/legalentities/{legalEntityId}/targets",
        lambda c, *ids: c.tracker.legal_entity_targets(*ids),
        reply="tracker/legal_entity_targets.json",
        returns=LEGAL_ENTITY_TARGETS,
    ),
    Case(
        "learning_experiences.register_learners",
        "POST /api/learningexperiences/legalentities/{legalEntityId}/experiences/{experienceId}"
        "/learners",
        lambda c, *ids: c.learning_experiences.register_learners(*ids, LEARNERS),
        sent=REGISTER_BODY,
        reply="learning_experiences/register_learners.json",
        returns=REGISTERED,
    ),
    Case(
        "learning_experiences.list",
        "GET /api/learningexperiences/legalentities/{legalEntityId}/experiences",
        lambda c, *ids: c.learning_experiences.list(*ids),
        reply="learning_experiences/list.json",
        returns=EXPERIENCES,
    ),
    Case(
        "learning_experiences.get",
        "GET /api/learningexperiences/legalentities/{legalEntityId}/experiences/{experienceId}",
        lambda c, *ids: c.learning_experiences.get(*ids),
        reply="learning_experiences/get.json",
        returns=EXPERIENCES[0],
    ),
    Case(
        "pathways.list",
        "GET /api/pathways/legalentities/{legalEntityId}/pathways",
        lambda c, *ids: c.pathways.list(*ids),
        reply="pathways/list.json",
        returns=PATHWAYS,
    ),
    Case(
        "pathways.get",
        "GET /api/pathways/legalentities/{legalEntityId}/pathways/{pathwayId}",
        lambda c, *ids: c.pathways.get(*ids),
        reply="pathways/get.json",
        returns=PATHWAYS[1],
    ),
    Case(
        "pathways.list_registrations",
        "GET /api/pathways/legalentities/{legalEntityId}/pathways/{pathwayId}/registrations",
        lambda c, *ids: c.pathways.list_registrations(*ids),
        reply="pathways/registrations.json",
        returns=REGISTRATIONS,
    ),
    Case(
        # The same documented request as register_learners, the pathway id as the experience.
        "pathways.create_registrations",
        "POST /api/learningexperiences/legalentities/{legalEntityId}/experiences/{experienceId}"
        "/learners",
        lambda c, *ids: c.pathways.create_registrations(*ids, LEARNERS),
        sent=REGISTER_BODY,
        reply="pathways/create_registrations.json",
        returns=REGISTERED,
    ),
    Case(
        "digital_badges.issue",
        "POST /api/digitalbadges/{legalEntityId}/templates/{badgeTemplateId}/issueBadge",
        lambda c, *ids: c.digital_badges.issue(
            *ids, email="ada@example.com", first_name="Ada", last_name="Lovelace"
        ),
        sent={"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"},
    ),
    Case(
        "digital_badges.list_templates",
        "GET /api/digitalbadges/{legalEntityId}/templates",
        lambda c, *ids: c.digital_badges.list_templates(*ids),
        reply="digital_badges/templates.json",
        returns=BADGE_TEMPLATES,
    ),
    Case(
        "legal_entities.get",
        "GET /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}",
        lambda c, *ids: c.legal_entities.get(*ids),
        reply="legal_entities/get.json",
        returns=NORTHFIELD,
    ),
    Case(
        "legal_entities.create",
        "POST /api/legalentities/{legalEntityOwnerId}/legalentities",
        lambda c, *ids: c.legal_entities.create(
            *ids, name="Hilltop Skills CIC", town="Bradford", trust_group_ids=[3101, "3102"]
        ),
        sent={"name": "Hilltop Skills CIC", "town": "Bradford", "trustGroupIds": [3101, "3102"]},
        reply="legal_entities/create.json",
        returns=8804,
    ),
    Case(
        "legal_entities.connect_person",
        "POST /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}/people",
        lambda c, *ids: c.legal_entities.connect_person(
            *ids, candidate_id=212233, roles=(Role(id=3, name="Learner"),)
        ),
        sent={"candidateId": 212233, "roles": [{"id": 3, "name": "Learner"}]},
    ),
    Case(
        "legal_entities.list_people",
        "GET /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}/people",
        lambda c, *ids: c.legal_entities.list_people(*ids),
        reply="legal_entities/people.json",
        returns=PEOPLE,
    ),
    Case(
        "candidates.create",
        "POST /api/candidates",
        lambda c, *ids: c.candidates.create(
            *ids,
            external_id="NF-0042",
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.com",
            date_of_birth=dt.date(2001, 2, 3),
            tags=("apprentice", "2025-intake"),
        ),
        sent={
            "externalId": "NF-0042",
            "firstName": "Ada",
            "lastName": "Lovelace",
            "email": "ada@example.com",
            "dateOfBirth": "2001-02-03",
            "tags": ["apprentice", "2025-intake"],
        },
        reply="candidates/create.json",
        returns=ADA,
    ),
    Case(
        "candidates.update",
        "PUT /api/candidates/{candidateId}",
        lambda c, *ids: c.candidates.update(*ids, email="ada.lovelace@example.com"),
        sent={"email": "ada.lovelace@example.com"},
    ),
    Case(
        "candidates.delete",
        "DELETE /api/candidates/{candidateId}",
        lambda c, *ids: c.candidates.delete(*ids),
    ),
    Case(
        "candidates.update_tags",
        "PUT /api/candidates/{candidateId}/tags",
        lambda c, *ids: c.candidates.update_tags(*ids, add=["level-3"], remove=["2025-intake"]),
        sent={"add": ["level-3"], "remove": ["2025-intake"]},
    ),
]
CASES_WITH_PATH_IDS = [case for case in CASES if case.placeholders]


def case_name(case: Case) -> str:
    return case.name


def test_every_operation_of_the_route_table_has_a_case() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)) == 27
    assert set(names) == set(ROUTES)


@pytest.mark.parametrize("case", CASES, ids=case_name)
async def test_operation_sends_the_documented_request_and_parses_the_reply(
    case: Case, client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, case.method, None if case.reply is None else SAMPLE[case.reply])

    result = await case.call(client, *(PATH_IDS[name].plain for name in case.placeholders))

    request = only_request(mocked)
    assert request.method == case.method
    expected_path = case.path({name: PATH_IDS[name].plain for name in case.placeholders})
    assert str(request.url) == BASE_URL + expected_path
    assert_standard_headers(request, has_body=case.sent is not None)
    assert request.body == case.sent
    assert shape(result) == shape(case.returns)


@pytest.mark.parametrize("case", CASES_WITH_PATH_IDS, ids=case_name)
async def test_path_ids_are_percent_encoded(
    case: Case, client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, case.method, None if case.reply is None else SAMPLE[case.reply])

    await case.call(client, *(PATH_IDS[name].text for name in case.placeholders))

    request = only_request(mocked)
    expected_path = case.path({name: PATH_IDS[name].encoded for name in case.placeholders})
    assert request.url.raw_path == expected_path
    assert str(request.url) == BASE_URL + expected_path


@pytest.mark.parametrize(
    ("case", "position", "bad", "error"),
    [
        pytest.param(case, position, bad, error, id=f"{case.name}-{name}-{label}")
        for case in CASES_WITH_PATH_IDS
        for position, name in enumerate(case.placeholders)
        for bad, error, label in (("  ", ValueError, "blank"), (True, TypeError, "bool"))
    ],
)
async def test_blank_or_bool_path_id_is_refused_before_sending(
    case: Case,
    position: int,
    bad: Id,
    error: type[Exception],
    client: TahdahClient,
    mocked: aioresponses,
) -> None:
    ids: list[Id] = [PATH_IDS[name].plain for name in case.placeholders]
    ids[position] = bad
    with pytest.raises(error, match=case.placeholders[position]):
        await case.call(client, *ids)
    assert mocked.requests == {}


@pytest.mark.parametrize("dots", [".", ".."])
async def test_dot_segment_path_id_is_refused_before_sending(
    dots: str, client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "DELETE")
    with pytest.raises(ValueError, match="candidateId"):
        await client.candidates.delete(dots)
    assert mocked.requests == {}


# -- query strings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "path"),
    [
        ("list_legal_entity_members", "/api/trustgroups/legalentities/42/legalentities"),
        ("list_candidate_members", "/api/trustgroups/legalentities/42/candidates"),
    ],
)
@pytest.mark.parametrize(
    ("trust_group_ids", "query"),
    [
        (None, ""),
        ([1, 2], "trustGroupIds=1,2"),
        (("3101", 7), "trustGroupIds=3101,7"),
    ],
)
async def test_member_lists_send_trust_group_ids_as_one_comma_separated_parameter(
    operation: str,
    path: str,
    trust_group_ids: list[Id] | None,
    query: str,
    client: TahdahClient,
    mocked: aioresponses,
) -> None:
    reply(mocked, "GET", [])
    list_members = getattr(client.trust_groups, operation)

    assert await list_members(42, trust_group_ids=trust_group_ids) == []

    request = only_request(mocked)
    assert request.url.path == path
    assert request.url.raw_query_string == query
    assert len(request.url.query) == (1 if query else 0)


# -- the register-learners example of REFERENCE 2.4 -------------------------------------------

RegisterCall = Callable[[TahdahClient, list[Any]], Awaitable[list[RegistrationResult]]]


def register_on_experience(
    c: TahdahClient, learners: list[Any]
) -> Awaitable[list[RegistrationResult]]:
    return c.learning_experiences.register_learners(42, 501, learners)


def register_on_pathway(
    c: TahdahClient, learners: list[Any]
) -> Awaitable[list[RegistrationResult]]:
    return c.pathways.create_registrations(42, 501, learners)


@pytest.mark.parametrize("register", [register_on_experience, register_on_pathway])
@pytest.mark.parametrize(
    "learners",
    [
        pytest.param(LEARNERS, id="models"),
        pytest.param(REGISTER_BODY["candidateIds"], id="wire-mappings"),
    ],
)
async def test_register_learners_sends_and_reads_the_documented_example(
    register: RegisterCall,
    learners: list[Any],
    client: TahdahClient,
    mocked: aioresponses,
) -> None:
    reply(mocked, "POST", REGISTER_REPLY)

    results = await register(client, learners)

    request = only_request(mocked)
    assert request.method == "POST"
    assert request.url.path == "/api/learningexperiences/legalentities/42/experiences/501/learners"
    assert request.body == {
        "candidateIds": [
            {"candidateId": 212233, "behavior": 2, "registrationDate": "2025-09-03"},
            {"candidateId": 4211124, "behavior": 1, "registrationDate": "2024-09-10"},
        ]
    }
    assert results == [
        RegistrationResult(
            candidate_id="212233",
            candidate_experience_id="98001",
            registration_date=dt.date(2025, 9, 3),
        )
    ]
    (result,) = results
    assert type(result.candidate_id) is str
    assert type(result.candidate_experience_id) is str
    assert type(result.registration_date) is dt.date


async def test_registration_result_ids_stay_strings_when_the_reply_sends_numbers(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(
        mocked,
        "POST",
        [{"candidateId": 212233, "candidateExperienceId": 98001, "registrationDate": "2025-09-03"}],
    )

    (result,) = await client.learning_experiences.register_learners(42, 501, LEARNERS[:1])

    assert shape(result) == shape(REGISTERED[0])


# -- body forms -------------------------------------------------------------------------------

BodyCall = Callable[[TahdahClient, Any, dict[str, Any]], Awaitable[object]]


@dataclass(frozen=True)
class BodyCase:
    """An operation with a body, and one body given as keyword arguments and as wire JSON."""

    name: str
    route: str
    call: BodyCall
    """Makes the call with (client, body argument, keyword arguments)."""
    model: type[Model]
    fields: dict[str, Any]
    """The body as the model's keyword arguments..."""
    wire: dict[str, Any]
    """...and the JSON that must be sent for it."""
    reply: object = None


BODY_CASES = [
    BodyCase(
        "trust_groups.create",
        "PUT /api/trustgroups/legalentities/42/trustgroup",
        lambda c, group, fields: c.trust_groups.create(42, group, **fields),
        TrustGroup,
        {
            "name": "Regional Assessors",
            "monthly_price": 5.0,
            "members_publicly_visible": False,
            "parent_trust_group": NORTHFIELD_UID,
            "access_rights": (2, 3),
        },
        {
            "name": "Regional Assessors",
            "monthlyPrice": 5.0,
            "membersPubliclyVisible": False,
            "parentTrustGroup": NORTHFIELD_UID,
            "accessRights": [2, 3],
        },
    ),
    BodyCase(
        # An update sends only what was set; None goes as null from keywords and mappings.
        "trust_groups.update",
        "POST /api/trustgroups/legalentities/42/trustgroup/7",
        lambda c, group, fields: c.trust_groups.update(42, 7, group, **fields),
        TrustGroup,
        {"description": None, "show_on_badge": False},
        {"description": None, "showOnBadge": False},
    ),
    BodyCase(
        "candidates.create",
        "POST /api/candidates",
        lambda c, candidate, fields: c.candidates.create(candidate, **fields),
        Candidate,
        {"first_name": "Ada", "date_of_birth": dt.date(2001, 2, 3), "tags": ("apprentice",)},
        {"firstName": "Ada", "dateOfBirth": "2001-02-03", "tags": ["apprentice"]},
    ),
    BodyCase(
        "candidates.update",
        "PUT /api/candidates/212233",
        lambda c, candidate, fields: c.candidates.update(212233, candidate, **fields),
        Candidate,
        {"email": None, "last_name": "King"},
        {"email": None, "lastName": "King"},
    ),
    BodyCase(
        "legal_entities.create",
        "POST /api/legalentities/1/legalentities",
        lambda c, entity, fields: c.legal_entities.create(1, entity, **fields),
        LegalEntity,
        {"name": "Hilltop Skills CIC", "child_age_limit": 16, "timezone": "UK/London"},
        {"name": "Hilltop Skills CIC", "childAgeLimit": 16, "timezone": "UK/London"},
        reply={"id": 8804},
    ),
    BodyCase(
        "digital_badges.issue",
        "POST /api/digitalbadges/42/templates/15/issueBadge",
        lambda c, learner, fields: c.digital_badges.issue(42, 15, learner, **fields),
        BadgeRecipient,
        {
            "external_id": "NF-0042",
            "candidate_id": 212233,
            "first_name": "Ada",
            "issued_at": dt.datetime(2025, 9, 3, 14, 0, tzinfo=dt.UTC),
        },
        {
            "externalId": "NF-0042",
            "candidateId": 212233,
            "firstName": "Ada",
            "issuedAt": "2025-09-03T14:00:00Z",
        },
    ),
    BodyCase(
        "legal_entities.connect_person",
        "POST /api/legalentities/1/legalentities/8802/people",
        lambda c, person, fields: c.legal_entities.connect_person(1, 8802, person, **fields),
        Person,
        {"email": "grace@northfield.example", "roles": (Role(id=1, name="Administrator"),)},
        {"email": "grace@northfield.example", "roles": [{"id": 1, "name": "Administrator"}]},
    ),
]

FUTURE = {"futureField": {"since": "v2", "codes": [1, 2]}}
"""A wire field the SDK does not know: it must be sent as given."""


def set_fields(wire: dict[str, Any]) -> dict[str, Any]:
    """What a model sends of ``wire``: a field that is None is not set, so not sent."""
    return {key: value for key, value in wire.items() if value is not None}


def as_model(case: BodyCase) -> tuple[object, dict[str, Any], dict[str, Any]]:
    return case.model(**case.fields), {}, set_fields(case.wire)


def as_model_with_extra(case: BodyCase) -> tuple[object, dict[str, Any], dict[str, Any]]:
    return case.model(**case.fields, extra=FUTURE), {}, {**set_fields(case.wire), **FUTURE}


def as_mapping(case: BodyCase) -> tuple[object, dict[str, Any], dict[str, Any]]:
    return {**case.wire, **FUTURE}, {}, {**case.wire, **FUTURE}


def as_keywords(case: BodyCase) -> tuple[object, dict[str, Any], dict[str, Any]]:
    return None, case.fields, case.wire


@pytest.mark.parametrize("form", [as_model, as_model_with_extra, as_mapping, as_keywords])
@pytest.mark.parametrize("case", BODY_CASES, ids=lambda case: case.name)
async def test_body_forms_send_the_same_wire_json(
    case: BodyCase,
    form: Callable[[BodyCase], tuple[object, dict[str, Any], dict[str, Any]]],
    client: TahdahClient,
    mocked: aioresponses,
) -> None:
    argument, keywords, expected = form(case)
    method, path = case.route.split(" ")
    reply(mocked, method, case.reply)

    await case.call(client, argument, keywords)

    request = only_request(mocked)
    assert (request.method, request.url.path) == (method, path)
    assert_standard_headers(request, has_body=True)
    assert request.body == expected


async def test_update_tags_with_only_additions_sends_an_empty_removal_list(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "PUT")
    await client.candidates.update_tags(212233, add=("vip", "level-3"))
    assert only_request(mocked).body == {"add": ["vip", "level-3"], "remove": []}


# -- create responses -------------------------------------------------------------------------

CreateCall = Callable[[TahdahClient], Awaitable[object]]


def create_trust_group(c: TahdahClient) -> Awaitable[TrustGroup]:
    return c.trust_groups.create(42, name="Partners")


def create_trust_group_from_mapping(c: TahdahClient) -> Awaitable[TrustGroup]:
    return c.trust_groups.create(42, {"name": "Partners", **FUTURE})


def create_candidate(c: TahdahClient) -> Awaitable[Candidate]:
    return c.candidates.create(Candidate(first_name="Ada", email="ada@example.com"))


def create_legal_entity(c: TahdahClient) -> Awaitable[int | str]:
    return c.legal_entities.create(1, name="Hilltop Skills CIC")


@pytest.mark.parametrize(
    ("method", "create", "raw", "expected"),
    [
        pytest.param(
            "PUT",
            create_trust_group,
            '{"id": 3103, "name": "Partners (renamed)", "showOnBadge": true}',
            TrustGroup(id=3103, name="Partners (renamed)", show_on_badge=True),
            id="trust_group-object",
        ),
        pytest.param(
            "PUT",
            create_trust_group,
            "123",
            TrustGroup(name="Partners", id=123),
            id="trust_group-id",
        ),
        pytest.param(
            "PUT",
            create_trust_group,
            '"tg-123"',
            TrustGroup(name="Partners", id="tg-123"),
            id="trust_group-str-id",
        ),
        pytest.param(
            "PUT", create_trust_group, "", TrustGroup(name="Partners"), id="trust_group-empty"
        ),
        pytest.param(
            "PUT",
            create_trust_group_from_mapping,
            "123",
            TrustGroup(name="Partners", id=123, extra=FUTURE),
            id="trust_group-mapping-id",
        ),
        pytest.param(
            "POST",
            create_candidate,
            '{"id": 212240, "firstName": "Ada", "email": "ada@example.com", "tags": []}',
            Candidate(id=212240, first_name="Ada", email="ada@example.com", tags=()),
            id="candidate-object",
        ),
        pytest.param(
            "POST",
            create_candidate,
            "212240",
            Candidate(id=212240, first_name="Ada", email="ada@example.com"),
            id="candidate-id",
        ),
        pytest.param("POST", create_legal_entity, "8804", 8804, id="legal_entity-id"),
        pytest.param("POST", create_legal_entity, '"le-8804"', "le-8804", id="legal_entity-str-id"),
        pytest.param("POST", create_legal_entity, '{"id": 8804}', 8804, id="legal_entity-object"),
        pytest.param(
            "POST",
            create_legal_entity,
            '{"id": "le-8804", "name": "Hilltop Skills CIC"}',
            "le-8804",
            id="legal_entity-object-str-id",
        ),
    ],
)
async def test_create_returns_what_the_reply_names(
    method: str,
    create: CreateCall,
    raw: str,
    expected: object,
    client: TahdahClient,
    mocked: aioresponses,
) -> None:
    reply(mocked, method, raw=raw, status=201 if raw else 204)
    assert shape(await create(client)) == shape(expected)


@pytest.mark.parametrize(
    ("method", "create", "raw"),
    [
        pytest.param("PUT", create_trust_group, "true", id="trust_group-bool"),
        pytest.param("PUT", create_trust_group, "[123]", id="trust_group-list"),
        pytest.param("PUT", create_trust_group, "12.5", id="trust_group-float"),
        pytest.param("PUT", create_trust_group, "Created", id="trust_group-not-json"),
        pytest.param("POST", create_candidate, "[212240]", id="candidate-list"),
        pytest.param("POST", create_candidate, "true", id="candidate-bool"),
        pytest.param("POST", create_legal_entity, "{}", id="legal_entity-empty-object"),
        pytest.param("POST", create_legal_entity, '{"name": "X"}', id="legal_entity-no-id"),
        pytest.param("POST", create_legal_entity, '{"id": null}', id="legal_entity-null-id"),
        pytest.param("POST", create_legal_entity, '{"id": true}', id="legal_entity-bool-id"),
        pytest.param("POST", create_legal_entity, "", id="legal_entity-empty-body"),
        pytest.param("POST", create_legal_entity, "null", id="legal_entity-null"),
        pytest.param("POST", create_legal_entity, "[8804]", id="legal_entity-list"),
    ],
)
async def test_create_reply_without_an_id_raises_response_decode_error(
    method: str, create: CreateCall, raw: str, client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, method, raw=raw, status=201 if raw else 204)
    with pytest.raises(ResponseDecodeError):
        await create(client)


# -- event credits ----------------------------------------------------------------------------

TWO_CREDITS = [
    EventTemplateCredit(event_template_id=77, number_of_credits=10),
    EventTemplateCredit(event_template_id="78", number_of_credits=-2),
]
TWO_CREDITS_WIRE = [
    {"eventTemplateId": 77, "numberOfCredits": 10},
    {"eventTemplateId": "78", "numberOfCredits": -2},
]


async def test_event_credits_generates_a_uuid4_key_and_returns_it(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "PUT")

    key = await client.event_credits.add(42, TWO_CREDITS)

    assert uuid.UUID(key).version == 4
    assert str(uuid.UUID(key)) == key
    body = only_request(mocked).body
    assert list(body) == ["idempotencyKey", "eventTemplateCredits"]
    assert body == {"idempotencyKey": key, "eventTemplateCredits": TWO_CREDITS_WIRE}


async def test_event_credits_generates_a_new_key_per_call(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "PUT")
    reply(mocked, "PUT")

    first = await client.event_credits.add(42, TWO_CREDITS)
    second = await client.event_credits.add(42, TWO_CREDITS)

    assert first != second
    assert [r.body["idempotencyKey"] for r in sent_requests(mocked)] == [first, second]


async def test_event_credits_sends_a_given_key_verbatim_and_the_order_number(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "PUT")

    key = await client.event_credits.add(
        42,
        SAMPLE["event_credits/credits.json"],
        order_number="ORD-1001",
        idempotency_key="nightly-sync 2025-09-03 #1",
    )

    assert key == "nightly-sync 2025-09-03 #1"
    body = only_request(mocked).body
    assert list(body) == ["idempotencyKey", "orderNumber", "eventTemplateCredits"]
    assert body == {
        "idempotencyKey": "nightly-sync 2025-09-03 #1",
        "orderNumber": "ORD-1001",
        "eventTemplateCredits": [
            {"eventTemplateId": 77, "numberOfCredits": 10},
            {"eventTemplateId": 78, "numberOfCredits": -2},
        ],
    }


@pytest.mark.parametrize("given_key", [None, "nightly-sync-0001"])
@pytest.mark.parametrize("failure", [503, 500])
async def test_event_credits_retry_sends_the_same_key(
    given_key: str | None,
    failure: int,
    client: TahdahClient,
    mocked: aioresponses,
    sleeps: RecordingSleep,
) -> None:
    reply(mocked, "PUT", {"title": "Service Unavailable", "status": failure}, status=failure)
    reply(mocked, "PUT")

    key = await client.event_credits.add(42, TWO_CREDITS, idempotency_key=given_key)

    first, second = sent_requests(mocked)
    assert first.body == second.body
    assert first.body["idempotencyKey"] == key
    if given_key is not None:
        assert key == given_key
    assert sleeps.delays == [0.5]


async def test_event_credits_key_makes_a_post_route_safe_to_retry(
    mocked: aioresponses, sleeps: RecordingSleep
) -> None:
    # A 500 may mean the server acted, so a plain POST is not repeated; the key makes it safe.
    reply(mocked, "POST", raw="", status=500)
    reply(mocked, "POST")
    async with TahdahClient(
        TOKEN,
        base_url=BASE_URL,
        retry=RetryPolicy(sleep=sleeps, random=lambda: 0.0),
        routes={"event_credits.add": "POST /api/eventcredits/legalentities/{legalEntityId}"},
    ) as client:
        key = await client.event_credits.add(42, TWO_CREDITS)

    first, second = sent_requests(mocked)
    assert (first.method, second.method) == ("POST", "POST")
    assert first.body["idempotencyKey"] == second.body["idempotencyKey"] == key
    assert sleeps.delays == [0.5]


# -- bad input, refused before anything is sent -----------------------------------------------

BadCall = Callable[[TahdahClient], Awaitable[object]]


def register(learner: object) -> BadCall:
    """A register-learners call with this one learner."""
    return lambda c: c.learning_experiences.register_learners(42, 501, [learner])  # type: ignore[list-item]


def learner(**changes: object) -> LearnerRegistration:
    """A valid learner, with some fields replaced (bypassing the type checker on purpose)."""
    fields: dict[str, Any] = {
        "candidate_id": 212233,
        "behavior": 2,
        "registration_date": dt.date(2025, 9, 3),
    }
    return LearnerRegistration(**{**fields, **changes})


def one_credit(c: TahdahClient, credit: object) -> Awaitable[str]:
    return c.event_credits.add(42, [credit])  # type: ignore[list-item]


WIRE_LEARNER = {"candidateId": 212233, "behavior": 2, "registrationDate": "2025-09-03"}

BAD_INPUT: list[tuple[str, BadCall, type[Exception], str]] = [
    (
        "no-learners",
        lambda c: c.learning_experiences.register_learners(42, 501, []),
        ValueError,
        "learners must not be empty",
    ),
    (
        "no-registrations",
        lambda c: c.pathways.create_registrations(42, 601, []),
        ValueError,
        "learners must not be empty",
    ),
    (
        "one-learner-not-in-a-list",
        lambda c: c.learning_experiences.register_learners(
            42,
            501,
            LEARNERS[0],  # type: ignore[arg-type]
        ),
        TypeError,
        "must be a list",
    ),
    (
        "registration_date-str",
        lambda c: register(learner(registration_date="2025-09-03"))(c),
        TypeError,
        "registration_date must be a datetime.date, got str",
    ),
    (
        "registration_date-datetime",
        lambda c: register(learner(registration_date=dt.datetime(2025, 9, 3, 9, 0)))(c),
        TypeError,
        "registration_date must be a datetime.date, got datetime",
    ),
    (
        "registrationDate-bad-date-in-mapping",
        lambda c: register({**WIRE_LEARNER, "registrationDate": "2025-02-30"})(c),
        ValueError,
        r"invalid learners\[0\]",
    ),
    (
        "behavior-str",
        lambda c: register(learner(behavior="2"))(c),
        TypeError,
        "behavior must be an int",
    ),
    (
        "behavior-float",
        lambda c: register(learner(behavior=2.5))(c),
        TypeError,
        "behavior must be an int",
    ),
    (
        "behavior-bool",
        lambda c: register(learner(behavior=True))(c),
        TypeError,
        "behavior must be an int",
    ),
    (
        "behavior-not-a-number-in-mapping",
        lambda c: register({**WIRE_LEARNER, "behavior": "often"})(c),
        TypeError,
        r"learners\[0\] field 'behavior' must be an int, got str",
    ),
    (
        "candidate_id-zero",
        lambda c: register(learner(candidate_id=0))(c),
        ValueError,
        "candidate_id must be a positive",
    ),
    (
        "zero-credits",
        lambda c: one_credit(c, EventTemplateCredit(event_template_id=77, number_of_credits=0)),
        ValueError,
        "number_of_credits must not be 0",
    ),
    (
        "zero-credits-in-mapping",
        lambda c: one_credit(c, {"eventTemplateId": 77, "numberOfCredits": 0}),
        ValueError,
        r"invalid credits\[0\]",
    ),
    (
        "no-credits",
        lambda c: c.event_credits.add(42, []),
        ValueError,
        "credits must not be empty",
    ),
    (
        "blank-idempotency-key",
        lambda c: c.event_credits.add(42, TWO_CREDITS, idempotency_key="  "),
        ValueError,
        "idempotency_key must not be blank",
    ),
    (
        "dateOfBirth-bad-date-in-mapping",
        lambda c: c.candidates.create({"firstName": "Ada", "dateOfBirth": "03/02/2001"}),
        ValueError,
        "invalid candidate",
    ),
    (
        "model-and-keywords",
        lambda c: c.trust_groups.create(42, TrustGroup(name="A"), name="B"),
        TypeError,
        "not both",
    ),
    (
        "mapping-and-keywords",
        lambda c: c.candidates.update(212233, {"email": "a@example.com"}, last_name="King"),
        TypeError,
        "not both",
    ),
    (
        "unknown-keyword",
        # Type checkers refuse it too; this is what happens when nothing checked.
        lambda c: c.trust_groups.create(42, nmae="Partners"),  # type: ignore[call-arg]
        TypeError,
        "trust group has no field 'nmae' \\(did you mean 'name'\\?\\)",
    ),
    (
        "unknown-keyword-candidate",
        lambda c: c.candidates.create(frist_name="Ada"),  # type: ignore[call-arg]
        TypeError,
        "candidate has no field 'frist_name' \\(did you mean 'first_name'\\?\\)",
    ),
    (
        "no-body",
        lambda c: c.trust_groups.update(42, 7),
        TypeError,
        "the trust group is required",
    ),
    (
        "update_tags-nothing",
        lambda c: c.candidates.update_tags(212233),
        ValueError,
        "at least one tag",
    ),
    (
        "update_tags-empty-lists",
        lambda c: c.candidates.update_tags(212233, add=[], remove=[]),
        ValueError,
        "at least one tag",
    ),
    (
        "update_tags-add-str",
        lambda c: c.candidates.update_tags(212233, add="vip"),
        TypeError,
        "not a single value",
    ),
    (
        "update_tags-remove-str",
        lambda c: c.candidates.update_tags(212233, remove="vip"),
        TypeError,
        "not a single value",
    ),
    (
        "update_tags-same-tag-added-and-removed",
        lambda c: c.candidates.update_tags(212233, add=["vip"], remove=["vip"]),
        ValueError,
        "both added and removed",
    ),
    (
        "update_tags-blank-tag",
        lambda c: c.candidates.update_tags(212233, add=["vip", " "]),
        ValueError,
        "not a non-empty string",
    ),
    (
        "issue-without-learner-id",
        lambda c: c.digital_badges.issue(42, 15, first_name="Ada", last_name="Lovelace"),
        ValueError,
        "external_id, a candidate_id or an email",
    ),
    (
        "issue-with-null-email",
        lambda c: c.digital_badges.issue(42, 15, BadgeRecipient(email=None, first_name="Ada")),
        ValueError,
        "external_id, a candidate_id or an email",
    ),
    (
        "connect_person-without-id",
        lambda c: c.legal_entities.connect_person(1, 8802, first_name="Grace"),
        ValueError,
        "candidate_id or an email",
    ),
    (
        "legal-entity-members-empty-trust_group_ids",
        lambda c: c.trust_groups.list_legal_entity_members(42, trust_group_ids=[]),
        ValueError,
        "trust_group_ids must not be empty",
    ),
    (
        "candidate-members-empty-trust_group_ids",
        lambda c: c.trust_groups.list_candidate_members(42, trust_group_ids=[]),
        ValueError,
        "trust_group_ids must not be empty",
    ),
    (
        "legal_entities.create-empty-trust_group_ids",
        lambda c: c.legal_entities.create(1, name="Hilltop", trust_group_ids=[]),
        ValueError,
        "trust_group_ids must not be empty",
    ),
    (
        "trust_group_ids-str",
        lambda c: c.trust_groups.list_candidate_members(42, trust_group_ids="1,2"),
        TypeError,
        "not a single value",
    ),
    (
        "add_member-bool-member",
        lambda c: c.trust_groups.add_member(42, 7, True),
        TypeError,
        "member_legal_entity_id",
    ),
]


@pytest.mark.parametrize(
    ("call", "error", "match"), [pytest.param(*row, id=name) for name, *row in BAD_INPUT]
)
async def test_bad_input_is_refused_before_sending(
    call: BadCall,
    error: type[Exception],
    match: str,
    client: TahdahClient,
    mocked: aioresponses,
) -> None:
    with pytest.raises(error, match=match):
        await call(client)
    assert mocked.requests == {}


def create_with_tags_in_a_mapping(c: TahdahClient) -> Awaitable[Candidate]:
    return c.candidates.create({"firstName": "Ada", "tags": "vip"})


def create_with_tags_as_a_keyword(c: TahdahClient) -> Awaitable[Candidate]:
    return c.candidates.create(first_name="Ada", tags="vip")


@pytest.mark.parametrize("create", [create_with_tags_in_a_mapping, create_with_tags_as_a_keyword])
async def test_a_string_for_a_list_field_is_refused_before_sending(
    create: BadCall, client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "POST", raw="212240", status=201)
    with pytest.raises((TypeError, ValueError), match="tags"):
        await create(client)
    assert mocked.requests == {}


# -- client configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "route",
    [
        pytest.param("PATCH /api/candidates/{candidateId}", id="str"),
        pytest.param(Route.parse("PATCH /api/candidates/{candidateId}"), id="Route"),
    ],
)
async def test_route_override_changes_method_and_path(
    route: str | Route, mocked: aioresponses
) -> None:
    reply(mocked, "PATCH")
    reply(mocked, "DELETE")
    async with TahdahClient(
        TOKEN, base_url=BASE_URL, max_retries=0, routes={"candidates.update": route}
    ) as client:
        await client.candidates.update("c/1", email="ada@example.com")
        await client.candidates.delete("c/1")

    update, delete = sent_requests(mocked)
    assert (update.method, str(update.url)) == ("PATCH", f"{BASE_URL}/api/candidates/c%2F1")
    assert update.body == {"email": "ada@example.com"}
    # The entries not overridden keep their defaults.
    assert (delete.method, str(delete.url)) == ("DELETE", f"{BASE_URL}/api/candidates/c%2F1")


QUERY_PLACEHOLDERS = {
    "trust_groups.list_legal_entity_members": "?trustGroupIds={trustGroupIds}",
    "trust_groups.list_candidate_members": "?trustGroupIds={trustGroupIds}",
}
"""Query parts an override must keep (a replacement needs the same placeholders)."""


@pytest.mark.parametrize("case", CASES, ids=case_name)
async def test_every_operation_follows_an_override_of_its_own_route(
    case: Case, mocked: aioresponses
) -> None:
    placeholders = "".join(f"/{{{name}}}" for name in case.placeholders)
    override = f"PATCH /api/v2/{case.name}{placeholders}{QUERY_PLACEHOLDERS.get(case.name, '')}"
    reply(mocked, "PATCH", None if case.reply is None else SAMPLE[case.reply])
    async with TahdahClient(
        TOKEN, base_url=BASE_URL, max_retries=0, routes={case.name: override}
    ) as client:
        result = await case.call(client, *(PATH_IDS[name].plain for name in case.placeholders))

    request = only_request(mocked)
    ids = "".join(f"/{PATH_IDS[name].plain}" for name in case.placeholders)
    assert (request.method, str(request.url)) == ("PATCH", f"{BASE_URL}/api/v2/{case.name}{ids}")
    assert request.body == case.sent
    assert shape(result) == shape(case.returns)


@pytest.mark.parametrize(
    ("routes", "match"),
    [
        pytest.param(
            {"candidates.patch": "PATCH /api/candidates/{candidateId}"},
            "unknown operation 'candidates.patch'",
            id="unknown-name",
        ),
        pytest.param(
            {"candidates.update": "PATCH /api/candidates/{id}"},
            "placeholders",
            id="renamed-placeholder",
        ),
        pytest.param(
            {"candidates.update": "PATCH /api/candidates"},
            "placeholders",
            id="missing-placeholder",
        ),
        pytest.param(
            {"candidates.update": "PATCH /api/candidates/{candidateId}/{version}"},
            "placeholders",
            id="extra-placeholder",
        ),
        pytest.param(
            {
                "trust_groups.list_legal_entity_members": (
                    "GET /api/trustgroups/legalentities/{legalEntityId}/legalentities"
                )
            },
            "placeholders",
            id="query-placeholder-dropped",
        ),
    ],
)
def test_bad_route_override_is_refused_at_construction(routes: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TahdahClient(TOKEN, base_url=BASE_URL, routes=routes)


@pytest.mark.parametrize(
    "base_url", ["https://api.tahdah.test/prefix/", "https://api.tahdah.test/prefix"]
)
async def test_base_url_path_prefix_goes_before_api(base_url: str, mocked: aioresponses) -> None:
    reply(mocked, "GET", [])
    reply(mocked, "POST", raw="212240", status=201)
    async with TahdahClient(TOKEN, base_url=base_url, max_retries=0) as client:
        await client.trust_groups.list("le/42")
        await client.candidates.create(first_name="Ada")

    listed, created = sent_requests(mocked)
    assert str(listed.url) == (
        "https://api.tahdah.test/prefix/api/trustgroups/legalentities/le%2F42/trustgroups"
    )
    assert str(created.url) == "https://api.tahdah.test/prefix/api/candidates"


async def test_with_raw_response_returns_data_status_headers_and_attempts(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "GET", SAMPLE["trust_groups/list.json"], headers={"X-Request-Id": "req-77"})

    result = await client.with_raw_response(client.trust_groups.list, 1)

    assert isinstance(result, APIResponse)
    assert result.status == 200
    assert result.headers["X-Request-Id"] == "req-77"
    assert result.data == TRUST_GROUPS
    assert result.attempts == 1
    assert (
        str(only_request(mocked).url) == f"{BASE_URL}/api/trustgroups/legalentities/1/trustgroups"
    )


async def test_with_raw_response_counts_retried_attempts(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "GET", raw="", status=503)
    reply(mocked, "GET", [], headers={"X-Request-Id": "req-78"})

    result = await client.with_raw_response(client.trust_groups.list, 1)

    assert (result.status, result.attempts, result.data) == (200, 2, [])
    assert result.headers["X-Request-Id"] == "req-78"


async def test_request_escape_hatch_returns_decoded_json(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "GET", {"anything": [1, "two", None], "nested": {"ok": True}})

    data = await client.request("GET", "/api/anything", params={"a": 1})

    assert data == {"anything": [1, "two", None], "nested": {"ok": True}}
    request = only_request(mocked)
    assert request.method == "GET"
    assert str(request.url) == f"{BASE_URL}/api/anything?a=1"
    assert_standard_headers(request, has_body=False)
    assert request.body is None


async def test_request_escape_hatch_sends_a_json_body(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "POST", [{"id": 1}])

    data = await client.request("post", "/api/anything", json={"name": "Ada", "tags": ["x"]})

    assert data == [{"id": 1}]
    request = only_request(mocked)
    assert (request.method, request.url.path) == ("POST", "/api/anything")
    assert_standard_headers(request, has_body=True)
    assert request.body == {"name": "Ada", "tags": ["x"]}


async def test_request_escape_hatch_returns_none_for_an_empty_body(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "DELETE")
    assert await client.request("DELETE", "/api/candidates/212233/notes/9") is None
    assert str(only_request(mocked).url) == f"{BASE_URL}/api/candidates/212233/notes/9"


# -- unknown keys in replies ------------------------------------------------------------------

ReadCall = Callable[[TahdahClient], Awaitable[object]]


EXTRA_CASES: list[tuple[str, str, ReadCall, object, object]] = [
    (
        "trust_groups.list",
        "GET",
        lambda c: c.trust_groups.list(42),
        [{"id": 1, "name": "Partners", "memberCount": 12}],
        [TrustGroup(id=1, name="Partners", extra={"memberCount": 12})],
    ),
    (
        "legal_entities.get",
        "GET",
        lambda c: c.legal_entities.get(1, 8802),
        {"name": "Riverside College", "companyNumber": "01234567", "id": 8802},
        LegalEntity(id=8802, name="Riverside College", extra={"companyNumber": "01234567"}),
    ),
    (
        "pathways.get-nested",
        "GET",
        lambda c: c.pathways.get(42, 602),
        {
            "id": 602,
            "pathwayType": {"id": 2, "name": "Apprenticeship", "level": 3},
            "fundingBody": "ESFA",
        },
        Pathway(
            id=602,
            pathway_type=PathwayType(id=2, name="Apprenticeship", extra={"level": 3}),
            extra={"fundingBody": "ESFA"},
        ),
    ),
    (
        "learning_experiences.register_learners",
        "POST",
        lambda c: c.learning_experiences.register_learners(42, 501, LEARNERS[:1]),
        [{**REGISTER_REPLY[0], "status": "Registered"}],
        [
            RegistrationResult(
                candidate_id="212233",
                candidate_experience_id="98001",
                registration_date=dt.date(2025, 9, 3),
                extra={"status": "Registered"},
            )
        ],
    ),
    (
        "legal_entities.list_people-nested-list",
        "GET",
        lambda c: c.legal_entities.list_people(1, 8802),
        [{"email": "a@example.com", "roles": [{"id": 1, "name": "Admin", "scope": "all"}]}],
        [
            Person(
                email="a@example.com",
                roles=(Role(id=1, name="Admin", extra={"scope": "all"}),),
            )
        ],
    ),
    (
        "candidates.create",
        "POST",
        lambda c: c.candidates.create(first_name="Ada"),
        {"id": 212240, "firstName": "Ada", "uln": "1234567890"},
        Candidate(id=212240, first_name="Ada", extra={"uln": "1234567890"}),
    ),
]


@pytest.mark.parametrize(
    ("method", "call", "payload", "expected"),
    [pytest.param(*row, id=name) for name, *row in EXTRA_CASES],
)
async def test_unknown_reply_keys_are_kept_in_extra(
    method: str,
    call: ReadCall,
    payload: object,
    expected: object,
    client: TahdahClient,
    mocked: aioresponses,
) -> None:
    reply(mocked, method, payload)
    assert shape(await call(client)) == shape(expected)


async def test_a_string_for_a_list_in_a_reply_is_a_decode_error(
    client: TahdahClient, mocked: aioresponses
) -> None:
    reply(mocked, "POST", {"id": 212240, "firstName": "Ada", "tags": "vip"}, status=201)
    with pytest.raises(ResponseDecodeError, match="tags"):
        await client.candidates.create(first_name="Ada")


# -- the samples match the models exactly ------------------------------------------------------

STRICT = make_converter(strict=True)


def test_every_sample_file_has_a_model() -> None:
    assert sorted(SAMPLE) == sorted(SAMPLE_TYPES)


@pytest.mark.parametrize("name", sorted(SAMPLE_TYPES))
def test_sample_has_only_fields_its_model_knows(name: str) -> None:
    structured = STRICT.structure(SAMPLE[name], SAMPLE_TYPES[name])
    assert structured == make_converter().structure(SAMPLE[name], SAMPLE_TYPES[name])


def test_strict_converter_rejects_an_unknown_sample_key() -> None:
    (member,) = SAMPLE["trust_groups/candidate_members.json"]
    with pytest.raises(cattrs.errors.CattrsError):
        STRICT.structure([{**member, "memberSince": "2020"}], list[TrustGroupMember])


def test_register_samples_are_the_documented_example() -> None:
    assert SAMPLE["learning_experiences/register_learners.json"] == REGISTER_REPLY
    assert SAMPLE["pathways/create_registrations.json"] == REGISTER_REPLY


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.digital_badges.issue(1, 2, email="   "),
        lambda c: c.digital_badges.issue(1, 2, external_id="", first_name="Ada"),
        lambda c: c.legal_entities.connect_person(1, 2, email=" ", first_name="Ada"),
    ],
)
async def test_blank_identities_count_as_missing(
    call: Callable[[TahdahClient], Awaitable[None]], client: TahdahClient, mocked: aioresponses
) -> None:
    with pytest.raises(ValueError, match="needs"):
        await call(client)
    assert mocked.requests == {}


async def test_a_datetime_for_a_date_in_a_mapping_is_refused(
    client: TahdahClient, mocked: aioresponses
) -> None:
    learner = {"candidateId": 1, "behavior": 1, "registrationDate": dt.datetime(2025, 1, 1)}
    with pytest.raises(TypeError, match="'registration_date' must be a date or str, got datetime"):
        await client.learning_experiences.register_learners(1, 2, [learner])
    assert mocked.requests == {}
