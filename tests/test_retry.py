"""Retries: the pure rules of ``_retry``, then the client's behaviour against real servers."""

from __future__ import annotations

import asyncio
import email.utils
import math
import types
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tahdah_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EventTemplateCredit,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    RetryPolicy,
    TahdahClient,
    Timeout,
    UnprocessableEntityError,
)
from tahdah_async._retry import Decision, backoff_delay, decide, parse_retry_after, retry_reason
from tests.conftest import TOKEN, RecordingSleep
from tests.servers import (
    HANG,
    RawScript,
    Script,
    client_for,
    no_wait,
    refusing_port,
    respond,
    serve,
    serve_raw,
    stall,
    stall_body,
)

METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST", "PATCH")
IDEMPOTENT = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
UNSAFE = ("POST", "PATCH")
CREDITS = [EventTemplateCredit(event_template_id=5, number_of_credits=10)]
PATIENT = Timeout(connect=HANG, read=HANG, pool=HANG)
"""Timeouts that must not fire: they only end a call that would otherwise hang."""


# -- retry_reason ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 502, 503, 504])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("repeatable", [False, True])
def test_not_handled_statuses_are_retried_for_every_method(
    status: int, method: str, repeatable: bool
) -> None:
    reason = retry_reason(method, status=status, request_sent=True, repeatable=repeatable)
    assert reason is not None
    assert str(status) in reason


@pytest.mark.parametrize("method", [*IDEMPOTENT, "get", "put", "delete"])
def test_500_is_retried_for_idempotent_methods(method: str) -> None:
    assert retry_reason(method, status=500, request_sent=True, repeatable=False) is not None


@pytest.mark.parametrize("method", UNSAFE)
def test_500_is_not_retried_for_unsafe_methods(method: str) -> None:
    assert retry_reason(method, status=500, request_sent=True, repeatable=False) is None


@pytest.mark.parametrize("method", UNSAFE)
def test_500_is_retried_for_a_repeatable_unsafe_call(method: str) -> None:
    assert retry_reason(method, status=500, request_sent=True, repeatable=True) is not None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("repeatable", [False, True])
def test_client_errors_are_never_retried(status: int, method: str, repeatable: bool) -> None:
    assert retry_reason(method, status=status, request_sent=True, repeatable=repeatable) is None


@pytest.mark.parametrize("method", METHODS)
def test_connection_failure_before_sending_is_retried_for_every_method(method: str) -> None:
    reason = retry_reason(method, status=None, request_sent=False, repeatable=False)
    assert reason is not None
    assert "before" in reason


@pytest.mark.parametrize("method", IDEMPOTENT)
def test_connection_failure_after_sending_is_retried_for_idempotent_methods(method: str) -> None:
    assert retry_reason(method, status=None, request_sent=True, repeatable=False) is not None


@pytest.mark.parametrize("method", UNSAFE)
def test_connection_failure_after_sending_is_not_retried_for_unsafe_methods(method: str) -> None:
    assert retry_reason(method, status=None, request_sent=True, repeatable=False) is None
    assert retry_reason(method, status=None, request_sent=True, repeatable=True) is not None


# -- parse_retry_after -------------------------------------------------------------------------

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), ("0", 0.0), ("  12 ", 12.0), ("1.5", 1.5), ("120", 120.0)],
)
def test_retry_after_in_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_absent() -> None:
    assert parse_retry_after(None, NOW) is None


@pytest.mark.parametrize(
    "value",
    [
        email.utils.formatdate(NOW + 7, usegmt=True),  # IMF-fixdate: Tue, 14 Nov 2023 22:13:27 GMT
        "Tuesday, 14-Nov-23 22:13:27 GMT",  # the obsolete RFC 850 form
    ],
)
def test_retry_after_as_an_http_date_counts_from_now(value: str) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(7.0)
    assert parse_retry_after(value, NOW + 2) == pytest.approx(5.0)


