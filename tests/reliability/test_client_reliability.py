"""Client reliability against real loopback servers that misbehave.

* a storm of cancellations at every stage of a call (each forced) through one pooled
  connection, then normal calls;
* a server that sends its headers and then nothing;
* a server that drops the connection in the middle of the body;
* error pages from proxies (HTML, plain text, odd content types, broken JSON);
* no credential in any log line, ours or aiohttp's, at DEBUG.

Every call runs under an outer ``asyncio.timeout`` so a hang fails the test instead of stalling
the suite. Randomness comes from seeded ``random.Random`` instances.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import random
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Final

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.connector import _TransportPlaceholder
from aiohttp.test_utils import TestServer
from yarl import URL

from tahdah_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InternalServerError,
    NotFoundError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    TahdahClient,
    TahdahError,
    Timeout,
)
from tahdah_async._transport import Transport
from tests.conftest import TOKEN, RecordingSleep
from tests.servers import (
    Script,
    client_for,
    echo_authorization,
    record_attempt_limits,
    refusing_port,
    respond,
    serve,
    stall,
)

GUARD: Final = 60.0
"""Seconds after which a call that should have ended counts as hanging: generous, so only a
real hang reaches it, however loaded the machine is."""
GROUPS_PATH: Final = "/api/trustgroups/legalentities/1/trustgroups"


# -- 1. a storm of cancellations through one pooled connection ---------------------------------

STORM_BODY: Final = b"[" + b" " * 4000 + b"]"
"""An empty JSON list, padded so that a body held after its first byte has a middle."""
UPLOAD: Final = {"blob": "x" * 100_000}
"""A request body big enough that the server can be holding it half read."""
UPLOADS_PATH: Final = "/api/uploads"

STAGES: Final = ("queued", "reading", "waiting", "streaming", "connecting")
"""Where a storm call is cancelled, each stage forced, never left to chance: ``queued`` for
the pool's only connection, or ``connecting`` (opening a new one), so the server never sees
it; or held by the server while it is ``reading`` the body, ``waiting`` before the headers,
or ``streaming`` (mid-body). ``connecting`` follows ``streaming``, whose cancelled call took
its connection down with it, so the pool has none to lend."""
STYLES: Final = ("cancel", "wait_for")
"""How the cancellation comes: ``task.cancel()``, or the timeout of an ``asyncio.wait_for``:
short, and it must fire, as the call it waits for is held until it goes away (or, while
connecting, which nothing holds, 0: the call is cancelled at once, where it is)."""
CANCELLATIONS: Final = 1000
"""Round-robin over the stages, then the styles: 100 of each (stage, style) pair."""
SHORT: Final = 0.001
"""The ``wait_for`` timeout: only when it fires matters, never how long it took."""
STORM_GUARD: Final = 300.0
"""Seconds the storm may take before it counts as hung: some 10 s alone with asyncio's debug
mode, several times that on a loaded machine; nothing in it waits on time."""
HELD: Final = ("hold", "reading", "waiting", "streaming")
"""The plans of :class:`Holding` that hold a request, each with a ``reached`` event."""


class Holding:
    """An app that answers ``STORM_BODY`` to every request, holding each where it was planned.

    ``plan(p)`` queues the plan of the next request to arrive (``answer`` when none is queued):

    * ``hold``: read the request, then wait before the headers until ``resume`` is set;
    * ``reading``: read the first chunk of the body, then hold;
    * ``waiting``: read the whole request, then hold before the headers;
    * ``streaming``: send the headers and the first byte of the body, then hold;
    * ``answer``: hold nowhere.

    ``reached[p]`` is set when a request holds; ``reading``, ``waiting`` and ``streaming`` hold
    until the client goes away (``TestServer`` cancels the handler then). ``stages`` counts,
    per plan, how far each request got: ``arrived``, then ``complete`` or ``gone <stage>``;
    ``seen`` the (plan, method, path) of each; ``idle`` is set while no handler runs.
    """

    def __init__(self) -> None:
        self.plans: collections.deque[str] = collections.deque()
        self.reached = {plan: asyncio.Event() for plan in HELD}
        self.resume = asyncio.Event()
        self.stages: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.seen: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.running = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    def plan(self, plan: str) -> None:
        if plan in self.reached:
            self.reached[plan].clear()
        self.plans.append(plan)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        plan = self.plans.popleft() if self.plans else "answer"
        self.seen[plan, request.method, request.path] += 1
        stages = self.stages[plan]
        stages["arrived"] += 1
        self.running += 1
        self.idle.clear()
        stage = "reading"
        try:
            if plan == "reading":
                assert await request.content.readany()
                await self._hold(plan)
            await request.read()
            stage = "waiting"
            if plan == "waiting":
                await self._hold(plan)
            elif plan == "hold":
                self.reached[plan].set()
                await self.resume.wait()
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = len(STORM_BODY)
            await response.prepare(request)
            stage = "streaming"
            await response.write(STORM_BODY[:1])
            if plan == "streaming":
                await self._hold(plan)
            await response.write(STORM_BODY[1:])
            stages["complete"] += 1
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            stages[f"gone {stage}"] += 1
            raise
        finally:
            self.running -= 1
            if not self.running:
                self.idle.set()

    async def _hold(self, plan: str) -> None:
        self.reached[plan].set()
        await asyncio.Event().wait()  # never set: until the client goes away


class Storm:
    """Calls through ``client`` (one pooled connection), each cancelled at a forced stage.

    The seeded ``rng`` only picks what does not decide the stage: whether a call is a GET or
    a big POST (always a POST when the server must be reading its body), and how many event
    loop turns pass between reaching the stage and cancelling (the server holds meanwhile).
    """

    def __init__(self, rng: random.Random, server: Holding, client: TahdahClient) -> None:
        self.rng = rng
        self.server = server
        self.client = client
        self.done: collections.Counter[tuple[str, str]] = collections.Counter()
        self.sent: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.completed = 0

    def call(self, plan: str | None, *, upload: bool = False) -> asyncio.Task[Any]:
        """Start a call that gets ``[]``; ``plan`` is the server's plan for it (``None``: it
        must never reach the server)."""
        if upload or self.rng.random() < 0.2:
            method, path = "POST", UPLOADS_PATH
            call = self.client.request(method, path, json=UPLOAD)
        else:
            method, path = "GET", GROUPS_PATH
            call = self.client.trust_groups.list(1)
        if plan is not None:
            self.server.plan(plan)
            self.sent[plan, method, path] += 1
        return asyncio.ensure_future(call)

    async def held(self, plan: str, *, upload: bool = False) -> asyncio.Task[Any]:
        """Start a call and return it once the server holds it as ``plan`` says."""
        task = self.call(plan, upload=upload)
        signal = asyncio.ensure_future(self.server.reached[plan].wait())
        try:
            await asyncio.wait((task, signal), return_when=asyncio.FIRST_COMPLETED)
        finally:
            signal.cancel()
            await asyncio.gather(signal, return_exceptions=True)
        if task.done():  # it ended before the server held it: show why
            raise AssertionError(f"the call ended before the server held it: {task.result()!r}")
        return task

    async def in_pool(self, stage: str) -> asyncio.Task[Any]:
        """Start a call and return it once it is ``queued`` for the pool's only (held)
        connection, or ``connecting`` (opening a new one), before any byte is sent."""
        pool = _pool(self.client)
        if stage == "connecting":
            assert not pool._conns  # no idle connection to reuse: the call must open one
        task = self.call(None)
        # No I/O comes before either stage in a call: it gets there within a few turns of the
        # loop, a number set by the code, not by how fast the machine is.
        for _ in range(50):
            if (_waiting(self.client) if stage == "queued" else _connecting(self.client)) == 1:
                return task
            assert not task.done(), task.result()
            await asyncio.sleep(0)
        raise AssertionError(f"the call never got {stage}")

    async def cancel_one(self, stage: str, style: str) -> None:
        """Start a call, cancel it at ``stage`` in ``style``, and check what that did."""
        holder = None
        if stage == "queued":
            holder = await self.held("hold")  # takes the pool's only connection
            task = await self.in_pool(stage)
        elif stage == "connecting":
            task = await self.in_pool(stage)
        else:
            task = await self.held(stage, upload=stage == "reading")
        if stage != "connecting":  # nothing holds a connection being opened
            for _ in range(self.rng.randrange(4)):  # the stage stays: the call is held
                await asyncio.sleep(0)
        if style == "cancel":
            task.cancel()
            await asyncio.wait({task})
            assert task.cancelled(), task.result()
        else:
            with pytest.raises(TimeoutError) as timed_out:
                await asyncio.wait_for(task, timeout=0 if stage == "connecting" else SHORT)
            assert isinstance(timed_out.value.__cause__, asyncio.CancelledError)  # the call's
            assert task.cancelled()
        if holder is not None:
            assert not holder.done()  # the cancelled call gave up its place; the holder waits
            self.server.resume.set()
            assert await holder == []
            self.server.resume.clear()
            self.completed += 1
        # The cancelled call gave its connection back (or never had one): none is held,
        # nobody waits.
        assert _acquired(self.client) == 0
        assert _waiting(self.client) == 0
        self.done[stage, style] += 1


def _pool(client: TahdahClient) -> aiohttp.TCPConnector:
    transport = client._transport
    assert isinstance(transport, Transport)
    connector = transport.session().connector
    assert isinstance(connector, aiohttp.TCPConnector)
    return connector


def _acquired(client: TahdahClient) -> int:
    """How many connections the client's pool has handed out (or is opening) and not got back."""
    return len(_pool(client)._acquired)


