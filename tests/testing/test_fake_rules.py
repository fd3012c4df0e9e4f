"""FakeTahdah behaves like a careful server, seen through the real client and its typed errors.

Auth (401, 403), unknown ids (404), bad input as problem details (400), refused rules (422),
conflicts (409) and the documented event-credit rules (REFERENCE 2.2). Every refusal is also
checked to leave the fake's state untouched. Where the typed client would refuse a malformed
body before sending it, the body goes through ``client.request`` or raw aiohttp instead.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import attrs
import pytest

from tahdah_async import (
    ROUTES,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EventTemplateCredit,
    LearnerRegistration,
    NotFoundError,
    PermissionDeniedError,
    ProblemDetails,
    TahdahClient,
    UnprocessableEntityError,
)
from tahdah_async.testing import FakeTahdah

TRACE_ID = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00\Z")
VALIDATION = "One or more validation errors occurred."
UNKNOWN = 999_999


@pytest.fixture
def client(tahdah_client: TahdahClient) -> TahdahClient:
    return tahdah_client


@attrs.frozen
class World:
    """The provider (``owner``) and what it owns: two member entities, a grandchild, data."""

    owner: int
    child: int
    sibling: int
    grandchild: int
    group: int
    child_group: int
    candidate: int
    experience: int
    template: int


@pytest.fixture
def world(fake: FakeTahdah) -> World:
    child, sibling = fake.seed(
        legal_entities=[{"name": "Harbour Care Ltd"}, {"name": "Beacon Skills CIC"}]
    ).legal_entities
    (grandchild,) = fake.seed(
        legal_entities=[{"name": "Harbour Kids"}], owner_id=child
    ).legal_entities
    (child_group,) = fake.seed(
        trust_groups=[{"name": "Harbour's own"}], owner_id=child
    ).trust_groups
    seeded = fake.seed(
        trust_groups=[{"name": "Partners", "members": [child]}],
        candidates=[
            {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "email": "ada@example.com",
                "externalId": "EXT-ADA",
            }
        ],
        experiences=[{"name": "First aid at work"}],
        badge_templates=[{"name": "First aider"}],
    )
    return World(
        owner=fake.owner_id,
        child=child,
        sibling=sibling,
        grandchild=grandchild,
        group=seeded.trust_groups[0],
        child_group=child_group,
        candidate=seeded.candidates[0],
        experience=seeded.experiences[0],
        template=seeded.badge_templates[0],
    )


@contextmanager
def unchanged(fake: FakeTahdah) -> Iterator[None]:
    """Check that nothing in the block changed the fake's state or fired a webhook.

    The state's repr covers every record and the id counter, so a refused request that
    consumed an id or half-applied a change shows up too.
    """
    before, events = repr(fake.state), len(fake.events)
    yield
    assert repr(fake.state) == before
    assert len(fake.events) == events


def problem_of(error: APIStatusError) -> ProblemDetails:
    assert error.problem is not None, error.body
    return error.problem


def assert_problem(error: APIStatusError, status: int, title: str) -> ProblemDetails:
    """Check the parts every problem-details error carries; return the problem."""
    problem = problem_of(error)
    assert error.status == status
    assert error.response.content_type == "application/problem+json"
    assert (problem.status, problem.title) == (status, title)
    assert problem.type == f"https://tools.ietf.org/html/rfc9110#status.{status}"
    assert isinstance(problem.trace_id, str)
    assert TRACE_ID.match(problem.trace_id)
    assert error.request_id == problem.trace_id
    assert str(error).startswith(f"{status} ")
    return problem


async def send_raw(
    session: aiohttp.ClientSession,
    fake: FakeTahdah,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> tuple[int, str, Any]:
    """Send a request without the SDK; return status, content type and decoded body."""
    async with session.request(method, fake.url + path, headers=headers, data=data) as response:
        return response.status, response.content_type, await response.json(content_type=None)


def every_route_path(world: World) -> dict[str, tuple[str, str]]:
    """Return each operation's method and path, with ids of the world's own records."""
    values = {
        "legalEntityId": world.owner,
        "legalEntityOwnerId": world.owner,
        "trustGroupId": world.group,
        "memberLegalEntityId": world.child,
        "candidateId": world.candidate,
        "experienceId": world.experience,
        "pathwayId": world.experience,
        "badgeTemplateId": world.template,
    }
    out = {}
    for name, route in ROUTES.items():
        path, query = route.build(values)
        assert query == []
        out[name] = (route.method, path)
    return out


# -- 401 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"Authorization": "Bearer"}, id="empty-bearer"),
        pytest.param({"Authorization": "Bearer fake_not-a-key"}, id="unknown-key"),
        pytest.param({"Authorization": "Basic {token}"}, id="known-key-wrong-scheme"),
        pytest.param({"Authorization": "{token}"}, id="known-key-no-scheme"),
    ],
)
async def test_requests_without_a_valid_bearer_key_are_401(
    fake: FakeTahdah, raw: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    sent = {name: value.format(token=fake.token) for name, value in headers.items()}
    with unchanged(fake):
        status, content_type, body = await send_raw(
            raw,
            fake,
            "GET",
            f"/api/trustgroups/legalentities/{fake.owner_id}/trustgroups",
            headers=sent,
        )

    assert (status, content_type) == (401, "application/problem+json")
    assert {k: v for k, v in body.items() if k != "traceId"} == {
        "type": "https://tools.ietf.org/html/rfc9110#status.401",
        "title": "Unauthorized",
        "status": 401,
        "detail": "A valid bearer API key is required",
    }
    assert TRACE_ID.match(body["traceId"])
    assert fake.requests[-1].status == 401


async def test_the_scheme_name_is_case_insensitive(
    fake: FakeTahdah, raw: aiohttp.ClientSession
) -> None:
    status, _, body = await send_raw(
        raw,
        fake,
        "GET",
        f"/api/trustgroups/legalentities/{fake.owner_id}/trustgroups",
        headers={"Authorization": f"bearer {fake.token}"},
    )
    assert (status, body) == (200, [])


async def test_auth_is_checked_before_the_body_is_parsed(
    fake: FakeTahdah, raw: aiohttp.ClientSession
) -> None:
    with unchanged(fake):
        status, _, body = await send_raw(
            raw,
            fake,
            "POST",
            "/api/candidates",
            headers={"Authorization": "Bearer fake_unknown", "Content-Type": "application/json"},
            data=b"{not json",
        )
    assert (status, body["title"]) == (401, "Unauthorized")


async def test_an_unknown_key_gets_authentication_error_on_every_route(
    fake: FakeTahdah, world: World
) -> None:
    bad_token = "fake_revoked-or-never-issued-key"
    async with TahdahClient(bad_token, base_url=fake.url, max_retries=0) as stranger:
        statuses = {}
        with unchanged(fake):
            for name, (method, path) in every_route_path(world).items():
                with pytest.raises(AuthenticationError) as caught:
                    await stranger.request(method, path)
                problem = assert_problem(caught.value, 401, "Unauthorized")
                assert problem.detail == "A valid bearer API key is required"
                assert bad_token not in str(caught.value)
                statuses[name] = caught.value.status

    assert statuses == dict.fromkeys(ROUTES, 401)


# -- 403 -----------------------------------------------------------------------------------


async def test_a_key_may_not_act_for_its_owner(fake: FakeTahdah, world: World) -> None:
    child_token = fake.issue_token(world.child)
    async with TahdahClient(child_token, base_url=fake.url) as child:
        with unchanged(fake), pytest.raises(PermissionDeniedError) as caught:
            await child.trust_groups.create(world.owner, name="Hijack")

    problem = assert_problem(caught.value, 403, "Forbidden")
    assert problem.detail == f"This API key may not act for legal entity {world.owner}"
    assert (caught.value.method, caught.value.path) == (
        "PUT",
        f"/api/trustgroups/legalentities/{world.owner}/trustgroup",
    )
    assert child_token not in str(caught.value)
    assert fake.token not in str(caught.value)


async def test_a_key_may_not_act_for_a_sibling(fake: FakeTahdah, world: World) -> None:
    async with TahdahClient(fake.issue_token(world.child), base_url=fake.url) as child:
        with unchanged(fake), pytest.raises(PermissionDeniedError) as caught:
            await child.event_credits.add(
                world.sibling, [{"eventTemplateId": 7, "numberOfCredits": 5}]
            )

    assert problem_of(caught.value).detail == (
        f"This API key may not act for legal entity {world.sibling}"
    )


async def test_a_key_acts_for_itself_and_what_it_owns(fake: FakeTahdah, world: World) -> None:
    async with TahdahClient(fake.issue_token(world.child), base_url=fake.url) as child:
        own = await child.trust_groups.list(world.child)
        kids = await child.legal_entities.get(world.child, world.grandchild)

    assert [g.id for g in own] == [world.child_group]
    assert (kids.id, kids.name) == (world.grandchild, "Harbour Kids")


async def test_the_owners_key_reaches_a_grandchild(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    groups = await client.trust_groups.list(world.grandchild)
    await client.event_credits.add(world.grandchild, [{"eventTemplateId": 3, "numberOfCredits": 2}])

    assert groups == []
    assert fake.state.balance(world.grandchild, 3) == 2


async def test_a_foreign_key_is_refused_on_every_route_it_may_not_use(
    fake: FakeTahdah, world: World
) -> None:
    # The child's key, pointed at the owner's records. Only candidates.create has nothing to
    # refuse: it always acts for the key's own legal entity.
    child_token = fake.issue_token(world.child)
    statuses = {}
    async with TahdahClient(child_token, base_url=fake.url, max_retries=0) as child:
        with unchanged(fake):
            for name, (method, path) in every_route_path(world).items():
                if name == "candidates.create":
                    continue
                with pytest.raises(PermissionDeniedError) as caught:
                    await child.request(method, path)
                assert_problem(caught.value, 403, "Forbidden")
                statuses[name] = caught.value.status

    assert statuses == dict.fromkeys(set(ROUTES) - {"candidates.create"}, 403)


async def test_a_foreign_key_may_not_change_a_candidate(fake: FakeTahdah, world: World) -> None:
    async with TahdahClient(fake.issue_token(world.sibling), base_url=fake.url) as sibling:
        with unchanged(fake), pytest.raises(PermissionDeniedError) as caught:
            await sibling.candidates.update_tags(world.candidate, add=["stolen"])

    assert problem_of(caught.value).detail == (
        f"This API key may not change candidate {world.candidate}"
    )


# -- 404 -----------------------------------------------------------------------------------

Call = Callable[[TahdahClient, World], Awaitable[object]]

NOT_FOUND: dict[str, tuple[Call, str]] = {
    "legal entity in the path": (
        lambda t, w: t.trust_groups.list(UNKNOWN),
        f"No legal entity with id {UNKNOWN}",
    ),
    "trust group": (
        lambda t, w: t.trust_groups.update(w.owner, UNKNOWN, name="X"),
        f"No trust group with id {UNKNOWN}",
    ),
    "trust group of another owner": (
        lambda t, w: t.trust_groups.add_member(w.owner, w.child_group, w.sibling),
        "No trust group with id {child_group}",
    ),
    "member": (
        lambda t, w: t.trust_groups.remove_member(w.owner, w.group, w.sibling),
        "No member with id {sibling}",
    ),
    "learning experience": (
        lambda t, w: t.learning_experiences.get(w.owner, UNKNOWN),
        f"No learning experience with id {UNKNOWN}",
    ),
    "pathway": (
        lambda t, w: t.pathways.list_registrations(w.owner, UNKNOWN),
        f"No learning experience with id {UNKNOWN}",
    ),
    "experience of a registration": (
        lambda t, w: t.pathways.create_registrations(
            w.owner,
            UNKNOWN,
            [
                LearnerRegistration(
                    candidate_id=w.candidate, behavior=1, registration_date=dt.date(2026, 1, 1)
                )
            ],
        ),
        f"No learning experience with id {UNKNOWN}",
    ),
    "badge template": (
        lambda t, w: t.digital_badges.issue(w.owner, UNKNOWN, email="ada@example.com"),
        f"No badge template with id {UNKNOWN}",
    ),
    "candidate to update": (
        lambda t, w: t.candidates.update(UNKNOWN, first_name="X"),
        f"No candidate with id {UNKNOWN}",
    ),
    "candidate to delete": (
        lambda t, w: t.candidates.delete(UNKNOWN),
        f"No candidate with id {UNKNOWN}",
    ),
    "candidate to tag": (
        lambda t, w: t.candidates.update_tags(UNKNOWN, add=["x"]),
        f"No candidate with id {UNKNOWN}",
    ),
    "candidate's targets": (
        lambda t, w: t.tracker.candidate_targets(w.owner, UNKNOWN),
        f"No candidate with id {UNKNOWN}",
    ),
    "legal entity under its owner": (
        lambda t, w: t.legal_entities.get(w.owner, UNKNOWN),
        f"No legal entity with id {UNKNOWN}",
    ),
    "grandchild is not the owner's own": (
        lambda t, w: t.legal_entities.list_people(w.owner, w.grandchild),
        "No legal entity with id {grandchild}",
    ),
}


@pytest.mark.parametrize("case", list(NOT_FOUND))
async def test_unknown_numeric_ids_are_404(
    fake: FakeTahdah, client: TahdahClient, world: World, case: str
) -> None:
    call, detail = NOT_FOUND[case]
    with unchanged(fake), pytest.raises(NotFoundError) as caught:
        await call(client, world)

    problem = assert_problem(caught.value, 404, "Not Found")
    assert problem.detail == detail.format(**attrs.asdict(world))


@pytest.mark.parametrize(
    "ident",
    [
        "abc",
        "12a",
        "1001.0",
        "0x3e9",
        "%",
        pytest.param(
            "1_001",
        ),
    ],
)
async def test_non_numeric_ids_name_nothing(
    fake: FakeTahdah, client: TahdahClient, world: World, ident: str
) -> None:
    # 1001 is the owner's id, so "1_001" must not be read as it.
    assert world.owner == 1001
    with unchanged(fake), pytest.raises(NotFoundError) as caught:
        await client.trust_groups.list(ident)
    assert problem_of(caught.value).detail == f"No legal entity with id {ident}"

    with unchanged(fake), pytest.raises(NotFoundError) as caught:
        await client.candidates.delete(ident)
    assert problem_of(caught.value).detail == f"No candidate with id {ident}"


async def test_an_unknown_path_is_404(fake: FakeTahdah, client: TahdahClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.request("GET", "/api/nothing/here")
    assert (caught.value.status, caught.value.path) == (404, "/api/nothing/here")


# -- 400: malformed bodies, wrong types, missing fields, bad dates --------------------------


async def test_a_body_that_is_not_json_is_400(fake: FakeTahdah, raw: aiohttp.ClientSession) -> None:
    with unchanged(fake):
        status, content_type, body = await send_raw(
            raw,
            fake,
            "POST",
            "/api/candidates",
            headers={"Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"},
            data=b'{"firstName": "Ada", "lastName": ',
        )
    assert (status, content_type) == (400, "application/problem+json")
    assert (body["title"], body["detail"]) == ("Bad Request", "The request body is not valid JSON")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "/api/candidates", ["Ada"], id="array"),
        pytest.param("POST", "/api/candidates", "Ada", id="string"),
        pytest.param("POST", "/api/candidates", None, id="no-body"),
        pytest.param("PUT", "/api/trustgroups/legalentities/1001/trustgroup", 7, id="number"),
    ],
)
async def test_a_body_that_is_not_an_object_is_400(
    fake: FakeTahdah, client: TahdahClient, method: str, path: str, body: Any
) -> None:
    with unchanged(fake), pytest.raises(BadRequestError) as caught:
        await client.request(method, path, json=body)
    problem = assert_problem(caught.value, 400, VALIDATION)
    assert problem.errors == {"$": ("The request body must be a JSON object.",)}


@pytest.mark.parametrize(
    ("call", "errors"),
    [
        pytest.param(
            lambda t, w: t.candidates.create(first_name="Ada"),
            {"lastName": ("The lastName field is required.",)},
            id="candidate-without-last-name",
        ),
        pytest.param(
            lambda t, w: t.candidates.create(email="ada@example.com", first_name="  "),
            {
                "firstName": ("The firstName field is required.",),
                "lastName": ("The lastName field is required.",),
            },
            id="candidate-with-blank-first-name",
        ),
        pytest.param(
            lambda t, w: t.trust_groups.create(w.owner, description="No name"),
            {"name": ("The name field is required.",)},
            id="trust-group-without-name",
        ),
        pytest.param(
            lambda t, w: t.legal_entities.create(w.owner, town="Leeds"),
            {"name": ("The name field is required.",)},
            id="legal-entity-without-name",
        ),
    ],
)
async def test_missing_required_fields_are_400_with_every_error(
    fake: FakeTahdah, client: TahdahClient, world: World, call: Call, errors: dict[str, Any]
) -> None:
    with unchanged(fake), pytest.raises(BadRequestError) as caught:
        await call(client, world)
    problem = assert_problem(caught.value, 400, VALIDATION)
    assert problem.errors == errors
    for field in errors:
        assert f"{field}: The {field} field is required." in str(caught.value)


async def test_wrong_types_are_400_with_one_error_per_field(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    # The typed client refuses these before sending; a hand-made body reaches the server.
    with unchanged(fake), pytest.raises(BadRequestError) as caught:
        await client.request(
            "PUT",
            f"/api/trustgroups/legalentities/{world.owner}/trustgroup",
            json={"name": "Partners 2", "monthlyPrice": "cheap", "showOnBadge": "yes"},
        )
    problem = assert_problem(caught.value, 400, VALIDATION)
    assert isinstance(problem.errors, dict)
    messages = sorted(m for ms in problem.errors.values() for m in ms)
    assert messages == [
        "expected a boolean, got str",
        "expected a number, got a string that is not one",
    ]
    assert len(problem.errors) == 2


async def test_validation_errors_are_keyed_by_wire_field_names(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.request(
            "PUT",
            f"/api/trustgroups/legalentities/{world.owner}/trustgroup",
            json={"name": "Partners 2", "monthlyPrice": "cheap", "showOnBadge": "yes"},
        )
    errors = problem_of(caught.value).errors
    assert isinstance(errors, dict)
    assert set(errors) == {"monthlyPrice", "showOnBadge"}


@pytest.mark.parametrize("bad_date", ["2025-02-30", "03/09/2025", "2025-9-3x", ""])
async def test_bad_registration_dates_are_400_and_register_nobody(
    fake: FakeTahdah, client: TahdahClient, world: World, bad_date: str
) -> None:
    with unchanged(fake), pytest.raises(BadRequestError) as caught:
        await client.request(
            "POST",
            f"/api/learningexperiences/legalentities/{world.owner}/experiences/{world.experience}/learners",
            json={
                "candidateIds": [
                    {
                        "candidateId": world.candidate,
                        "behavior": 1,
                        "registrationDate": "2025-09-03",
                    },
                    {"candidateId": world.candidate, "behavior": 1, "registrationDate": bad_date},
                ]
            },
        )
    problem = assert_problem(caught.value, 400, VALIDATION)
    assert isinstance(problem.errors, dict)
    ((field, (message,)),) = problem.errors.items()
    assert field == "candidateIds[1]"
    assert "expected an ISO date" in message
    assert fake.state.experiences[world.experience].registrations == []


async def test_a_bad_date_of_birth_is_400(fake: FakeTahdah, client: TahdahClient) -> None:
    with unchanged(fake), pytest.raises(BadRequestError) as caught:
        await client.request(
            "POST",
            "/api/candidates",
            json={"firstName": "Ada", "lastName": "Lovelace", "dateOfBirth": "10/12/1815"},
        )
    problem = assert_problem(caught.value, 400, VALIDATION)
    assert isinstance(problem.errors, dict)
    assert list(problem.errors.values()) == [
        ("expected an ISO date, got a string that is not one",)
    ]


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "field"),
    [
        pytest.param(
            "PUT",
            "/api/trustgroups/legalentities/{owner}/trustgroup/{group}/members",
            None,
            {"legalEntityId": "harbour"},
            "legalEntityId",
            id="member-id-not-an-id",
        ),
        pytest.param(
            "PUT",
            "/api/trustgroups/legalentities/{owner}/trustgroup/{group}/members",
            None,
            {},
            "legalEntityId",
            id="member-id-missing",
        ),
        pytest.param(
            "GET",
            "/api/trustgroups/legalentities/{owner}/legalentities",
            {"trustGroupIds": "1,two"},
            None,
            "trustGroupIds",
            id="group-filter-not-ids",
        ),
        pytest.param(
            "PUT",
            "/api/candidates/{candidate}/tags",
            None,
            {"add": [], "remove": []},
            "add",
            id="tags-nothing-to-do",
        ),
        pytest.param(
            "PUT",
            "/api/candidates/{candidate}/tags",
            None,
            {"add": "vip"},
            "add",
            id="tags-not-a-list",
        ),
        pytest.param(
            "POST",
            "/api/learningexperiences/legalentities/{owner}/experiences/{experience}/learners",
            None,
            {"candidateIds": []},
            "candidateIds",
            id="no-learners",
        ),
        pytest.param(
            "POST",
            "/api/learningexperiences/legalentities/{owner}/experiences/{experience}/learners",
            None,
            {"learners": [{"candidateId": 1}]},
            "candidateIds",
            id="learners-under-another-name",
        ),
        pytest.param(
            "POST",
            "/api/digitalbadges/{owner}/templates/{template}/issueBadge",
            None,
            {"firstName": "Ada"},
            "learner",
            id="badge-without-a-learner-key",
        ),
        pytest.param(
            "POST",
            "/api/legalentities/{owner}/legalentities",
            None,
            {"name": "Harbour 2", "trustGroupIds": "1"},
            "trustGroupIds",
            id="legal-entity-groups-not-a-list",
        ),
        pytest.param(
            "POST",
            "/api/legalentities/{owner}/legalentities/{child}/people",
            None,
            {"firstName": "Sam"},
            "candidateId",
            id="person-without-candidate-or-email",
        ),
    ],
)
async def test_invalid_fields_are_400_naming_the_field(
    fake: FakeTahdah,
    client: TahdahClient,
    world: World,
    method: str,
    path: str,
    params: dict[str, str] | None,
    body: Any,
    field: str,
) -> None:
    with unchanged(fake), pytest.raises(BadRequestError) as caught:
        await client.request(method, path.format(**attrs.asdict(world)), params=params, json=body)
    problem = assert_problem(caught.value, 400, VALIDATION)
    assert isinstance(problem.errors, dict)
    assert list(problem.errors) == [field]


async def test_a_non_numeric_candidate_id_for_a_person_is_400(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    path = f"/api/legalentities/{world.owner}/legalentities/{world.child}/people"
    with unchanged(fake), pytest.raises(BadRequestError):
        await client.request("POST", path, json={"candidateId": "ada"})
    # The client refuses it before sending: a candidate id is an int.
    with unchanged(fake), pytest.raises(TypeError, match="'candidate_id' must be an int"):
        await client.legal_entities.connect_person(world.owner, world.child, candidate_id="ada")  # type: ignore[arg-type]


# -- 422: well-formed but refused ----------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "detail"),
    [
        pytest.param(
            lambda t, w: t.learning_experiences.register_learners(
                w.owner,
                w.experience,
                [
                    {"candidateId": w.candidate, "behavior": 1, "registrationDate": "2026-01-01"},
                    {"candidateId": UNKNOWN, "behavior": 1, "registrationDate": "2026-01-01"},
                ],
            ),
            f"candidateIds[1]: no candidate with id {UNKNOWN}",
            id="register-unknown-candidate",
        ),
        pytest.param(
            lambda t, w: t.trust_groups.add_member(w.owner, w.group, UNKNOWN),
            f"No legal entity with id {UNKNOWN} to add",
            id="add-unknown-member",
        ),
        pytest.param(
            lambda t, w: t.legal_entities.connect_person(w.owner, w.sibling, email="s@x.example"),
            "Legal entity {sibling} is not a member of any trust group of {owner}",
            id="person-for-entity-outside-groups",
        ),
        pytest.param(
            lambda t, w: t.legal_entities.connect_person(w.owner, w.child, candidate_id=UNKNOWN),
            f"No candidate with id {UNKNOWN}",
            id="person-unknown-candidate",
        ),
        pytest.param(
            lambda t, w: t.legal_entities.create(
                w.owner, name="Harbour 2", trust_group_ids=[w.child_group]
            ),
            "Trust group {child_group} is not one of {owner}'s",
            id="legal-entity-into-foreign-group",
        ),
    ],
)
async def test_broken_rules_are_422_and_change_nothing(
    fake: FakeTahdah, client: TahdahClient, world: World, call: Call, detail: str
) -> None:
    with unchanged(fake), pytest.raises(UnprocessableEntityError) as caught:
        await call(client, world)
    problem = assert_problem(caught.value, 422, "Unprocessable Entity")
    assert problem.detail == detail.format(**attrs.asdict(world))


# -- 409: conflicts ------------------------------------------------------------------------


async def test_adding_a_member_twice_is_409(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    await client.trust_groups.add_member(world.owner, world.group, world.sibling)
    added = fake.state.trust_groups[world.group].members[world.sibling].added_at

    with unchanged(fake), pytest.raises(ConflictError) as caught:
        await client.trust_groups.add_member(world.owner, world.group, world.sibling)

    problem = assert_problem(caught.value, 409, "Conflict")
    assert problem.detail == (
        f"Legal entity {world.sibling} is already a member of trust group {world.group}"
    )
    assert list(fake.state.trust_groups[world.group].members) == [world.child, world.sibling]
    assert fake.state.trust_groups[world.group].members[world.sibling].added_at == added
    assert [verb for verb, _ in fake.events] == ["trustGroups.member.added"]


@pytest.mark.parametrize(
    ("call", "detail"),
    [
        pytest.param(
            lambda t, w: t.trust_groups.create(w.owner, name="Partners"),
            "Legal entity {owner} already has a trust group named 'Partners'",
            id="trust-group-name",
        ),
        pytest.param(
            lambda t, w: t.legal_entities.create(w.owner, name="Harbour Care Ltd"),
            "Legal entity {owner} already owns one named 'Harbour Care Ltd'",
            id="legal-entity-name",
        ),
        pytest.param(
            lambda t, w: t.candidates.create(first_name="A", last_name="L", external_id="EXT-ADA"),
            "A candidate with externalId 'EXT-ADA' already exists",
            id="candidate-external-id",
        ),
        pytest.param(
            lambda t, w: t.digital_badges.issue(
                w.owner, w.template, external_id="EXT-ADA", email="someone.else@example.com"
            ),
            "Learner {candidate} matched on externalId but its email differs",
            id="badge-learner-details-disagree",
        ),
    ],
)
async def test_conflicting_creates_are_409_and_change_nothing(
    fake: FakeTahdah, client: TahdahClient, world: World, call: Call, detail: str
) -> None:
    with unchanged(fake), pytest.raises(ConflictError) as caught:
        await call(client, world)
    problem = assert_problem(caught.value, 409, "Conflict")
    assert problem.detail == detail.format(**attrs.asdict(world))


async def test_registering_a_learner_twice_is_409(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    learner = LearnerRegistration(
        candidate_id=world.candidate, behavior=1, registration_date=dt.date(2026, 1, 1)
    )
    await client.learning_experiences.register_learners(world.owner, world.experience, [learner])

    with unchanged(fake), pytest.raises(ConflictError) as caught:
        await client.pathways.create_registrations(world.owner, world.experience, [learner])

    assert problem_of(caught.value).detail == (
        f"Candidate {world.candidate} is already registered on {world.experience}"
    )
    assert len(fake.state.experiences[world.experience].registrations) == 1


async def test_registering_a_learner_twice_in_one_request_is_refused(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    learner = LearnerRegistration(
        candidate_id=world.candidate, behavior=1, registration_date=dt.date(2026, 1, 1)
    )
    with pytest.raises(APIStatusError) as caught:
        await client.learning_experiences.register_learners(
            world.owner, world.experience, [learner, learner]
        )
    assert caught.value.status in (400, 409)
    assert fake.state.experiences[world.experience].registrations == []


async def test_a_refused_legal_entity_create_creates_nothing(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    with unchanged(fake), pytest.raises(APIStatusError):
        await client.legal_entities.create(
            world.owner, name="Harbour 2", trust_group_ids=[world.group, world.group]
        )


# -- event credits (REFERENCE 2.2) ---------------------------------------------------------


def lots(fake: FakeTahdah, template: int) -> list[tuple[str | None, int]]:
    return [
        (lot.order_number, lot.remaining) for lot in fake.state.credits[(fake.owner_id, template)]
    ]


async def test_a_reused_idempotency_key_is_409_and_changes_nothing(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    first = await client.event_credits.add(
        fake.owner_id,
        [EventTemplateCredit(event_template_id=77, number_of_credits=10)],
        idempotency_key="k-1",
    )

    # Same key, same body; then same key with another change: both refused.
    for credits in (
        [{"eventTemplateId": 77, "numberOfCredits": 10}],
        [{"eventTemplateId": 78, "numberOfCredits": 1}],
    ):
        with unchanged(fake), pytest.raises(ConflictError) as caught:
            await client.event_credits.add(fake.owner_id, credits, idempotency_key=first)
        problem = assert_problem(caught.value, 409, "Conflict")
        assert problem.detail == "The idempotency key 'k-1' was already used"

    assert fake.state.balance(fake.owner_id, 77) == 10
    assert (fake.owner_id, 78) not in fake.state.credits
    assert [verb for verb, _ in fake.events] == ["eventCredits.updated"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(
            {"eventTemplateCredits": [{"eventTemplateId": 7, "numberOfCredits": 1}]},
            "idempotencyKey",
            id="no-key",
        ),
        pytest.param(
            {
                "idempotencyKey": " ",
                "eventTemplateCredits": [{"eventTemplateId": 7, "numberOfCredits": 1}],
            },
            "idempotencyKey",
            id="blank-key",
        ),
        pytest.param(
            {
                "idempotencyKey": "k",
                "orderNumber": 1001,
                "eventTemplateCredits": [{"eventTemplateId": 7, "numberOfCredits": 1}],
            },
            "orderNumber",
            id="order-not-a-string",
        ),
        pytest.param({"idempotencyKey": "k"}, "eventTemplateCredits", id="no-credits"),
        pytest.param(
            {"idempotencyKey": "k", "eventTemplateCredits": []},
            "eventTemplateCredits",
            id="empty-credits",
        ),
        pytest.param(
            {
                "idempotencyKey": "k",
                "eventTemplateCredits": [{"eventTemplateId": 7, "numberOfCredits": 0}],
            },
            "eventTemplateCredits[0]",
            id="zero-credits",
        ),
        pytest.param(
            {
                "idempotencyKey": "k",
                "eventTemplateCredits": [{"eventTemplateId": 7, "numberOfCredits": 1.5}],
            },
            "eventTemplateCredits[0]",
            id="fractional-credits",
        ),
        pytest.param(
            {"idempotencyKey": "k", "eventTemplateCredits": [{"eventTemplateId": 7}]},
            "eventTemplateCredits[0]",
            id="credits-missing",
        ),
        pytest.param(
            {
                "idempotencyKey": "k",
                "eventTemplateCredits": [{"eventTemplateId": "seven", "numberOfCredits": 1}],
            },
            "eventTemplateCredits[0]",
            id="template-id-not-a-number",
        ),
    ],
)
async def test_malformed_credit_requests_are_400_and_keep_the_key_unused(
    fake: FakeTahdah, client: TahdahClient, body: dict[str, Any], field: str
) -> None:
    path = f"/api/eventcredits/legalentities/{fake.owner_id}"
    with unchanged(fake), pytest.raises(BadRequestError) as caught:
        await client.request("PUT", path, json=body)
    problem = assert_problem(caught.value, 400, VALIDATION)
    assert isinstance(problem.errors, dict)
    assert list(problem.errors) == [field]


async def test_a_balance_never_goes_below_zero(fake: FakeTahdah, client: TahdahClient) -> None:
    await client.event_credits.add(fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": 5}])

    with unchanged(fake), pytest.raises(UnprocessableEntityError) as caught:
        await client.event_credits.add(
            fake.owner_id,
            [{"eventTemplateId": 77, "numberOfCredits": -6}],
            idempotency_key="k-over",
        )
    problem = assert_problem(caught.value, 422, "Unprocessable Entity")
    assert problem.detail == "Event template 77 has 5 credits; cannot remove 6"

    # Removing exactly the balance is allowed and leaves zero.
    await client.event_credits.add(fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": -5}])
    assert fake.state.balance(fake.owner_id, 77) == 0
    with unchanged(fake), pytest.raises(UnprocessableEntityError):
        await client.event_credits.add(
            fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": -1}]
        )


async def test_balances_are_per_legal_entity_and_per_template(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    await client.event_credits.add(world.owner, [{"eventTemplateId": 77, "numberOfCredits": 5}])

    with unchanged(fake), pytest.raises(UnprocessableEntityError):
        await client.event_credits.add(
            world.child, [{"eventTemplateId": 77, "numberOfCredits": -1}]
        )
    with unchanged(fake), pytest.raises(UnprocessableEntityError):
        await client.event_credits.add(
            world.owner, [{"eventTemplateId": 78, "numberOfCredits": -1}]
        )

    assert fake.state.balance(world.owner, 77) == 5


async def test_a_request_refused_for_one_template_changes_no_template(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    with unchanged(fake), pytest.raises(UnprocessableEntityError) as caught:
        await client.event_credits.add(
            fake.owner_id,
            [
                {"eventTemplateId": 77, "numberOfCredits": 10},
                {"eventTemplateId": 78, "numberOfCredits": -1},
            ],
        )
    assert problem_of(caught.value).detail == "Event template 78 has 0 credits; cannot remove 1"


async def test_removals_draw_on_the_given_order_first_then_oldest_first(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    for order in ("ORD-A", "ORD-B", "ORD-C"):
        await client.event_credits.add(
            fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": 5}], order_number=order
        )

    await client.event_credits.add(
        fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": -3}], order_number="ORD-B"
    )
    assert lots(fake, 77) == [("ORD-A", 5), ("ORD-B", 2), ("ORD-C", 5)]

    # ORD-C is emptied first, then the oldest other order (ORD-A), not ORD-B.
    await client.event_credits.add(
        fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": -7}], order_number="ORD-C"
    )
    assert lots(fake, 77) == [("ORD-A", 3), ("ORD-B", 2)]
    assert fake.state.balance(fake.owner_id, 77) == 5

    # An order with no credits left draws on the others, oldest first.
    await client.event_credits.add(
        fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": -4}], order_number="ORD-C"
    )
    assert lots(fake, 77) == [("ORD-B", 1)]
    balances = [
        payload["balances"] for verb, payload in fake.events if verb == "eventCredits.updated"
    ]
    assert balances[-3:] == [
        [{"eventTemplateId": 77, "balance": 12}],
        [{"eventTemplateId": 77, "balance": 5}],
        [{"eventTemplateId": 77, "balance": 1}],
    ]


async def test_a_removal_without_an_order_draws_oldest_first(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    await client.event_credits.add(
        fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": 5}], order_number="ORD-A"
    )
    await client.event_credits.add(fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": 5}])

    await client.event_credits.add(fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": -3}])

    assert lots(fake, 77) == [("ORD-A", 2), (None, 5)]


async def test_a_request_is_applied_as_its_net_change(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    await client.event_credits.add(fake.owner_id, [{"eventTemplateId": 77, "numberOfCredits": 3}])

    await client.event_credits.add(
        fake.owner_id,
        [
            {"eventTemplateId": 77, "numberOfCredits": -8},
            {"eventTemplateId": 77, "numberOfCredits": 5},
        ],
    )

    assert fake.state.balance(fake.owner_id, 77) == 0


# -- what errors carry ---------------------------------------------------------------------


async def test_a_status_error_carries_everything_a_debugger_wants(
    fake: FakeTahdah, client: TahdahClient, world: World
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.learning_experiences.get(world.owner, UNKNOWN)

    error = caught.value
    path = f"/api/learningexperiences/legalentities/{world.owner}/experiences/{UNKNOWN}"
    assert (error.status, error.method, error.path) == (404, "GET", path)
    problem = assert_problem(error, 404, "Not Found")
    assert problem.detail == f"No learning experience with id {UNKNOWN}"
    assert isinstance(error.body, dict)
    assert error.body["traceId"] == error.request_id
    assert str(error) == (
        f"404 Not Found for GET {path}: Not Found — No learning experience with id {UNKNOWN} "
        f"(request id {error.request_id})"
    )
    assert fake.token not in str(error)
    assert fake.token not in repr(error.args)


async def test_a_token_echoed_by_the_server_is_masked(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    # The fake echoes a conflicting externalId in its detail; make it the token.
    await client.candidates.create(first_name="A", last_name="L", external_id=fake.token)
    with pytest.raises(ConflictError) as caught:
        await client.candidates.create(first_name="B", last_name="M", external_id=fake.token)

    assert fake.token in str(problem_of(caught.value).detail)
    assert fake.token not in str(caught.value)
    assert "A candidate with externalId '***' already exists" in str(caught.value)


async def test_a_token_in_the_path_is_masked_in_the_message(
    fake: FakeTahdah, client: TahdahClient
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.candidates.delete(fake.token)
    assert fake.token not in str(caught.value)


async def test_a_badge_never_goes_to_another_providers_learner(
    fake: FakeTahdah, world: World
) -> None:
    (theirs,) = fake.seed(
        candidates=[{"firstName": "Bo", "email": "bo@example.com"}], owner_id=world.sibling
    ).candidates
    (template,) = fake.seed(
        badge_templates=[{"name": "Harbour"}], owner_id=world.child
    ).badge_templates

    async with TahdahClient(fake.issue_token(world.child), base_url=fake.url) as child:
        await child.digital_badges.issue(world.child, template, email="bo@example.com")

    (badge,) = fake.state.badges
    assert badge.candidate_id != theirs
    assert fake.state.acts_for(
        world.child, fake.state.candidates[badge.candidate_id].legal_entity_id
    )
