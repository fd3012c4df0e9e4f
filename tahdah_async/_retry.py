"""When to retry a request and how long to wait: pure functions over plain values.

The reasons, in one place:

* connection failures before the request was sent: nothing reached the server, so any method
  may be tried again;
* failures after sending (dropped connection, read timeout) and 500: the server may have acted,
  so only requests that are safe to repeat are retried — idempotent methods, and calls that
  carry an idempotency key the server deduplicates on;
* 408, 429, 502, 503, 504: the server or a proxy said the request was not handled (or asked us to
  slow down), so every method is retried;
* ``Retry-After`` (seconds or an HTTP date) is obeyed up to ``max_retry_after``; a longer wait is
  not slept through: the error is raised so the caller can decide.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import attrs

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "Decision",
    "RetryPolicy",
    "backoff_delay",
    "decide",
    "parse_retry_after",
    "retry_reason",
]

DEFAULT_MAX_RETRIES: Final = 2
RETRY_STATUSES: Final = frozenset({408, 429, 502, 503, 504})
"""Statuses that say the request was not handled: retried for every method."""
RETRY_STATUSES_IF_REPEATABLE: Final = frozenset({500})
"""Statuses after which the server may have acted: retried only when repeating is safe."""
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
KEY_REFUSED_STATUSES: Final = frozenset({409, 422})
"""How a server refuses a reused idempotency key, which a retried call may meet."""

_STATUS_REASONS: Final = {
    408: "408: the server timed out waiting for the request",
    429: "429: the server asked us to slow down",
    500: "500: the server failed; repeating this request is safe",
    502: "502: a gateway got no valid answer",
    503: "503: the service is unavailable for now",
    504: "504: a gateway timed out",
}


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How retries wait. The number of retries is the client's ``max_retries``.

    The clock, the sleep and the random source are injectable so tests take no wall time.
    """

    initial_delay: float = 0.5
    """The first backoff, in seconds; each further retry doubles it."""
    max_delay: float = 8.0
    """The longest backoff, in seconds."""
    jitter: float = 0.25
    """Up to this fraction of each backoff is removed at random, so clients spread out."""
    max_retry_after: float = 60.0
    """The longest ``Retry-After`` obeyed; a longer one raises the error instead of waiting."""
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    clock: Callable[[], float] = time.time
    """Wall-clock seconds, used to read ``Retry-After`` given as an HTTP date."""
    random: Callable[[], float] = random.random

    def __attrs_post_init__(self) -> None:
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            # Written so that NaN fails too.
            if not (isinstance(value, int | float) and 0 <= value < math.inf):
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")


def retry_reason(
    method: str, *, status: int | None, request_sent: bool, repeatable: bool
) -> str | None:
    """Return why a failed attempt may be retried, or ``None`` when it must not be.

    Args:
        method: the HTTP method.
        status: the response status, or ``None`` when no response arrived.
        request_sent: for a failure without a response, whether the request may have
            reached the server.
        repeatable: whether the call carries an idempotency key the server deduplicates on.
    """
    safe = repeatable or method.upper() in IDEMPOTENT_METHODS
    if status is None:
        if not request_sent:
            return "the connection failed before the request was sent"
        return (
            "the connection failed after sending; repeating this request is safe" if safe else None
        )
    if status in RETRY_STATUSES or (status in RETRY_STATUSES_IF_REPEATABLE and safe):
        return _STATUS_REASONS[status]
    return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the wait a ``Retry-After`` header asks for, in seconds (``None`` if unusable).

    Args:
        value: the header value: delta-seconds or an HTTP date.
        now: the current wall-clock time (seconds since the epoch), for the date form.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            # The obsolete asctime form carries no zone; HTTP dates are always GMT.
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - now
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(retry: int, policy: RetryPolicy) -> float:
    """Return the wait before retry number ``retry`` (0 for the first retry)."""
    # Cap the exponent first: 2.0 ** 1024 overflows, and 2 ** 63 is far past any max_delay.
    base = min(policy.max_delay, policy.initial_delay * 2.0 ** min(retry, 63))
    return base * (1.0 - policy.jitter * policy.random())


@attrs.frozen
class Decision:
    """What to do after a failed attempt."""

    retry: bool
    delay: float = 0.0
    """Seconds to wait before the retry."""
    reason: str = ""
    """Why the attempt is retried (for logs and hooks)."""
    note: str = ""
    """Why a retryable failure is not retried after all (the error's ``retry_note``)."""


def decide(
    method: str,
    *,
    status: int | None,
    request_sent: bool,
    repeatable: bool,
    retry_after: float | None,
    attempt: int,
    max_retries: int,
    policy: RetryPolicy,
) -> Decision:
    """Decide whether attempt number ``attempt`` (1-based) is retried, and after how long.

    Args:
        method, status, request_sent, repeatable: as for :func:`retry_reason`.
        retry_after: the server's ``Retry-After`` in seconds, if any.
        attempt: the attempt that just failed, 1 for the first.
        max_retries: how many retries the call may make in all.
        policy: the backoff shape and the ``Retry-After`` cap.
    """
    reason = retry_reason(method, status=status, request_sent=request_sent, repeatable=repeatable)
    if reason is None:
        if repeatable and attempt > 1 and status in KEY_REFUSED_STATUSES:
            # The server refuses a reused idempotency key: an earlier attempt may have won.
            return Decision(
                retry=False,
                note=(
                    "An earlier attempt may have succeeded: the server refused the repeated "
                    "idempotency key"
                ),
            )
        return Decision(retry=False)
    if attempt > max_retries:
        return Decision(
            retry=False, note=f"Gave up after {attempt} attempts" if attempt > 1 else ""
        )
    if retry_after is not None:
        if retry_after > policy.max_retry_after:
            return Decision(
                retry=False,
                note=(
                    f"Not retried: Retry-After of {retry_after:.0f} s is over the "
                    f"{policy.max_retry_after:.0f} s cap"
                ),
            )
        return Decision(retry=True, delay=retry_after, reason=reason)
    return Decision(retry=True, delay=backoff_delay(attempt - 1, policy), reason=reason)