def _connecting(client: TahdahClient) -> int:
    """How many connections the client's pool is opening (aiohttp holds a placeholder each)."""
    return sum(isinstance(held, _TransportPlaceholder) for held in _pool(client)._acquired)


def _waiting(client: TahdahClient) -> int:
    """How many requests wait for a pooled connection."""
    return sum(len(waiters) for waiters in _pool(client)._waiters.values())


async def test_a_thousand_cancellations_at_every_stage_leak_no_pooled_connection() -> None:
    server = Holding()
    sleeps = RecordingSleep()
    async with (
        TestServer(server.app) as test_server,
        client_for(
            test_server.make_url("/"), sleeps, connection_limit=1, timeout=Timeout(read=GUARD)
        ) as client,
    ):
        storm = Storm(random.Random(1000), server, client)
        async with asyncio.timeout(STORM_GUARD):  # only a hang reaches it
            for number in range(CANCELLATIONS):
                stage = STAGES[number % len(STAGES)]
                style = STYLES[number // len(STAGES) % len(STYLES)]
                await storm.cancel_one(stage, style)

            # With a leaked connection these would wait forever for the only one.
            results = await asyncio.gather(*(client.trust_groups.list(2) for _ in range(100)))
            assert results == [[]] * 100
            assert _acquired(client) == 0
            assert _waiting(client) == 0
            await server.idle.wait()  # every handler ended, the cancelled ones too

    each = CANCELLATIONS // (len(STAGES) * len(STYLES))
    assert storm.done == {(stage, style): each for stage in STAGES for style in STYLES}
    assert storm.completed == CANCELLATIONS // len(STAGES)  # one holder per queued call
    assert sleeps.delays == []  # no cancellation was mistaken for a failure and retried
    # Every call reached the stage it was cancelled in, and ended there; the queued and the
    # connecting ones never reached the server at all (no plan was queued for them).
    per_stage = CANCELLATIONS // len(STAGES)
    assert server.stages == {
        "hold": {"arrived": per_stage, "complete": per_stage},
        "reading": {"arrived": per_stage, "gone reading": per_stage},
        "waiting": {"arrived": per_stage, "gone waiting": per_stage},
        "streaming": {"arrived": per_stage, "gone streaming": per_stage},
        "answer": {"arrived": 100, "complete": 100},
    }
    assert not server.plans
    final = ("answer", "GET", "/api/trustgroups/legalentities/2/trustgroups")
    assert server.seen == storm.sent + collections.Counter({final: 100})
    # The big POSTs reached every stage (every time the server held a body half read).
    uploads = {plan: n for (plan, method, _), n in server.seen.items() if method == "POST"}
    assert set(uploads) == set(HELD)
    assert uploads["reading"] == per_stage


# -- a raw server for stalls and cut bodies -----------------------------------------------------


@attrs.frozen
class Received:
    """One request as the raw server read it."""

    method: str
    path: str
    body: bytes


STALL: Final = "stall"
"""Send the status line and headers (``Content-Length: 100``), then nothing."""
CUT: Final = "cut"
"""Declare ``Content-Length: 1000``, send 100 bytes of the body, close the connection."""
CUT_CHUNKED: Final = "cut chunked"
"""Send one 100-byte chunk of a chunked body, close the connection before the last chunk."""
DROP: Final = "drop"
"""Read the request, close the connection without a byte of response."""
EARLY_413: Final = "early 413"
"""Answer an nginx ``413`` page without reading the request body, close the connection."""
OK: Final = "ok"
"""Answer ``200 []`` completely."""

NGINX_413: Final = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n"
)


