"""Logging and redaction: what the ``tahdah_async`` logger says, and that the token never shows."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tahdah_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    Timeout,
)
from tests.conftest import TOKEN, RecordingSleep
from tests.servers import (
    Reply,
    Script,
    client_for,
    echo_authorization,
    refusing_port,
    respond,
    serve,
    stall,
)

ATTEMPT = re.compile(r"\battempt (\d+)/(\d+)\b")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="tahdah_async")
    return caplog


@pytest.fixture
async def script() -> AsyncIterator[Script]:
    script = Script()
    yield script
    script.gate.set()


def ours(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("tahdah_async") and r.levelno == level]


def attempt_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int]]:
    found = []
    for record in ours(caplog, logging.DEBUG):
        match = ATTEMPT.search(record.getMessage())
        if match:
            found.append((int(match[1]), int(match[2])))
    return found


def assert_no_token(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in str(record.msg)
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        for arg in args:
            assert TOKEN not in str(arg)
            assert TOKEN not in repr(arg)


async def test_one_debug_line_per_attempt_and_info_per_retry(
    logs: pytest.LogCaptureFixture, script: Script, sleeps: RecordingSleep
) -> None:
    script.reply(respond(503), respond(502), respond(200, []))
    async with serve(script) as url, client_for(url, sleeps) as client:
        await client.trust_groups.list(1)
    assert attempt_lines(logs) == [(1, 3), (2, 3), (3, 3)]
    infos = ours(logs, logging.INFO)
    assert len(infos) == 2
    assert all("retrying" in r.getMessage() for r in infos)
    assert "503" in infos[0].getMessage()
    assert "502" in infos[1].getMessage()
    assert ours(logs, logging.WARNING) == []


async def test_an_unretried_error_logs_no_retry(
    logs: pytest.LogCaptureFixture, script: Script, sleeps: RecordingSleep
) -> None:
    script.reply(respond(404, {"title": "Not Found"}))
    async with serve(script) as url, client_for(url, sleeps) as client:
        with pytest.raises(NotFoundError):
            await client.trust_groups.list(1)
    assert attempt_lines(logs) == [(1, 3)]
    assert ours(logs, logging.INFO) == []
    assert ours(logs, logging.WARNING) == []


async def test_giving_up_is_logged_as_a_warning(
    logs: pytest.LogCaptureFixture, script: Script, sleeps: RecordingSleep
) -> None:
    script.reply(respond(503, {"message": "down for maintenance"}))
    async with serve(script) as url, client_for(url, sleeps) as client:
        with pytest.raises(InternalServerError):
            await client.trust_groups.list(1)
    assert attempt_lines(logs) == [(1, 3), (2, 3), (3, 3)]
    assert len(ours(logs, logging.INFO)) == 2
    warnings = ours(logs, logging.WARNING)
    assert len(warnings) == 1
    assert "503" in warnings[0].getMessage()
    assert "/api/trustgroups/legalentities/1/trustgroups" in warnings[0].getMessage()


async def test_giving_up_on_connections_is_logged_as_a_warning(
    logs: pytest.LogCaptureFixture, sleeps: RecordingSleep
) -> None:
    with refusing_port() as port:
        async with client_for(f"http://127.0.0.1:{port}", sleeps, max_retries=1) as client:
            with pytest.raises(APIConnectionError):
                await client.trust_groups.list(1)
    assert attempt_lines(logs) == [(1, 2), (2, 2)]
    assert len(ours(logs, logging.INFO)) == 1
    assert len(ours(logs, logging.WARNING)) == 1


async def test_a_retry_after_over_the_cap_is_logged_as_a_warning(
    logs: pytest.LogCaptureFixture, script: Script, sleeps: RecordingSleep
) -> None:
    script.reply(respond(429, headers={"Retry-After": "3600"}))
    async with serve(script) as url, client_for(url, sleeps) as client:
        with pytest.raises(RateLimitError):
            await client.trust_groups.list(1)
    warnings = ours(logs, logging.WARNING)
    assert len(warnings) == 1
    assert "3600" in warnings[0].getMessage()
    assert ours(logs, logging.INFO) == []


async def test_the_token_never_reaches_the_logs(
    logs: pytest.LogCaptureFixture, script: Script, sleeps: RecordingSleep
) -> None:
    script.reply(
        respond(503, text=f"upstream said: Bearer {TOKEN}"),
        respond(429, {"message": TOKEN}, headers={"Retry-After": "1", "X-Request-Id": TOKEN}),
        respond(200, [{"id": 1}]),
        echo_authorization(401),
        echo_authorization(503),
    )
    async with serve(script) as url, client_for(url, sleeps) as client:
        await client.trust_groups.list(1)
        with pytest.raises(AuthenticationError):
            await client.candidates.create(first_name="Ada")
        with pytest.raises(InternalServerError):
            await client.trust_groups.list(1)
        # The server holds this one until it stops, so the short read timeout always fires.
        slow = client.with_options(timeout=Timeout(read=0.05), max_retries=0)
        script.reply(stall(script.gate))
        with pytest.raises(APITimeoutError):
            await slow.trust_groups.list(1)
    with refusing_port() as port:
        async with client_for(f"http://127.0.0.1:{port}", sleeps) as refused:
            with pytest.raises(APIConnectionError):
                await refused.trust_groups.list(1)

    # The server did get the token, so the redaction is not for lack of one.
    assert script.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert len(ours(logs, logging.WARNING)) >= 2
    assert_no_token(logs)
    shown = [r.getMessage() for r in ours(logs, logging.DEBUG) if ATTEMPT.search(r.getMessage())]
    assert shown
    assert all("Bearer ***" in message for message in shown)


@pytest.mark.parametrize("status", [401, 403, 503])
async def test_an_error_body_echoing_the_token_is_masked(
    logs: pytest.LogCaptureFixture, script: Script, sleeps: RecordingSleep, status: int
) -> None:
    script.reply(echo_authorization(status))
    async with serve(script) as url, client_for(url, sleeps, max_retries=1) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.trust_groups.list(1)
    assert caught.value.status == status
    message = str(caught.value)
    assert TOKEN not in message
    assert "invalid credentials: Bearer ***" in message
    assert_no_token(logs)


def _padded_echo(status: int, pad: int) -> Reply:
    async def reply(request: web.Request) -> web.StreamResponse:
        text = "x" * pad + request.headers["Authorization"]
        return web.Response(status=status, text=text)

    return reply


async def test_a_token_cut_by_the_message_clip_is_still_masked(
    logs: pytest.LogCaptureFixture, script: Script, sleeps: RecordingSleep
) -> None:
    # The summary keeps 299 characters: 273 of padding, "Bearer " and 19 of the token's 26.
    script.reply(_padded_echo(401, 273))
    async with serve(script) as url, client_for(url, sleeps) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.trust_groups.list(1)
    assert TOKEN[:12] not in str(caught.value)


async def test_hook_events_carry_redacted_headers(script: Script, sleeps: RecordingSleep) -> None:
    requests: list[RequestEvent] = []
    responses: list[ResponseEvent] = []
    retries: list[RetryEvent] = []
    script.reply(respond(503), respond(200, []))
    async with (
        serve(script) as url,
        client_for(
            url,
            sleeps,
            headers={"X-Trace": "abc"},
            on_request=requests.append,
            on_response=responses.append,
            on_retry=retries.append,
        ) as client,
    ):
        await client.trust_groups.list(1)

    assert [seen.headers["Authorization"] for seen in script.requests] == [f"Bearer {TOKEN}"] * 2
    assert len(requests) == 2
    for event in [*requests, *(e.request for e in responses), *(e.request for e in retries)]:
        assert event.headers["Authorization"] == "Bearer ***"
        assert event.headers["X-Trace"] == "abc"
        assert TOKEN not in str(dict(event.headers))
        assert TOKEN not in repr(event)
    assert len(responses) == 2
    assert len(retries) == 1
    assert TOKEN not in repr(retries[0])


async def test_a_view_adds_hooks_after_the_clients_own(
    script: Script, sleeps: RecordingSleep
) -> None:
    seen: list[str] = []
    script.reply(respond(503), respond(200, []), respond(200, []))

    async def view_retry(event: RetryEvent) -> None:
        assert isinstance(event.error, APIStatusError)
        seen.append(f"view retry {event.error.status}")

    async with (
        serve(script) as url,
        client_for(
            url,
            sleeps,
            on_request=lambda e: seen.append(f"client request {e.attempt}"),
            on_retry=lambda e: seen.append("client retry"),
        ) as client,
    ):
        view = client.with_options(
            on_request=lambda e: seen.append(f"view request {e.attempt}"),
            on_response=lambda e: seen.append(f"view response {e.response.status}"),
            on_retry=view_retry,
        )
        await view.trust_groups.list(1)
        await client.trust_groups.list(1)  # the client itself is unchanged
        with pytest.raises(TypeError, match="hook must be callable"):
            client.with_options(on_retry="print")  # type: ignore[arg-type]

    assert seen == [
        "client request 1",
        "view request 1",
        "view response 503",
        "client retry",
        "view retry 503",
        "client request 2",
        "view request 2",
        "view response 200",
        "client request 1",
    ]


def test_the_suite_wide_guard_catches_a_leaked_credential() -> None:
    from tests.conftest import _GUARD

    logger = logging.getLogger("tahdah_async.guard-check")
    logger.debug("sending with Authorization: Bearer %s", TOKEN)
    logger.debug("headers=%s", {"Authorization": "Bearer ***"})
    caught, _GUARD.leaks[:] = list(_GUARD.leaks), []  # handled here, not by the teardown
    assert len(caught) == 1
    assert "guard-check" in caught[0]
