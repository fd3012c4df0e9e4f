"""A transport that answers with a function of yours: the whole client, no sockets.

::

    from tahdah_async import TahdahClient
    from tahdah_async.testing import MockRequest, MockResponse, MockTransport

    def handler(request: MockRequest) -> MockResponse:
        assert request.headers["Authorization"].startswith("Bearer ")
        return MockResponse(200, json=[{"id": 7, "name": "Staff"}])

    async with TahdahClient("tk_test", transport=MockTransport(handler)) as tahdah:
        groups = await tahdah.trust_groups.list(1001)

Auth, hooks, logging, retries, errors and decoding run as they do over the network; only the
socket is replaced. Timeouts do not apply (nothing waits for a peer): to test one, raise
``TimeoutError`` from the handler.
"""

from __future__ import annotations

import inspect
import json as stdlib_json
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, TypeAlias

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy, MultiDictProxy
from yarl import URL

from .. import _json
from .._response import Response
from .._transport import DEFAULT_MAX_RESPONSE_SIZE, _credentials, host_port, too_large_error
from .._types import UNSET
from .._untrusted import peer_text
from ..errors import APIConnectionError, APITimeoutError

__all__ = ["MockHandler", "MockRequest", "MockResponse", "MockTransport"]

_AFTER_SENDING = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


@attrs.frozen(kw_only=True)
class MockRequest:
    """A request as the client sent it, given to a :class:`MockTransport` handler.

    Its repr shows the method and URL only: the headers hold the real token.
    """

    method: str
    """The HTTP method, upper case."""
    url: URL
    """The absolute URL, query included."""
    headers: CIMultiDictProxy[str] = attrs.field(repr=False)
    """Every header sent (names are case-insensitive), ``Authorization`` included."""
    body: bytes = attrs.field(default=b"", repr=False)
    """The body as sent (``b""`` for none)."""

    @property
    def path(self) -> str:
        """The URL's path, decoded."""
        return self.url.path

    @property
    def query(self) -> MultiDictProxy[str]:
        """The URL's query parameters."""
        return self.url.query

    def json(self) -> Any:
        """Decode the body as JSON (``None`` for an empty body).

        Raises:
            ValueError: the body is not JSON.
        """
        if not self.body:
            return None
        return _json.loads(self.body)


def _check_status(instance: object, attribute: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"status must be an int, got {type(value).__name__}")
    if not 100 <= value <= 599:
        raise ValueError(f"status must be between 100 and 599, got {value}")


def _check_headers(instance: object, attribute: object, value: object) -> None:
    if not isinstance(value, Mapping) or not all(
        isinstance(name, str) and isinstance(item, str) for name, item in value.items()
    ):
        raise TypeError("headers must map str to str")


@attrs.frozen
class MockResponse:
    """What a :class:`MockTransport` handler answers: ``MockResponse(404, json={...})``.

    Give the body as ``json`` (any JSON-serialisable value, sent with ``Content-Type:
    application/json`` unless ``headers`` name another) or as ``body`` (bytes, or text sent
    as UTF-8), not both; without either the body is empty.

    Raises:
        TypeError: a value of the wrong type, both ``json`` and ``body``, or ``json`` that
            cannot be serialised (send odd bytes, such as ``NaN``, with ``body``).
        ValueError: a status outside 100-599.
    """

    status: int = attrs.field(default=200, validator=_check_status)
    """The HTTP status."""
    json: Any = attrs.field(default=UNSET, kw_only=True, repr=False)
    """The body as a JSON value (``UNSET``: not given)."""
    body: bytes | str | None = attrs.field(default=None, kw_only=True, repr=False)
    """The body as bytes or text (``None``: not given)."""
    headers: Mapping[str, str] = attrs.field(factory=dict, kw_only=True, validator=_check_headers)
    """Response headers (``Retry-After``, ``X-Request-Id``, ...)."""
    reason: str | None = attrs.field(default=None, kw_only=True)
    """The reason phrase (``None``: the standard one for the status)."""
    content: bytes = attrs.field(init=False, repr=False, eq=False)
    """The body as it is sent."""

    def __attrs_post_init__(self) -> None:
        if self.json is not UNSET and self.body is not None:
            raise TypeError("give a MockResponse json or body, not both")
        if self.body is not None and not isinstance(self.body, bytes | str):
            raise TypeError(f"body must be bytes or str, got {type(self.body).__name__}")
        if self.reason is not None and not isinstance(self.reason, str):
            raise TypeError(f"reason must be a str, got {type(self.reason).__name__}")
        if self.json is not UNSET:
            try:
                text = stdlib_json.dumps(self.json, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"json is not JSON-serialisable: {exc}") from None
            content = text.encode()
        elif isinstance(self.body, str):
            content = self.body.encode()
        else:
            content = self.body or b""
        object.__setattr__(self, "content", content)

    def _headers(self) -> CIMultiDictProxy[str]:
        headers = CIMultiDict(self.headers)
        if self.json is not UNSET:
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return CIMultiDictProxy(headers)

    def _reason(self) -> str:
        if self.reason is not None:
            return self.reason
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""


