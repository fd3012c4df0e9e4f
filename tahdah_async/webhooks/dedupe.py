"""Remembering deliveries already processed, so a replay or a resend runs no handler twice.

The signature covers only the body, so a captured delivery can be replayed; deduplicating on
the verb and the body's SHA-256 within a time window is the only defence the scheme allows.
A store *claims* a key before the handlers run and *releases* it if they fail, so the sender's
retry is processed; two concurrent identical deliveries cannot both claim it.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_TTL",
    "DedupeStore",
    "MemoryDedupeStore",
    "delivery_key",
]

DEFAULT_CAPACITY: Final = 10_000
DEFAULT_TTL: Final = 24 * 60 * 60.0
_LONGEST_VERB: Final = 128


def delivery_key(verb: str, body_sha256: str) -> str:
    """Return the key a delivery is deduplicated on: the verb (any case) and the body hash.

    A verb longer than any real one is replaced by its own hash, so a key stays short
    (the verb header is not signed, and can be as long as the server accepts a header).
    """
    verb = verb.strip().lower()
    if len(verb) > _LONGEST_VERB:
        digest = hashlib.sha256(verb.encode("utf-8", "surrogateescape")).hexdigest()
        verb = f"sha256-{digest}"
    return f"{verb}:{body_sha256}"


@runtime_checkable
class DedupeStore(Protocol):
    """Where processed deliveries are remembered. Implement it over Redis, SQL, … to share
    deduplication between processes or keep it across restarts."""

    async def claim(self, key: str, ttl: float) -> bool:
        """Record ``key`` for ``ttl`` seconds unless it is already there; return whether it
        was recorded now (``False``: a duplicate). Must be atomic."""

    async def release(self, key: str) -> None:
        """Forget ``key`` (its processing failed, so a retry must be processed)."""


class MemoryDedupeStore:
    """An in-process store: bounded, oldest evicted first, entries expiring after their TTL.

    Args:
        capacity: the most keys kept; past it the oldest is forgotten.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError("capacity must be a positive int")
        self._capacity = capacity
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    async def claim(self, key: str, ttl: float) -> bool:
        # No await before the write: claims are atomic on one event loop.
        now = self._clock()
        self._purge(now)
        expiry = self._expiry.get(key)
        if expiry is not None and expiry > now:
            return False
        self._expiry.pop(key, None)
        self._expiry[key] = now + ttl
        while len(self._expiry) > self._capacity:
            self._expiry.popitem(last=False)
        return True

    async def release(self, key: str) -> None:
        self._expiry.pop(key, None)

    def _purge(self, now: float) -> None:
        # Keys are in claim order; with one TTL that is also expiry order, so expired keys
        # sit at the front. A key with a longer TTL may shield shorter ones behind it until it
        # expires or is evicted, which only keeps them a little longer.
        while self._expiry:
            key, expiry = next(iter(self._expiry.items()))
            if expiry > now:
                return
            del self._expiry[key]