def test_retry_after_as_an_asctime_http_date() -> None:
    assert parse_retry_after("Tue Nov 14 22:13:27 2023", NOW) == pytest.approx(7.0)


def test_retry_after_date_in_the_past_is_no_wait() -> None:
    assert parse_retry_after(email.utils.formatdate(NOW - 30, usegmt=True), NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    ["", "soon", "3 seconds", "Tue, 99 Nov 2023 99:99:99 GMT", "nan", "NaN", "inf", "1e999"],
)
def test_unusable_retry_after(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize("value", ["-5", "-0.5"])
def test_negative_retry_after_never_gives_a_negative_wait(value: str) -> None:
    assert parse_retry_after(value, NOW) == 0.0


# -- backoff_delay and RetryPolicy -------------------------------------------------------------


def test_backoff_doubles_up_to_max_delay() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, random=lambda: 0.0)
    assert [backoff_delay(n, policy) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_respects_another_shape() -> None:
    policy = RetryPolicy(initial_delay=0.1, max_delay=0.25, random=lambda: 0.0)
    assert [backoff_delay(n, policy) for n in range(3)] == pytest.approx([0.1, 0.2, 0.25])


def test_backoff_stays_capped_for_a_huge_retry_number() -> None:
    policy = RetryPolicy(random=lambda: 0.0)
    assert backoff_delay(5000, policy) == policy.max_delay


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999, 1.0])
@pytest.mark.parametrize("jitter", [0.0, 0.25, 1.0])
def test_jitter_removes_at_most_its_fraction(draw: float, jitter: float) -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0, jitter=jitter, random=lambda: draw)
    for retry, base in enumerate([1.0, 2.0, 4.0, 8.0, 8.0]):
        delay = backoff_delay(retry, policy)
        assert base * (1 - jitter) <= delay <= base
        assert delay == pytest.approx(base * (1 - jitter * draw))


def test_jitter_uses_the_injected_random_source() -> None:
    draws = iter([0.0, 1.0, 0.5])
    policy = RetryPolicy(initial_delay=2.0, jitter=0.5, random=lambda: next(draws))
    assert [backoff_delay(0, policy) for _ in range(3)] == [2.0, 1.0, 1.5]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": -0.1},
        {"max_delay": -1.0},
        {"max_retry_after": -1.0},
        {"jitter": -0.01},
        {"jitter": 1.01},
        {"jitter": math.nan},
    ],
)
def test_retry_policy_rejects_bad_values(kwargs: dict[str, Any]) -> None:
    (field,) = kwargs
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize("field", ["initial_delay", "max_delay", "max_retry_after"])
def test_retry_policy_rejects_nan_delays(field: str) -> None:
    kwargs: dict[str, Any] = {field: math.nan}
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kwargs)


def test_retry_policy_accepts_edge_values() -> None:
    policy = RetryPolicy(initial_delay=0, max_delay=0, jitter=1, max_retry_after=0)
    assert backoff_delay(3, policy) == 0.0


# -- decide ------------------------------------------------------------------------------------

POLICY = RetryPolicy(random=lambda: 0.0, max_retry_after=60)


def _decide(**kwargs: Any) -> Decision:
    args: dict[str, Any] = {
        "status": 503,
        "request_sent": True,
        "repeatable": False,
        "retry_after": None,
        "attempt": 1,
        "max_retries": 2,
        "policy": POLICY,
    }
    return decide(kwargs.pop("method", "GET"), **{**args, **kwargs})


def test_decide_backs_off_while_retries_remain() -> None:
    assert [_decide(attempt=n).delay for n in (1, 2)] == [0.5, 1.0]
    decision = _decide(attempt=1)
    assert decision.retry
    assert "503" in decision.reason


def test_decide_obeys_retry_after_up_to_the_cap() -> None:
    assert _decide(retry_after=60.0) == Decision(retry=True, delay=60.0, reason=_decide().reason)
    over = _decide(retry_after=61.0)
    assert not over.retry
    assert "Retry-After" in over.note


