"""Edges of the client found in review: redirects, raw paths, error chains, repeated keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tahdah_async import (
    APIConnectionError,
    APIStatusError,
    ConflictError,
    EventTemplateCredit,
    RetryPolicy,
    TahdahClient,
)
from tests.conftest import TOKEN, RecordingSleep
from tests.servers import refusing_port

seen: list[tuple[str, str, bytes]] = []


async def record(request: web.Request) -> web.Response:
    seen.append((request.method, request.raw_path, await request.read()))
    if request.path.startswith("/api/candidates"):
        raise web.HTTPFound("/elsewhere")
    return web.json_response({"ok": True})


@pytest.fixture
async def url() -> AsyncIterator[str]:
    seen.clear()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    async with TestServer(app) as server:
        yield str(server.make_url("/"))


async def test_a_redirect_is_an_error_not_a_silent_get(url: str) -> None:
    async with TahdahClient(TOKEN, base_url=url) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.candidates.create(first_name="Ada")
    assert caught.value.status == 302
    assert [method for method, _, _ in seen] == ["POST"]


async def test_request_percent_encodes_the_path(url: str) -> None:
    async with TahdahClient(TOKEN, base_url=url) as client:
        assert await client.request("GET", "/api/a b/é") == {"ok": True}
    assert seen[0][1] == "/api/a%20b/%C3%A9"


async def test_connection_errors_do_not_chain_aiohttp_errors_holding_the_token() -> None:
    with refusing_port() as port:
        client = TahdahClient(TOKEN, base_url=f"http://127.0.0.1:{port}", max_retries=0)
        with pytest.raises(APIConnectionError) as caught:
            await client.trust_groups.list(1)
        await client.aclose()
    assert caught.value.request_sent is False
    assert caught.value.__cause__ is None
    assert TOKEN not in repr(caught.value.__context__)


async def test_a_model_body_is_sent_as_it_was_checked(url: str) -> None:
    async with TahdahClient(TOKEN, base_url=url) as client:
        await client.trust_groups.update(1, 2, {"monthlyPrice": 10, "accessRights": [1, 2]})
        await client.legal_entities.connect_person(1, 2, {"email": "a@example.com"})
        await client.trust_groups.create(1, {"name": "x", "monthlyPrice": 9.5})
        # A known wire field of the wrong kind is refused, never converted.
        with pytest.raises(TypeError, match="'monthly_price' must be a number"):
            await client.trust_groups.create(1, {"name": "x", "monthlyPrice": "9.5"})
        with pytest.raises(TypeError, match="'access_rights' must be a list of"):
            await client.trust_groups.update(1, 2, {"accessRights": [1, "2"]})
    assert len(seen) == 3
    assert seen[0][2] == b'{"monthlyPrice":10.0,"accessRights":[1,2]}'
    assert seen[2][2] == b'{"name":"x","monthlyPrice":9.5}'
    assert seen[1][2] == b'{"email":"a@example.com"}'


async def test_a_refused_repeated_idempotency_key_says_an_earlier_attempt_may_have_won() -> None:
    calls = 0

    async def credits(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return web.json_response({"title": "Bad Gateway"}, status=502)
        return web.json_response({"title": "idempotencyKey already used"}, status=409)

    app = web.Application()
    app.router.add_put("/api/eventcredits/legalentities/{le}", credits)
    async with TestServer(app) as server:
        policy = RetryPolicy(sleep=RecordingSleep(), random=lambda: 0.0)
        async with TahdahClient(TOKEN, base_url=str(server.make_url("/")), retry=policy) as client:
            with pytest.raises(ConflictError, match="earlier attempt may have succeeded"):
                await client.event_credits.add(
                    1, [EventTemplateCredit(event_template_id=7, number_of_credits=1)]
                )
    assert calls == 2
