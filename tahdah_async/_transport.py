"""The only client code that touches ``aiohttp.ClientSession``, and the seam around it.

:class:`AsyncTransport` is what a client sends through: one method, one request in, one whole
response out. :class:`Transport` is the one the client makes for itself, over aiohttp: one
session per client, created on first use (inside the event loop) unless the user lends one.
A lent session is never closed here. aiohttp's exceptions become the SDK's connection
errors, each saying whether the request may have reached the server and, for a failed
connect, which host and port were tried.

Text the peer controls (the reason phrase, aiohttp's parser errors, which quote the bytes
received) passes :func:`~tahdah_async._untrusted.peer_text` here, at the edge, with the
credential this request sent masked: a server echoing it cannot bring it back into a
response, a hook, a log line or an exception message.
"""

from __future__ import annotations

import http
import io
import time
from collections.abc import Mapping
from typing import Final, Protocol, runtime_checkable

import aiohttp
import attrs
from yarl import URL

from ._response import Response
from ._untrusted import mask, peer_text
from .errors import APIConnectionError, APITimeoutError, ResponseTooLargeError

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "AsyncTransport",
    "Timeout",
    "Transport",
    "host_port",
    "too_large_error",
]

DEFAULT_MAX_RESPONSE_SIZE: Final = 64 * 1024 * 1024
"""The largest response body read by default, in bytes (after decompression)."""


@attrs.frozen(kw_only=True)
class Timeout:
    """Timeouts of one HTTP attempt, in seconds (``None``: no limit).

    A plain number given where a ``Timeout`` is expected sets both ``connect`` and ``read``.
    """

    connect: float | None = 10.0
    """Opening the TCP (and TLS) connection."""
    read: float | None = 60.0
    """The longest silence while waiting for response bytes."""
    total: float | None = None
    """The whole attempt, from sending to the last body byte."""
    pool: float | None = None
    """Getting a connection: waiting for a free one at the connection limit, plus opening it
    (aiohttp's ``connect`` timeout)."""

    def __attrs_post_init__(self) -> None:
        for name in ("connect", "read", "total", "pool"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ValueError(f"timeout {name} must be a positive number or None, got {value!r}")

    @classmethod
    def of(cls, value: Timeout | float) -> Timeout:
        """Return ``value`` as a ``Timeout`` (a number sets ``connect`` and ``read``)."""
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"timeout must be a Timeout or a number, got {type(value).__name__}")
        return cls(connect=value, read=value)

    def to_aiohttp(self) -> aiohttp.ClientTimeout:
        """Return the equivalent ``aiohttp.ClientTimeout``."""
        return aiohttp.ClientTimeout(
            total=self.total, connect=self.pool, sock_connect=self.connect, sock_read=self.read
        )


@runtime_checkable
class AsyncTransport(Protocol):
    """What a client sends its requests through: ``TahdahClient(transport=...)``.

    One call is one attempt; the client around it adds auth, hooks, logging, retries and
    errors. :class:`tahdah_async.testing.MockTransport` is one, for tests without sockets.
    A client never closes a transport it was given.
    """

    async def send(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        limits: aiohttp.ClientTimeout,
        max_size: int,
    ) -> Response:
        """Send one request and return the response with its whole body.

        Args:
            method: the HTTP method, upper case.
            url: the absolute URL, query included, already percent-encoded.
            headers: every header to send, ``Authorization`` included.
            body: the encoded body, or ``None`` for none.
            limits: the attempt's timeouts.
            max_size: the largest body to read, in bytes.

        Raises:
            APIConnectionError: no usable response; ``request_sent`` says whether the
                request may have reached the server (the retry policy depends on it).
            APITimeoutError: a timeout expired.
            ResponseTooLargeError: the body is larger than ``max_size`` bytes.
        """


_LARGE_BODY = 1 << 20
_CHUNK: Final = 64 * 1024
_REASON: Final = 128  # the longest reason phrase kept
_STANDARD_REASONS: Final = frozenset(status.phrase for status in http.HTTPStatus)


