"""The route table: completeness against the reference, parsing, building and overrides."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahdah_async import ROUTES, Route, TahdahClient
from tahdah_async._routes import ROUTE_MARKS, resolve_routes
from tests import modules

REFERENCE = Path(__file__).parent / "reference" / "REFERENCE.md"

# Section 2 of the reference, as its tables state it: SDK call -> "METHOD /path".
DOCUMENTED = {
    "trust_groups.list": "GET /api/trustgroups/legalentities/{legalEntityId}/trustgroups",
    "trust_groups.create": "PUT /api/trustgroups/legalentities/{legalEntityId}/trustgroup",
    "trust_groups.update": (
        "POST /api/trustgroups/legalentities/{legalEntityId}/trustgroup/{trustGroupId}"
    ),
    "trust_groups.list_legal_entity_members": (
        "GET /api/trustgroups/legalentities/{legalEntityId}/legalentities"
    ),
    "trust_groups.list_candidate_members": (
        "GET /api/trustgroups/legalentities/{legalEntityId}/candidates"
    ),
    "trust_groups.add_member": (
        "PUT /api/trustgroups/legalentities/{legalEntityId}/trustgroup/{trustGroupId}/members"
    ),
    "trust_groups.remove_member": (
        "DELETE /api/trustgroups/legalentities/{legalEntityId}/trustgroup/{trustGroupId}"
        "/members/{memberLegalEntityId}"
    ),
    "event_credits.add": "PUT /api/eventcredits/legalentities/{legalEntityId}",
    "tracker.candidate_targets": (
        "GET /api/tracker/legalentities/{legalEntityId}/candidates/{candidateId}/targets"
    ),
    "tracker.legal_entity_targets": "GET /api/tracker/legalentities/{legalEntityId}/targets",
    "learning_experiences.register_learners": (
        "POST /api/learningexperiences/legalentities/{legalEntityId}/experiences"
        "/{experienceId}/learners"
    ),
    "learning_experiences.list": (
        "GET /api/learningexperiences/legalentities/{legalEntityId}/experiences"
    ),
    "learning_experiences.get": (
        "GET /api/learningexperiences/legalentities/{legalEntityId}/experiences/{experienceId}"
    ),
    "pathways.list": "GET /api/pathways/legalentities/{legalEntityId}/pathways",
    "pathways.get": "GET /api/pathways/legalentities/{legalEntityId}/pathways/{pathwayId}",
    "pathways.list_registrations": (
        "GET /api/pathways/legalentities/{legalEntityId}/pathways/{pathwayId}/registrations"
    ),
    "pathways.create_registrations": (
        "POST /api/learningexperiences/legalentities/{legalEntityId}/experiences"
        "/{experienceId}/learners"
    ),
    "digital_badges.issue": (
        "POST /api/digitalbadges/{legalEntityId}/templates/{badgeTemplateId}/issueBadge"
    ),
    "digital_badges.list_templates": "GET /api/digitalbadges/{legalEntityId}/templates",
    "legal_entities.get": (
        "GET /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}"
    ),
    "legal_entities.create": "POST /api/legalentities/{legalEntityOwnerId}/legalentities",
    "legal_entities.connect_person": (
        "POST /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}/people"
    ),
    "legal_entities.list_people": (
        "GET /api/legalentities/{legalEntityOwnerId}/legalentities/{legalEntityId}/people"
    ),
    "candidates.create": "POST /api/candidates",
    "candidates.update": "PUT /api/candidates/{candidateId}",
    "candidates.delete": "DELETE /api/candidates/{candidateId}",
    "candidates.update_tags": "PUT /api/candidates/{candidateId}/tags",
}


def test_the_table_holds_exactly_the_reference_operations() -> None:
    assert set(ROUTES) == set(DOCUMENTED)
    assert set(ROUTE_MARKS) == set(ROUTES)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_each_route_matches_the_reference(name: str) -> None:
    route = ROUTES[name]
    assert f"{route.method} {route.path}" == DOCUMENTED[name]


@pytest.mark.skipif(not REFERENCE.exists(), reason="the reference is not beside this checkout")
def test_every_sdk_call_of_the_reference_is_in_the_table() -> None:
    text = REFERENCE.read_text()
    section = text[text.index("## 2. Operations") : text.index("## 3. Webhooks")]
    calls = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)\(", section, flags=re.MULTILINE))
    assert calls == set(ROUTES)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_each_operation_is_a_method_of_its_resource(name: str) -> None:
    area, method = name.split(".")
    client = TahdahClient("token")
    assert callable(getattr(getattr(client, area), method))


def test_parse_and_format_round_trip() -> None:
    spec = "GET /api/x/{a}/y?ids={ids}&b={b}"
    route = Route.parse(spec)
    assert route == Route("GET", "/api/x/{a}/y", (("ids", "ids"), ("b", "b")))
    assert str(route) == spec
    assert route.placeholders == {"a", "ids", "b"}


def test_build_encodes_path_ids_and_drops_absent_query_values() -> None:
    route = Route.parse("GET /api/x/{a}/y?ids={ids}")
    assert route.build({"a": "a/b c", "ids": [1, "x"]}) == ("/api/x/a%2Fb%20c/y", [("ids", "1,x")])
    assert route.build({"a": 5, "ids": None}) == ("/api/x/5/y", [])


@pytest.mark.parametrize(
    ("value", "error"),
    [("", ValueError), ("   ", ValueError), (True, TypeError), (None, TypeError), (1.5, TypeError)],
)
def test_build_rejects_unusable_path_ids(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="a"):
        Route.parse("GET /api/x/{a}").build({"a": value})


@pytest.mark.parametrize(
    "spec",
    ["/api/x", "FETCH /api/x", "GET api/x", "GET /api/{a!r}", "GET /api/x?ids=1", "GET /x?={a}"],
)
def test_malformed_routes_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="route"):
        Route.parse(spec)


def test_overrides_replace_one_entry() -> None:
    table = resolve_routes({"candidates.update": "patch /api/v2/candidates/{candidateId}"})
    assert table["candidates.update"] == Route("PATCH", "/api/v2/candidates/{candidateId}")
    assert table["candidates.delete"] == ROUTES["candidates.delete"]
    assert ROUTES["candidates.update"].method == "PUT"


def test_an_override_may_be_a_route_object() -> None:
    route = Route("POST", "/api/candidates/{candidateId}/update")
    assert resolve_routes({"candidates.update": route})["candidates.update"] is route


def test_unknown_override_names_suggest_the_right_one() -> None:
    with pytest.raises(ValueError, match=r"did you mean 'candidates\.update'"):
        resolve_routes({"candidate.update": "PUT /api/candidates/{candidateId}"})


def test_overrides_must_keep_the_placeholders() -> None:
    with pytest.raises(ValueError, match="placeholders"):
        resolve_routes({"candidates.update": "PUT /api/candidates/{id}"})


def test_overrides_of_the_wrong_type_are_refused() -> None:
    with pytest.raises(TypeError, match="str or Route"):
        resolve_routes({"candidates.update": 5})  # type: ignore[dict-item]


def test_the_default_table_cannot_be_mutated() -> None:
    with pytest.raises(TypeError):
        ROUTES["candidates.update"] = Route("GET", "/")  # type: ignore[index]


@settings(max_examples=300)
@given(value=st.integers() | st.text(min_size=1, max_size=12))
def test_a_path_id_is_encoded_as_quote_would_encode_it(value: int | str) -> None:
    route = Route.parse("GET /api/things/{thingId}/parts")
    text = str(value).strip()
    if not text or text in (".", ".."):
        with pytest.raises(ValueError, match="thingId"):
            route.build({"thingId": value})
        return
    path, query = route.build({"thingId": value})
    assert path == f"/api/things/{quote(text, safe='')}/parts"
    assert query == []


def _operations_generator() -> Any:
    return modules.load(Path("scripts") / "generate_operations.py", "generate_operations")


def test_the_readme_operation_table_is_generated_from_the_route_table() -> None:
    generator = _operations_generator()
    text = generator.README.read_text()
    assert generator.replaced(text) == text
    # Every operation is a row, with its route and mark as the route table has them.
    for name, route in ROUTES.items():
        assert f"| `{route}` |" in generator.render()
        assert f"`{generator.call(name)}`" in text


def test_a_changed_mark_makes_the_readme_table_out_of_date(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _operations_generator()
    monkeypatch.setattr(generator, "ROUTE_MARKS", {**ROUTE_MARKS, "candidates.delete": "D"})
    text = generator.README.read_text()
    assert generator.replaced(text) != text
