"""Real loopback servers for the transport tests: scripted aiohttp apps, raw sockets, dead ports.

A :class:`Script` is an aiohttp application that answers each request with the next scripted
reply (the last reply repeats) and records what it received. :func:`serve` runs it on a real
``TestServer`` and yields its base URL::

    script = Script(respond(503), respond(200, []))
    async with serve(script) as url:
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from tahdah_async import Response, RetryPolicy, TahdahClient
from tests.conftest import TOKEN, RecordingSleep

__all__ = [
    "HANG",
    "RawScript",
    "Reply",
    "Script",
    "Seen",
    "client_for",
    "echo_authorization",
    "no_wait",
    "raw_server",
    "record_attempt_limits",
    "refusing_port",
    "respond",
    "serve",
    "serve_raw",
    "stall",
    "stall_body",
    "trickle_body",
]

HANG: Final = 60.0
"""Seconds after which a wait for something that must happen counts as a hang. Generous on
purpose: it only fires when the thing never happens, never because the machine is busy."""

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""Makes the response to one request (a fresh one each time: responses are single-use)."""


@attrs.frozen
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    peer_port: int
    """The client's source port: equal ports mean one reused connection."""

    def json(self) -> Any:
        return json.loads(self.body)


def respond(
    status: int = 200,
    body: Any = None,
    *,
    text: str | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A reply with a JSON ``body`` (or a ``text`` body, or none when both are ``None``)."""

    async def reply(request: web.Request) -> web.StreamResponse:
        if text is not None:
            return web.Response(
                status=status, text=text, content_type=content_type or "text/plain", headers=headers
            )
        if body is not None:
            return web.json_response(body, status=status, headers=headers)
        return web.Response(status=status, headers=headers)

    return reply


def stall(gate: asyncio.Event, then: Reply | None = None) -> Reply:
    """A reply that sends nothing at all until ``gate`` is set, then answers ``then``."""

    async def reply(request: web.Request) -> web.StreamResponse:
        await gate.wait()
        return await (then or respond(200, []))(request)

    return reply


def stall_body(gate: asyncio.Event, *, length: int = 100, first: bytes = b"[1,") -> Reply:
    """A reply that sends its headers and the start of the body, then nothing until ``gate``."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = length
        await response.prepare(request)
        await response.write(first)
        await gate.wait()
        return response

    return reply


def trickle_body(gate: asyncio.Event, *, every: float, length: int = 1000) -> Reply:
    """A reply that sends one body byte every ``every`` seconds until ``gate`` is set."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = length
        await response.prepare(request)
        for _ in range(length):
            if gate.is_set():
                break
            await response.write(b" ")
            await asyncio.sleep(every)
        return response

    return reply


def echo_authorization(status: int) -> Reply:
    """A text error reply that echoes the request's ``Authorization`` header back."""

    async def reply(request: web.Request) -> web.StreamResponse:
        seen = request.headers.get("Authorization", "")
        return web.Response(status=status, text=f"invalid credentials: {seen}")

    return reply


class Script:
    """An aiohttp app answering with scripted replies (the last repeats), recording requests.

    ``gate`` is set when the server stops, so stalled replies finish before it closes.
    """

    def __init__(self, *replies: Reply) -> None:
        self.requests: list[Seen] = []
        self.gate = asyncio.Event()
        self._replies = list(replies) or [respond(200, [])]
        self._arrived = asyncio.Event()
        self.app = web.Application(client_max_size=8 << 20)  # room for large-body tests
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    def reply(self, *replies: Reply) -> None:
        """Replace the replies still to come."""
        assert replies
        self._replies = list(replies)

    @property
    def count(self) -> int:
        """How many requests arrived."""
        return len(self.requests)

    async def arrived(self, count: int) -> None:
        """Wait until ``count`` requests have arrived (a guard of :data:`HANG` s stops a hang)."""
        async with asyncio.timeout(HANG):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(
            Seen(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                body=body,
                peer_port=peer[1] if peer else -1,
            )
        )
        self._arrived.set()
        reply = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        return await reply(request)


@contextlib.asynccontextmanager
async def serve(script: Script) -> AsyncIterator[URL]:
    """Run ``script`` on a loopback ``TestServer`` and yield its base URL."""
    async with TestServer(script.app) as server:
        try:
            yield server.make_url("/")
        finally:
            script.gate.set()


class RawScript:
    """A raw asyncio server: the first ``truncate`` connections get a body cut short.

    A truncated answer declares ``Content-Length: 100``, sends 10 bytes and closes the
    connection; later connections get a complete ``200 []`` and are closed too.
    """

    def __init__(self, *, truncate: int) -> None:
        self.truncate = truncate
        self.requests: list[str] = []
        """The request line of each request received."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            self.requests.append(lines[0])
            if len(self.requests) <= self.truncate:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100\r\n\r\n[1,2,3,4,5"
                )
            else:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\nConnection: close\r\n\r\n[]"
                )
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def serve_raw(script: RawScript) -> AsyncIterator[URL]:
    """Run a :class:`RawScript` on a loopback socket and yield its base URL."""
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield URL(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses every connection for as long as the block runs.

    The port stays bound (and never listens) until the block ends, so nothing else on a busy
    machine (another test worker included) can take it meanwhile: a connection is always
    refused.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


def no_wait(sleep: Callable[[float], Awaitable[None]] | None = None, **kwargs: Any) -> RetryPolicy:
    """A retry policy whose sleep returns at once (a new :class:`RecordingSleep` by default)
    and whose jitter is 0, so the delays are the exact backoff."""
    return RetryPolicy(sleep=sleep or RecordingSleep(), random=lambda: 0.0, **kwargs)


def client_for(
    url: URL | str, sleeps: RecordingSleep | None = None, **options: Any
) -> TahdahClient:
    """A client of ``url`` whose retries do not wait (unless ``retry=`` is given)."""
    options.setdefault("retry", no_wait(sleeps))
    return TahdahClient(TOKEN, base_url=url, **options)


def record_attempt_limits(
    client: TahdahClient, monkeypatch: pytest.MonkeyPatch, *, retry_read: float | None = None
) -> list[aiohttp.ClientTimeout]:
    """Record the aiohttp limits ``client`` gives each attempt, as it chose them.

    With ``retry_read``, attempts after the first are sent with that read timeout instead: a
    first attempt can meet a server that never answers, so its short read timeout must fire,
    while a retry answered at once must not time out on a machine too busy to read the answer
    within that same short limit.
    """
    transport = client._transport
    send = transport.send
    given: list[aiohttp.ClientTimeout] = []

    async def spy(
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        limits: aiohttp.ClientTimeout,
        **options: Any,
    ) -> Response:
        given.append(limits)
        if retry_read is not None and len(given) > 1:
            limits = attrs.evolve(limits, sock_read=retry_read)
        return await send(method, url, headers=headers, body=body, limits=limits, **options)

    monkeypatch.setattr(transport, "send", spy)
    return given


@contextlib.asynccontextmanager
async def raw_server(reply: bytes) -> AsyncIterator[tuple[URL, list[bytes]]]:
    """Answer every request with the exact bytes ``reply``; yield the URL and the heads seen."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HANG):
                seen.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(reply)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield URL(f"http://127.0.0.1:{port}/"), seen
    finally:
        server.close()
        await server.wait_closed()
