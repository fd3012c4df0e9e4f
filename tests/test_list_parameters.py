"""List parameters: each element is one id, so one element can never become several values.

Query lists are sent comma-separated (``trustGroupIds=1,2``): an element holding the
separator would smuggle more ids in, so it is refused like a bad path id, before sending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aioresponses import aioresponses

from tahdah_async import TahdahClient
from tahdah_async._routes import ROUTES, Route
from tests.conftest import BASE_URL

ListCall = Callable[[TahdahClient, list[Any]], Awaitable[object]]

QUERY_LISTS: dict[str, ListCall] = {
    "trust_groups.list_legal_entity_members": lambda c, ids: (
        c.trust_groups.list_legal_entity_members(42, trust_group_ids=ids)
    ),
    "trust_groups.list_candidate_members": lambda c, ids: c.trust_groups.list_candidate_members(
        42, trust_group_ids=ids
    ),
}
"""Every operation with a query list parameter, called with a list of ids."""

BODY_LISTS: dict[str, ListCall] = {
    "legal_entities.create": lambda c, ids: c.legal_entities.create(
        1, name="Hilltop", trust_group_ids=ids
    ),
}
"""Every operation with a list of ids in its body."""

SMUGGLING = ["1,2", "3101, 3102", ",", " 7,"]


def test_every_query_parameter_of_the_route_table_is_covered_here() -> None:
    assert {name for name, route in ROUTES.items() if route.query} == set(QUERY_LISTS)


@pytest.mark.parametrize("operation", sorted(QUERY_LISTS | BODY_LISTS))
@pytest.mark.parametrize("smuggled", SMUGGLING)
async def test_an_id_holding_the_list_separator_is_refused_before_sending(
    operation: str, smuggled: str, client: TahdahClient, mocked: aioresponses
) -> None:
    call = (QUERY_LISTS | BODY_LISTS)[operation]

    with pytest.raises(ValueError, match=r"trust_group_ids item .* must not contain ','"):
        await call(client, [3100, smuggled])

    assert mocked.requests == {}


@pytest.mark.parametrize("value", [["1,2"], [5, "6,7"], "1,2"], ids=["list", "second", "single"])
@pytest.mark.parametrize("operation", sorted(QUERY_LISTS))
def test_the_route_never_joins_an_element_holding_the_separator(
    operation: str, value: object
) -> None:
    route = ROUTES[operation]

    with pytest.raises(ValueError, match=r"trustGroupIds item .* must not contain ','"):
        route.build({"legalEntityId": 42, "trustGroupIds": value})


@pytest.mark.parametrize("value", [b"12", bytearray(b"12"), {"1": 2}], ids=repr)
def test_the_route_refuses_bytes_and_mappings_as_a_list_of_ids(value: object) -> None:
    route = Route.parse("GET /x?trustGroupIds={trustGroupIds}")

    with pytest.raises(TypeError, match="trustGroupIds must be an id or a list of ids"):
        route.build({"trustGroupIds": value})


def test_a_long_smuggling_id_is_named_in_bounded_form() -> None:
    route = Route.parse("GET /x?ids={ids}")

    with pytest.raises(ValueError, match="must not contain") as caught:
        route.build({"ids": ["9" * 10_000 + ",1"]})

    assert len(str(caught.value)) < 100


async def test_other_reserved_characters_stay_inside_one_value(
    client: TahdahClient, mocked: aioresponses
) -> None:
    mocked.get(
        f"{BASE_URL}/api/trustgroups/legalentities/42/candidates?trustGroupIds=a%26b%3Dc%23d",
        payload=[],
    )

    await client.trust_groups.list_candidate_members(42, trust_group_ids=["a&b=c#d"])

    ((_, url),) = mocked.requests
    assert dict(url.query) == {"trustGroupIds": "a&b=c#d"}
