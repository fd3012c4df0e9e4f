"""The aiohttp side of the receiver: guard clauses that turn a request into a status.

Status policy (each a constant below):

====================================================  ======
missing or invalid signature (handlers never run)     401
``Authorization`` differs from the configured value   401
body over the size limit (checked before hashing)     413
body not arrived within ``body_timeout``               408 (the connection is closed)
signed, but not JSON, or no ``Webhook-Verb``          400
signed JSON that does not fit its event type          400
unknown verb (``on_unknown`` handlers run)            202 (or 404 if configured)
a handler raised or timed out                         500, so the sender retries
a duplicate of a delivery already processed           200, handlers not run
processed                                             200
accepted for background processing                    202 (``ack-then-process``)
any method but POST                                   405
the application is shutting down                      503, so the sender retries
====================================================  ======

``create_webhook_app`` answers at its mount path with and without the trailing slash: a
sender configured with either spelling of the URL must not get a 404 and retry forever.
Every answer, message and log line derived from a request is bounded (and the secrets masked)
by :func:`tahdah_async._untrusted.peer_text`, and only answers that depend on no request
bytes are cached.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import time
from typing import Any, Final, Literal

import attrs
from aiohttp import web

from .. import _json
from .._untrusted import peer_text
from .dedupe import DEFAULT_TTL, DedupeStore, MemoryDedupeStore, delivery_key
from .router import Delivery, PayloadError, WebhookRouter
from .signature import SIGNATURE_LENGTH, Secrets, match_secret, resolve_secrets

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

SIGNATURE_HEADER: Final = "Webhook-Signature"
VERB_HEADER: Final = "Webhook-Verb"
DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024
DEFAULT_BODY_TIMEOUT: Final = 30.0
"""Seconds a request body may take to arrive, from the first read, before the answer is 408."""
PROCESS_THEN_ACK: Final = "process-then-ack"
ACK_THEN_PROCESS: Final = "ack-then-process"
Mode = Literal["process-then-ack", "ack-then-process"]

OK: Final = 200
ACCEPTED: Final = 202
BAD_REQUEST: Final = 400
UNAUTHORIZED: Final = 401
NOT_FOUND: Final = 404
METHOD_NOT_ALLOWED: Final = 405
REQUEST_TIMEOUT: Final = 408
TOO_LARGE: Final = 413
HANDLER_FAILED: Final = 500
UNAVAILABLE: Final = 503

_CHUNK: Final = 64 * 1024
_LOGGED_VERB: Final = 80
# The longest detail in an answer. explain() already lists only a few problems and counts
# the rest; this bounds whatever reaches an answer, however a message was built.
_DETAIL: Final = 4096


@attrs.frozen
class _Outcome:
    status: int
    what: str
    detail: dict[str, Any] = attrs.field(factory=dict)
    verb: str | None = None
    sha256: str | None = None


class WebhookReceiver:
    """Verifies, deduplicates and dispatches Tahdah webhook deliveries.

    ``create_webhook_app`` mounts a receiver for you; or add :meth:`handle` to your own routes
    (``app.router.add_post("/hooks", receiver.handle)``) and, in
    ``ack-then-process`` mode, call :meth:`attach` so background work drains at shutdown.

    Args:
        router: the handlers.
        secrets: the signing secret, several during a rotation, or a callable returning the
            current ones (read on every delivery, so they can change without a restart).
        max_body_size: the largest body accepted, in bytes.
        unknown_verb_status: 202 (accept and ignore) or 404 (so the sender keeps retrying).
        mode: ``"process-then-ack"`` (answer after the handlers) or ``"ack-then-process"``
            (answer 202 at once; the sender then never retries, so a delivery whose handlers
            fail, or that is unfinished when the process dies, is lost; the failure is logged).
        dedupe: where processed deliveries are remembered; ``None`` turns deduplication off.
        dedupe_ttl: how long a delivery is remembered, in seconds.
        authorization: if set, the exact ``Authorization`` header value deliveries must carry.
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
        unknown_verb_status: Literal[202, 404] = ACCEPTED,
        mode: Mode = PROCESS_THEN_ACK,
        dedupe: DedupeStore | Literal["memory"] | None = "memory",
        dedupe_ttl: float = DEFAULT_TTL,
        authorization: str | None = None,
        drain_timeout: float = 30.0,
        body_timeout: float = DEFAULT_BODY_TIMEOUT,
    ) -> None:
        if not isinstance(router, WebhookRouter):
            raise TypeError("router must be a WebhookRouter")
        if not callable(secrets):
            # Resolved once, so a generator given here is not used up by this check.
            secrets = resolve_secrets(secrets)
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int):
            raise TypeError("max_body_size must be an int")
        if max_body_size < 1:
            raise ValueError("max_body_size must be positive")
        if unknown_verb_status not in (ACCEPTED, NOT_FOUND):
            raise ValueError("unknown_verb_status must be 202 or 404")
        if mode not in (PROCESS_THEN_ACK, ACK_THEN_PROCESS):
            raise ValueError(f"mode must be {PROCESS_THEN_ACK!r} or {ACK_THEN_PROCESS!r}")
        if dedupe == "memory":
            dedupe = MemoryDedupeStore()
        elif dedupe is not None and not isinstance(dedupe, DedupeStore):
            raise TypeError("dedupe must be a DedupeStore, 'memory' or None")
        if not dedupe_ttl > 0 or not drain_timeout > 0:
            raise ValueError("dedupe_ttl and drain_timeout must be positive")
        if isinstance(body_timeout, bool) or not isinstance(body_timeout, int | float):
            raise TypeError("body_timeout must be a number")
        if not body_timeout > 0:
            raise ValueError("body_timeout must be positive")
        if authorization is not None and not authorization:
            raise ValueError("authorization must not be empty")
        self.router = router
        self._secrets = secrets
        self._max_body_size = max_body_size
        self._unknown_status = unknown_verb_status
        self._mode = mode
        self._dedupe: DedupeStore | None = dedupe
        self._dedupe_ttl = float(dedupe_ttl)
        self._authorization = authorization.encode() if authorization else None
        self._drain_timeout = drain_timeout
        self._body_timeout = float(body_timeout)
        self._tasks: set[asyncio.Task[_Outcome]] = set()
        self._running: dict[str, asyncio.Future[bool]] = {}
        self._closing = False

    def __repr__(self) -> str:
        return f"<WebhookReceiver mode={self._mode!r}>"

    # -- aiohttp ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """Handle one request: the aiohttp handler (``app.router.add_post(path, r.handle)``)."""
        started = time.perf_counter()
        outcome = await self._receive(request)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "webhook %s sha256=%s -> %d %s in %.1f ms",
                self._shown(outcome.verb),
                outcome.sha256 or "-",
                outcome.status,
                outcome.what,
                (time.perf_counter() - started) * 1000,
            )
        headers = {"Allow": "POST"} if outcome.status == METHOD_NOT_ALLOWED else None
        if outcome.status == UNAVAILABLE:
            headers = {"Retry-After": "5"}
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
        """Refuse new deliveries once ``app`` shuts down, and drain background handlers at its
        cleanup, after the requests in flight have finished (``ack-then-process`` mode)."""
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)

    async def _on_shutdown(self, _: web.Application) -> None:
        self._closing = True

    async def _on_cleanup(self, _: web.Application) -> None:
        await self.drain()

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

    # -- the guard clauses -----------------------------------------------------------------

    async def _receive(self, request: web.Request) -> _Outcome:
        if request.method != "POST":
            return _Outcome(METHOD_NOT_ALLOWED, "method_not_allowed")
        if self._closing:
            return _Outcome(UNAVAILABLE, "shutting_down")
        length = request.content_length
        if length is not None and length > self._max_body_size:
            return _Outcome(TOO_LARGE, "payload_too_large", {"limit": self._max_body_size})
        if self._authorization is not None and not _same(
            request.headers.get("Authorization"), self._authorization
        ):
            return _Outcome(UNAUTHORIZED, "unauthorized")
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None or len(signature) != SIGNATURE_LENGTH:
            return _Outcome(UNAUTHORIZED, "invalid_signature")
        try:
            async with asyncio.timeout(self._body_timeout):
                body = await _read(request, self._max_body_size)
        except TimeoutError:
            return _Outcome(REQUEST_TIMEOUT, "body_timeout")
        if body is None:
            return _Outcome(TOO_LARGE, "payload_too_large", {"limit": self._max_body_size})
        sha256 = hashlib.sha256(body).hexdigest()
        secret_index = match_secret(body, signature, self._secrets)
        if secret_index is None:
            return _Outcome(UNAUTHORIZED, "invalid_signature", sha256=sha256)
        verb = request.headers.get(VERB_HEADER, "").strip()
        if not verb:
            return _Outcome(BAD_REQUEST, "missing_verb", sha256=sha256)
        try:
            payload = _json.loads(body)
        except (ValueError, RecursionError):
            return _Outcome(BAD_REQUEST, "invalid_json", verb=verb, sha256=sha256)
        try:
            event = self.router.parse(verb, payload)
        except PayloadError as exc:
            detail = {"detail": peer_text(str(exc), secrets=self._masked(), limit=_DETAIL)}
            return _Outcome(BAD_REQUEST, "invalid_payload", detail, verb, sha256)
        delivery = Delivery(
            verb=verb,
            body=body,
            headers=request.headers,
            body_sha256=sha256,
            secret_index=secret_index,
            received_at=dt.datetime.now(dt.UTC),
        )
        key = delivery_key(verb, sha256)
        while self._dedupe is not None and not await self._dedupe.claim(key, self._dedupe_ttl):
            running = self._running.get(key)
            # A resend of a delivery still being processed waits for its outcome: if the first
            # run fails, its 500 may reach nobody, so the resend must be processed instead.
            # (In ack-then-process mode the first was acknowledged already.)
            if running is None or self._mode == ACK_THEN_PROCESS:
                return _Outcome(OK, "duplicate", verb=verb, sha256=sha256)
            if await asyncio.shield(running):
                return _Outcome(OK, "duplicate", verb=verb, sha256=sha256)
        refused = self._unknown_status == NOT_FOUND and self.router.is_unknown(verb, event)
        if self._mode == ACK_THEN_PROCESS and not refused:
            # The name is what drain() logs: the key, with the verb bounded and masked.
            shown = peer_text(verb, secrets=self._masked(), limit=_LOGGED_VERB)
            name = delivery_key(shown, sha256)
            task = asyncio.create_task(self._background(event, delivery, key), name=name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return _Outcome(ACCEPTED, "accepted", verb=verb, sha256=sha256)
        return await self._process(event, delivery, key)

    async def _background(self, event: Any, delivery: Delivery, key: str) -> _Outcome:
        outcome = await self._process(event, delivery, key)
        log.info(
            "webhook %s sha256=%s processed in the background: %d %s",
            self._shown(delivery.verb),
            delivery.body_sha256,
            outcome.status,
            outcome.what,
        )
        return outcome

    async def _process(self, event: Any, delivery: Delivery, key: str) -> _Outcome:
        if self._dedupe is None:  # no resends are held back, so none waits for this run
            return await self._dispatch(event, delivery, key)
        running = self._running[key] = asyncio.get_running_loop().create_future()
        try:
            outcome = await self._dispatch(event, delivery, key)
        except BaseException:
            running.set_result(False)
            raise
        else:
            running.set_result(outcome.status < HANDLER_FAILED)
        finally:
            # The claim may be released (and a resend running) before this point: only
            # forget the entry if it is still this run's.
            if self._running.get(key) is running:
                del self._running[key]
        return outcome

    async def _dispatch(self, event: Any, delivery: Delivery, key: str) -> _Outcome:
        verb, sha256 = delivery.verb, delivery.body_sha256
        try:
            result = await self.router.dispatch(event, delivery)
        except BaseException:
            await self._release(key)
            raise
        if not result.ok:
            await self._release(key)
            return _Outcome(
                HANDLER_FAILED, "handler_failed", {"failed": len(result.errors)}, verb, sha256
            )
        if result.unknown:
            if self._unknown_status == NOT_FOUND:
                await self._release(key)
            return _Outcome(self._unknown_status, "unknown_verb", verb=verb, sha256=sha256)
        return _Outcome(OK, "processed", {"handlers": result.handled}, verb, sha256)

    async def _release(self, key: str) -> None:
        if self._dedupe is not None:
            await self._dedupe.release(key)

    def _masked(self) -> tuple[str, ...]:
        """The strings no answer or log line may show: the secrets and ``authorization``."""
        try:
            secrets = resolve_secrets(self._secrets)
        except (TypeError, ValueError):  # a broken secrets callable: nothing left to mask
            secrets = ()
        if self._authorization is not None:
            secrets += (self._authorization.decode(),)
        return secrets

    def _shown(self, text: str | None) -> str:
        """Peer-derived text (a verb, a delivery key) as a log line may show it."""
        if text is None:
            return "-"
        return repr(peer_text(text, secrets=self._masked(), limit=_LOGGED_VERB))


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
    # Always counted as it arrives: Content-Length is the size on the wire, and aiohttp
    # inflates a compressed body, so only the bytes read say how large it really is.
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@functools.lru_cache(maxsize=256)
def _encoded(what: str, detail: tuple[tuple[str, int], ...]) -> bytes:
    return json.dumps({"status": what, **dict(detail)}).encode()


def _answer(what: str, detail: dict[str, Any]) -> bytes:
    """The JSON body of an answer; the few common ones are encoded once.

    Only answers whose details are counts and limits are cached: text in an answer comes from
    the request, and caching it would let senders fill the cache with their own answers.
    """
    if all(type(value) is int for value in detail.values()):
        return _encoded(what, tuple(detail.items()))
    return json.dumps({"status": what, **detail}).encode()


def _same(given: str | None, expected: bytes) -> bool:
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected)
