"""RedisDedupeStore against a real ``redis-server``: the dedupe-store contract, then what is
particular to Redis (key names and expiries, who closes the client, the URL's password)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from typing import Final

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from tahdah_async.webhooks import Claim, ClaimState, DedupeStore
from tahdah_async.webhooks.redis import DEFAULT_PREFIX, RedisDedupeStore
from tests.engines import redis as engine
from tests.servers import refusing_port

from .dedupe_contract import HANG_GUARD, KEY, LONG, OTHER_KEY, DedupeContract

# The engine's fixtures, for this module.
redis_server = engine.redis_server
redis_url = engine.redis_url
redis_prefix = engine.redis_prefix
redis_client = engine.redis_client

PASSWORD: Final = "s3cr3t-redis-passw0rd"
SHORT: Final = 0.05


class RealLapse:
    """Real time passes: a short lease is 50 ms, and each tick yields to the loop briefly."""

    short = SHORT

    async def tick(self) -> None:
        await asyncio.sleep(0.005)


@pytest.fixture
async def store(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisDedupeStore]:
    async with RedisDedupeStore(redis_url, prefix=redis_prefix) as store:
        yield store


class TestRedisDedupeStore(DedupeContract):
    @pytest.fixture
    async def peer(self, redis_url: str, redis_prefix: str) -> AsyncIterator[RedisDedupeStore]:
        # Its own client and connection pool: two replicas.
        async with RedisDedupeStore(redis_url, prefix=redis_prefix) as peer:
            yield peer

    @pytest.fixture
    def lapse(self) -> RealLapse:
        return RealLapse()


def token_of(claim: Claim) -> str:
    assert claim.state is ClaimState.NEW
    assert claim.token is not None
    return claim.token


# -- keys and expiries -----------------------------------------------------------------------


async def test_keys_live_under_the_prefix_and_always_expire(
    store: RedisDedupeStore, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    name = redis_prefix + KEY
    claim = await store.claim(KEY, 30.0)
    assert await redis_client.keys(redis_prefix + "*") == [name.encode()]
    assert await redis_client.get(name) == f"p:{token_of(claim)}".encode()
    assert 0 < await redis_client.pttl(name) <= 30_000

    assert await store.extend(KEY, token_of(claim), LONG)
    assert 30_000 < await redis_client.pttl(name) <= LONG * 1000

    assert await store.commit(KEY, token_of(claim), 600.0)
    assert await redis_client.get(name) == b"d"
    assert 0 < await redis_client.pttl(name) <= 600_000

    other = await store.claim(OTHER_KEY, LONG)
    assert await store.release(OTHER_KEY, token_of(other))
    assert await redis_client.exists(redis_prefix + OTHER_KEY) == 0
    assert await redis_client.keys(redis_prefix + "*") == [name.encode()]


async def test_the_default_prefix(redis_url: str, redis_client: aioredis.Redis) -> None:
    key = f"default-prefix-{uuid.uuid4().hex}"
    async with RedisDedupeStore(redis_url) as store:
        assert store.prefix == DEFAULT_PREFIX == "tahdah:dedupe:"
        claim = await store.claim(key, LONG)
        try:
            assert await redis_client.exists(DEFAULT_PREFIX + key) == 1
            assert await redis_client.pttl(DEFAULT_PREFIX + key) > 0
        finally:
            assert await store.release(key, token_of(claim))


async def test_stores_with_other_prefixes_do_not_share_keys(
    store: RedisDedupeStore, redis_url: str, redis_prefix: str
) -> None:
    async with RedisDedupeStore(redis_url, prefix=redis_prefix + "other:") as other:
        assert (await store.claim(KEY, LONG)).state is ClaimState.NEW
        assert (await other.claim(KEY, LONG)).state is ClaimState.NEW
        assert (await other.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS


async def test_a_lease_under_a_millisecond_is_one_millisecond(store: RedisDedupeStore) -> None:
    # Redis refuses an expiry of 0 ms; the store rounds up rather than fail or keep forever.
    claim = await store.claim(KEY, 0.0001)
    assert claim.state is ClaimState.NEW
    other = await store.claim(OTHER_KEY, LONG)
    assert await store.commit(OTHER_KEY, token_of(other), 0.0001) in (True, False)
    assert await store.extend(OTHER_KEY, token_of(other), 0.0001) in (True, False)


@pytest.mark.parametrize(
    "seconds", [0, 0.0, -1, -0.001, math.nan, math.inf, -math.inf, 1e300], ids=repr
)
async def test_an_invalid_lease_or_ttl_raises_value_error(
    store: RedisDedupeStore, redis_client: aioredis.Redis, redis_prefix: str, seconds: float
) -> None:
    held = await store.claim(OTHER_KEY, LONG)
    with pytest.raises(ValueError, match="lease"):
        await store.claim(KEY, seconds)
    with pytest.raises(ValueError, match="lease"):
        await store.extend(OTHER_KEY, token_of(held), seconds)
    with pytest.raises(ValueError, match="ttl"):
        await store.commit(OTHER_KEY, token_of(held), seconds)
    # Nothing was written or changed.
    assert await redis_client.keys(redis_prefix + "*") == [(redis_prefix + OTHER_KEY).encode()]
    assert await redis_client.get(redis_prefix + OTHER_KEY) == f"p:{token_of(held)}".encode()


@pytest.mark.parametrize("seconds", ["60", None, True], ids=repr)
async def test_a_lease_or_ttl_that_is_not_a_number_raises_type_error(
    store: RedisDedupeStore, seconds: object
) -> None:
    with pytest.raises(TypeError, match="lease"):
        await store.claim(KEY, seconds)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ttl"):
        await store.commit(KEY, "token", seconds)  # type: ignore[arg-type]


async def test_a_value_the_store_never_writes_is_reported(
    store: RedisDedupeStore, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await redis_client.set(redis_prefix + KEY, "someone else's", px=int(LONG * 1000))
    with pytest.raises(RuntimeError, match="another program"):
        await store.claim(KEY, LONG)
    assert await redis_client.get(redis_prefix + KEY) == b"someone else's"


async def test_a_client_that_decodes_responses_works(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store = RedisDedupeStore(client, prefix=redis_prefix)
        claim = await store.claim(KEY, LONG)
        assert claim.state is ClaimState.NEW
        assert (await store.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS
        assert await store.extend(KEY, token_of(claim), LONG)
        assert await store.commit(KEY, token_of(claim), LONG)
        assert (await store.claim(KEY, LONG)).state is ClaimState.DUPLICATE
        assert not await store.release(KEY, token_of(claim))
    finally:
        await client.aclose()


# -- who closes the client -------------------------------------------------------------------


async def named_connections(client: aioredis.Redis, name: str) -> int:
    return sum(1 for entry in await client.client_list() if entry.get("name") == name)


@pytest.mark.parametrize("way", ["aclose", "async with"])
async def test_a_store_given_a_url_closes_its_client(
    redis_url: str, redis_prefix: str, redis_client: aioredis.Redis, way: str
) -> None:
    name = f"dedupe-{uuid.uuid4().hex}"
    store = RedisDedupeStore(f"{redis_url}?client_name={name}", prefix=redis_prefix)
    if way == "aclose":
        await store.claim(KEY, LONG)
        assert await named_connections(redis_client, name) == 1
        await store.aclose()
    else:
        async with store as entered:
            assert entered is store
            await store.claim(KEY, LONG)
            assert await named_connections(redis_client, name) == 1
    deadline = time.monotonic() + HANG_GUARD
    while await named_connections(redis_client, name):
        assert time.monotonic() < deadline, "the store's connection is still open"
        await asyncio.sleep(0.01)
    assert "closed" in repr(store)
    with pytest.raises(RuntimeError, match="closed"):
        await store.claim(OTHER_KEY, LONG)
    with pytest.raises(RuntimeError, match="closed"):
        await store.release(KEY, "token")
    await store.aclose()  # idempotent


@pytest.mark.parametrize("way", ["aclose", "async with"])
async def test_a_given_client_stays_open(redis_url: str, redis_prefix: str, way: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        connection = await client.client_id()
        store = RedisDedupeStore(client, prefix=redis_prefix)
        if way == "aclose":
            await store.claim(KEY, LONG)
            await store.aclose()
        else:
            async with store:
                await store.claim(KEY, LONG)
        # Still the same connection: it was not closed (a closed pool would open a new one).
        assert await client.client_id() == connection
        with pytest.raises(RuntimeError, match="closed"):
            await store.claim(KEY, LONG)
    finally:
        await client.aclose()


# -- arguments, the import, the password -----------------------------------------------------


def test_bad_arguments_raise() -> None:
    with pytest.raises(TypeError, match="url_or_client"):
        RedisDedupeStore(6379)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prefix"):
        RedisDedupeStore("redis://127.0.0.1:6379/0", prefix=b"bytes")  # type: ignore[arg-type]


def test_a_url_redis_does_not_understand_raises_without_its_password() -> None:
    with pytest.raises(ValueError, match="scheme") as raised:
        RedisDedupeStore(f"http://tahdah:{PASSWORD}@127.0.0.1:6379/0")
    assert PASSWORD not in "".join(traceback.format_exception(raised.value))


def test_the_store_satisfies_the_protocol_without_a_connection() -> None:
    store = RedisDedupeStore(f"redis://tahdah:{PASSWORD}@127.0.0.1:6379/0", prefix="p:")
    assert isinstance(store, DedupeStore)
    assert repr(store) == "<RedisDedupeStore prefix='p:' client=owned>"


def test_without_redis_py_the_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "tahdah_async.webhooks.redis")
    for module in [name for name in sys.modules if name == "redis" or name.startswith("redis.")]:
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"pip install 'tahdah-async\[redis\]'"):
        importlib.import_module("tahdah_async.webhooks.redis")


def shows_password(error: BaseException) -> bool:
    text = "".join(traceback.format_exception(error))
    return PASSWORD in text or PASSWORD in repr(error) or PASSWORD in str(error)


async def test_the_password_is_in_no_repr_error_or_log_when_the_server_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with refusing_port() as port:
        url = f"redis://tahdah:{PASSWORD}@127.0.0.1:{port}/0"
        async with RedisDedupeStore(url, prefix="p:") as store:
            assert PASSWORD not in repr(store)
            assert PASSWORD not in str(store)
            calls = [
                store.claim(KEY, LONG),
                store.extend(KEY, "token", LONG),
                store.commit(KEY, "token", LONG),
                store.release(KEY, "token"),
            ]
            for call in calls:
                with pytest.raises(redis.exceptions.ConnectionError) as raised:
                    await call
                assert not shows_password(raised.value)
    assert PASSWORD not in caplog.text


async def test_the_password_is_in_no_error_when_the_server_refuses_it(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = redis_url.replace("redis://", f"redis://tahdah:{PASSWORD}@")
    async with RedisDedupeStore(url, prefix="p:") as store:
        with pytest.raises(redis.exceptions.AuthenticationError) as raised:
            await store.claim(KEY, LONG)
        assert not shows_password(raised.value)
    assert PASSWORD not in caplog.text