class RawServer:
    """A loopback HTTP/1.1 server that plays one scripted act per connection (the last repeats).

    Raw sockets, so that what goes on the wire is exactly what the act says: aiohttp's own
    server holds headers back until the first body write.
    """

    def __init__(self, *acts: str) -> None:
        self.requests: list[Received] = []
        self._acts = list(acts)
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.after_stall: list[bytes] = []
        """What the client did after each stall: ``b""`` when it hung up."""
        self.stall_ended = asyncio.Event()

    @property
    def methods(self) -> list[str]:
        return [request.method for request in self.requests]

    async def stalls_ended(self, count: int) -> None:
        """Wait until the client ended ``count`` stalls (it may hang up after its call ended)."""
        async with asyncio.timeout(GUARD):
            while len(self.after_stall) < count:
                self.stall_ended.clear()
                await self.stall_ended.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            act = self._acts.pop(0) if len(self._acts) > 1 else self._acts[0]
            body = b"" if act == EARLY_413 else await reader.readexactly(length)
            self.requests.append(Received(method, path, body))
            start = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            if act == STALL:
                try:
                    writer.write(start + b"Content-Length: 100\r\n\r\n")
                    await writer.drain()
                    # Until the client gives up and hangs up (b""), or sends a byte it must not.
                    rest = await reader.read(1)
                except ConnectionError:  # it hung up already, or with a reset
                    rest = b""
                self.after_stall.append(rest)
                self.stall_ended.set()
            elif act == CUT:
                writer.write(start + b"Content-Length: 1000\r\n\r\n[" + b" " * 99)
                await writer.drain()
            elif act == CUT_CHUNKED:
                writer.write(start + b"Transfer-Encoding: chunked\r\n\r\n64\r\n[" + b" " * 99)
                await writer.drain()
            elif act == EARLY_413:
                writer.write(
                    b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: text/html\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (len(NGINX_413), NGINX_413)
                )
                await writer.drain()
            elif act == DROP:
                pass
            else:
                writer.write(start + b"Content-Length: 2\r\nConnection: close\r\n\r\n[]")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            del self._open[task]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[URL]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield URL(f"http://127.0.0.1:{port}/")
        finally:
            server.close()
            # Hang up on connections still open, so their handlers end on their own
            # (asyncio logs an error for a cancelled connection handler).
            for writer in self._open.values():
                writer.transport.abort()
            async with asyncio.timeout(GUARD):
                await asyncio.gather(*self._open, return_exceptions=True)
            await server.wait_closed()


