"""A dedupe store in Redis, shared by every replica of a receiver (the ``redis`` extra).

::

    from tahdah_async.webhooks import create_webhook_app
    from tahdah_async.webhooks.redis import RedisDedupeStore

    store = RedisDedupeStore("redis://:password@redis.internal:6379/0")
    app.add_subapp("/tahdah/webhooks/", create_webhook_app(router, secrets="wh_...", dedupe=store))

    async def close_store(app: web.Application) -> None:
        await store.aclose()

    app.on_cleanup.append(close_store)

Each key holds ``p:<token>`` while a replica processes its delivery (expiring with the lease)
and ``d`` once processed (expiring with the retention). Every operation is one Lua script, so it
is atomic however many replicas share the server; a key name is the store's prefix followed by
:func:`~tahdah_async.webhooks.dedupe.delivery_key`, and every key carries an expiry.
"""

from __future__ import annotations

import math
from types import TracebackType
from typing import Final, Self

try:
    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript
except ImportError as exc:
    raise ImportError("RedisDedupeStore needs redis-py: pip install 'tahdah-async[redis]'") from exc

from .dedupe import Claim, ClaimState, check_duration, new_token

__all__ = ["DEFAULT_PREFIX", "RedisDedupeStore"]

DEFAULT_PREFIX: Final = "tahdah:dedupe:"
"""What the name of every key the store writes begins with."""

_PROCESSING: Final = "p:"
_DONE: Final = "d"
# Redis keeps expiries in signed 64-bit milliseconds; past 2**53 a float is no longer exact.
_LONGEST_MS: Final = 2**53

# KEYS[1]: the key; ARGV[1]: "p:<token>"; ARGV[2]: the lease in milliseconds.
# Returns 0 (new), 1 (duplicate), 2 (in progress) or 3 (a value this store never writes).
_CLAIM: Final = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
local held = redis.call('GET', KEYS[1])
if not held then
  -- Gone since the SET: it is free, and nothing else runs during a script.
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 0
end
if held == 'd' then
  return 1
end
if string.sub(held, 1, 2) == 'p:' then
  return 2
end
return 3
"""
# KEYS[1]: the key; ARGV[1]: "p:<token>"; ARGV[2]: the new lease in milliseconds.
_EXTEND: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS[1]: the key; ARGV[1]: "p:<token>"; ARGV[2]: the retention in milliseconds.
_COMMIT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], 'd', 'PX', ARGV[2])
  return 1
end
return 0
"""
# KEYS[1]: the key; ARGV[1]: "p:<token>".
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_STATES: Final = {0: ClaimState.NEW, 1: ClaimState.DUPLICATE, 2: ClaimState.IN_PROGRESS}


class RedisDedupeStore:
    """Claim and remember deliveries in Redis, atomically across processes and hosts.

    Give it a URL and it owns its client: close it with :meth:`aclose` or use the store as
    an async context manager. Give it a :class:`redis.asyncio.Redis` and it borrows it: the
    client stays open, and is yours to close. The URL may carry a password; it never appears
    in the store's repr.

    Errors of the connection or the server are redis-py's (:class:`redis.exceptions.RedisError`,
    whose messages name the host and port, never the password); a receiver answers them with
    503 ``dedupe_unavailable``, so the sender retries later.

    Args:
        url_or_client: a ``redis://``, ``rediss://`` or ``unix://`` URL, or a client.
        prefix: what every key name begins with, so that several receivers (or other programs)
            can share a database.

    Raises:
        TypeError: ``url_or_client`` is neither a string nor a ``redis.asyncio.Redis``, or
            ``prefix`` is not a string.
        ValueError: the URL is not one redis-py understands.
    """

    def __init__(
        self, url_or_client: str | aioredis.Redis, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a string")
        if isinstance(url_or_client, str):
            self._client = aioredis.Redis.from_url(url_or_client)
            self._owned = True
        elif isinstance(url_or_client, aioredis.Redis):
            self._client = url_or_client
            self._owned = False
        else:
            raise TypeError("url_or_client must be a Redis URL or a redis.asyncio.Redis")
        self._prefix = prefix
        self._closed = False
        self._claim = self._client.register_script(_CLAIM)
        self._extend = self._client.register_script(_EXTEND)
        self._commit = self._client.register_script(_COMMIT)
        self._release = self._client.register_script(_RELEASE)

    def __repr__(self) -> str:
        client = "owned" if self._owned else "borrowed"
        closed = ", closed" if self._closed else ""
        return f"<RedisDedupeStore prefix={self._prefix!r} client={client}{closed}>"

    @property
    def prefix(self) -> str:
        """What the name of every key the store writes begins with."""
        return self._prefix

    async def claim(self, key: str, lease: float) -> Claim:
        """Claim ``key`` for ``lease`` seconds unless it is held or processed.

        Raises:
            ValueError: ``lease`` is not a positive, finite number of seconds.
            RuntimeError: the store is closed, or the key holds a value this store never
                writes (another program uses the prefix).
            redis.exceptions.RedisError: the server could not be reached or refused.
        """
        millis = _millis(lease, "lease")
        name = self._name(key)
        token = new_token()
        code = await self._claim(keys=[name], args=[_PROCESSING + token, millis])
        state = _STATES.get(int(code))
        if state is None:
            raise RuntimeError(
                f"the Redis key {name!r} holds a value RedisDedupeStore never writes: "
                "is another program using the prefix?"
            )
        return Claim(state, token if state is ClaimState.NEW else None)

    async def extend(self, key: str, token: str, lease: float) -> bool:
        """Extend a claim still held with ``token`` to ``lease`` seconds from now; return
        whether it was still held.

        Raises:
            ValueError: ``lease`` is not a positive, finite number of seconds.
            RuntimeError: the store is closed.
            redis.exceptions.RedisError: the server could not be reached or refused.
        """
        millis = _millis(lease, "lease")
        return await self._run(self._extend, key, token, millis)

    async def commit(self, key: str, token: str, ttl: float) -> bool:
        """Remember ``key`` as processed for ``ttl`` seconds if ``token`` still holds it;
        return whether it did.

        Raises:
            ValueError: ``ttl`` is not a positive, finite number of seconds.
            RuntimeError: the store is closed.
            redis.exceptions.RedisError: the server could not be reached or refused.
        """
        millis = _millis(ttl, "ttl")
        return await self._run(self._commit, key, token, millis)

    async def release(self, key: str, token: str) -> bool:
        """Forget the claim if ``token`` still holds it (its processing failed, so a retry
        must be processed); return whether it did.

        Raises:
            RuntimeError: the store is closed.
            redis.exceptions.RedisError: the server could not be reached or refused.
        """
        return await self._run(self._release, key, token)

    async def aclose(self) -> None:
        """Close the client if the store owns it (idempotent); a borrowed one stays open."""
        if self._closed:
            return
        self._closed = True
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _name(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError("key must be a string")
        if self._closed:
            raise RuntimeError("the dedupe store is closed")
        return self._prefix + key

    async def _run(self, script: AsyncScript, key: str, token: str, *args: int) -> bool:
        if not isinstance(token, str):
            raise TypeError("token must be a string")
        done = await script(keys=[self._name(key)], args=[_PROCESSING + token, *args])
        return int(done) == 1


def _millis(seconds: float, name: str) -> int:
    seconds = check_duration(seconds, name)
    # Rounded up: a lease is never shorter than asked, and never 0 ms (which Redis refuses).
    millis = max(1, math.ceil(seconds * 1000))
    if millis > _LONGEST_MS:
        raise ValueError(f"{name} is too long")
    return millis
