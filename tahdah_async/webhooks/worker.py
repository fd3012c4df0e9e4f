"""Running the handlers of stored deliveries: claim, dispatch, complete, retry or park.

An :class:`InboxWorker` claims rows of an :class:`~.inbox.Inbox` for a lease, runs the
router's handlers for each, keeps the leases alive while they run, and records the result:
``done``; ``failed`` with a retry after a capped, jittered exponential backoff; or ``dead``
after ``max_attempts`` runs, or at once for a payload that does not fit its event (a rerun
cannot fix it). A worker killed mid-run loses nothing: its leases expire and another worker
claims the rows again (so handlers must be idempotent; ``delivery.attempt`` and
``delivery.inbox_id`` help). Any number of workers may share one inbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import secrets
import socket
from collections.abc import Callable
from typing import Final

from .. import _json
from .._checks import check_count, check_seconds
from .._untrusted import peer_text
from .inbox import DEFAULT_RETENTION, ERROR_LIMIT, Clock, Inbox, StoredDelivery, utc_now
from .router import Delivery, PayloadError, WebhookRouter

__all__ = ["DEFAULT_MAX_ATTEMPTS", "InboxWorker"]

log = logging.getLogger("tahdah_async.webhooks.worker")

DEFAULT_MAX_ATTEMPTS: Final = 10
_PRUNE_EVERY: Final = 3600.0


class InboxWorker:
    """Process the deliveries of an inbox with a router's handlers.

    Run it inside the receiver's application (``create_webhook_app(..., inbox=...)`` does by
    default), or on its own (``tahdah inbox work``, or ``async with worker: ...``).

    Args:
        router: the handlers.
        inbox: where the deliveries are.
        concurrency: the most deliveries run at once by this worker.
        lease: seconds a claim lasts; the worker extends it every third of that while the
            handlers run, so only a dead worker's claims expire.
        max_attempts: runs before a delivery is ``dead``.
        backoff: the delay before the first retry, in seconds; it doubles with each further
            attempt, up to ``max_backoff``, and each delay is jittered (between half and all
            of it) so retries of many deliveries spread out.
        poll_interval: seconds between looks at the inbox when nothing wakes the worker (a
            receiver in the same process wakes it at each stored delivery).
        retention: how long ``done`` rows are kept; the worker prunes older ones hourly.
        owner: this worker's name in the leases (default: host, process id and a random part).
        clock: the current time (the inbox's clock, for tests).
    """

    def __init__(
        self,
        router: WebhookRouter,
        inbox: Inbox,
        *,
        concurrency: int = 8,
        lease: float = 60.0,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = 1.0,
        max_backoff: float = 3600.0,
        poll_interval: float = 1.0,
        retention: dt.timedelta = DEFAULT_RETENTION,
        owner: str | None = None,
        clock: Clock = utc_now,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not isinstance(router, WebhookRouter):
            raise TypeError("router must be a WebhookRouter")
        if not isinstance(inbox, Inbox):
            raise TypeError("inbox must be an Inbox")
        check_count(concurrency, "concurrency")
        check_count(max_attempts, "max_attempts")
        check_seconds(lease, "lease")
        check_seconds(backoff, "backoff")
        check_seconds(max_backoff, "max_backoff")
        check_seconds(poll_interval, "poll_interval")
        if not isinstance(retention, dt.timedelta) or retention <= dt.timedelta(0):
            raise ValueError("retention must be a positive timedelta")
        self.router = router
        self.inbox = inbox
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._concurrency = concurrency
        self._lease = float(lease)
        self._max_attempts = max_attempts
        self._backoff = float(backoff)
        self._max_backoff = float(max_backoff)
        self._poll = float(poll_interval)
        self._retention = retention
        self._clock = clock
        self._jitter = jitter
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._last_prune: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._keeping: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<InboxWorker owner={self.owner!r} running={len(self._running)}>"

    @property
    def running(self) -> int:
        """How many deliveries this worker is running now."""
        return len(self._running)

    def wake(self) -> None:
        """Look at the inbox now (a delivery was stored)."""
        self._wake.set()

    # -- running ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start working in a background task (owned by the worker; :meth:`stop` ends it)."""
        if self._loop_task is None:
            self._stopping = False
            self._loop_task = asyncio.create_task(self.run(), name=f"inbox worker {self.owner}")

    async def stop(self, within: float = 30.0) -> None:
        """Stop claiming, let running deliveries finish for up to ``within`` seconds, then
        cancel the rest and give their rows back to the inbox (runnable again at once)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            task, self._loop_task = self._loop_task, None
            await asyncio.wait({task})
        await self._finish(within)

    async def __aenter__(self) -> InboxWorker:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def run(self) -> None:
        """Claim and run deliveries until :meth:`stop` (or a cancellation)."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._lease / 3, self._keep_alive)
        try:
            while not self._stopping:
                claimed = await self._claim_some()
                await self._prune_now_and_then(loop.time())
                if self._stopping:
                    break
                if not claimed or len(self._running) >= self._concurrency:
                    self._wake.clear()
                    try:
                        async with asyncio.timeout(self._poll):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
        finally:
            if self._timer is not None:
                self._timer.cancel()
            if self._keeping is not None:
                self._keeping.cancel()

    async def work_once(self) -> int:
        """Claim what the inbox has runnable now (up to ``concurrency``), run it to the end,
        and return how many deliveries ran: for tests and batch jobs."""
        claimed = await self._claim_some()
        while self._running:
            await asyncio.wait(set(self._running.values()))
        return claimed

    async def _claim_some(self) -> int:
        free = self._concurrency - len(self._running)
        if free <= 0:
            return 0
        try:
            rows = await self.inbox.claim(self.owner, free, self._lease)
        except Exception:
            log.exception("the webhook inbox failed to hand out deliveries")
            return 0
        for row in rows:
            task = asyncio.create_task(self._run_row(row), name=f"inbox delivery {row.id}")
            self._running[row.id] = task
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task[None]) -> None:
        for id, running in list(self._running.items()):
            if running is task:
                del self._running[id]
        self._wake.set()  # room for more

    async def _finish(self, within: float) -> None:
        if not self._running:
            return
        held = dict(self._running)
        _, unfinished = await asyncio.wait(set(held.values()), timeout=within)
        given_back = [id for id, task in held.items() if task in unfinished]
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)
        if given_back:
            try:
                await self.inbox.release(self.owner, given_back)
            except Exception:
                log.exception("the webhook inbox failed to take back deliveries")
            log.warning("gave %d unfinished deliveries back to the inbox", len(given_back))

    # -- one delivery ----------------------------------------------------------------------

    async def _run_row(self, row: StoredDelivery) -> None:
        try:
            payload = _json.loads(row.body)
        except (ValueError, RecursionError):
            await self._park(row, "invalid_json: the body is not JSON")
            return
        try:
            event = self.router.parse(row.verb, payload)
        except PayloadError as exc:
            await self._park(row, f"invalid_payload: {exc}")
            return
        delivery = Delivery(
            verb=row.verb,
            body=row.body,
            headers=row.headers,
            body_sha256=row.key.removeprefix("sha256:"),
            secret_index=row.secret_index,
            received_at=row.received_at,
            attempt=row.attempts,
            inbox_id=row.id,
        )
        result = await self.router.dispatch(event, delivery)
        try:
            if result.ok:
                if not await self.inbox.complete(self.owner, row.id):
                    log.warning(
                        "delivery %d ran after its lease expired (another may run it)", row.id
                    )
                return
            error = "; ".join(peer_text(repr(e), limit=ERROR_LIMIT) for e in result.errors)
            await self._retry_or_park(row, error)
        except Exception:
            # The lease expires and another claim runs the delivery again.
            log.exception("the webhook inbox failed to record delivery %d", row.id)

    async def _retry_or_park(self, row: StoredDelivery, error: str) -> None:
        if row.attempts >= self._max_attempts:
            log.error("delivery %d failed %d times and is dead: %s", row.id, row.attempts, error)
            await self.inbox.fail(self.owner, row.id, error, None)
            return
        delay = min(self._max_backoff, self._backoff * 2 ** (row.attempts - 1))
        delay *= 0.5 + self._jitter() / 2
        retry_at = self._clock() + dt.timedelta(seconds=delay)
        await self.inbox.fail(self.owner, row.id, error, retry_at)

    async def _park(self, row: StoredDelivery, reason: str) -> None:
        log.error("delivery %d is dead: %s", row.id, peer_text(reason, limit=ERROR_LIMIT))
        try:
            await self.inbox.fail(self.owner, row.id, reason, None)
        except Exception:
            log.exception("the webhook inbox failed to record delivery %d", row.id)

    # -- leases and retention --------------------------------------------------------------

    def _keep_alive(self) -> None:
        self._keeping = asyncio.get_running_loop().create_task(self._extend())

    async def _extend(self) -> None:
        ids = list(self._running)
        if ids:
            try:
                held = await self.inbox.extend(self.owner, ids, self._lease)
            except Exception:
                log.exception("the webhook inbox failed to extend leases")
            else:
                for id in set(ids) - held:
                    if id in self._running:
                        log.warning("lost the lease on delivery %d (another worker may run it)", id)
        if not self._stopping:
            self._timer = asyncio.get_running_loop().call_later(self._lease / 3, self._keep_alive)

    async def _prune_now_and_then(self, now: float) -> None:
        if self._last_prune is not None and now - self._last_prune < _PRUNE_EVERY:
            return
        self._last_prune = now
        try:
            await self.inbox.prune(self._retention)
        except Exception:
            log.exception("the webhook inbox failed to prune done deliveries")
