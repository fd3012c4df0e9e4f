"""The transport seam: ``TahdahClient(transport=...)`` and ``tahdah_async.testing.MockTransport``.

Everything here runs without a socket: the handler is the server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tahdah_async import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    NotFoundError,
    RequestEvent,
    ResponseDecodeError,
    ResponseEvent,
    ResponseTooLargeError,
    RetryEvent,
    RetryPolicy,
    TahdahClient,
    TrustGroup,
)
from tahdah_async.testing import MockRequest, MockResponse, MockTransport
from tests.conftest import TOKEN, RecordingSleep

BASE_URL = "https://api.tahdah.test"
GROUPS_PATH = "/api/trustgroups/legalentities/1001/trustgroups"
GROUPS = [
    {"id": 3101, "name": "Northfield Partners", "monthlyPrice": 12.5, "accessRights": [1, 4]},
    {"id": "3102", "name": "Free Associates", "accessRights": []},
]

Handler = Callable[[MockRequest], MockResponse | Awaitable[MockResponse]]


def mock_client(handler: Handler, sleeps: RecordingSleep, **options: Any) -> TahdahClient:
    """A client over ``MockTransport(handler)`` whose retries do not wait."""
    return TahdahClient(
        TOKEN,
        base_url=BASE_URL,
        transport=MockTransport(handler),
        retry=RetryPolicy(sleep=sleeps, random=lambda: 0.0),
        **options,
    )


class Recorder:
    """A handler that records each request and answers from a list, one answer per call."""

    def __init__(self, *answers: MockResponse | BaseException) -> None:
        self.answers = list(answers)
        self.requests: list[MockRequest] = []

    def __call__(self, request: MockRequest) -> MockResponse:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


# -- sync and async handlers, decoding ---------------------------------------------------------


async def test_a_sync_handler_answers_a_call_decoded_into_models(sleeps: RecordingSleep) -> None:
    handler = Recorder(MockResponse(200, json=GROUPS))
    async with mock_client(handler, sleeps) as client:
        groups = await client.trust_groups.list(1001)
    assert groups == [
        TrustGroup(id=3101, name="Northfield Partners", monthly_price=12.5, access_rights=(1, 4)),
        TrustGroup(id="3102", name="Free Associates", access_rights=()),
    ]
    (request,) = handler.requests
    assert request.method == "GET"
    assert request.url == URL(BASE_URL + GROUPS_PATH)
    assert request.path == GROUPS_PATH
    assert request.body == b""
    assert request.json() is None


async def test_an_async_handler_answers_a_call(sleeps: RecordingSleep) -> None:
    seen: list[str] = []

    async def handler(request: MockRequest) -> MockResponse:
        seen.append(f"{request.method} {request.path}")
        return MockResponse(200, json=GROUPS[:1])

    async with mock_client(handler, sleeps) as client:
        groups = await client.trust_groups.list(1001)
    assert [group.name for group in groups] == ["Northfield Partners"]
    assert seen == [f"GET {GROUPS_PATH}"]


async def test_request_returns_the_decoded_json_with_the_query_as_sent(
    sleeps: RecordingSleep,
) -> None:
    handler = Recorder(MockResponse(200, json={"ok": True}))
    async with mock_client(handler, sleeps) as client:
        assert await client.request("GET", "/api/anything", params={"page": 2}) == {"ok": True}
    (request,) = handler.requests
    assert request.path == "/api/anything"
    assert dict(request.query) == {"page": "2"}


async def test_a_body_that_is_not_json_is_a_decode_error_as_over_the_network(
    sleeps: RecordingSleep,
) -> None:
    handler = Recorder(MockResponse(200, body="<html>maintenance</html>"))
    async with mock_client(handler, sleeps) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.trust_groups.list(1001)
    assert caught.value.response.status == 200
    assert caught.value.response.headers["Content-Type"] == "text/plain; charset=utf-8"


# -- what the handler sees ---------------------------------------------------------------------


async def test_the_request_body_and_headers_are_as_sent(sleeps: RecordingSleep) -> None:
    handler = Recorder(MockResponse(201, json={"id": 42, "firstName": "Ada"}))
    async with mock_client(
        handler, sleeps, headers={"X-Trace": "t-1"}, user_agent="tests/1.0"
    ) as client:
        created = await client.candidates.create(first_name="Ada", last_name="Lovelace")
    assert created.id == 42
    (request,) = handler.requests
    assert request.method == "POST"
    assert request.path == "/api/candidates"
    assert request.json() == {"firstName": "Ada", "lastName": "Lovelace"}
    assert request.body == b'{"firstName":"Ada","lastName":"Lovelace"}'
    assert request.headers["content-type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == "tests/1.0"
    assert request.headers["X-Trace"] == "t-1"


async def test_the_token_is_in_the_authorization_header_but_not_in_the_repr(
    sleeps: RecordingSleep,
) -> None:
    handler = Recorder(MockResponse(200, json=[]))
    async with mock_client(handler, sleeps) as client:
        await client.trust_groups.list(1001)
        assert TOKEN not in repr(client)
    (request,) = handler.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(request)
    assert TOKEN not in str(request)
    assert repr(request).startswith("MockRequest(method='GET', url=URL(")


# -- retries and errors ------------------------------------------------------------------------


async def test_a_503_is_retried_and_the_200_after_it_returned(sleeps: RecordingSleep) -> None:
    handler = Recorder(
        MockResponse(503, json={"message": "down"}, headers={"Retry-After": "2"}),
        MockResponse(200, json=GROUPS),
    )
    async with mock_client(handler, sleeps) as client:
        raw = await client.with_raw_response(client.trust_groups.list, 1001)
    assert raw.attempts == 2
    assert raw.status == 200
    assert [group.name for group in raw.data] == ["Northfield Partners", "Free Associates"]
    assert sleeps.delays == [2.0]
    assert [r.method for r in handler.requests] == ["GET", "GET"]


async def test_a_status_error_carries_the_decoded_problem(sleeps: RecordingSleep) -> None:
    problem = {"title": "Not Found", "detail": "no legal entity 1001", "traceId": "trace-7"}
    handler = Recorder(
        MockResponse(404, json=problem, headers={"Content-Type": "application/problem+json"})
    )
    async with mock_client(handler, sleeps) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.trust_groups.list(1001)
    error = caught.value
    assert error.problem is not None
    assert error.problem.detail == "no legal entity 1001"
    assert error.request_id == "trace-7"
    assert str(error) == (
        f"404 Not Found for GET {GROUPS_PATH}: Not Found — no legal entity 1001 "
        "(request id trace-7)"
    )
    assert error.retry_note is None
    assert sleeps.delays == []


async def test_a_connection_error_raised_by_the_handler_is_retried(
    sleeps: RecordingSleep,
) -> None:
    # Nothing was sent, so even a POST is tried again.
    handler = Recorder(ConnectionRefusedError(111, "Connection refused"), MockResponse(201))
    async with mock_client(handler, sleeps) as client:
        await client.request("POST", "/api/things", json={"a": 1})
    assert [r.method for r in handler.requests] == ["POST", "POST"]
    assert sleeps.delays == [0.5]


async def test_a_connection_error_gives_up_with_the_host_and_port_tried(
    sleeps: RecordingSleep,
) -> None:
    handler = Recorder(*[ConnectionRefusedError(111, "Connection refused")] * 3)
    async with mock_client(handler, sleeps) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.trust_groups.list(1001)
    error = caught.value
    assert type(error) is APIConnectionError
    assert error.request_sent is False
    assert (error.method, error.path) == ("GET", GROUPS_PATH)
    assert str(error) == (
        f"could not connect for GET {GROUPS_PATH} to api.tahdah.test:443: "
        "[Errno 111] Connection refused. Gave up after 3 attempts"
    )
    assert error.retry_note == "Gave up after 3 attempts"
    assert getattr(error, "__notes__", []) == []
    assert sleeps.delays == [0.5, 1.0]


async def test_a_connection_dropped_after_sending_a_post_is_not_retried(
    sleeps: RecordingSleep,
) -> None:
    handler = Recorder(ConnectionResetError(104, "Connection reset by peer"))
    async with mock_client(handler, sleeps) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.request("POST", "/api/things", json={"a": 1})
    assert caught.value.request_sent is True
    assert str(caught.value).startswith("connection failed during POST /api/things: ")
    assert caught.value.retry_note is None
    assert len(handler.requests) == 1


async def test_a_timeout_raised_by_the_handler_is_a_read_timeout(sleeps: RecordingSleep) -> None:
    handler = Recorder(TimeoutError(), TimeoutError())
    async with mock_client(handler, sleeps, max_retries=1) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.trust_groups.list(1001)
    assert caught.value.request_sent is True
    assert str(caught.value) == (
        f"timed out waiting for the response to GET {GROUPS_PATH}. Gave up after 2 attempts"
    )
    assert len(handler.requests) == 2


async def test_an_api_connection_error_from_the_handler_is_raised_as_it_is(
    sleeps: RecordingSleep,
) -> None:
    given = APIConnectionError("proxy said no", method="GET", path=GROUPS_PATH, request_sent=True)
    handler = Recorder(given)
    async with mock_client(handler, sleeps, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.trust_groups.list(1001)
    assert caught.value is given
    assert str(caught.value) == "proxy said no"


async def test_a_bug_in_the_handler_propagates_unchanged(sleeps: RecordingSleep) -> None:
    def handler(request: MockRequest) -> MockResponse:
        raise KeyError("fixture missing")

    async with mock_client(handler, sleeps) as client:
        with pytest.raises(KeyError, match="fixture missing"):
            await client.trust_groups.list(1001)
    assert sleeps.delays == []


async def test_both_kinds_of_error_say_why_they_were_not_retried_the_same_way(
    sleeps: RecordingSleep,
) -> None:
    handler = Recorder(
        MockResponse(503, json={"message": "down"}),
        MockResponse(503, json={"message": "still down"}),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionRefusedError(111, "Connection refused"),
    )
    errors: list[Exception] = []
    async with mock_client(handler, sleeps, max_retries=1) as client:
        for _ in range(2):
            with pytest.raises((InternalServerError, APIConnectionError)) as caught:
                await client.trust_groups.list(1001)
            errors.append(caught.value)
    status, connection = errors
    assert isinstance(status, InternalServerError)
    assert isinstance(connection, APIConnectionError)
    for error in (status, connection):
        assert error.retry_note == "Gave up after 2 attempts"
        assert str(error).endswith(". Gave up after 2 attempts")
        assert getattr(error, "__notes__", []) == []
    assert str(status) == f"503 Service Unavailable for GET {GROUPS_PATH}: still down" + (
        ". Gave up after 2 attempts"
    )


async def test_a_body_over_max_response_size_is_refused_and_not_retried(
    sleeps: RecordingSleep,
) -> None:
    handler = Recorder(MockResponse(200, body=b"x" * 101))
    async with mock_client(handler, sleeps, max_response_size=100) as client:
        with pytest.raises(ResponseTooLargeError) as caught:
            await client.trust_groups.list(1001)
    assert caught.value.limit == 100
    assert caught.value.content_length == 101
    assert len(handler.requests) == 1


async def test_a_handler_returning_something_else_is_a_type_error(
    sleeps: RecordingSleep,
) -> None:
    def handler(request: MockRequest) -> Any:
        return {"status": 200}

    async with mock_client(handler, sleeps) as client:
        with pytest.raises(TypeError, match="must return a MockResponse, got dict"):
            await client.trust_groups.list(1001)


# -- hooks -------------------------------------------------------------------------------------


async def test_hooks_see_every_attempt(sleeps: RecordingSleep) -> None:
    seen: list[str] = []

    def on_request(event: RequestEvent) -> None:
        assert event.headers["Authorization"] == "Bearer ***"
        seen.append(f"request {event.operation} {event.url.path} #{event.attempt}")

    async def on_response(event: ResponseEvent) -> None:
        seen.append(f"response {event.response.status} #{event.request.attempt}")

    def on_retry(event: RetryEvent) -> None:
        seen.append(f"retry {type(event.error).__name__} after {event.delay}")

    handler = Recorder(
        ConnectionRefusedError(111, "Connection refused"),
        MockResponse(502),
        MockResponse(200, json=[]),
    )
    async with mock_client(
        handler, sleeps, on_request=on_request, on_response=on_response, on_retry=on_retry
    ) as client:
        assert await client.trust_groups.list(1001) == []
    assert seen == [
        f"request trust_groups.list {GROUPS_PATH} #1",
        "retry APIConnectionError after 0.5",
        f"request trust_groups.list {GROUPS_PATH} #2",
        "response 502 #2",
        "retry InternalServerError after 1.0",
        f"request trust_groups.list {GROUPS_PATH} #3",
        "response 200 #3",
    ]
    assert len(handler.requests) == 3


# -- construction and lifecycle ----------------------------------------------------------------


async def test_a_transport_and_a_session_together_are_refused() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TypeError, match="transport or a session, not both"):
            TahdahClient(TOKEN, transport=MockTransport(lambda r: MockResponse()), session=session)


@pytest.mark.parametrize("transport", [object(), "https://api", lambda request: None])
def test_a_transport_without_send_is_refused(transport: Any) -> None:
    with pytest.raises(TypeError, match="transport must have an async send"):
        TahdahClient(TOKEN, transport=transport)


def test_a_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="handler must be callable"):
        MockTransport("not a function")  # type: ignore[arg-type]


async def test_closing_the_client_leaves_the_transport_usable(sleeps: RecordingSleep) -> None:
    handler = Recorder(MockResponse(200, json=[]), MockResponse(200, json=[]))
    transport = MockTransport(handler)
    first = TahdahClient(TOKEN, transport=transport)
    async with first:
        await first.trust_groups.list(1)
    assert first.closed
    with pytest.raises(RuntimeError, match="closed"):
        await first.trust_groups.list(1)
    with pytest.raises(RuntimeError, match="closed"):
        await first.with_options(max_retries=0).trust_groups.list(1)
    with pytest.raises(RuntimeError, match="closed"):
        await first.__aenter__()
    async with TahdahClient(TOKEN, transport=transport) as second:
        await second.trust_groups.list(2)
    assert [r.path for r in handler.requests] == [
        "/api/trustgroups/legalentities/1/trustgroups",
        "/api/trustgroups/legalentities/2/trustgroups",
    ]


async def test_a_view_sends_through_the_same_transport(sleeps: RecordingSleep) -> None:
    handler = Recorder(MockResponse(200, json=[]))
    async with mock_client(handler, sleeps) as client:
        await client.with_options(headers={"X-View": "1"}).trust_groups.list(1)
    assert handler.requests[0].headers["X-View"] == "1"


async def test_a_path_called_again_reuses_its_url_and_the_cache_stays_bounded(
    sleeps: RecordingSleep,
) -> None:
    from tahdah_async._base_client import _URL_CACHE_SIZE

    seen: list[URL] = []

    def handler(request: MockRequest) -> MockResponse:
        seen.append(request.url)
        return MockResponse(200, json=[])

    async with mock_client(handler, sleeps) as client:
        await client.trust_groups.list(1001)
        await client.with_options(timeout=5).trust_groups.list(1001)
        assert seen[0] is seen[1]  # yarl's and aiohttp's per-URL work is done once
        owners = range(1, _URL_CACHE_SIZE + 50)
        for owner in owners:
            await client.trust_groups.list(owner)
        assert len(client._urls) == _URL_CACHE_SIZE
        await client.trust_groups.list(_URL_CACHE_SIZE + 10)  # past the bound: built, not kept
    paths = [url.path for url in seen[2:]]
    expected = [f"/api/trustgroups/legalentities/{owner}/trustgroups" for owner in owners]
    assert paths == [
        *expected,
        f"/api/trustgroups/legalentities/{_URL_CACHE_SIZE + 10}/trustgroups",
    ]


# -- MockResponse ------------------------------------------------------------------------------


def test_a_json_response_is_encoded_with_its_content_type() -> None:
    response = MockResponse(200, json={"name": "Ünïcode"})
    assert response.content == '{"name": "Ünïcode"}'.encode()
    assert response._headers()["Content-Type"] == "application/json"
    given = MockResponse(400, json={}, headers={"content-type": "application/problem+json"})
    assert given._headers()["Content-Type"] == "application/problem+json"
    assert MockResponse().content == b""


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"json": {}, "body": b"{}"}, TypeError),
        ({"json": float("nan")}, TypeError),
        ({"json": object()}, TypeError),
        ({"body": 12}, TypeError),
        ({"headers": {"X-Count": 3}}, TypeError),
        ({"status": 99}, ValueError),
        ({"status": 600}, ValueError),
        ({"status": "200"}, TypeError),
        ({"status": True}, TypeError),
    ],
)
def test_mock_response_validation(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        MockResponse(**kwargs)


def test_the_testing_package_imports_without_pytest() -> None:
    # A fresh interpreter in which importing pytest fails.
    code = (
        "import sys\n"
        "sys.modules['pytest'] = None\n"
        "from tahdah_async.testing import MockRequest, MockResponse, MockTransport\n"
        "print('pytest' in sys.modules and sys.modules['pytest'] is not None)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.splitlines() == ["False"]