async def guarded(call: Awaitable[Any]) -> tuple[Any, BaseException | None]:
    """Await ``call`` under the guard; return its result or its error."""
    try:
        async with asyncio.timeout(GUARD):
            result = await call
    except TimeoutError:
        raise AssertionError(f"the call was still running after {GUARD} s") from None
    except Exception as exc:
        return None, exc
    return result, None


def notes(error: BaseException) -> list[str]:
    return list(getattr(error, "__notes__", []))


def assert_tokenless(error: BaseException) -> None:
    """The error's message, repr and notes do not show the token."""
    for text in (str(error), repr(error), *notes(error)):
        assert TOKEN not in text


# -- 2. headers, then silence --------------------------------------------------------------------


async def test_a_get_whose_server_stalls_after_the_headers_times_out_after_each_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = RawServer(STALL)
    sleeps = RecordingSleep()
    async with (
        raw.serve() as url,
        client_for(url, sleeps, timeout=Timeout(read=0.1), max_retries=2) as client,
    ):
        timeouts = record_attempt_limits(client, monkeypatch)
        _, error = await guarded(client.trust_groups.list(1))
        await raw.stalls_ended(3)
    assert type(error) is APITimeoutError
    assert error.request_sent is True
    assert (error.method, error.path) == ("GET", GROUPS_PATH)
    assert str(error) == (
        f"timed out waiting for the response to GET {GROUPS_PATH}. Gave up after 3 attempts"
    )
    assert error.retry_note == "Gave up after 3 attempts"
    assert_tokenless(error)
    assert raw.methods == ["GET", "GET", "GET"]
    assert sleeps.delays == [0.5, 1.0]
    # Three read timeouts of 0.1 s, not a hang: each attempt had that limit, and each time the
    # client, not the server, ended the stall by hanging up.
    assert [limits.sock_read for limits in timeouts] == [0.1, 0.1, 0.1]
    assert raw.after_stall == [b"", b"", b""]


async def test_a_get_whose_server_stalls_after_the_headers_once_succeeds_on_the_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = RawServer(STALL, OK)
    sleeps = RecordingSleep()
    async with (
        raw.serve() as url,
        client_for(url, sleeps, timeout=Timeout(read=0.1)) as client,
    ):
        # The stalled first attempt must time out; the retry, answered at once, must not, so it
        # goes out with a long read limit (a loaded machine may take longer than 0.1 s).
        timeouts = record_attempt_limits(client, monkeypatch, retry_read=GUARD * 2)
        result, error = await guarded(client.trust_groups.list(1))
        await raw.stalls_ended(1)
    assert error is None
    assert result == []
    assert raw.methods == ["GET", "GET"]
    assert raw.after_stall == [b""]
    assert sleeps.delays == [0.5]
    assert [limits.sock_read for limits in timeouts] == [0.1, 0.1]  # as the client chose them


