"""The aiohttp side of the receiver: guard clauses that turn a request into a status.

Status policy:

====================================================  ======
missing or invalid signature (handlers never run)     401
``Authorization`` differs from the configured value   401
body over the size limit (checked before hashing)     413
body not arrived within ``body_timeout``               408 (the connection is closed)
signed, but no ``Webhook-Verb``                       400
signed, but not JSON (without an inbox)               400
signed JSON that does not fit its event type          400 (without an inbox)
unknown verb (``on_unknown`` handlers run)            202 (or 404 if configured)
a handler raised or timed out                         500, so the sender retries
a duplicate of a delivery already processed           200 ``duplicate``, handlers not run
a resend while another replica still processes it     409 ``in_progress``, ``Retry-After``
processed                                             200 ``processed``
accepted for background processing                    202 (``ack-then-process``)
stored in the inbox (handlers run in a worker)        200 ``stored``
the dedupe store or the inbox cannot be reached       503, ``Retry-After``
any method but POST                                   405
the application is shutting down                      503, ``Retry-After``
====================================================  ======

``create_webhook_app`` answers at its mount path with and without the trailing slash: a
sender configured with either spelling of the URL must not get a 404 and retry forever.
Every answer, message and log line derived from a request is bounded (and the secrets masked)
by :func:`tahdah_async._untrusted.peer_text`, and only answers that depend on no request
bytes are cached.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Final, Literal

from aiohttp import hdrs, web

from .._checks import check_count, check_seconds
from ._limits import TimeLimit, within
from .dedupe import DEFAULT_LEASE, DEFAULT_TTL, DedupeStore
from .inbox import Inbox
from .pipeline import (
    ACK_THEN_PROCESS,
    PROCESS_THEN_ACK,
    SIGNATURE_HEADER,
    UNAVAILABLE,
    VERB_HEADER,
    Mode,
    Outcome,
    WebhookPipeline,
)
from .router import WebhookRouter
from .signature import Secrets
from .worker import InboxWorker

__all__ = [
    "ACK_THEN_PROCESS",
    "DEFAULT_BODY_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "PROCESS_THEN_ACK",
    "SIGNATURE_HEADER",
    "VERB_HEADER",
    "Mode",
    "WebhookReceiver",
    "create_webhook_app",
]

log = logging.getLogger("tahdah_async.webhooks")

DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024
DEFAULT_BODY_TIMEOUT: Final = 30.0
"""Seconds a request body may take to arrive, from the first read, before the answer is 408."""

METHOD_NOT_ALLOWED: Final = 405
REQUEST_TIMEOUT: Final = 408
TOO_LARGE: Final = 413

_CHUNK: Final = 64 * 1024


class WebhookReceiver:
    """Receives Tahdah webhook deliveries over aiohttp: verifies, deduplicates, dispatches.

    ``create_webhook_app`` mounts a receiver for you; or add :meth:`handle` to your own routes
    (``app.router.add_post("/hooks", receiver.handle)``) and call :meth:`attach` so it starts
    and stops with your application.

    Args:
        router: the handlers.
        secrets: the signing secret, several during a rotation, or a callable returning the
            current ones (read on every delivery, so they can change without a restart).
        max_body_size: the largest body accepted, in bytes.
        unknown_verb_status: 202 (accept and ignore) or 404 (so the sender keeps retrying).
        mode: ``"process-then-ack"`` (answer after the handlers) or ``"ack-then-process"``
            (answer 202 at once; the sender then never retries, so a delivery whose handlers
            fail, or that is unfinished when the process dies, is lost; the failure is logged).
            Use an ``inbox`` instead to answer at once without losing anything.
        dedupe: where deliveries are claimed and remembered (shared by replicas when it is a
            :class:`~tahdah_async.webhooks.redis.RedisDedupeStore`); ``None`` turns
            deduplication off.
        dedupe_ttl: how long a processed delivery is remembered, in seconds.
        dedupe_lease: how long a claim lasts while its handlers run, in seconds; it is
            extended while they do.
        authorization: if set, the exact ``Authorization`` header value deliveries must carry.
        inbox: store each verified delivery durably and answer 200 ``stored``; a worker runs
            the handlers, retries, and parks what keeps failing (see
            :mod:`tahdah_async.webhooks.inbox`). The inbox's unique key is the deduplication.
        worker: with an inbox: ``True`` runs an :class:`InboxWorker` with its defaults inside
            the application, an ``InboxWorker`` runs that one, ``False`` none (workers run as
            separate processes: ``tahdah inbox work``).
        drain_timeout: how long shutdown waits for background handlers, in seconds.
        body_timeout: how long a request body may take to arrive, in seconds; a slower one
            is answered 408 and its connection closed, so a slow sender cannot hold a
            connection and its buffer indefinitely.
    """

    def __init__(
        self,
        router: WebhookRouter,
        secrets: Secrets,
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        unknown_verb_status: Literal[202, 404] = 202,
        mode: Mode = PROCESS_THEN_ACK,
        dedupe: DedupeStore | Literal["memory"] | None = "memory",
        dedupe_ttl: float = DEFAULT_TTL,
        dedupe_lease: float = DEFAULT_LEASE,
        authorization: str | None = None,
        inbox: Inbox | None = None,
        worker: bool | InboxWorker = True,
        drain_timeout: float = 30.0,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        check_count(max_body_size, "max_body_size")
        check_seconds(drain_timeout, "drain_timeout")
        check_seconds(body_timeout, "body_timeout")
        if not isinstance(worker, bool | InboxWorker):
            raise TypeError("worker must be True, False or an InboxWorker")
        if isinstance(worker, InboxWorker) and (inbox is None or worker.inbox is not inbox):
            raise ValueError("the worker must work on the receiver's inbox")
        self.worker: InboxWorker | None = None
        if isinstance(worker, InboxWorker):
            self.worker = worker
        elif worker and inbox is not None:
            self.worker = InboxWorker(router, inbox)
        self.pipeline = WebhookPipeline(
            router,
            secrets,
            unknown_verb_status=unknown_verb_status,
            mode=mode,
            dedupe=dedupe,
            dedupe_ttl=dedupe_ttl,
            dedupe_lease=dedupe_lease,
            authorization=authorization,
            inbox=inbox,
            on_stored=self.worker.wake if self.worker is not None else None,
        )
        self.router = router
        self._max_body_size = max_body_size
        self._drain_timeout = float(drain_timeout)
        self._body_timeout = float(body_timeout)
        self._body_limit = TimeLimit(self._body_timeout)
        self._too_large = Outcome(TOO_LARGE, "payload_too_large", {"limit": max_body_size})
        self._tasks: set[asyncio.Task[Outcome]] = set()
        self._closing = False

    def __repr__(self) -> str:
        return f"<WebhookReceiver mode={self.pipeline.mode!r}>"

    # -- aiohttp ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """Handle one request: the aiohttp handler (``app.router.add_post(path, r.handle)``)."""
        # The guard clauses, then the pipeline: one coroutine, since this runs per delivery.
        started = time.perf_counter() if log.isEnabledFor(logging.INFO) else None
        if request.method != "POST":
            return self._respond(Outcome(METHOD_NOT_ALLOWED, "method_not_allowed"), started)
        if self._closing:
            return self._respond(Outcome(UNAVAILABLE, "shutting_down", retry_after=5), started)
        length = request.content_length
        if length is not None and length > self._max_body_size:
            return self._respond(self._too_large, started)
        refused = self.pipeline.refusal(request.headers)
        if refused is not None:
            return self._respond(refused, started)
        content = request.content
        if content.is_eof():
            # All of it has arrived (and been inflated, if compressed): nothing to wait for.
            whole = content.read_nowait()
            body = whole if len(whole) <= self._max_body_size else None
        else:
            try:
                body = await within(self._body_limit, _read(request, self._max_body_size))
            except TimeoutError:
                return self._respond(Outcome(REQUEST_TIMEOUT, "body_timeout"), started)
        if body is None:
            return self._respond(self._too_large, started)
        return self._respond(await self.pipeline.accept(body, request.headers), started)

    def _respond(self, outcome: Outcome, started: float | None) -> web.Response:
        """The HTTP answer to ``outcome``; its log line; its background work started."""
        if outcome.background is not None:
            self._start(outcome)
        if started is not None:
            log.info(
                "webhook %s sha256=%s -> %d %s in %.1f ms",
                self.pipeline.shown(outcome.verb),
                outcome.sha256 or "-",
                outcome.status,
                outcome.what,
                (time.perf_counter() - started) * 1000,
            )
        headers = None
        if outcome.status == METHOD_NOT_ALLOWED:
            headers = {"Allow": "POST"}
        elif outcome.retry_after is not None:
            headers = {"Retry-After": str(outcome.retry_after)}
        response = web.Response(
            body=_answer(outcome.what, outcome.detail),
            status=outcome.status,
            headers=headers,
            content_type="application/json",
        )
        if outcome.status == REQUEST_TIMEOUT:
            response.force_close()  # the rest of the body may still be on its way
        return response

    def attach(self, app: web.Application) -> None:
        """Start and stop with ``app``: at startup open the inbox, compose the router and
        start the worker; at shutdown refuse new deliveries; at cleanup, after the requests
        in flight, drain background handlers, stop the worker and close the inbox."""
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)

    async def _on_startup(self, _: web.Application) -> None:
        await self.start()

    async def _on_shutdown(self, _: web.Application) -> None:
        self._closing = True

    async def _on_cleanup(self, _: web.Application) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the inbox, compose the router and start the worker (what :meth:`attach`
        does at startup)."""
        self.router.resolve()
        if self.pipeline.inbox is not None:
            await self.pipeline.inbox.open()
        if self.worker is not None:
            await self.worker.start()

    async def close(self) -> None:
        """Drain background handlers, stop the worker and close the inbox."""
        self._closing = True
        await self.drain()
        if self.worker is not None:
            await self.worker.stop(self._drain_timeout)
        if self.pipeline.inbox is not None:
            await self.pipeline.inbox.close()

    @property
    def pending(self) -> int:
        """How many accepted deliveries are still being processed in the background."""
        return len(self._tasks)

    async def drain(self, within: float | None = None) -> None:
        """Wait for background handlers; cancel and log those unfinished after ``within``
        seconds (default: the receiver's ``drain_timeout``)."""
        if not self._tasks:
            return
        limit = self._drain_timeout if within is None else within
        _, unfinished = await asyncio.wait(set(self._tasks), timeout=limit)
        for task in unfinished:
            task.cancel()
            log.error(
                "webhook delivery %s did not finish within %.1f s of shutdown and was cancelled",
                task.get_name(),
                limit,
            )
        if unfinished:
            await asyncio.wait(unfinished)

    def _start(self, outcome: Outcome) -> None:
        assert outcome.background is not None
        # The name is what drain() logs: the verb, bounded and masked, and the body hash.
        name = f"{self.pipeline.shown(outcome.verb)} sha256={outcome.sha256}"
        task = asyncio.create_task(self._background(outcome), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _background(self, accepted: Outcome) -> Outcome:
        assert accepted.background is not None
        outcome = await accepted.background()
        log.info(
            "webhook %s sha256=%s processed in the background: %d %s",
            self.pipeline.shown(accepted.verb),
            accepted.sha256,
            outcome.status,
            outcome.what,
        )
        return outcome


def create_webhook_app(
    router: WebhookRouter,
    secrets: Secrets,
    **options: Any,
) -> web.Application:
    """Return an aiohttp application receiving Tahdah webhooks at its root.

    Mount it in your application::

        app.add_subapp("/tahdah/webhooks/", create_webhook_app(router, secrets=secret))

    Args:
        router: the handlers.
        secrets: the signing secret(s), or a callable returning them.
        options: the keyword arguments of :class:`WebhookReceiver`.
    """
    receiver = WebhookReceiver(router, secrets, **options)
    app = web.Application()
    app.router.add_route("*", "/", receiver.handle)
    # Mounted with add_subapp("/hooks/", ...), this is "/hooks": the same URL to a sender.
    app.router.add_route("*", "", receiver.handle)
    app[RECEIVER] = receiver
    receiver.attach(app)
    return app


RECEIVER: Final = web.AppKey("tahdah_webhook_receiver", WebhookReceiver)
"""The key under which ``create_webhook_app`` stores its receiver (``app[RECEIVER]``)."""


async def _read(request: web.Request, limit: int) -> bytes | None:
    content = request.content
    if request.content_length is not None and hdrs.CONTENT_ENCODING not in request.headers:
        # The length was checked against the limit, and aiohttp delivers exactly that many
        # bytes: one read.
        return await content.read()
    # Compressed or chunked: counted as it arrives, since aiohttp inflates a compressed
    # body and only the bytes read say how large it really is.
    chunks = []
    size = 0
    async for chunk in content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@functools.lru_cache(maxsize=256)
def _encoded(what: str, detail: tuple[tuple[str, int], ...]) -> bytes:
    return json.dumps({"status": what, **dict(detail)}).encode()


def _answer(what: str, detail: Mapping[str, Any]) -> bytes:
    """The JSON body of an answer; the few common ones are encoded once.

    Only answers whose details are counts and limits are cached: text in an answer comes from
    the request, and caching it would let senders fill the cache with their own answers.
    """
    items = tuple(detail.items())
    for _, value in items:
        if type(value) is not int:
            return json.dumps({"status": what, **detail}).encode()
    return _encoded(what, items)