def test_decide_gives_up_after_the_last_retry() -> None:
    decision = _decide(attempt=3, max_retries=2)
    assert not decision.retry
    assert "3" in decision.note


def test_decide_never_retries_what_must_not_be() -> None:
    assert _decide(status=404) == Decision(retry=False)
    assert _decide(method="POST", status=500) == Decision(retry=False)
    assert _decide(method="POST", status=None, request_sent=True) == Decision(retry=False)
    assert _decide(method="POST", status=None, request_sent=False).retry


def test_decide_with_no_retries_has_nothing_to_say() -> None:
    assert _decide(max_retries=0) == Decision(retry=False)


# -- the client against a real server ----------------------------------------------------------


async def test_503_then_200_succeeds_after_one_backoff(sleeps: RecordingSleep) -> None:
    script = Script(respond(503), respond(200, [{"id": 7, "name": "Partners"}]))
    async with serve(script) as url, client_for(url, sleeps) as client:
        result = await client.with_raw_response(client.trust_groups.list, 1)
    assert [group.name for group in result.data] == ["Partners"]
    assert result.attempts == 2
    assert script.count == 2
    assert sleeps.delays == [0.5]


async def test_the_backoff_doubles_between_attempts(sleeps: RecordingSleep) -> None:
    script = Script(respond(503), respond(502), respond(504), respond(200, []))
    async with serve(script) as url, client_for(url, sleeps, max_retries=3) as client:
        assert await client.trust_groups.list(1) == []
    assert sleeps.delays == [0.5, 1.0, 2.0]


async def test_retry_after_seconds_is_slept_exactly(sleeps: RecordingSleep) -> None:
    script = Script(respond(429, headers={"Retry-After": "3"}), respond(200, []))
    async with serve(script) as url, client_for(url, sleeps) as client:
        assert await client.trust_groups.list(1) == []
    assert sleeps.delays == [3.0]
    assert script.count == 2


async def test_retry_after_http_date_uses_the_injected_clock(sleeps: RecordingSleep) -> None:
    date = email.utils.formatdate(NOW + 7, usegmt=True)
    script = Script(respond(503, headers={"Retry-After": date}), respond(200, []))
    retry = no_wait(sleeps, clock=lambda: NOW)
    async with serve(script) as url, client_for(url, sleeps, retry=retry) as client:
        assert await client.trust_groups.list(1) == []
    assert sleeps.delays == [pytest.approx(7.0)]


async def test_retry_after_over_the_cap_raises_at_once(sleeps: RecordingSleep) -> None:
    script = Script(respond(429, {"message": "slow down"}, headers={"Retry-After": "120"}))
    retry = no_wait(sleeps, max_retry_after=60)
    async with serve(script) as url, client_for(url, sleeps, retry=retry) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.trust_groups.list(1)
    assert caught.value.retry_after == 120.0
    assert caught.value.status == 429
    assert "Retry-After" in str(caught.value)
    assert sleeps.delays == []
    assert script.count == 1


async def test_retry_after_at_the_cap_is_obeyed(sleeps: RecordingSleep) -> None:
    script = Script(respond(429, headers={"Retry-After": "60"}), respond(200, []))
    retry = no_wait(sleeps, max_retry_after=60)
    async with serve(script) as url, client_for(url, sleeps, retry=retry) as client:
        assert await client.trust_groups.list(1) == []
    assert sleeps.delays == [60.0]


@pytest.mark.parametrize(
    ("statuses", "cls"),
    [
        ([503, 502, 504], InternalServerError),
        ([429, 429, 429], RateLimitError),
        ([502, 503, 408], APIStatusError),
    ],
)
async def test_exhausting_the_retries_raises_the_last_error(
    sleeps: RecordingSleep, statuses: list[int], cls: type[APIStatusError]
) -> None:
    script = Script(
        *(respond(status, {"message": f"try {n}"}) for n, status in enumerate(statuses))
    )
    async with serve(script) as url, client_for(url, sleeps, max_retries=2) as client:
        with pytest.raises(cls) as caught:
            await client.trust_groups.list(1)
    assert type(caught.value) is cls
    assert caught.value.status == statuses[-1]
    assert caught.value.body == {"message": "try 2"}
    assert "try 2" in str(caught.value)
    assert "Gave up after 3 attempts" in str(caught.value)
    assert script.count == 3
    assert sleeps.delays == [0.5, 1.0]


