"""The request machinery every client shares: configuration, the transport and the send chain.

:class:`BaseClient` holds what a request needs (the token, the base URL, the headers, the
route table, timeouts, retries, the response size limit and the hooks), the transport it
sends through, and the send chain, one concern per method:

* :meth:`~BaseClient._call` turns an operation of the route table into a path and a query;
* :meth:`~BaseClient._send` builds the request once: URL, headers, body;
* :meth:`~BaseClient._send_with_retries` is the loop: decide, log, call the retry hooks, sleep;
* :meth:`~BaseClient._send_once` is one attempt: the request hooks, the transport, the
  response hooks and the debug lines.

A resource needs only this class (it calls ``_call``); :class:`~tahdah_async.TahdahClient`
subclasses it and adds the resources.
"""

from __future__ import annotations

import contextvars
import copy
import itertools
import json
import logging
import platform
import re
import warnings
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Self, TypeVar

import aiohttp
import attrs
from yarl import URL

from ._checks import check_count
from ._events import Hook, RequestEvent, ResponseEvent, RetryEvent, call_hooks
from ._response import Response
from ._retry import DEFAULT_MAX_RETRIES, Decision, RetryPolicy, decide, parse_retry_after
from ._routes import Route, resolve_routes
from ._transport import DEFAULT_MAX_RESPONSE_SIZE, AsyncTransport, Timeout, Transport
from ._types import UNSET, UnsetType
from ._version import __version__
from .errors import APIConnectionError, ResponseTooLargeError, TahdahError, status_error

__all__ = [
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "BaseClient",
    "check_base_url",
    "check_token",
]

DEFAULT_TIMEOUT: Final = Timeout()
_URL_CACHE_SIZE: Final = 512
DEFAULT_CONNECTION_LIMIT: Final = 100
USER_AGENT: Final = (
    f"tahdah-async/{__version__} "
    f"(Python {platform.python_version()}; aiohttp/{aiohttp.__version__})"
)

log = logging.getLogger("tahdah_async")

E = TypeVar("E")

_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+\Z")


@attrs.define
class _Capture:
    response: Response | None = None
    attempts: int = 0


_CAPTURE: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar(
    "tahdah_async_capture", default=None
)


@attrs.define
class _Life:
    """Whether a client is closed: one value shared by the client and its views."""

    closed: bool = False


@attrs.define(kw_only=True, repr=False)
class _Request:
    """One request, built once by ``_send`` and sent as it is by every attempt.

    Not frozen: it never leaves the send chain, and a frozen record costs a microsecond more
    a call to build."""

    operation: str | None
    method: str
    url: URL
    headers: Mapping[str, str]
    """What is sent, ``Authorization`` included."""
    redacted: Mapping[str, str]
    """What hooks and log lines see."""
    content: bytes | None
    repeatable: bool
    shown: _Shown
    debug: bool