MockHandler: TypeAlias = Callable[[MockRequest], MockResponse | Awaitable[MockResponse]]
"""A handler: a plain or coroutine function from a :class:`MockRequest` to a
:class:`MockResponse`."""


class MockTransport:
    """A transport for ``TahdahClient(transport=...)`` that calls ``handler`` per attempt.

    Each attempt (a retry is another call) gives the handler a :class:`MockRequest`; it
    returns a :class:`MockResponse` or raises to fail the attempt:

    * an :class:`~tahdah_async.APIConnectionError` is raised as it is;
    * ``TimeoutError`` is a read timeout (:class:`~tahdah_async.APITimeoutError`, the request
      may have been handled: retried only when repeating it is safe);
    * ``ConnectionResetError``, ``ConnectionAbortedError`` and ``BrokenPipeError`` are a
      connection dropped after sending (same retry rule);
    * any other ``OSError`` (``ConnectionRefusedError``, ...) is a failed connect: nothing was
      sent, so every method is retried;
    * anything else (a bug in the handler) propagates unchanged.

    A body over the client's ``max_response_size`` raises
    :class:`~tahdah_async.ResponseTooLargeError`, as over the network. The client does not
    close a transport it was given, and this one holds nothing to close.

    Args:
        handler: a plain or coroutine function taking a :class:`MockRequest` and returning
            a :class:`MockResponse`.

    Raises:
        TypeError: ``handler`` is not callable.
    """

    def __init__(self, handler: MockHandler) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, got {type(handler).__name__}")
        self._handler = handler

    def __repr__(self) -> str:
        name = getattr(self._handler, "__qualname__", type(self._handler).__name__)
        return f"<MockTransport handler={name}>"

    async def send(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        limits: aiohttp.ClientTimeout,
        max_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> Response:
        """Give the request to the handler and return its answer as a :class:`Response`.

        Raises:
            APIConnectionError, APITimeoutError: the handler raised one, or an ``OSError``.
            ResponseTooLargeError: the answer's body is larger than ``max_size`` bytes.
            TypeError: the handler returned something other than a :class:`MockResponse`.
        """
        request = MockRequest(
            method=method, url=url, headers=CIMultiDictProxy(CIMultiDict(headers)), body=body or b""
        )
        secrets = _credentials(headers)
        try:
            answer = self._handler(request)
            if inspect.isawaitable(answer):
                answer = await answer
        except APIConnectionError:
            raise
        except OSError as exc:
            raise _failure(exc, method, url, secrets) from None
        if not isinstance(answer, MockResponse):
            raise TypeError(
                f"a MockTransport handler must return a MockResponse, got {type(answer).__name__}"
            )
        content = answer.content
        if len(content) > max_size:
            raise too_large_error(
                method,
                url.path,
                answer.status,
                f"has a body of {len(content):,} bytes",
                limit=max_size,
                content_length=len(content),
                secrets=secrets,
            )
        return Response(
            method=method,
            url=url,
            status=answer.status,
            reason=peer_text(answer._reason(), secrets=secrets, limit=128),
            headers=answer._headers(),
            content=content,
            elapsed=0.0,
        )


def _failure(exc: OSError, method: str, url: URL, secrets: tuple[str, ...]) -> APIConnectionError:
    """The connection error the real transport raises for what ``exc`` stands for."""
    where = f"{method} {url.path}"
    detail = peer_text(str(exc) or type(exc).__name__, secrets=secrets)
    if isinstance(exc, TimeoutError):
        return APITimeoutError(
            f"timed out waiting for the response to {where}",
            method=method,
            path=url.path,
            request_sent=True,
        )
    if isinstance(exc, _AFTER_SENDING):
        return APIConnectionError(
            f"connection failed during {where}: {type(exc).__name__}: {detail}",
            method=method,
            path=url.path,
            request_sent=True,
        )
    return APIConnectionError(
        f"could not connect for {where} to {host_port(url)}: {detail}",
        method=method,
        path=url.path,
        request_sent=False,
    )