async def test_max_retries_zero_never_retries(sleeps: RecordingSleep) -> None:
    script = Script(respond(503), respond(200, []))
    async with serve(script) as url, client_for(url, sleeps, max_retries=0) as client:
        with pytest.raises(InternalServerError):
            await client.trust_groups.list(1)
    assert script.count == 1
    assert sleeps.delays == []


async def test_with_options_max_retries_zero_never_retries(sleeps: RecordingSleep) -> None:
    script = Script(respond(503), respond(200, []))
    async with serve(script) as url, client_for(url, sleeps) as client:
        with pytest.raises(InternalServerError):
            await client.with_options(max_retries=0).trust_groups.list(1)
        assert script.count == 1
        assert await client.trust_groups.list(1) == []
    assert script.count == 2


async def test_a_post_getting_500_is_not_retried(sleeps: RecordingSleep) -> None:
    script = Script(respond(500, {"message": "boom"}), respond(200, {"id": 9}))
    async with serve(script) as url, client_for(url, sleeps) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.candidates.create(first_name="Ada")
    assert caught.value.status == 500
    assert [seen.method for seen in script.requests] == ["POST"]
    assert sleeps.delays == []


async def test_a_get_getting_500_is_retried(sleeps: RecordingSleep) -> None:
    script = Script(respond(500), respond(200, []))
    async with serve(script) as url, client_for(url, sleeps) as client:
        assert await client.trust_groups.list(1) == []
    assert script.count == 2


@pytest.mark.parametrize(
    "routes",
    [None, {"event_credits.add": "POST /api/eventcredits/legalentities/{legalEntityId}"}],
    ids=["PUT", "POST-override"],
)
async def test_adding_credits_is_retried_after_500_with_the_same_key(
    sleeps: RecordingSleep, routes: dict[str, str] | None
) -> None:
    script = Script(respond(500), respond(200))
    async with serve(script) as url, client_for(url, sleeps, routes=routes) as client:
        key = await client.event_credits.add(1, CREDITS)
    expected = "PUT" if routes is None else "POST"
    assert [seen.method for seen in script.requests] == [expected, expected]
    assert [seen.json()["idempotencyKey"] for seen in script.requests] == [key, key]
    assert sleeps.delays == [0.5]


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
    ],
)
async def test_client_errors_are_raised_at_once(
    sleeps: RecordingSleep, status: int, cls: type[APIStatusError]
) -> None:
    script = Script(respond(status, {"title": "no"}), respond(200, []))
    async with serve(script) as url, client_for(url, sleeps) as client:
        with pytest.raises(cls):
            await client.trust_groups.list(1)
    assert script.count == 1
    assert sleeps.delays == []


# -- hooks -------------------------------------------------------------------------------------

Log = list[tuple[Any, ...]]


def plain_hooks(log: Log) -> dict[str, Callable[[Any], None]]:
    def on_request(event: RequestEvent) -> None:
        log.append(("request", event))

    def on_response(event: ResponseEvent) -> None:
        log.append(("response", event))

    def on_retry(event: RetryEvent) -> None:
        log.append(("retry", event))

    return {"on_request": on_request, "on_response": on_response, "on_retry": on_retry}


def async_hooks(log: Log) -> dict[str, Callable[[Any], Awaitable[None]]]:
    async def on_request(event: RequestEvent) -> None:
        await asyncio.sleep(0)
        log.append(("request", event))

    async def on_response(event: ResponseEvent) -> None:
        await asyncio.sleep(0)
        log.append(("response", event))

    async def on_retry(event: RetryEvent) -> None:
        await asyncio.sleep(0)
        log.append(("retry", event))

    return {"on_request": on_request, "on_response": on_response, "on_retry": on_retry}


