"""Remembering deliveries, so a replay or a resend runs no handler twice.

The signature covers only the body, so a captured delivery can be replayed; deduplicating on
the body's SHA-256 within a time window is the only defence the scheme allows. The verb is not
part of the key: it is not signed, so a captured body resent under another verb must not count
as a new delivery (the verb stays in the :class:`~tahdah_async.webhooks.Delivery` as data).

A store is shared by every replica of a receiver. Before the handlers run, a replica *claims*
the key for a processing lease: the answer is ``new`` (with a token), ``duplicate`` (processed
already) or ``in_progress`` (someone holds it now, and may still fail). After the handlers it
either *commits* the key (remembered for the retention) or *releases* it (the sender's retry
must be processed). Both take the claim's token, so a late call from a run whose lease expired
cannot touch the claim of the run that took over.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

import attrs

from .._checks import check_count, check_seconds

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_LEASE",
    "DEFAULT_TTL",
    "Claim",
    "ClaimState",
    "DedupeStore",
    "MemoryDedupeStore",
    "delivery_key",
    "new_token",
]

DEFAULT_CAPACITY: Final = 10_000
DEFAULT_TTL: Final = 3 * 24 * 60 * 60.0
"""How long a processed delivery is remembered, in seconds: senders may retry for days."""
DEFAULT_LEASE: Final = 60.0
"""How long a claim lasts while its handlers run, in seconds, unless extended."""


def check_duration(seconds: float, name: str) -> float:
    """Return ``seconds`` as a float, if it is a positive, finite number.

    Raises:
        TypeError: not a number.
        ValueError: zero, negative, infinite or NaN.
    """
    return check_seconds(seconds, name)


def delivery_key(body_sha256: str) -> str:
    """Return the key a delivery is deduplicated on: its body's SHA-256 (hex)."""
    return f"sha256:{body_sha256}"


def new_token() -> str:
    """Return a fresh claim token (random, URL-safe)."""
    return secrets.token_urlsafe(16)


class ClaimState(enum.Enum):
    """What a claim found."""

    NEW = "new"
    """Nobody had the key: it is now this caller's, for the lease."""
    DUPLICATE = "duplicate"
    """The delivery was processed already (committed within the retention)."""
    IN_PROGRESS = "in_progress"
    """Someone else holds the key now; their run may still fail and release it."""


@attrs.frozen
class Claim:
    """The answer of :meth:`DedupeStore.claim`."""

    state: ClaimState
    token: str | None = attrs.field(default=None, repr=False)
    """The token that commits or releases a ``NEW`` claim (``None`` otherwise)."""


@runtime_checkable
class DedupeStore(Protocol):
    """Where deliveries are claimed and remembered. Every method must be atomic across all
    the processes sharing the store (:class:`RedisDedupeStore` shares it between hosts)."""

    async def claim(self, key: str, lease: float) -> Claim:
        """Claim ``key`` for ``lease`` seconds unless it is held or processed."""

    async def extend(self, key: str, token: str, lease: float) -> bool:
        """Extend a claim still held with ``token`` to ``lease`` seconds from now; return
        whether it was still held."""

    async def commit(self, key: str, token: str, ttl: float) -> bool:
        """Remember ``key`` as processed for ``ttl`` seconds if ``token`` still holds it;
        return whether it did."""

    async def release(self, key: str, token: str) -> bool:
        """Forget the claim if ``token`` still holds it (its processing failed, so a retry
        must be processed); return whether it did."""


@attrs.define
class _Entry:
    expiry: float
    token: str | None  # None: committed


class MemoryDedupeStore:
    """An in-process store: bounded, oldest evicted first, entries expiring.

    It is not shared between processes and forgets everything on a restart: use
    :class:`~tahdah_async.webhooks.redis.RedisDedupeStore` or an inbox for several replicas.

    Args:
        capacity: the most keys kept; past it the oldest is forgotten.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        check_count(capacity, "capacity")
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    # No await in any method: each is atomic on one event loop.

    async def claim(self, key: str, lease: float) -> Claim:
        lease = check_duration(lease, "lease")
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expiry > now:
            if entry.token is None:
                return Claim(ClaimState.DUPLICATE)
            return Claim(ClaimState.IN_PROGRESS)
        token = new_token()
        self._entries.pop(key, None)
        self._entries[key] = _Entry(now + lease, token)
        self._evict(now)
        return Claim(ClaimState.NEW, token)

    async def extend(self, key: str, token: str, lease: float) -> bool:
        lease = check_duration(lease, "lease")
        entry = self._held(key, token)
        if entry is None:
            return False
        entry.expiry = self._clock() + lease
        return True

    async def commit(self, key: str, token: str, ttl: float) -> bool:
        ttl = check_duration(ttl, "ttl")
        entry = self._held(key, token)
        if entry is None:
            return False
        entry.expiry, entry.token = self._clock() + ttl, None
        self._entries.move_to_end(key)
        return True

    async def release(self, key: str, token: str) -> bool:
        if self._held(key, token) is None:
            return False
        del self._entries[key]
        return True

    def _held(self, key: str, token: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.token != token or entry.expiry <= self._clock():
            return None
        return entry

    def _evict(self, now: float) -> None:
        # Expired entries at the front go first; past the capacity, the oldest does too.
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expiry > now and len(self._entries) <= self._capacity:
                return
            del self._entries[key]