async def test_a_post_whose_server_stalls_after_the_headers_times_out_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = RawServer(STALL, OK)
    sleeps = RecordingSleep()
    async with (
        raw.serve() as url,
        client_for(url, sleeps, timeout=Timeout(read=0.1), max_retries=2) as client,
    ):
        timeouts = record_attempt_limits(client, monkeypatch)
        _, error = await guarded(client.candidates.create(first_name="Ada"))
        await raw.stalls_ended(1)
    assert type(error) is APITimeoutError
    assert error.request_sent is True
    assert (error.method, error.path) == ("POST", "/api/candidates")
    assert notes(error) == []
    assert_tokenless(error)
    assert raw.methods == ["POST"]
    assert json.loads(raw.requests[0].body) == {"firstName": "Ada"}
    assert sleeps.delays == []
    # One read timeout of 0.1 s: the attempt had that limit, and the client hung up.
    assert [limits.sock_read for limits in timeouts] == [0.1]
    assert raw.after_stall == [b""]


# -- 3. the connection dropped in the middle of the body ----------------------------------------

SAFE_CALLS: Final[dict[str, tuple[str, Callable[[TahdahClient], Awaitable[Any]], Any]]] = {
    "GET": (GROUPS_PATH, lambda client: client.trust_groups.list(1), []),
    "PUT": (
        "/api/candidates/7",
        lambda client: client.candidates.update(7, first_name="Ada"),
        None,
    ),
    "DELETE": ("/api/candidates/7", lambda client: client.candidates.delete(7), None),
}


@pytest.mark.parametrize("cut", [CUT, CUT_CHUNKED, DROP])
@pytest.mark.parametrize("method", list(SAFE_CALLS))
async def test_a_safe_call_whose_response_is_cut_is_retried_and_succeeds(
    method: str, cut: str
) -> None:
    path, call, expected = SAFE_CALLS[method]
    raw = RawServer(cut, OK)
    sleeps = RecordingSleep()
    async with raw.serve() as url, client_for(url, sleeps) as client:
        result, error = await guarded(call(client))
    assert error is None
    assert result == expected
    assert raw.methods == [method, method]
    assert [request.path for request in raw.requests] == [path, path]
    # The retry sends the very same request again.
    assert raw.requests[0].body == raw.requests[1].body
    if method == "PUT":
        assert json.loads(raw.requests[1].body) == {"firstName": "Ada"}
    assert sleeps.delays == [0.5]


@pytest.mark.parametrize("method", list(SAFE_CALLS))
async def test_a_safe_call_whose_body_is_always_cut_gives_up_with_a_connection_error(
    method: str,
) -> None:
    path, call, _ = SAFE_CALLS[method]
    raw = RawServer(CUT)
    sleeps = RecordingSleep()
    async with raw.serve() as url, client_for(url, sleeps, max_retries=2) as client:
        _, error = await guarded(call(client))
    assert type(error) is APIConnectionError
    assert error.request_sent is True
    assert (error.method, error.path) == (method, path)
    assert str(error).startswith(f"connection failed during {method} {path}: ")
    assert str(error).endswith(". Gave up after 3 attempts")
    assert error.retry_note == "Gave up after 3 attempts"
    assert_tokenless(error)
    assert raw.methods == [method] * 3
    assert sleeps.delays == [0.5, 1.0]


POST_CALLS: Final[dict[str, tuple[str, Callable[[TahdahClient], Awaitable[Any]]]]] = {
    "candidates.create": ("/api/candidates", lambda c: c.candidates.create(first_name="Ada")),
    "request": ("/api/widgets", lambda c: c.request("POST", "/api/widgets", json={"a": 1})),
}


@pytest.mark.parametrize("cut", [CUT, CUT_CHUNKED, DROP])
@pytest.mark.parametrize("name", list(POST_CALLS))
async def test_a_post_whose_response_is_cut_raises_after_one_attempt(name: str, cut: str) -> None:
    path, call = POST_CALLS[name]
    raw = RawServer(cut, OK)
    sleeps = RecordingSleep()
    async with raw.serve() as url, client_for(url, sleeps, max_retries=2) as client:
        _, error = await guarded(call(client))
    assert type(error) is APIConnectionError
    assert error.request_sent is True
    assert (error.method, error.path) == ("POST", path)
    assert str(error).startswith(f"connection failed during POST {path}: ")
    assert notes(error) == []
    assert error.__cause__ is None  # aiohttp's error, which holds the headers, is not chained
    assert_tokenless(error)
    assert raw.methods == ["POST"]
    assert sleeps.delays == []


async def test_an_early_413_for_a_big_upload_is_the_status_error_not_a_broken_pipe() -> None:
    # The proxy answers before reading the body and hangs up while the client still sends.
    raw = RawServer(EARLY_413)
    sleeps = RecordingSleep()
    async with raw.serve() as url, client_for(url, sleeps, max_retries=2) as client:
        # Under 1 MiB: aiohttp warns about bigger bodies (see the test below).
        upload = client.request("POST", "/api/uploads", json={"blob": "x" * 1_000_000})
        _, error = await guarded(upload)
    assert type(error) is APIStatusError
    assert error.status == 413
    assert str(error) == (
        "413 Request Entity Too Large for POST /api/uploads: 413 Request Entity Too Large"
    )
    assert error.body == NGINX_413.decode()
    assert raw.methods == ["POST"]
    assert sleeps.delays == []


