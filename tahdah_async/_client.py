"""TahdahClient: configuration from the arguments and the environment, and the resources.

The request machinery (transport, headers, retries, hooks, the send chain) is
:class:`~tahdah_async._base_client.BaseClient`; this module adds what users call.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, ParamSpec, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from ._base_client import (
    _CAPTURE,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_TIMEOUT,
    BaseClient,
    _Capture,
    check_base_url,
    check_token,
)
from ._decode import decode
from ._events import Hook, RequestEvent, ResponseEvent, RetryEvent
from ._response import APIResponse
from ._retry import DEFAULT_MAX_RETRIES, RetryPolicy
from ._routes import Route
from ._transport import DEFAULT_MAX_RESPONSE_SIZE, AsyncTransport, Timeout
from ._types import UNSET, UnsetType
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

__all__ = ["BASE_URL_ENV", "DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "TOKEN_ENV", "TahdahClient"]

DEFAULT_BASE_URL: Final = "https://api.tahdah.me"
TOKEN_ENV: Final = "TAHDAH_TOKEN"
"""The environment variable read for the token when none is given."""
BASE_URL_ENV: Final = "TAHDAH_BASE_URL"
"""The environment variable read for the base URL when none is given."""

T = TypeVar("T")
P = ParamSpec("P")


class TahdahClient(BaseClient):
    """An asynchronous client for the Tahdah API.

    Use it as an async context manager, or call :meth:`aclose` when done::

        async with TahdahClient(token) as tahdah:
            groups = await tahdah.trust_groups.list(legal_entity_id)

    Configuration from the environment: without a ``token`` argument the client reads the
    ``TAHDAH_TOKEN`` environment variable, and without a ``base_url`` argument it uses
    ``TAHDAH_BASE_URL`` when that is set (and not empty), else ``https://api.tahdah.me``. An
    argument always wins over the environment; the environment is read once, when the client
    is made. So ``TahdahClient()`` works where ``TAHDAH_TOKEN`` is exported.

    Args:
        token: the API key (sent as ``Authorization: Bearer <token>``; never logged). Leave
            it out to read ``TAHDAH_TOKEN``.
        base_url: the API's origin, optionally with a path prefix. Leave it out to read
            ``TAHDAH_BASE_URL`` (or use the default).
        timeout: per-attempt timeouts; a number sets the connect and read timeouts.
        max_retries: how many times a failed attempt may be retried (0 disables retries).
        retry: how retries wait (backoff, ``Retry-After`` cap, injectable sleep and clock).
        transport: what to send requests through instead of the client's own aiohttp
            transport: an object with the :class:`~tahdah_async._transport.AsyncTransport`
            ``send`` method, such as :class:`tahdah_async.testing.MockTransport`. Auth,
            hooks, retries, errors and decoding work as over the network. As with
            ``session``, the client never closes a transport it was given (closing the
            client only stops its calls). Not together with ``session``.
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
        on_request: a hook called with a :class:`RequestEvent` before each attempt; a plain
            or coroutine function, as the other hooks.
        on_response: a hook called with a :class:`ResponseEvent` after each response.
        on_retry: a hook called with a :class:`RetryEvent` before each retry.

    Raises:
        TypeError, ValueError: an argument that cannot work (an empty token, a relative
            base URL, an unknown route name, both ``transport`` and ``session``, ...).
        ValueError: no token given and ``TAHDAH_TOKEN`` not set (or empty); the message
            names the variable and never shows a token.
    """

    def __init__(
        self,
        token: str | UnsetType = UNSET,
        *,
        base_url: str | URL | UnsetType = UNSET,
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
        super().__init__(
            token=_token_from_env() if isinstance(token, UnsetType) else token,
            base_url=_base_url_from_env() if isinstance(base_url, UnsetType) else base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            transport=transport,
            session=session,
            routes=routes,
            headers=headers,
            user_agent=user_agent,
            connection_limit=connection_limit,
            max_response_size=max_response_size,
            on_request=on_request,
            on_response=on_response,
            on_retry=on_retry,
        )

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

    def _prepare(self) -> None:
        super()._prepare()
        self.trust_groups = TrustGroups(self)
        self.event_credits = EventCredits(self)
        self.tracker = Tracker(self)
        self.learning_experiences = LearningExperiences(self)
        self.pathways = Pathways(self)
        self.digital_badges = DigitalBadges(self)
        self.legal_entities = LegalEntities(self)
        self.candidates = Candidates(self)

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

        The view shares this client's session (or transport), routes and hooks, and closing
        the view does nothing: close the original client. Typical use is a single call::

            await tahdah.with_options(timeout=120).pathways.list_registrations(1, 2)

        Args:
            timeout: timeouts for the view's calls.
            max_retries: retries for the view's calls.
            max_response_size: the largest response body the view's calls read, in bytes.
            headers: extra headers, added to (and overriding) the client's.
            on_request: a request hook for the view's calls, called after the client's own.
            on_response: a response hook for the view's calls, after the client's own.
            on_retry: a retry hook for the view's calls, after the client's own.
        """
        return self._derive(
            timeout=timeout,
            max_retries=max_retries,
            max_response_size=max_response_size,
            headers=headers,
            on_request=on_request,
            on_response=on_response,
            on_retry=on_retry,
        )

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


def _token_from_env() -> str:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise ValueError(
            f"no API token: pass TahdahClient(token) or set the {TOKEN_ENV} environment variable"
        )
    return check_token(token, f"the {TOKEN_ENV} environment variable")


def _base_url_from_env() -> URL | str:
    value = os.environ.get(BASE_URL_ENV, "")
    if not value:
        return DEFAULT_BASE_URL
    return check_base_url(value, f"the {BASE_URL_ENV} environment variable")
