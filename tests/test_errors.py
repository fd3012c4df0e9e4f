"""Mapping responses to errors: classes, bodies, messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import tahdah_async
from tahdah_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Response,
    ResponseDecodeError,
    TahdahError,
    UnprocessableEntityError,
)
from tahdah_async.errors import status_error


def response(
    status: int,
    body: bytes | str | dict[str, Any] = b"",
    *,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    reason: str = "Reason",
) -> Response:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    head = CIMultiDict({"Content-Type": content_type, **(headers or {})})
    return Response(
        method="POST",
        url=URL("https://api.tahdah.test/api/candidates/12?x=1"),
        status=status,
        reason=reason,
        headers=CIMultiDictProxy(head),
        content=body,
        elapsed=0.01,
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_each_status_has_its_class(status: int, cls: type[APIStatusError]) -> None:
    error = status_error(response(status))
    assert type(error) is cls
    assert isinstance(error, TahdahError)
    assert error.status == status
    assert (error.method, error.path) == ("POST", "/api/candidates/12")


def test_the_tree_is_as_drawn() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, TahdahError)
    assert issubclass(ResponseDecodeError, TahdahError)
    for name in tahdah_async.errors.__all__:
        obj = getattr(tahdah_async.errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, TahdahError)
            assert getattr(tahdah_async, name) is obj


def test_problem_details_are_parsed_into_the_message() -> None:
    error = status_error(
        response(
            400,
            {
                "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
                "title": "One or more validation errors occurred.",
                "status": 400,
                "errors": {"FirstName": ["The FirstName field is required."]},
                "traceId": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
            },
            content_type="application/problem+json; charset=utf-8",
            reason="Bad Request",
        )
    )
    assert error.problem is not None
    assert error.problem.title == "One or more validation errors occurred."
    assert error.request_id == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    assert str(error) == (
        "400 Bad Request for POST /api/candidates/12: One or more validation errors occurred."
        " — FirstName: The FirstName field is required."
        " (request id 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00)"
    )


def test_html_from_a_proxy_gives_its_title() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
    error = status_error(response(502, page, content_type="text/html", reason="Bad Gateway"))
    assert isinstance(error, InternalServerError)
    assert error.problem is None
    assert error.body == page
    assert str(error) == "502 Bad Gateway for POST /api/candidates/12: 502 Bad Gateway"


def test_plain_text_bodies_are_kept_and_clipped() -> None:
    error = status_error(response(503, "x" * 5000, content_type="text/plain"))
    assert error.body == "x" * 5000
    assert len(str(error)) < 400
    assert str(error).endswith("…")


def test_json_that_is_not_problem_details() -> None:
    error = status_error(response(409, {"message": "Already a member"}))
    assert error.problem is None
    assert error.body == {"message": "Already a member"}
    assert str(error).endswith(": Already a member")


def test_invalid_json_falls_back_to_text() -> None:
    error = status_error(response(500, "{not json"))
    assert error.body == "{not json"


def test_empty_body() -> None:
    error = status_error(response(404, b"", reason="Not Found"))
    assert error.body is None
    assert str(error) == "404 Not Found for POST /api/candidates/12"


def test_request_id_header_is_reported() -> None:
    error = status_error(response(500, b"", headers={"X-Request-Id": "req-42"}))
    assert error.request_id == "req-42"
    assert "(request id req-42)" in str(error)


def test_retry_after_and_note() -> None:
    error = status_error(response(429, b""), retry_after=120.0, note="Not retried")
    assert error.retry_after == 120.0
    assert str(error).endswith(". Not retried")


def test_secrets_are_masked_in_messages() -> None:
    echoed = "invalid token sk_secret_123 for this tenant"
    error = status_error(
        response(401, echoed, content_type="text/plain"), secrets=("sk_secret_123",)
    )
    assert "sk_secret_123" not in str(error)
    assert "***" in str(error)