async def test_a_json_body_over_a_mebibyte_is_sent_without_a_warning() -> None:
    script = Script(respond(200, {"ok": True}))
    blob = "x" * (1 << 20)
    async with serve(script) as url, client_for(url) as client:
        result = await client.request("POST", "/api/uploads", json={"blob": blob})
    assert result == {"ok": True}
    assert script.requests[0].json() == {"blob": blob}


# -- 4. error pages from proxies ----------------------------------------------------------------


@attrs.frozen
class ProxyPage:
    """An error reply with exactly these bytes, reason and ``Content-Type``.

    ``{auth}`` in the body is replaced by the request's ``Authorization`` header.
    """

    status: int
    reason: str
    body: bytes
    content_type: str
    method: str
    """The request that gets it: ``GET`` lists trust groups, ``POST`` creates a candidate."""
    error: type[APIStatusError]
    summary: str
    """The message after ``<status> <reason> for <method> <path>: ``."""
    attempts: int = 1
    charset: str = "utf-8"
    """How the body's bytes read as text."""

    async def reply(self, request: web.Request) -> web.StreamResponse:
        body = self.body.replace(b"{auth}", request.headers["Authorization"].encode())
        response = web.Response(status=self.status, reason=self.reason, body=body)
        response.headers["Content-Type"] = self.content_type
        return response

    @property
    def path(self) -> str:
        return GROUPS_PATH if self.method == "GET" else "/api/candidates"

    def call(self, client: TahdahClient) -> Awaitable[Any]:
        if self.method == "GET":
            return client.trust_groups.list(1)
        return client.candidates.create(first_name="Ada")


NGINX_502: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
NGINX_401: Final = (
    b"<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    b"<center><h1>401 Authorization Required</h1></center>\r\n</body>\r\n</html>\r\n"
)
HUGE_503: Final = b"<html><body>" + b"<p>Please try again later.</p>\n" * 2000 + b"</body></html>"
GAVE_UP: Final = ". Gave up after 3 attempts"

PROXY_PAGES: Final = {
    "502 nginx html": ProxyPage(
        status=502,
        reason="Bad Gateway",
        body=NGINX_502,
        content_type="text/html",
        method="GET",
        error=InternalServerError,
        summary="502 Bad Gateway" + GAVE_UP,
        attempts=3,
    ),
    "502 html without a title": ProxyPage(
        status=502,
        reason="Bad Gateway",
        body=b"<!DOCTYPE html><html><body><h1>Bad gateway</h1>\n<p>Error <b>502</b></p></body>",
        content_type="text/html; charset=utf-8",
        method="POST",
        error=InternalServerError,
        summary="Bad gateway Error 502" + GAVE_UP,
        attempts=3,
    ),
    "503 text/plain": ProxyPage(
        status=503,
        reason="Service Unavailable",
        body=b"Service Unavailable\n",
        content_type="text/plain; charset=us-ascii",
        method="GET",
        error=InternalServerError,
        summary="Service Unavailable" + GAVE_UP,
        attempts=3,
    ),
    "503 huge html without a title": ProxyPage(
        status=503,
        reason="Service Unavailable",
        body=HUGE_503,
        content_type="text/html",
        method="POST",
        error=InternalServerError,
        summary=("Please try again later. " * 13)[:299] + "…" + GAVE_UP,
        attempts=3,
    ),
    "401 nginx html": ProxyPage(
        status=401,
        reason="Unauthorized",
        body=NGINX_401,
        content_type="text/html",
        method="GET",
        error=AuthenticationError,
        summary="401 Authorization Required",
    ),
    "401 html echoing the token": ProxyPage(
        status=401,
        reason="Unauthorized",
        body=b"<html><head><title>Rejected: {auth}</title></head><body>{auth}</body></html>",
        content_type="text/html",
        method="POST",
        error=AuthenticationError,
        summary="Rejected: Bearer ***",
    ),
    "413 html with an odd content type": ProxyPage(
        status=413,
        reason="Request Entity Too Large",
        body=NGINX_413,
        content_type="application/x-nginx-error; charset=klingon",
        method="POST",
        error=APIStatusError,
        summary="413 Request Entity Too Large",
    ),
    "413 bytes that are not utf-8": ProxyPage(
        status=413,
        reason="Payload Too Large",
        body=b"too big \xff\xfe!",
        content_type="x/y;;;==",
        method="POST",
        error=APIStatusError,
        summary="too big \ufffd\ufffd!",
    ),
    "500 broken json": ProxyPage(
        status=500,
        reason="Internal Server Error",
        body=b'{"error": "Internal failure", "trace',
        content_type="application/json",
        method="POST",
        error=InternalServerError,
        summary='{"error": "Internal failure", "trace',
    ),
    "500 broken json, retried for a get": ProxyPage(
        status=500,
        reason="Internal Server Error",
        body=b"{oops}",
        content_type="application/json; charset=utf-8",
        method="GET",
        error=InternalServerError,
        summary="{oops}" + GAVE_UP,
        attempts=3,
    ),
}


