"""TahdahClient: configuration, session ownership, resources and the one request loop."""

from __future__ import annotations

import contextvars
import copy
import itertools
import json
import logging
import platform
import re
import warnings
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, ParamSpec, TypeVar
from urllib.parse import quote

import aiohttp
import attrs
from yarl import URL

from ._decode import decode
from ._events import Hook, RequestEvent, ResponseEvent, RetryEvent, call_hooks
from ._response import APIResponse, Response
from ._retry import DEFAULT_MAX_RETRIES, Decision, RetryPolicy, decide, parse_retry_after
from ._routes import Route, resolve_routes
from ._transport import DEFAULT_MAX_RESPONSE_SIZE, Timeout, Transport
from ._types import UNSET, UnsetType
from ._version import __version__
from .errors import APIConnectionError, ResponseTooLargeError, TahdahError, status_error
from .resources import (
    Candidates,
    DigitalBadges,
    EventCredits,
    LearningExperiences,
    LegalEntities,
    Pathways,
    Tracker,
    TrustGroups,
)

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "TahdahClient"]

DEFAULT_BASE_URL: Final = "https://api.tahdah.me"
DEFAULT_TIMEOUT: Final = Timeout()
DEFAULT_CONNECTION_LIMIT: Final = 100
USER_AGENT: Final = (
    f"tahdah-async/{__version__} "
    f"(Python {platform.python_version()}; aiohttp/{aiohttp.__version__})"
)

log = logging.getLogger("tahdah_async")

T = TypeVar("T")
E = TypeVar("E")
P = ParamSpec("P")

_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+\Z")


@attrs.define
class _Capture:
    response: Response | None = None
    attempts: int = 0


_CAPTURE: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar(
    "tahdah_async_capture", default=None
)