class Transport:
    """Sends one HTTP request and reads the whole response."""

    def __init__(self, session: aiohttp.ClientSession | None, *, connection_limit: int) -> None:
        self._session = session
        self._owns_session = session is None
        self._connection_limit = connection_limit
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def leaks_session(self) -> bool:
        """Whether this transport owns an open session that nobody closed."""
        return self._owns_session and self._session is not None and not self._session.closed

    def session(self) -> aiohttp.ClientSession:
        """Return the session, creating the owned one on first use."""
        if self._closed:
            raise RuntimeError("the TahdahClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit)
            )
            # aiohttp re-sends an idempotent request once, by itself, when the server drops
            # the connection. The retry policy must see and count every attempt (and
            # max_retries=0 must mean one), so the owned session leaves retrying to it.
            # There is no public switch; a lent session keeps aiohttp's behaviour.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        elif self._session.closed:
            raise RuntimeError("the aiohttp session given to TahdahClient is closed")
        return self._session

    async def aclose(self) -> None:
        """Close the owned session (a lent one is left open). Closing twice does nothing."""
        self._closed = True
        session, self._session = self._session, None
        if self._owns_session and session is not None:
            await session.close()

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
        """Send a request and return the response with its whole body.

        Raises:
            APITimeoutError: a timeout expired.
            APIConnectionError: any other failure before the body was complete.
            ResponseTooLargeError: the body is larger than ``max_size`` bytes.
        """
        session = self.session()
        secrets = _credentials(headers)
        started = time.perf_counter()
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                # aiohttp warns (ResourceWarning) about a bytes body over 1 MiB; a fresh
                # file-like object per attempt is streamed instead.
                data=io.BytesIO(body) if body is not None and len(body) > _LARGE_BODY else body,
                timeout=limits,
                raise_for_status=False,
                # A redirect would turn a POST into a GET and hide it; a 3xx is an error.
                allow_redirects=False,
            ) as resp:
                content = await _read(resp, method, url, secrets, max_size)
                reason = resp.reason or ""
                return Response(
                    method=method,
                    url=url,
                    status=resp.status,
                    # A standard phrase holds nothing of the peer's to bound or mask.
                    reason=reason
                    if reason in _STANDARD_REASONS
                    else peer_text(reason, secrets=secrets, limit=_REASON),
                    headers=resp.headers,
                    content=content,
                    elapsed=time.perf_counter() - started,
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            # Not chained: aiohttp's error holds the request headers, token included.
            raise _connection_error(exc, method, url, secrets) from None


async def _read(
    resp: aiohttp.ClientResponse, method: str, url: URL, secrets: tuple[str, ...], limit: int
) -> bytes:
    """The whole body of ``resp``, or ResponseTooLargeError as soon as it passes ``limit``."""
    announced = resp.content_length

    def too_large(detail: str) -> ResponseTooLargeError:
        resp.close()  # the rest of the body is never read: the connection cannot be reused
        return too_large_error(
            method,
            url.path,
            resp.status,
            detail,
            limit=limit,
            content_length=announced,
            secrets=secrets,
        )

    # Content-Length is the size on the wire: for a compressed body only the inflated bytes
    # counted below say how large it is. A HEAD response, a 204 and a 304 announce a body they
    # do not send.
    encoded = resp.headers.get("Content-Encoding", "identity").strip().lower() != "identity"
    bodiless = method == "HEAD" or resp.status in (204, 304)
    if announced is not None and not encoded and not bodiless:
        if announced > limit:
            raise too_large(f"announces a body of {announced:,} bytes")
        return await resp.read()  # the common case: aiohttp reads no more than announced
    chunks = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large(f"has a body of more than {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def too_large_error(
    method: str,
    path: str,
    status: int,
    detail: str,
    *,
    limit: int,
    content_length: int | None,
    secrets: tuple[str, ...] = (),
) -> ResponseTooLargeError:
    """Return the error for a body over ``limit``; ``detail`` says how it is known to be."""
    return ResponseTooLargeError(
        f"the {status} response to {method} {mask(path, secrets)} {detail}, over "
        f"max_response_size ({limit:,} bytes); not retried",
        method=method,
        path=path,
        status=status,
        limit=limit,
        content_length=content_length,
    )


def _credentials(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The secrets a request sends: its ``Authorization`` value and the credential in it."""
    value = headers.get("Authorization")  # as the client spells it; others are looked for
    if value is None:
        value = next((v for n, v in headers.items() if n.lower() == "authorization"), None)
        if value is None:
            return ()
    credential = value.partition(" ")[2].strip()
    return (value, credential) if credential else (value,) if value else ()


def host_port(url: URL) -> str:
    """Return the ``host:port`` a request to ``url`` connects to (no credentials, no query)."""
    host = url.host or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{host}:{url.port}"


def _connection_error(
    exc: BaseException, method: str, url: URL, secrets: tuple[str, ...] = ()
) -> APIConnectionError:
    """Return the SDK error for an aiohttp failure, saying whether the request went out.

    A failed connect names the host and port tried. aiohttp's message may quote the peer's
    bytes (a malformed status line or header), so it is shown through :func:`peer_text` with
    ``secrets`` masked.
    """
    path = url.path
    where = f"{method} {path}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(
            f"connect timeout for {where} to {host_port(url)}",
            method=method,
            path=path,
            request_sent=False,
        )
    if isinstance(exc, TimeoutError):  # a read or total timeout, after sending
        return APITimeoutError(
            f"timed out waiting for the response to {where}",
            method=method,
            path=path,
            request_sent=True,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"could not connect for {where} to {host_port(url)}: "
            f"{peer_text(str(exc.os_error or exc), secrets=secrets)}",
            method=method,
            path=path,
            request_sent=False,
        )
    return APIConnectionError(
        f"connection failed during {where}: {type(exc).__name__}: "
        f"{peer_text(str(exc), secrets=secrets)}",
        method=method,
        path=path,
        request_sent=True,
    )