FIXED_BUG_PAGES: Final = [
    pytest.param(
        ProxyPage(
            status=503,
            reason="Service Unavailable",
            body=b"<html><head><title>Maintenance &amp; upgrades &#8212; back at 10:00</title>",
            content_type="text/html",
            method="POST",
            error=InternalServerError,
            summary="Maintenance & upgrades \u2014 back at 10:00" + GAVE_UP,
            attempts=3,
        ),
        id="503 html title with entities",
    ),
    pytest.param(
        ProxyPage(
            status=401,
            reason="Unauthorized",
            body="<html><title>Zugriff verweigert: Schl\u00fcssel ung\u00fcltig</title>".encode(
                "iso-8859-1"
            ),
            content_type="text/html; charset=iso-8859-1",
            method="GET",
            error=AuthenticationError,
            summary="Zugriff verweigert: Schl\u00fcssel ung\u00fcltig",
            charset="iso-8859-1",
        ),
        id="401 html in iso-8859-1",
    ),
]
"""Pages that were once summarised wrongly (HTML entities in a title, a body in ISO-8859-1):
regression cases, each passing since its fix, kept apart to show what they guard."""


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, id=name) for name, case in PROXY_PAGES.items()] + FIXED_BUG_PAGES,
)
async def test_a_proxy_error_page_gives_a_typed_short_tokenless_error(case: ProxyPage) -> None:
    script = Script(case.reply)
    async with serve(script) as url, client_for(url, max_retries=2) as client:
        _, error = await guarded(case.call(client))

    assert isinstance(error, TahdahError)
    assert type(error) is case.error
    assert error.status == case.status
    assert (error.method, error.path) == (case.method, case.path)
    prefix = f"{case.status} {case.reason} for {case.method} {case.path}: "
    assert str(error) == prefix + case.summary
    assert len(str(error)) < 400
    assert "<" not in str(error)
    sent = case.body.replace(b"{auth}", f"Bearer {TOKEN}".encode())
    assert error.body == sent.decode(case.charset, "replace")  # kept whole, as the server sent it
    assert error.response.content == sent
    assert error.problem is None
    assert error.__cause__ is None
    assert error.__context__ is None
    assert_tokenless(error)
    assert script.count == case.attempts
    assert [seen.headers["Authorization"] for seen in script.requests] == [
        f"Bearer {TOKEN}"
    ] * case.attempts


# -- 5. no credential in any log line -----------------------------------------------------------

LOGGERS: Final = (
    "",
    "asyncio",
    "tahdah_async",
    "aiohttp",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
)
hook_log = logging.getLogger("tests.reliability.hooks")
caught_log = logging.getLogger("tests.reliability.caught")


class Keep(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def every_record() -> Iterator[list[logging.LogRecord]]:
    """Every record of every logger, with the root, SDK and aiohttp loggers at DEBUG."""
    loggers = [logging.getLogger(name) for name in LOGGERS]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        yield keep.records
    finally:
        logging.getLogger().removeHandler(keep)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled


FORMAT: Final = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")


def shown(record: logging.LogRecord) -> str:
    """All a log handler could print of ``record``: message, args, traceback, stack."""
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    parts = [FORMAT.format(record), str(record.msg), repr(record.args)]
    parts += [str(arg) for arg in args]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(record.exc_info[1])))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def leaks(records: list[logging.LogRecord]) -> list[str]:
    return [shown(record) for record in records if TOKEN in shown(record)]


def test_the_log_check_finds_the_token_in_a_message_args_or_a_traceback() -> None:
    def record(msg: str, args: Any = (), exc: BaseException | None = None) -> logging.LogRecord:
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
        return logging.LogRecord("x", logging.DEBUG, __file__, 1, msg, args, exc_info)

    try:
        try:
            raise KeyError(TOKEN)
        except KeyError:
            raise ValueError("wrapped") from None
    except ValueError as exc:
        hidden = exc  # the token is only in the suppressed context: not shown

    try:
        try:
            raise KeyError(TOKEN)
        except KeyError as exc:
            raise ValueError("wrapped") from exc
    except ValueError as exc:
        chained = exc

    assert len(leaks([record(f"a {TOKEN}")])) == 1
    assert len(leaks([record("a %s", (TOKEN,))])) == 1
    assert len(leaks([record("a %(h)s", ({"h": {"Authorization": TOKEN}},))])) == 1
    assert len(leaks([record("boom", exc=chained)])) == 1
    assert leaks([record("boom", exc=hidden), record("a %s", ("Bearer ***",))]) == []