class TahdahClient:
    """An asynchronous client for the Tahdah API.

    Use it as an async context manager, or call :meth:`aclose` when done::

        async with TahdahClient(token) as tahdah:
            groups = await tahdah.trust_groups.list(legal_entity_id)

    Args:
        token: the API key (sent as ``Authorization: Bearer <token>``; never logged).
        base_url: the API's origin, optionally with a path prefix.
        timeout: per-attempt timeouts; a number sets the connect and read timeouts.
        max_retries: how many times a failed attempt may be retried (0 disables retries).
        retry: how retries wait (backoff, ``Retry-After`` cap, injectable sleep and clock).
        session: an ``aiohttp.ClientSession`` to use instead of an owned one. The client
            never closes a session it was given.
        routes: replacements for entries of the route table, by SDK call name, such as
            ``{"candidates.update": "PATCH /api/candidates/{candidateId}"}``.
        headers: extra headers sent with every request.
        user_agent: replaces the default ``User-Agent``.
        connection_limit: the owned session's connection pool size.
        max_response_size: the largest response body read, in bytes, counted after
            decompression (64 MiB by default); a larger one raises
            :class:`ResponseTooLargeError` and is not retried.
        on_request, on_response, on_retry: hooks called with a :class:`RequestEvent`,
            :class:`ResponseEvent` or :class:`RetryEvent`; plain or coroutine functions.

    Raises:
        TypeError, ValueError: an argument that cannot work (an empty token, a relative
            base URL, an unknown route name, ...).
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str | URL = DEFAULT_BASE_URL,
        timeout: Timeout | float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry: RetryPolicy | None = None,
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
        if not isinstance(token, str):
            raise TypeError(f"token must be a str, got {type(token).__name__}")
        if not _TOKEN_SHAPE.match(token):
            raise ValueError("token must be a non-empty string of visible ASCII characters")
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError("session must be an aiohttp.ClientSession")
        if isinstance(connection_limit, bool) or not isinstance(connection_limit, int):
            raise TypeError("connection_limit must be an int")
        if connection_limit < 1:
            raise ValueError("connection_limit must be at least 1")
        self._token = token
        self._base_url = _base_url(base_url)
        self._routes = resolve_routes(routes)
        self._transport = Transport(session, connection_limit=connection_limit)
        self._owner = True
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
        self._bind_resources()

    trust_groups: TrustGroups
    """Trust groups and their members."""
    event_credits: EventCredits
    """Event credit balances."""
    tracker: Tracker
    """Tracker targets."""
    learning_experiences: LearningExperiences
    """Learning experiences and learner registration (older docs)."""
    pathways: Pathways
    """Pathways and their registrations (newer docs)."""
    digital_badges: DigitalBadges
    """Digital badges and their templates."""
    legal_entities: LegalEntities
    """Legal entities and their people."""
    candidates: Candidates
    """Candidates (learners)."""

    def _bind_resources(self) -> None:
        # What every request of this client (or view) sends, computed once.
        self._send_headers = {**self._headers, "Authorization": f"Bearer {self._token}"}
        # Shared by every event of this client: read-only, so a hook cannot change it.
        self._redacted: Mapping[str, str] = MappingProxyType(
            {**self._headers, "Authorization": "Bearer ***"}
        )
        self._path_prefix = self._base_url.raw_path.rstrip("/")
        self._aiohttp_timeout = self._timeout.to_aiohttp()
        self._hooked = bool(self._on_request or self._on_response or self._on_retry)
        self.trust_groups = TrustGroups(self)
        self.event_credits = EventCredits(self)
        self.tracker = Tracker(self)
        self.learning_experiences = LearningExperiences(self)
        self.pathways = Pathways(self)
        self.digital_badges = DigitalBadges(self)
        self.legal_entities = LegalEntities(self)
        self.candidates = Candidates(self)

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

    def with_options(
        self,
        *,
        timeout: Timeout | float | UnsetType = UNSET,
        max_retries: int | UnsetType = UNSET,
        max_response_size: int | UnsetType = UNSET,
        headers: Mapping[str, str] | UnsetType = UNSET,
        on_request: Hook[RequestEvent] | None = None,
        on_response: Hook[ResponseEvent] | None = None,
        on_retry: Hook[RetryEvent] | None = None,
    ) -> TahdahClient:
        """Return a view of this client with other per-call options.

        The view shares this client's session, routes and hooks, and closing the view does
        nothing: close the original client. Typical use is a single call::

            await tahdah.with_options(timeout=120).pathways.list_registrations(1, 2)

        Args:
            timeout: timeouts for the view's calls.
            max_retries: retries for the view's calls.
            max_response_size: the largest response body the view's calls read, in bytes.
            headers: extra headers, added to (and overriding) the client's.
            on_request, on_response, on_retry: hooks for the view's calls, called after the
                client's own.
        """
        view = copy.copy(self)
        view._owner = False
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
        view._bind_resources()
        return view

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> TahdahClient:
        if not self._owner:
            raise RuntimeError(
                "a with_options() view shares its client's session and cannot close it: "
                "use the original client as the context manager"
            )
        self._transport.session()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's own session; a session given by the user stays open.

        Closing twice does nothing. A view made by :meth:`with_options` does not close.
        """
        if self._owner:
            await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """Whether the client was closed."""
        return self._transport.closed

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        transport = getattr(self, "_transport", None)
        if getattr(self, "_owner", False) and transport is not None and transport.leaks_session:
            _warn(f"Unclosed {self!r}", ResourceWarning, source=self, stacklevel=2)

    def __repr__(self) -> str:
        return f"<TahdahClient base_url={str(self._base_url)!r}>"

    # -- requests --------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        """Send any request to the API and return the decoded JSON body.

        The escape hatch for endpoints the SDK does not cover yet. Auth, retries, timeouts,
        hooks and errors work as for every other call.

        Args:
            method: the HTTP method.
            path: the path below the base URL, starting with ``/`` (``"/api/..."``),
                already percent-encoded where needed.
            params: query parameters.
            json: a JSON-serialisable body.

        Returns:
            The decoded JSON body, or ``None`` for an empty body.

        Raises:
            APIStatusError: a non-2xx response (after retries).
            APIConnectionError: no response (after retries).
            ResponseDecodeError: a 2xx body that is not JSON.
            ResponseTooLargeError: a body over ``max_response_size`` (not retried).
        """
        if not isinstance(method, str) or not method.isalpha():
            raise ValueError(f"method must be an HTTP method name, got {method!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        if "?" in path or "#" in path:
            raise ValueError("give query parameters with params=, not in the path")
        query = [(str(k), str(v)) for k, v in (params or {}).items()]
        # Percent-encode what is not already: spaces and non-ASCII never reach the request line.
        path = quote(path, safe="/%:@!$&'()*+,;=-._~")
        response = await self._send(None, method.upper(), path, query, json, repeatable=False)
        return decode(response, Any)

    async def with_raw_response(
        self, call: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> APIResponse[T]:
        """Make a call and return its result together with the HTTP response behind it::

            result = await tahdah.with_raw_response(tahdah.trust_groups.list, 42)
            result.status, result.headers["Date"], result.data

        When the call makes several requests, the last response is returned.

        Raises:
            RuntimeError: the call made no request through this client.
        """
        capture = _Capture()
        token = _CAPTURE.set(capture)
        try:
            data = await call(*args, **kwargs)
        finally:
            _CAPTURE.reset(token)
        if capture.response is None:
            raise RuntimeError("the call made no request through a TahdahClient")
        return APIResponse(data=data, response=capture.response, attempts=capture.attempts)

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
        url = self._base_url.with_path(self._path_prefix + path, encoded=True)
        if query:
            url = url.with_query(query)
        headers = self._send_headers
        content: bytes | None = None
        if body is not None:
            content = _dump_json(body)
            headers = {**headers, "Content-Type": "application/json"}
        redacted = self._redacted
        if body is not None:
            redacted = {**redacted, "Content-Type": "application/json"}
        attempts = self._max_retries + 1
        debug = log.isEnabledFor(logging.DEBUG)
        shown = _Shown(url, self._token)
        for attempt in itertools.count(1):
            event = (
                RequestEvent(
                    operation=operation, method=method, url=url, attempt=attempt, headers=redacted
                )
                if self._hooked
                else None
            )
            if debug:
                log.debug(
                    "%s %s attempt %d/%d headers=%s", method, shown, attempt, attempts, redacted
                )
            if event is not None:
                await call_hooks(self._on_request, event)
            try:
                response = await self._transport.send(
                    method,
                    url,
                    headers=headers,
                    body=content,
                    limits=self._aiohttp_timeout,
                    max_size=self._max_response_size,
                )
            except ResponseTooLargeError as exc:
                # Not retried: the same request would get the same body.
                log.warning("%s %s: %s", method, shown, exc)
                raise
            except APIConnectionError as exc:
                log.debug("%s %s failed: %s", method, shown, exc)
                decision = self._decide(method, None, exc.request_sent, repeatable, None, attempt)
                if not decision.retry:
                    if decision.note:
                        exc.add_note(decision.note)
                        log.warning("%s %s: %s. %s", method, shown, exc, decision.note)
                    raise
                error: TahdahError = exc
            else:
                if debug:
                    log.debug(
                        "%s %s -> %d %s in %.1f ms",
                        method,
                        shown,
                        response.status,
                        response.reason,
                        response.elapsed * 1000,
                    )
                if event is not None:
                    await call_hooks(
                        self._on_response, ResponseEvent(request=event, response=response)
                    )
                if 200 <= response.status < 300:
                    return self._capture(response, attempt)
                wait = parse_retry_after(response.headers.get("Retry-After"), self._retry.clock())
                decision = self._decide(method, response.status, True, repeatable, wait, attempt)
                error = status_error(
                    response, retry_after=wait, note=decision.note, secrets=(self._token,)
                )
                if not decision.retry:
                    if decision.note:
                        log.warning("%s %s: %s", method, shown, error)
                    raise error
            log.info(
                "retrying %s %s in %.2f s (attempt %d/%d): %s",
                method,
                shown,
                decision.delay,
                attempt + 1,
                attempts,
                decision.reason,
            )
            if event is not None:
                await call_hooks(
                    self._on_retry,
                    RetryEvent(
                        request=event, error=error, reason=decision.reason, delay=decision.delay
                    ),
                )
            await self._retry.sleep(decision.delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide(
        self,
        method: str,
        status: int | None,
        request_sent: bool,
        repeatable: bool,
        retry_after: float | None,
        attempt: int,
    ) -> Decision:
        decision = decide(
            method,
            status=status,
            request_sent=request_sent,
            repeatable=repeatable,
            retry_after=retry_after,
            attempt=attempt,
            max_retries=self._max_retries,
            policy=self._retry,
        )
        log.debug("%s attempt %d: %s", method, attempt, decision)
        return decision

    @staticmethod
    def _capture(response: Response, attempts: int) -> Response:
        capture = _CAPTURE.get()
        if capture is not None:
            capture.response = response
            capture.attempts = attempts
        return response


def _dump_json(body: Any) -> bytes:
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the request body is not JSON-serialisable: {exc}") from exc


def _base_url(value: str | URL) -> URL:
    if not isinstance(value, str | URL):
        raise TypeError(f"base_url must be a str or yarl.URL, got {type(value).__name__}")
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {str(value)!r}")
    if url.query_string or url.fragment or url.user or url.password:
        raise ValueError("base_url must not carry a query, fragment or credentials")
    return url


def _max_retries(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_retries must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"max_retries must not be negative, got {value}")
    return value


def _max_response_size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_response_size must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"max_response_size must be at least 1, got {value}")
    return value


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
