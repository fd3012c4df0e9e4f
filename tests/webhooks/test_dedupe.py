"""The in-memory dedupe store: claims, releases, expiry, the capacity bound and its defaults."""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahdah_async.webhooks import (
    DedupeStore,
    MemoryDedupeStore,
    WebhookReceiver,
    delivery_key,
)
from tahdah_async.webhooks import dedupe as dedupe_module

HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
TTL = 60.0


class Clock:
    """A settable monotonic clock: time moves only when a test moves it, so no claim expires
    however slowly the test runs."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_key_is_claimed_once() -> None:
    store = MemoryDedupeStore(clock=Clock())
    assert await store.claim("a", TTL) is True
    assert await store.claim("a", TTL) is False
    assert await store.claim("a", TTL) is False
    assert await store.claim("b", TTL) is True
    assert len(store) == 2


async def test_release_allows_a_new_claim() -> None:
    store = MemoryDedupeStore(clock=Clock())
    assert await store.claim("a", TTL)
    await store.release("a")
    assert len(store) == 0
    assert await store.claim("a", TTL) is True
    assert await store.claim("a", TTL) is False


async def test_releasing_an_unknown_key_is_harmless() -> None:
    store = MemoryDedupeStore(clock=Clock())
    await store.release("never-claimed")
    assert await store.claim("never-claimed", TTL) is True


async def test_a_claim_expires_after_its_ttl() -> None:
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    assert await store.claim("a", 10.0)
    clock.now += 9.99
    assert await store.claim("a", 10.0) is False
    clock.now += 0.02  # 10.01 s after the claim
    assert await store.claim("a", 10.0) is True
    assert await store.claim("a", 10.0) is False


async def test_expired_keys_are_forgotten() -> None:
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    for key in "abc":
        assert await store.claim(key, 5.0)
    clock.now += 6
    assert await store.claim("d", 5.0)
    assert len(store) == 1


async def test_the_capacity_bound_evicts_the_oldest_first() -> None:
    store = MemoryDedupeStore(capacity=3, clock=Clock())
    for key in ("first", "second", "third", "fourth"):
        assert await store.claim(key, TTL)
    assert len(store) == 3
    # The three newest are still remembered...
    assert await store.claim("fourth", TTL) is False
    assert await store.claim("third", TTL) is False
    assert await store.claim("second", TTL) is False
    # ...and the oldest was forgotten, so it can be claimed again.
    assert await store.claim("first", TTL) is True
    assert len(store) == 3
    # Claiming it again evicted the next oldest.
    assert await store.claim("second", TTL) is True


async def test_a_reclaimed_key_counts_as_new_for_eviction() -> None:
    store = MemoryDedupeStore(capacity=2, clock=Clock())
    await store.claim("a", TTL)
    await store.claim("b", TTL)
    await store.release("a")
    await store.claim("a", TTL)  # now the newest
    await store.claim("c", TTL)  # evicts "b", the oldest
    assert await store.claim("a", TTL) is False
    assert await store.claim("b", TTL) is True


async def test_the_defaults_keep_at_least_ten_thousand_keys_for_a_day() -> None:
    assert dedupe_module.DEFAULT_CAPACITY >= 10_000
    assert dedupe_module.DEFAULT_TTL >= 24 * 60 * 60
    receiver_defaults = inspect.signature(WebhookReceiver).parameters
    assert receiver_defaults["dedupe_ttl"].default == dedupe_module.DEFAULT_TTL
    assert receiver_defaults["dedupe"].default == "memory"

    # A default store really holds DEFAULT_CAPACITY keys: the first is still a duplicate...
    # (Its own clock, time.monotonic: no key can expire in the test, the TTL is a day.)
    store = MemoryDedupeStore()
    for n in range(dedupe_module.DEFAULT_CAPACITY):
        assert await store.claim(f"key-{n}", dedupe_module.DEFAULT_TTL)
    assert await store.claim("key-0", dedupe_module.DEFAULT_TTL) is False
    # ...until one more key pushes it out.
    assert await store.claim("one-more", dedupe_module.DEFAULT_TTL)
    assert await store.claim("key-0", dedupe_module.DEFAULT_TTL) is True


@pytest.mark.parametrize("capacity", [0, -1, True, 1.5, "10"], ids=repr)
def test_an_invalid_capacity_raises(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        MemoryDedupeStore(capacity=capacity)  # type: ignore[arg-type]


def test_delivery_key_lower_cases_the_verb() -> None:
    key = delivery_key("legalEntities.created", HASH)
    assert key == f"legalentities.created:{HASH}"
    assert delivery_key("LEGALENTITIES.CREATED", HASH) == key
    assert delivery_key(" LegalEntities.Created ", HASH) == key
    assert delivery_key("legalEntities.created", HASH[::-1]) != key
    assert delivery_key("finance.entry.created", HASH) != key


def test_memory_store_satisfies_the_protocol() -> None:
    assert isinstance(MemoryDedupeStore(), DedupeStore)
    assert not isinstance(object(), DedupeStore)

    class OnlyClaims:
        async def claim(self, key: str, ttl: float) -> bool:
            return True

    assert not isinstance(OnlyClaims(), DedupeStore)


async def test_concurrent_claims_of_one_key_succeed_once() -> None:
    store = MemoryDedupeStore(clock=Clock())
    results = await asyncio.gather(*(store.claim("same", TTL) for _ in range(50)))
    assert results.count(True) == 1


# -- a model of the store ---------------------------------------------------------------------

operations = st.lists(
    st.tuples(
        st.sampled_from(["claim", "release", "tick"]),
        st.sampled_from("abcdef"),
        st.floats(min_value=0, max_value=4, allow_nan=False),
    ),
    max_size=60,
)


class ModelStore:
    """What a bounded, expiring, oldest-first store must answer (one TTL for every key)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.expiry: OrderedDict[str, float] = OrderedDict()

    def claim(self, key: str, now: float, ttl: float) -> bool:
        for k in [k for k, e in self.expiry.items() if e <= now]:
            del self.expiry[k]
        if key in self.expiry:
            return False
        self.expiry[key] = now + ttl
        while len(self.expiry) > self.capacity:
            self.expiry.popitem(last=False)
        return True

    def release(self, key: str) -> None:
        self.expiry.pop(key, None)


@settings(max_examples=150, deadline=None)
@given(ops=operations, capacity=st.integers(1, 5))
def test_the_store_behaves_like_its_model(ops: list[tuple[str, str, float]], capacity: int) -> None:
    async def scenario() -> None:
        clock = Clock()
        store = MemoryDedupeStore(capacity, clock=clock)
        model = ModelStore(capacity)
        for op, key, step in ops:
            if op == "tick":
                clock.now += step
            elif op == "release":
                await store.release(key)
                model.release(key)
            else:
                assert await store.claim(key, 5.0) == model.claim(key, clock.now, 5.0)
            assert len(store) <= capacity

    asyncio.run(scenario())
