"""Every exception the SDK raises on purpose.

::

    TahdahError
    ├── APIConnectionError          no usable response: connect failed, connection dropped
    │   └── APITimeoutError         a connect, read or total timeout expired
    ├── APIStatusError              the API answered with a non-2xx status
    │   ├── BadRequestError             400
    │   ├── AuthenticationError         401
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404
    │   ├── ConflictError               409
    │   ├── UnprocessableEntityError    422
    │   ├── RateLimitError              429
    │   └── InternalServerError         5xx
    ├── ResponseDecodeError         a 2xx body that is not the JSON the call expects
    └── ResponseTooLargeError       a body larger than ``max_response_size`` (never retried)

Bad arguments are caught before anything is sent and raise the built-in ``TypeError`` or
``ValueError``. Messages never contain the API token, and what the server sent (body,
reason phrase, request id) appears in them bounded and printable (``_untrusted.peer_text``).

Why a call was not retried is said one way for every error: when a failure that a retry
could have cured is raised anyway (the retries ran out, ``Retry-After`` asked for too long a
wait, the server refused a repeated idempotency key), the client sets the error's
:attr:`TahdahError.retry_note`, and ``str(error)`` ends with it::

    503 Service Unavailable for GET /api/candidates/7: back soon. Gave up after 3 attempts
    could not connect for GET /api/candidates/7 to api.tahdah.me:443: [Errno 111] Connect
    call failed ('10.0.0.7', 443). Gave up after 3 attempts
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any, Final

from ._converter import StructureError, structure
from ._response import Response
from ._untrusted import WINDOW, mask, peer_text
from .models.problem import ProblemDetails

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "TahdahError",
    "UnprocessableEntityError",
    "status_error",
]

_SHORT: Final = 128  # the longest reason phrase or request id shown in a message


def _bounded_repr() -> reprlib.Repr:
    # A JSON body without a message is shown as a repr that stops early, at every level.
    shown = reprlib.Repr()
    shown.maxlevel = 4
    shown.maxdict = shown.maxlist = 12
    shown.maxstring = shown.maxother = 80
    return shown


_REPR: Final = _bounded_repr()


class TahdahError(Exception):
    """Base of every error the SDK raises on purpose.

    Attributes:
        retry_note: why a failure that retrying could have cured was raised without another
            attempt (``"Gave up after 3 attempts"``, a ``Retry-After`` over the cap, a refused
            repeated idempotency key), or ``None``. ``str()`` ends with it.
    """

    retry_note: str | None = None

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}. {self.retry_note}" if self.retry_note else message


class APIConnectionError(TahdahError):
    """No usable response arrived: the connection failed, dropped or was refused."""

    def __init__(self, message: str, *, method: str, path: str, request_sent: bool) -> None:
        super().__init__(message)
        self.method = method
        """The HTTP method of the request."""
        self.path = path
        """The path of the request (no host, no query)."""
        self.request_sent = request_sent
        """Whether the request may have reached the server (False: it surely did not)."""


class APITimeoutError(APIConnectionError):
    """A connect, read or total timeout expired before a response was complete."""


class ResponseDecodeError(TahdahError):
    """A successful response whose body is not what the call expects."""

    def __init__(self, message: str, *, response: Response) -> None:
        super().__init__(message)
        self.response = response
        """The response whose body could not be decoded."""


class ResponseTooLargeError(TahdahError):
    """A response body larger than the client's ``max_response_size``.

    Raised as soon as the size is known to be too large: at once when ``Content-Length``
    says so, else when the bytes received (counted after decompression) pass the limit; the
    rest of the body is not read. Never retried: the same request would get the same body.
    Raise ``max_response_size`` for the call with ``with_options`` if the body is expected.

    Attributes:
        method, path: the request (the path has no host and no query).
        status: the HTTP status of the response.
        limit: the limit in bytes that was exceeded.
        content_length: the size the response announced, if it announced one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int,
        limit: int,
        content_length: int | None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status
        self.limit = limit
        self.content_length = content_length