class BaseClient:
    """The configuration and the one request mechanism behind every API call.

    Resources call :meth:`_call`; :class:`~tahdah_async.TahdahClient` (which subclasses
    this) documents the arguments. The transport is the client's own :class:`Transport`
    (over an owned or lent ``aiohttp.ClientSession``) unless one is given; a given transport
    or session is never closed by the client.

    Raises:
        TypeError, ValueError: an argument that cannot work.
    """

    def __init__(
        self,
        *,
        token: str,
        base_url: str | URL,
        timeout: Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry: RetryPolicy | None = None,
        transport: AsyncTransport | None = None,
        session: aiohttp.ClientSession | None = None,
        routes: Mapping[str, str | Route] | None = None,
        headers: Mapping[str, str] | None = None,
        user_agent: str | None = None,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        on_request: Hook[RequestEvent] | None = None,
        on_response: Hook[ResponseEvent] | None = None,
        on_retry: Hook[RetryEvent] | None = None,
    ) -> None:
        check_token(token)
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError("session must be an aiohttp.ClientSession")
        if transport is not None and not isinstance(transport, AsyncTransport):
            raise TypeError(
                f"transport must have an async send() method, got {type(transport).__name__}"
            )
        if transport is not None and session is not None:
            raise TypeError("give a transport or a session, not both")
        check_count(connection_limit, "connection_limit")
        self._token = token
        self._base_url = check_base_url(base_url)
        # Built URLs by path, shared with views (same base URL): yarl and aiohttp cache work
        # on a URL object, so a path called again reuses it. Bounded: paths carry ids.
        self._urls: dict[str, URL] = {}
        self._routes = resolve_routes(routes)
        # The transport the client made, and so closes; None when one was given.
        self._own: Transport | None = None
        if transport is None:
            transport = self._own = Transport(session, connection_limit=connection_limit)
        self._transport: AsyncTransport = transport
        self._life = _Life()
        self._view = False
        self._timeout = Timeout.of(timeout)
        self._max_retries = _max_retries(max_retries)
        self._max_response_size = _max_response_size(max_response_size)
        self._retry = retry if retry is not None else RetryPolicy()
        self._headers = {
            "User-Agent": user_agent or USER_AGENT,
            "Accept": "application/json",
            **_headers(headers),
        }
        self._on_request = _hooks(on_request)
        self._on_response = _hooks(on_response)
        self._on_retry = _hooks(on_retry)
        self._prepare()

    def _prepare(self) -> None:
        """Compute what every request of this client (or view) sends, once."""
        self._send_headers = {**self._headers, "Authorization": f"Bearer {self._token}"}
        # Shared by every event of this client: read-only, so a hook cannot change it.
        self._redacted: Mapping[str, str] = MappingProxyType(
            {**self._headers, "Authorization": "Bearer ***"}
        )
        self._path_prefix = self._base_url.raw_path.rstrip("/")
        self._aiohttp_timeout = self._timeout.to_aiohttp()
        self._hooked = bool(self._on_request or self._on_response or self._on_retry)

    # -- configuration ---------------------------------------------------------------------

    @property
    def base_url(self) -> URL:
        """The API origin (and path prefix) requests go to."""
        return self._base_url

    @property
    def routes(self) -> Mapping[str, Route]:
        """The route table in use, by SDK call name."""
        return self._routes

    @property
    def timeout(self) -> Timeout:
        """The timeouts of each attempt."""
        return self._timeout

    @property
    def max_retries(self) -> int:
        """How many times a failed attempt may be retried."""
        return self._max_retries

    @property
    def max_response_size(self) -> int:
        """The largest response body read, in bytes (after decompression)."""
        return self._max_response_size

    def _derive(
        self,
        *,
        timeout: Timeout | float | UnsetType = UNSET,
        max_retries: int | UnsetType = UNSET,
        max_response_size: int | UnsetType = UNSET,
        headers: Mapping[str, str] | UnsetType = UNSET,
        on_request: Hook[RequestEvent] | None = None,
        on_response: Hook[ResponseEvent] | None = None,
        on_retry: Hook[RetryEvent] | None = None,
    ) -> Self:
        """Return a view sharing this client's transport, routes and hooks (see with_options)."""
        view = copy.copy(self)
        view._view = True
        if not isinstance(timeout, UnsetType):
            view._timeout = Timeout.of(timeout)
        if not isinstance(max_retries, UnsetType):
            view._max_retries = _max_retries(max_retries)
        if not isinstance(max_response_size, UnsetType):
            view._max_response_size = _max_response_size(max_response_size)
        if not isinstance(headers, UnsetType):
            view._headers = {**self._headers, **_headers(headers)}
        view._on_request = self._on_request + _hooks(on_request)
        view._on_response = self._on_response + _hooks(on_response)
        view._on_retry = self._on_retry + _hooks(on_retry)
        view._prepare()
        return view

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._view:
            raise RuntimeError(
                "a with_options() view shares its client's session and cannot close it: "
                "use the original client as the context manager"
            )
        self._check_open()
        if self._own is not None:
            self._own.session()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's own session; a session or transport given by the user stays open.

        Closing twice does nothing. A view made by ``with_options`` does not close.
        """
        if self._view:
            return
        self._life.closed = True
        if self._own is not None:
            await self._own.aclose()

    @property
    def closed(self) -> bool:
        """Whether the client was closed."""
        return self._life.closed

    def _check_open(self) -> None:
        if self._life.closed:
            raise RuntimeError(f"the {type(self).__name__} is closed")

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        own = getattr(self, "_own", None)
        if not getattr(self, "_view", True) and own is not None and own.leaks_session:
            _warn(f"Unclosed {self!r}", ResourceWarning, source=self, stacklevel=2)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={str(self._base_url)!r}>"

    # -- the send chain --------------------------------------------------------------------

    async def _call(
        self,
        operation: str,
        values: Mapping[str, Any] | None = None,
        *,
        json: Any = None,
        repeatable: bool = False,
    ) -> Response:
        """Send the request of one operation of the route table and return its response.

        Args:
            operation: the SDK call name, a key of the route table.
            values: the route's placeholder values (path ids and optional query values).
            json: the body as JSON-ready data (``None``: no body).
            repeatable: the body carries an idempotency key, so it is safe to send again.
        """
        route = self._routes[operation]
        path, query = route.build(values or {})
        return await self._send(operation, route.method, path, query, json, repeatable=repeatable)

    async def _send(
        self,
        operation: str | None,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: Any,
        *,
        repeatable: bool,
    ) -> Response:
        """Build the request once, send it (with retries) and return its 2xx response."""
        url = self._urls.get(path)
        if url is None:
            url = self._base_url.with_path(self._path_prefix + path, encoded=True)
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[path] = url
        if query:
            url = url.with_query(query)
        headers = self._send_headers
        redacted = self._redacted
        content: bytes | None = None
        if body is not None:
            content = _dump_json(body)
            headers = {**headers, "Content-Type": "application/json"}
            redacted = {**redacted, "Content-Type": "application/json"}
        request = _Request(
            operation=operation,
            method=method,
            url=url,
            headers=headers,
            redacted=redacted,
            content=content,
            repeatable=repeatable,
            shown=_Shown(url, self._token),
            debug=log.isEnabledFor(logging.DEBUG),
        )
        response, attempts = await self._send_with_retries(request)
        capture = _CAPTURE.get()
        if capture is not None:
            capture.response = response
            capture.attempts = attempts
        return response

    async def _send_with_retries(self, request: _Request) -> tuple[Response, int]:
        """Attempt ``request`` until a 2xx response (returned with the attempts it took) or
        an error that is not retried (raised)."""
        method, shown = request.method, request.shown
        for attempt in itertools.count(1):
            event = self._request_event(request, attempt)
            try:
                response = await self._send_once(request, attempt, event)
            except ResponseTooLargeError as exc:
                # Not retried: the same request would get the same body.
                log.warning("%s %s: %s", method, shown, exc)
                raise
            except APIConnectionError as exc:
                decision = self._decide(request, None, exc.request_sent, None, attempt)
                error: TahdahError = exc
            else:
                if 200 <= response.status < 300:
                    return response, attempt
                wait = parse_retry_after(response.headers.get("Retry-After"), self._retry.clock())
                decision = self._decide(request, response.status, True, wait, attempt)
                error = status_error(response, retry_after=wait, secrets=(self._token,))
            if not decision.retry:
                if decision.note:
                    error.retry_note = decision.note
                    log.warning("%s %s: %s", method, shown, error)
                raise error
            await self._wait_to_retry(request, attempt, event, error, decision)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_to_retry(
        self,
        request: _Request,
        attempt: int,
        event: RequestEvent | None,
        error: TahdahError,
        decision: Decision,
    ) -> None:
        """Between two attempts: the log line, the retry hooks, then the wait."""
        log.info(
            "retrying %s %s in %.2f s (attempt %d/%d): %s",
            request.method,
            request.shown,
            decision.delay,
            attempt + 1,
            self._max_retries + 1,
            decision.reason,
        )
        if event is not None:
            retry = RetryEvent(
                request=event, error=error, reason=decision.reason, delay=decision.delay
            )
            await call_hooks(self._on_retry, retry)
        await self._retry.sleep(decision.delay)

    async def _send_once(
        self, request: _Request, attempt: int, event: RequestEvent | None
    ) -> Response:
        """Make one attempt: request hooks, the transport, response hooks, debug lines.

        Returns the response whatever its status; raises what the transport raises.
        """
        method, shown, redacted = request.method, request.shown, request.redacted
        if request.debug:
            attempts = self._max_retries + 1
            log.debug("%s %s attempt %d/%d headers=%s", method, shown, attempt, attempts, redacted)
        if event is not None:
            await call_hooks(self._on_request, event)
        self._check_open()
        try:
            response = await self._transport.send(
                method,
                request.url,
                headers=request.headers,
                body=request.content,
                limits=self._aiohttp_timeout,
                max_size=self._max_response_size,
            )
        except APIConnectionError as exc:
            log.debug("%s %s failed: %s", method, shown, exc)
            raise
        if request.debug:
            log.debug(
                "%s %s -> %d %s in %.1f ms",
                method,
                shown,
                response.status,
                response.reason,
                response.elapsed * 1000,
            )
        if event is not None:
            await call_hooks(self._on_response, ResponseEvent(request=event, response=response))
        return response

    def _request_event(self, request: _Request, attempt: int) -> RequestEvent | None:
        """The event the hooks of this attempt see, or ``None`` when there are no hooks."""
        if not self._hooked:
            return None
        return RequestEvent(
            operation=request.operation,
            method=request.method,
            url=request.url,
            attempt=attempt,
            headers=request.redacted,
        )

    def _decide(
        self,
        request: _Request,
        status: int | None,
        request_sent: bool,
        retry_after: float | None,
        attempt: int,
    ) -> Decision:
        decision = decide(
            request.method,
            status=status,
            request_sent=request_sent,
            repeatable=request.repeatable,
            retry_after=retry_after,
            attempt=attempt,
            max_retries=self._max_retries,
            policy=self._retry,
        )
        log.debug("%s attempt %d: %s", request.method, attempt, decision)
        return decision


def _dump_json(body: Any) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the request body is not JSON-serialisable: {exc}") from exc


def check_token(token: str, source: str = "token") -> str:
    """Return ``token`` if it can be sent; ``source`` names it in the error, which never
    shows the token itself.

    Raises:
        TypeError: not a str.
        ValueError: empty, or holding spaces, control or non-ASCII characters.
    """
    if not isinstance(token, str):
        raise TypeError(f"{source} must be a str, got {type(token).__name__}")
    if not _TOKEN_SHAPE.match(token):
        raise ValueError(f"{source} must be a non-empty string of visible ASCII characters")
    return token


def check_base_url(value: str | URL, source: str = "base_url") -> URL:
    """Return ``value`` as the URL of an API origin; ``source`` names it in the error.

    Raises:
        TypeError: neither a str nor a ``yarl.URL``.
        ValueError: not an absolute http(s) URL, or one with a query, fragment or
            credentials.
    """
    if not isinstance(value, str | URL):
        raise TypeError(f"{source} must be a str or yarl.URL, got {type(value).__name__}")
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{source} must be an absolute http(s) URL, got {str(value)!r}")
    if url.query_string or url.fragment or url.user or url.password:
        raise ValueError(f"{source} must not carry a query, fragment or credentials")
    return url


def _max_retries(value: int) -> int:
    return check_count(value, "max_retries", minimum=0)


def _max_response_size(value: int) -> int:
    return check_count(value, "max_response_size")


def _headers(value: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for name, item in (value or {}).items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise TypeError("headers must map str to str")
        if name.lower() == "authorization":
            raise ValueError("set the token with TahdahClient(token), not an Authorization header")
        if "\n" in item or "\r" in item:
            raise ValueError(f"header {name!r} must not contain a line break")
        out[name] = item
    return out


def _hooks(hook: Hook[E] | None) -> tuple[Hook[E], ...]:
    if hook is None:
        return ()
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    return (hook,)


class _Shown:
    """A URL for log lines: formatted only when a line is, with the token masked in it."""

    __slots__ = ("token", "url")

    def __init__(self, url: URL, token: str) -> None:
        self.url = url
        self.token = token

    def __str__(self) -> str:
        return str(self.url).replace(self.token, "***")