def log_caught(error: BaseException) -> None:
    caught_log.debug("caught %s: %s", type(error).__name__, error, exc_info=error)


async def test_no_credential_in_any_log_line_at_debug(
    every_record: list[logging.LogRecord],
) -> None:
    sleeps = RecordingSleep()
    events: list[str] = []

    def on_request(event: RequestEvent) -> None:
        events.append("request")
        hook_log.debug("request %r", event)

    def on_response(event: ResponseEvent) -> None:
        events.append("response")
        hook_log.debug("response %r headers=%s", event, dict(event.response.headers))

    async def on_retry(event: RetryEvent) -> None:
        events.append("retry")
        hook_log.info("retry %r error=%s", event, event.error)

    hooks: dict[str, Any] = {
        "on_request": on_request,
        "on_response": on_response,
        "on_retry": on_retry,
    }
    script = Script()
    errors: list[type[BaseException]] = []

    async def expect(error: type[TahdahError], call: Awaitable[Any]) -> None:
        _, raised = await guarded(call)
        assert isinstance(raised, error)
        errors.append(type(raised))
        log_caught(raised)

    async with serve(script) as url, client_for(url, sleeps, **hooks) as client:
        # Success, then success after two retries.
        script.reply(respond(200, [{"id": 1}]))
        assert len(await client.trust_groups.list(1)) == 1
        script.reply(
            echo_authorization(503), respond(429, headers={"Retry-After": "0"}), respond(200, [])
        )
        assert await client.trust_groups.list(1) == []
        # 4xx and 5xx errors that echo the token, through the client and through views.
        script.reply(echo_authorization(401))
        await expect(AuthenticationError, client.candidates.create(first_name="Ada"))
        script.reply(PROXY_PAGES["401 html echoing the token"].reply)
        traced = client.with_options(headers={"X-Trace": "abc"}, max_retries=1)
        await expect(AuthenticationError, traced.trust_groups.list(1))
        script.reply(echo_authorization(500))
        await expect(InternalServerError, traced.trust_groups.list(1))  # retried, then given up
        # The escape hatch.
        script.reply(respond(404, {"title": "Not Found", "detail": f"no key {TOKEN}"}))
        await expect(NotFoundError, client.request("DELETE", "/api/things/7", params={"q": "x"}))
        script.reply(respond(200, {"ok": True}))
        assert await client.request("POST", "/api/echo", json={"a": 1}) == {"ok": True}
        # A read timeout, retried once.
        script.reply(stall(script.gate))
        hasty = client.with_options(timeout=Timeout(read=0.05), max_retries=1)
        await expect(APITimeoutError, hasty.trust_groups.list(1))

    # Connections cut mid-body: retried for a GET, raised for a POST; a refused connection.
    cut = RawServer(CUT, OK, CUT)
    async with cut.serve() as url, client_for(url, sleeps, **hooks) as client:
        assert await client.trust_groups.list(1) == []
        await expect(APIConnectionError, client.candidates.create(first_name="Ada"))
    with refusing_port() as port:
        refused = f"http://127.0.0.1:{port}"
        async with client_for(refused, sleeps, max_retries=1, **hooks) as client:
            await expect(APIConnectionError, client.trust_groups.list(1))

    # The calls went as planned, so the logs below saw all of it.
    assert errors == [
        AuthenticationError,
        AuthenticationError,
        InternalServerError,
        NotFoundError,
        APITimeoutError,
        APIConnectionError,
        APIConnectionError,
    ]
    assert script.count == 12
    assert {seen.headers["Authorization"] for seen in script.requests} == {f"Bearer {TOKEN}"}
    assert cut.methods == ["GET", "GET", "POST"]
    assert events.count("retry") == 6
    assert sleeps.delays == [0.5, 0.0, 0.5, 0.5, 0.5, 0.5]

    names = {record.name for record in every_record}
    assert {"tahdah_async", "aiohttp.access", hook_log.name, caught_log.name} <= names
    ours = {record.levelno for record in every_record if record.name == "tahdah_async"}
    assert {logging.DEBUG, logging.INFO, logging.WARNING} <= ours
    assert sum(1 for record in every_record if record.exc_info) == len(errors)
    assert leaks(every_record) == []
