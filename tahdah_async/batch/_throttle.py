"""A concurrency limit shared by many tasks that backs off together when the API says 429."""

from __future__ import annotations

import contextvars
import math
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio

from .._checks import check_count
from .._events import RetryEvent
from ..errors import RateLimitError

__all__ = ["Throttle"]


class Throttle:
    """Bounds concurrent calls and slows every task down when any call is rate limited.

    A 429 (seen by the batch runner, or by the client's own retries through
    :meth:`on_retry`) pauses all new calls until its ``Retry-After`` has passed and halves the
    number of calls allowed at once; each run of successful calls started since then, as long
    as the current limit, raises it by one again, up to ``concurrency``. Use one throttle for
    every batch that talks to the same API key::

        throttle = Throttle(32)
        tahdah = client.with_options(on_retry=throttle.on_retry)
        await run_batch(items, work, concurrency=throttle)

    Args:
        concurrency: the most calls at once.
        min_concurrency: the limit never drops below this.
        default_pause: seconds to pause after a 429 that gave no ``Retry-After``.
        max_pause: the longest pause one 429 may ask for.
        clock: the time source (``anyio.current_time``).
        sleep: how to wait (``anyio.sleep``).
    """

    def __init__(
        self,
        concurrency: int = 8,
        *,
        min_concurrency: int = 1,
        default_pause: float = 1.0,
        max_pause: float = 60.0,
        clock: Callable[[], float] = anyio.current_time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.max_concurrency = count(concurrency, "concurrency")
        self.min_concurrency = count(min_concurrency, "min_concurrency")
        if self.min_concurrency > self.max_concurrency:
            raise ValueError("min_concurrency must not exceed concurrency")
        for name, value in (("default_pause", default_pause), ("max_pause", max_pause)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds, not negative")
        self.default_pause = default_pause
        self.max_pause = max_pause
        self._clock = clock
        self._sleep = sleep
        self._limiter = anyio.CapacityLimiter(self.max_concurrency)
        self._paused_until = -math.inf
        self._cut_until = -math.inf
        self._successes = 0
        self._generation = 0
        self._entered: contextvars.ContextVar[int] = contextvars.ContextVar("throttle_entered")
        self.rate_limits = 0
        """How many 429s were reported."""

    @property
    def limit(self) -> int:
        """How many calls may run at once now."""
        return int(self._limiter.total_tokens)

    @property
    def in_use(self) -> int:
        """How many calls are running now."""
        return self._limiter.borrowed_tokens

    def paused_for(self) -> float:
        """Seconds until new calls may start (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    async def __aenter__(self) -> None:
        while (wait := self.paused_for()) > 0:
            await self._sleep(wait)
        await self._limiter.acquire()
        # A 429 may have arrived while this task queued for a slot: honour it too.
        try:
            while (wait := self.paused_for()) > 0:
                await self._sleep(wait)
        except BaseException:
            self._limiter.release()
            raise
        self._entered.set(self._generation)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._limiter.release()
        if isinstance(exc, RateLimitError):
            self.rate_limited(exc.retry_after)
        elif exc is None and self._entered.get(-1) == self._generation:
            # Only calls started since the last cut show that the new limit is safe.
            self._succeeded()

    def rate_limited(self, retry_after: float | None = None) -> None:
        """Report a 429: pause new calls and lower the limit (once per pause)."""
        self.rate_limits += 1
        now = self._clock()
        pause = self.default_pause if retry_after is None else retry_after
        self._paused_until = max(self._paused_until, now + min(max(pause, 0.0), self.max_pause))
        started = self._entered.get(None)  # None: reported from outside a throttled call
        cut = now >= self._cut_until if started is None else started == self._generation
        if cut:
            # Calls in flight see the same 429 storm: only one started under the current
            # limit cuts it, so a burst of 429s halves the limit once.
            self._limiter.total_tokens = max(self.min_concurrency, self.limit // 2)
            self._generation += 1
            self._successes = 0
        # A 429 that extends the pause belongs to the same storm: no second cut until it ends.
        self._cut_until = self._paused_until

    def on_retry(self, event: RetryEvent) -> None:
        """A client hook (``on_retry``): report the 429s the client retries by itself."""
        if isinstance(event.error, RateLimitError):
            self.rate_limited(event.error.retry_after)

    def _succeeded(self) -> None:
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.max_concurrency:
            self._limiter.total_tokens = self.limit + 1
            self._successes = 0


def count(value: object, name: str) -> int:
    return check_count(value, name)
