"""The fake's webhook sender: signed POSTs, retried with backoff, every attempt recorded."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import attrs

from .._untrusted import peer_text
from ..webhooks.app import SIGNATURE_HEADER, VERB_HEADER
from ..webhooks.signature import sign

__all__ = ["Attempt", "WebhookDelivery", "WebhookSender"]

log = logging.getLogger("tahdah_async.testing")


@attrs.define
class Attempt:
    """One try at delivering a webhook."""

    status: int | None
    """The receiver's status, or ``None`` when no response arrived."""
    error: str | None = None
    """Why no response arrived."""


@attrs.define
class WebhookDelivery:
    """A webhook the fake sent (or is sending) to one subscriber URL."""

    verb: str
    url: str
    body: bytes = attrs.field(repr=False)
    signature: str = attrs.field(repr=False)
    attempts: list[Attempt] = attrs.field(factory=list)
    delivered: bool = False
    """Whether an attempt got a 2xx."""

    @property
    def payload(self) -> Any:
        """The decoded body."""
        return json.loads(self.body)


class WebhookSender:
    """Sends deliveries to each subscriber in event order, retrying non-2xx with backoff.

    Args:
        urls: the subscriber URLs; every event goes to each.
        secret: the signing secret.
        max_attempts: tries per delivery before giving up.
        initial_delay: the first backoff in seconds; it doubles up to ``max_delay``.
    """

    def __init__(
        self,
        urls: list[str],
        secret: str,
        *,
        max_attempts: int = 5,
        initial_delay: float = 0.05,
        max_delay: float = 1.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.urls = list(urls)
        self.secret = secret
        self.max_attempts = max_attempts
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.deliveries: list[WebhookDelivery] = []
        self._queues: dict[str, asyncio.Queue[WebhookDelivery]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP session and start one worker per subscriber."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for url in self.urls:
            self._start_worker(url)

    def subscribe(self, url: str) -> None:
        """Send every later event to ``url`` too (once started, or already)."""
        if url in self.urls:
            return
        self.urls.append(url)
        if self._session is not None:
            self._start_worker(url)

    def _start_worker(self, url: str) -> None:
        queue: asyncio.Queue[WebhookDelivery] = asyncio.Queue()
        self._queues[url] = queue
        self._workers.append(asyncio.create_task(self._work(queue), name=f"webhooks {url}"))

    async def stop(self) -> None:
        """Stop the workers (undelivered webhooks stay recorded) and close the session."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def send(
        self, verb: str, payload: Any, *, copies: int = 1, bad_signature: bool = False
    ) -> None:
        """Queue a delivery of ``payload`` to every subscriber (``copies`` times each)."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        signature = sign(body, self.secret)
        if bad_signature:
            signature = sign(body, self.secret + "-wrong")
        for url, queue in self._queues.items():
            for _ in range(copies):
                delivery = WebhookDelivery(verb=verb, url=url, body=body, signature=signature)
                self.deliveries.append(delivery)
                queue.put_nowait(delivery)

    async def settle(self) -> None:
        """Wait until every queued delivery succeeded or ran out of attempts.

        With nothing queued it returns without suspending.
        """
        for queue in list(self._queues.values()):
            await queue.join()  # waits only while that queue has unfinished deliveries

    async def _work(self, queue: asyncio.Queue[WebhookDelivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery)
            finally:
                queue.task_done()

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        assert self._session is not None
        headers = {
            "Content-Type": "application/json",
            VERB_HEADER: delivery.verb,
            SIGNATURE_HEADER: delivery.signature,
        }
        delay = self.initial_delay
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            try:
                async with self._session.post(
                    delivery.url, data=delivery.body, headers=headers
                ) as r:
                    await r.read()
                    delivery.attempts.append(Attempt(status=r.status))
            except (aiohttp.ClientError, TimeoutError) as exc:
                # aiohttp's message can quote the receiver's bytes (a malformed status line).
                text = peer_text(f"{type(exc).__name__}: {exc}", secrets=(self.secret,))
                delivery.attempts.append(Attempt(status=None, error=text))
            last = delivery.attempts[-1]
            log.debug(
                "webhook %s to %s attempt %d -> %s in %.1f ms",
                delivery.verb,
                delivery.url,
                attempt,
                last.status or last.error,
                (time.perf_counter() - started) * 1000,
            )
            if last.status is not None and 200 <= last.status < 300:
                delivery.delivered = True
                return
            if attempt < self.max_attempts:
                await asyncio.sleep(delay)
                delay = min(self.max_delay, delay * 2)
        log.warning(
            "webhook %s to %s gave up after %d attempts",
            delivery.verb,
            delivery.url,
            self.max_attempts,
        )