class APIStatusError(TahdahError):
    """The API answered with a non-2xx status.

    Attributes:
        status: the HTTP status code.
        method, path: the request that failed (the path has no host and no query).
        body: the error body: decoded JSON when the body is JSON, else its text.
        problem: the body as problem details, when it is one.
        response: the whole response (headers, raw bytes).
        request_id: the server's request or trace id, when it sent one.
        retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        response: Response,
        body: Any,
        problem: ProblemDetails | None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.response = response
        self.status = response.status
        self.method = response.method
        self.path = response.url.path
        self.body = body
        self.problem = problem
        self.request_id = _request_id(response, problem)
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: the request was malformed."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not do this (for example, act for that legal entity)."""


class NotFoundError(APIStatusError):
    """404: no such resource (or the route is not the one this API uses)."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but its values were refused."""


class RateLimitError(APIStatusError):
    """429: too many requests; see ``retry_after``."""


class InternalServerError(APIStatusError):
    """5xx: the server failed."""


_BY_STATUS: Final[dict[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(
    response: Response,
    *,
    retry_after: float | None = None,
    note: str = "",
    secrets: tuple[str, ...] = (),
) -> APIStatusError:
    """Return the error for a non-2xx response: the class, the decoded body and a message.

    Args:
        response: the failed response.
        retry_after: the server's ``Retry-After`` in seconds, if it sent one.
        note: why it was not retried, kept as the error's ``retry_note`` (``""``: none).
        secrets: strings that must not appear in the message (they are masked).
    """
    cls = _BY_STATUS.get(response.status)
    if cls is None:
        cls = InternalServerError if response.status >= 500 else APIStatusError
    body, problem = _decode_body(response)
    # Everything the server sent reaches the message through peer_text: bounded, linear,
    # masked. The path is ours (it may hold the caller's ids), so it is only masked.
    summary = _summary(response, body, problem, secrets)
    reason = peer_text(response.reason, secrets=secrets, limit=_SHORT)
    path = mask(response.url.path, secrets)
    message = f"{response.status} {reason} for {response.method} {path}"
    if summary:
        message += f": {summary}"
    request_id = _request_id(response, problem)
    request_id = request_id and peer_text(request_id, secrets=secrets, limit=_SHORT)
    if request_id:
        message += f" (request id {request_id})"
    error = cls(message, response=response, body=body, problem=problem, retry_after=retry_after)
    if note:
        error.retry_note = note
    return error


def _decode_body(response: Response) -> tuple[Any, ProblemDetails | None]:
    if not response.content:
        return None, None
    if response.is_json or response.content.lstrip()[:1] in (b"{", b"["):
        try:
            body = response.json()
        except (ValueError, RecursionError):
            return response.text(), None
        return body, _problem(body)
    return response.text(), None


def _problem(body: Any) -> ProblemDetails | None:
    if not isinstance(body, dict) or not {"title", "detail", "type", "errors"} & body.keys():
        return None

    try:
        return structure(body, ProblemDetails)
    except StructureError:
        return None


def _summary(
    response: Response, body: Any, problem: ProblemDetails | None, secrets: tuple[str, ...]
) -> str:
    if problem is not None:
        return peer_text(_problem_text(problem), secrets=secrets)
    if isinstance(body, str):
        markup = "html" in response.content_type or body[:WINDOW].lstrip()[:1] == "<"
        return peer_text(body, secrets=secrets, markup=markup)
    if isinstance(body, dict):
        for key in ("message", "error", "title", "detail"):
            if isinstance(body.get(key), str):
                return peer_text(body[key], secrets=secrets)
    if body is not None:
        return peer_text(_REPR.repr(body), secrets=secrets)
    return ""


def _problem_text(problem: ProblemDetails) -> str:
    parts = [p for p in (problem.title, problem.detail) if isinstance(p, str) and p]
    if isinstance(problem.errors, Mapping):
        size = sum(map(len, parts))
        for field, messages in problem.errors.items():
            if size > WINDOW:  # peer_text reads no further than this anyway
                break
            parts.append(f"{field}: {'; '.join(messages)}")
            size += len(parts[-1])
    return " — ".join(parts)


def _request_id(response: Response, problem: ProblemDetails | None) -> str | None:
    if problem is not None and isinstance(problem.trace_id, str):
        return problem.trace_id
    return response.request_id