@pytest.mark.parametrize("make_hooks", [plain_hooks, async_hooks], ids=["plain", "async"])
async def test_hooks_see_every_attempt(
    sleeps: RecordingSleep, make_hooks: Callable[[Log], dict[str, Any]]
) -> None:
    log: Log = []
    script = Script(respond(503), respond(429, headers={"Retry-After": "2"}), respond(200, []))
    async with serve(script) as url, client_for(url, sleeps, **make_hooks(log)) as client:
        await client.trust_groups.list(42)

    assert [kind for kind, _ in log] == [
        "request",
        "response",
        "retry",
        "request",
        "response",
        "retry",
        "request",
        "response",
    ]
    requests = [event for kind, event in log if kind == "request"]
    assert [event.attempt for event in requests] == [1, 2, 3]
    for event in requests:
        assert isinstance(event, RequestEvent)
        assert event.operation == "trust_groups.list"
        assert event.method == "GET"
        assert event.url.path == "/api/trustgroups/legalentities/42/trustgroups"

    responses = [event for kind, event in log if kind == "response"]
    assert [event.response.status for event in responses] == [503, 429, 200]
    assert [event.request.attempt for event in responses] == [1, 2, 3]

    retries = [event for kind, event in log if kind == "retry"]
    assert [event.request.attempt for event in retries] == [1, 2]
    assert [event.delay for event in retries] == [0.5, 2.0]
    assert [type(event.error) for event in retries] == [InternalServerError, RateLimitError]
    assert "503" in retries[0].reason
    assert "429" in retries[1].reason
    assert sleeps.delays == [0.5, 2.0]


async def test_hooks_see_connection_errors(sleeps: RecordingSleep) -> None:
    log: Log = []
    hooks = plain_hooks(log)
    with refusing_port() as port:
        async with client_for(f"http://127.0.0.1:{port}", sleeps, max_retries=1, **hooks) as client:
            with pytest.raises(APIConnectionError):
                await client.trust_groups.list(1)
    assert [kind for kind, _ in log] == ["request", "retry", "request"]
    retry = log[1][1]
    assert isinstance(retry.error, APIConnectionError)
    assert retry.error.request_sent is False


# -- connection errors -------------------------------------------------------------------------


def list_groups(client: TahdahClient) -> Awaitable[Any]:
    return client.trust_groups.list(1)


def create_candidate(client: TahdahClient) -> Awaitable[Any]:
    return client.candidates.create(first_name="Ada")


@pytest.mark.parametrize(
    ("method", "call"), [("GET", list_groups), ("POST", create_candidate)], ids=["GET", "POST"]
)
async def test_a_refused_connection_is_retried_then_raised(
    sleeps: RecordingSleep, method: str, call: Callable[[TahdahClient], Awaitable[Any]]
) -> None:
    with refusing_port() as port:
        async with client_for(f"http://127.0.0.1:{port}", sleeps, max_retries=2) as client:
            with pytest.raises(APIConnectionError) as caught:
                await call(client)
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.request_sent is False
    assert caught.value.method == method
    assert sleeps.delays == [0.5, 1.0]


async def test_a_get_whose_body_is_cut_short_is_retried(sleeps: RecordingSleep) -> None:
    raw = RawScript(truncate=1)
    async with serve_raw(raw) as url, client_for(url, sleeps) as client:
        assert await client.trust_groups.list(1) == []
    assert len(raw.requests) == 2
    assert all(line.startswith("GET ") for line in raw.requests)
    assert sleeps.delays == [0.5]


async def test_a_get_whose_body_is_always_cut_short_gives_up(sleeps: RecordingSleep) -> None:
    raw = RawScript(truncate=10)
    async with serve_raw(raw) as url, client_for(url, sleeps, max_retries=1) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.trust_groups.list(1)
    assert caught.value.request_sent is True
    assert len(raw.requests) == 2


