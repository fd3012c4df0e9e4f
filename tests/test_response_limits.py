"""``max_response_size``: a response body over the limit is refused, typed, and not retried.

Every test talks to a real loopback server. The "refused before reading" and "counted as it
arrives" tests meet a server that sends part of a body and then holds the rest until the test
ends: only a client that refuses without waiting for the rest can finish, and a client that
waits would hang until the :data:`~tests.servers.HANG` guard fails the test. No test measures
time.
"""

from __future__ import annotations

import asyncio
import gzip
import logging

import pytest
from aiohttp import web

from tahdah_async import APIStatusError, ResponseTooLargeError, TahdahClient, TahdahError
from tahdah_async._transport import DEFAULT_MAX_RESPONSE_SIZE
from tests.conftest import TOKEN
from tests.servers import (
    HANG,
    Reply,
    Script,
    client_for,
    raw_server,
    respond,
    serve,
    stall_body,
)

LIMIT = 1000


def chunked(gate: asyncio.Event, *, size: int, status: int = 200) -> Reply:
    """A chunked reply (no Content-Length) that sends ``size`` bytes, then holds until ``gate``."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b" " * size)
        await gate.wait()
        await response.write(b"[]")
        return response

    return reply


def gzipped(inflated: int) -> Reply:
    """A small gzip body (with its Content-Length) that inflates to ``inflated`` bytes."""

    async def reply(request: web.Request) -> web.StreamResponse:
        body = gzip.compress(b"[" + b" " * (inflated - 2) + b"]")
        assert len(body) < LIMIT
        return web.Response(
            body=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    return reply


async def test_default_is_generous_and_bodies_under_the_limit_are_read() -> None:
    script = Script(respond(200, ["x" * (LIMIT - 10)]))
    async with serve(script) as url, client_for(url, max_response_size=LIMIT) as tahdah:
        assert tahdah.max_response_size == LIMIT
        assert await tahdah.request("GET", "/api/things") == ["x" * (LIMIT - 10)]
    assert TahdahClient(TOKEN).max_response_size == DEFAULT_MAX_RESPONSE_SIZE == 64 << 20


async def test_a_content_length_over_the_limit_is_refused_before_reading() -> None:
    # The server announces LIMIT + 1 bytes, sends 3 and holds the rest until the test ends.
    script = Script()
    script.reply(stall_body(script.gate, length=LIMIT + 1))
    async with serve(script) as url, client_for(url, max_response_size=LIMIT) as tahdah:
        async with asyncio.timeout(HANG):
            with pytest.raises(ResponseTooLargeError) as caught:
                await tahdah.request("GET", "/api/things")
    error = caught.value
    assert isinstance(error, TahdahError)
    assert (error.method, error.path, error.status) == ("GET", "/api/things", 200)
    assert (error.limit, error.content_length) == (LIMIT, LIMIT + 1)
    assert "1,001 bytes" in str(error)
    assert "max_response_size" in str(error)
    assert TOKEN not in str(error)
    assert script.count == 1  # not retried: the same GET would get the same body


async def test_a_chunked_body_is_counted_as_it_arrives() -> None:
    # No Content-Length: LIMIT + 1 bytes arrive, then the server holds until the test ends.
    script = Script()
    script.reply(chunked(script.gate, size=LIMIT + 1))
    async with serve(script) as url, client_for(url, max_response_size=LIMIT) as tahdah:
        async with asyncio.timeout(HANG):
            with pytest.raises(ResponseTooLargeError) as caught:
                await tahdah.request("GET", "/api/things")
    assert caught.value.content_length is None
    assert script.count == 1


async def test_an_error_body_over_the_limit_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = Script()
    script.reply(chunked(script.gate, size=LIMIT + 1, status=503))
    async with (
        serve(script) as url,
        client_for(url, max_response_size=LIMIT, max_retries=3) as tahdah,
    ):
        async with asyncio.timeout(HANG):
            with pytest.raises(ResponseTooLargeError) as caught:
                await tahdah.request("GET", "/api/things")
    assert caught.value.status == 503
    assert script.count == 1
    # The client's own warning (asyncio's debug mode may log slow-callback warnings too).
    [warning] = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("tahdah_async")
    ]
    assert "over max_response_size (1,000 bytes); not retried" in warning.getMessage()


async def test_a_gzip_body_is_limited_by_its_inflated_size() -> None:
    script = Script(gzipped(LIMIT + 1), gzipped(LIMIT))
    async with serve(script) as url, client_for(url, max_response_size=LIMIT) as tahdah:
        with pytest.raises(ResponseTooLargeError) as caught:
            await tahdah.request("GET", "/api/things")
        assert caught.value.content_length is not None
        assert caught.value.content_length < LIMIT  # the wire size said nothing was wrong
        assert await tahdah.request("GET", "/api/things") == []


async def test_with_options_sets_the_limit_of_one_view() -> None:
    body = ["x" * (2 * LIMIT)]
    script = Script(respond(200, body))
    async with serve(script) as url, client_for(url, max_response_size=LIMIT) as tahdah:
        roomy = tahdah.with_options(max_response_size=4 * LIMIT)
        assert roomy.max_response_size == 4 * LIMIT
        assert await roomy.request("GET", "/api/things") == body
        with pytest.raises(ResponseTooLargeError):
            await tahdah.request("GET", "/api/things")
        tight = roomy.with_options(max_response_size=LIMIT)
        with pytest.raises(ResponseTooLargeError):
            await tight.request("GET", "/api/things")
        assert await roomy.request("GET", "/api/things") == body


async def test_a_head_response_is_not_judged_by_the_body_it_announces() -> None:
    async def head(request: web.Request) -> web.StreamResponse:
        # aiohttp answers a HEAD with this body's Content-Length and no body.
        return web.Response(status=200, body=b" " * (10 * LIMIT))

    script = Script(head)
    async with serve(script) as url, client_for(url, max_response_size=LIMIT) as tahdah:
        assert await tahdah.request("HEAD", "/api/things") is None


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (-1, ValueError), (True, TypeError), (1.5, TypeError)]
)
def test_the_limit_is_checked(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_response_size"):
        TahdahClient(TOKEN, max_response_size=value)  # type: ignore[arg-type]
    with pytest.raises(error, match="max_response_size"):
        TahdahClient(TOKEN).with_options(max_response_size=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
async def test_a_bodiless_status_is_not_judged_by_the_length_it_announces(status: bytes) -> None:
    # A 304 may carry the Content-Length of the full representation, and a 204 has no body
    # whatever its headers say: neither is a large body.
    reply = b"HTTP/1.1 " + status + b"\r\nContent-Length: " + b"9" * 12 + b"\r\n\r\n"
    async with raw_server(reply) as (url, _), client_for(url, max_response_size=LIMIT) as tahdah:
        if status.startswith(b"204"):
            assert await tahdah.request("GET", "/api/things") is None
        else:
            with pytest.raises(APIStatusError) as caught:
                await tahdah.request("GET", "/api/things")
            assert caught.value.status == 304