async def test_a_post_whose_body_is_cut_short_is_not_retried(sleeps: RecordingSleep) -> None:
    raw = RawScript(truncate=1)
    async with serve_raw(raw) as url, client_for(url, sleeps) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.candidates.create(first_name="Ada")
    assert caught.value.request_sent is True
    assert caught.value.method == "POST"
    assert [line.split()[0] for line in raw.requests] == ["POST"]
    assert sleeps.delays == []


# -- cancellation ------------------------------------------------------------------------------


async def test_cancelling_a_slow_call_propagates_and_frees_the_connection(
    sleeps: RecordingSleep,
) -> None:
    script = Script()
    script.reply(stall(script.gate), respond(200, [{"id": 1}]))
    async with (
        serve(script) as url,
        # One pooled connection: a leaked one would keep the next call waiting for the pool
        # until the pool timeout (generous, it only fires on such a leak) fails the test.
        client_for(url, sleeps, connection_limit=1, timeout=PATIENT) as client,
    ):
        task = asyncio.create_task(client.trust_groups.list(1))
        await script.arrived(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert script.count == 1
        assert sleeps.delays == []

        groups = await client.trust_groups.list(1)
        assert [group.id for group in groups] == [1]
        assert await client.trust_groups.list(1) == [groups[0]]
    assert script.count == 3


async def test_cancelling_while_the_body_arrives_frees_the_connection(
    sleeps: RecordingSleep,
) -> None:
    headers_in = asyncio.Event()

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        headers_in.set()

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    script = Script()
    script.reply(stall_body(script.gate), respond(200, []))
    async with (
        serve(script) as url,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1), trace_configs=[trace]
        ) as session,
        client_for(url, sleeps, session=session, timeout=PATIENT) as client,
    ):
        task = asyncio.create_task(client.trust_groups.list(1))
        async with asyncio.timeout(HANG):
            await headers_in.wait()  # the response headers are in: the body is being read
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert script.count == 1
        assert await client.trust_groups.list(1) == []
    assert script.count == 2
    assert sleeps.delays == []


async def test_cancelling_during_the_backoff_sends_nothing_more() -> None:
    entered = asyncio.Event()
    never = asyncio.Event()
    ends: list[str] = []

    async def sleep(delay: float) -> None:
        entered.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            ends.append("cancelled")
            raise
        ends.append("returned")

    script = Script(respond(503), respond(200, []))
    async with (
        serve(script) as url,
        TahdahClient(TOKEN, base_url=url, retry=no_wait(sleep)) as client,
    ):
        task = asyncio.create_task(client.trust_groups.list(1))
        async with asyncio.timeout(HANG):
            await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The retry can only follow the backoff, and the backoff itself was cancelled with the
        # call (not left waiting in the background): no retry can ever be sent.
        assert ends == ["cancelled"]
        assert script.count == 1
        # Releasing the backoff now wakes nothing: a wrongly surviving one would retry here.
        never.set()
        assert await client.trust_groups.list(2) == []
    assert ends == ["cancelled"]
    assert [seen.path for seen in script.requests] == [
        "/api/trustgroups/legalentities/1/trustgroups",
        "/api/trustgroups/legalentities/2/trustgroups",
    ]


@pytest.mark.parametrize("status", [409, 422])
def test_decide_says_a_refused_reused_key_may_follow_an_earlier_success(status: int) -> None:
    kwargs: dict[str, Any] = {"status": status, "request_sent": True, "retry_after": None}
    retried = decide("PUT", repeatable=True, attempt=2, max_retries=2, policy=POLICY, **kwargs)
    first = decide("PUT", repeatable=True, attempt=1, max_retries=2, policy=POLICY, **kwargs)
    assert not retried.retry
    assert "earlier attempt may have succeeded" in retried.note
    assert first.note == ""
