"""What is particular to MemoryDedupeStore: exact expiry on its clock, the capacity bound, the
defaults, and a model of the whole store. (The contract every store keeps is in
``test_dedupe_memory.py``.)"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahdah_async.webhooks import (
    Claim,
    ClaimState,
    DedupeStore,
    MemoryDedupeStore,
    WebhookReceiver,
    delivery_key,
)
from tahdah_async.webhooks import dedupe as dedupe_module

from .test_dedupe_memory import Clock

HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
LONG = 3600.0

NEW, DUPLICATE, IN_PROGRESS = ClaimState.NEW, ClaimState.DUPLICATE, ClaimState.IN_PROGRESS


async def claimed(store: MemoryDedupeStore, key: str, lease: float = LONG) -> str:
    claim = await store.claim(key, lease)
    assert claim.state is NEW
    assert claim.token is not None
    return claim.token


async def state(store: MemoryDedupeStore, key: str) -> ClaimState:
    """The state a claim finds (claiming the key for an hour if it is free)."""
    return (await store.claim(key, LONG)).state


# -- expiry on the store's clock -------------------------------------------------------------


async def test_a_claim_lasts_exactly_its_lease() -> None:
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    await claimed(store, "a", 10.0)
    clock.now = 1009.99
    assert (await store.claim("a", 10.0)).state is IN_PROGRESS
    clock.now = 1010.0
    assert (await store.claim("a", 10.0)).state is NEW
    assert (await store.claim("a", 10.0)).state is IN_PROGRESS


async def test_extend_counts_the_new_lease_from_now() -> None:
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    token = await claimed(store, "a", 10.0)
    clock.now = 1008.0
    assert await store.extend("a", token, 10.0)
    clock.now = 1017.99  # past the first lease, within the extension
    assert await state(store, "a") is IN_PROGRESS
    # A shorter extension shortens it.
    assert await store.extend("a", token, 1.0)
    clock.now = 1018.99
    assert await state(store, "a") is NEW
    assert not await store.extend("a", token, 10.0)


async def test_a_commit_is_remembered_for_its_ttl_from_the_commit() -> None:
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    token = await claimed(store, "a", 10.0)
    clock.now = 1005.0
    assert await store.commit("a", token, 100.0)
    clock.now = 1104.99
    assert await state(store, "a") is DUPLICATE
    clock.now = 1105.0
    assert await state(store, "a") is NEW


async def test_nothing_can_be_done_with_an_expired_claim() -> None:
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    token = await claimed(store, "a", 10.0)
    clock.now = 1010.0
    assert not await store.extend("a", token, 10.0)
    assert not await store.commit("a", token, 10.0)
    assert not await store.release("a", token)
    assert await state(store, "a") is NEW


async def test_expired_keys_are_forgotten() -> None:
    clock = Clock()
    store = MemoryDedupeStore(clock=clock)
    for key in "abc":
        await claimed(store, key, 5.0)
    clock.now += 6
    await claimed(store, "d", 5.0)
    assert len(store) == 1


async def test_a_released_key_is_forgotten() -> None:
    store = MemoryDedupeStore(clock=Clock())
    token = await claimed(store, "a")
    assert await store.release("a", token)
    assert len(store) == 0


# -- the capacity bound ----------------------------------------------------------------------


async def test_the_capacity_bound_evicts_the_oldest_first() -> None:
    store = MemoryDedupeStore(capacity=3, clock=Clock())
    for key in ("first", "second", "third", "fourth"):
        assert await store.commit(key, await claimed(store, key), LONG)
    assert len(store) == 3
    # The three newest are still remembered...
    assert await state(store, "fourth") is DUPLICATE
    assert await state(store, "third") is DUPLICATE
    assert await state(store, "second") is DUPLICATE
    # ...and the oldest was forgotten, so it can be claimed again.
    assert await state(store, "first") is NEW
    assert len(store) == 3
    # Claiming it again evicted the next oldest.
    assert await state(store, "second") is NEW


async def test_a_commit_counts_as_new_for_eviction() -> None:
    store = MemoryDedupeStore(capacity=2, clock=Clock())
    a = await claimed(store, "a")
    await claimed(store, "b")
    assert await store.commit("a", a, LONG)  # now the newest
    await claimed(store, "c")  # evicts "b", the oldest
    assert await state(store, "a") is DUPLICATE
    assert await state(store, "b") is NEW


async def test_a_reclaimed_key_counts_as_new_for_eviction() -> None:
    store = MemoryDedupeStore(capacity=2, clock=Clock())
    a = await claimed(store, "a")
    await claimed(store, "b")
    assert await store.release("a", a)
    await claimed(store, "a")  # now the newest
    await claimed(store, "c")  # evicts "b", the oldest
    assert await state(store, "a") is IN_PROGRESS
    assert await state(store, "b") is NEW


async def test_an_evicted_claim_can_no_longer_be_committed() -> None:
    store = MemoryDedupeStore(capacity=1, clock=Clock())
    a = await claimed(store, "a")
    await claimed(store, "b")
    assert not await store.commit("a", a, LONG)
    assert not await store.extend("a", a, LONG)
    assert await state(store, "a") is NEW


async def test_the_defaults() -> None:
    assert dedupe_module.DEFAULT_CAPACITY >= 10_000
    # Senders retry for days.
    assert dedupe_module.DEFAULT_TTL >= 3 * 24 * 60 * 60
    assert 0 < dedupe_module.DEFAULT_LEASE < dedupe_module.DEFAULT_TTL
    receiver_defaults = inspect.signature(WebhookReceiver).parameters
    assert receiver_defaults["dedupe_ttl"].default == dedupe_module.DEFAULT_TTL
    assert receiver_defaults["dedupe_lease"].default == dedupe_module.DEFAULT_LEASE
    assert receiver_defaults["dedupe"].default == "memory"


async def test_a_default_store_remembers_ten_thousand_deliveries() -> None:
    store = MemoryDedupeStore(clock=Clock())
    for n in range(dedupe_module.DEFAULT_CAPACITY):
        key = f"key-{n}"
        assert await store.commit(key, await claimed(store, key), dedupe_module.DEFAULT_TTL)
    # The first is still a duplicate...
    assert await state(store, "key-0") is DUPLICATE
    # ...until one more key pushes it out.
    await claimed(store, "one-more")
    assert await state(store, "key-0") is NEW


@pytest.mark.parametrize(
    ("capacity", "error"),
    [(0, ValueError), (-1, ValueError), (True, TypeError), (1.5, TypeError), ("10", TypeError)],
    ids=repr,
)
def test_an_invalid_capacity_raises(capacity: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="capacity must be"):
        MemoryDedupeStore(capacity=capacity)  # type: ignore[arg-type]


# -- keys, claims and the protocol -----------------------------------------------------------


def test_delivery_key_is_the_body_hash_alone() -> None:
    assert delivery_key(HASH) == f"sha256:{HASH}"
    assert delivery_key(HASH[::-1]) != delivery_key(HASH)


def test_a_claim_never_shows_its_token() -> None:
    claim = Claim(ClaimState.NEW, "the-secret-token")
    assert "the-secret-token" not in repr(claim)
    assert Claim(ClaimState.DUPLICATE).token is None


def test_the_protocol_needs_every_method() -> None:
    assert isinstance(MemoryDedupeStore(), DedupeStore)
    assert not isinstance(object(), DedupeStore)

    class OnlyClaims:
        async def claim(self, key: str, lease: float) -> Claim:
            return Claim(ClaimState.NEW, "token")

        async def release(self, key: str, token: str) -> bool:
            return True

    assert not isinstance(OnlyClaims(), DedupeStore)


# -- a model of the store --------------------------------------------------------------------

DURATION = 5.0  # every lease and retention, so the oldest entry always expires first

operations = st.lists(
    st.tuples(
        st.sampled_from(["claim", "commit", "release", "stale", "tick"]),
        st.sampled_from("abcdef"),
        st.floats(min_value=0, max_value=4, allow_nan=False),
    ),
    max_size=60,
)


@attrs.define
class ModelEntry:
    expiry: float
    token: str | None  # None: committed


class ModelStore:
    """What a bounded, expiring, oldest-first store must answer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[str, ModelEntry] = OrderedDict()

    def forget_expired(self, now: float) -> None:
        for key in [key for key, entry in self.entries.items() if entry.expiry <= now]:
            del self.entries[key]

    def claim(self, key: str, now: float) -> ClaimState:
        self.forget_expired(now)
        entry = self.entries.get(key)
        if entry is not None:
            return DUPLICATE if entry.token is None else IN_PROGRESS
        return NEW

    def add(self, key: str, now: float, token: str) -> None:
        self.entries[key] = ModelEntry(now + DURATION, token)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)

    def held(self, key: str, token: str, now: float) -> bool:
        entry = self.entries.get(key)
        return entry is not None and entry.token == token and entry.expiry > now

    def commit(self, key: str, token: str, now: float) -> bool:
        if not self.held(key, token, now):
            return False
        self.entries[key] = ModelEntry(now + DURATION, None)
        self.entries.move_to_end(key)
        return True

    def release(self, key: str, token: str, now: float) -> bool:
        if not self.held(key, token, now):
            return False
        del self.entries[key]
        return True


@settings(max_examples=150, deadline=None)
@given(ops=operations, capacity=st.integers(1, 5))
def test_the_store_behaves_like_its_model(ops: list[tuple[str, str, float]], capacity: int) -> None:
    async def scenario() -> None:
        clock = Clock()
        store = MemoryDedupeStore(capacity, clock=clock)
        model = ModelStore(capacity)
        tokens: dict[str, str] = {}  # the last token each key was claimed with
        stale: dict[str, str] = {}  # the one before
        for op, key, step in ops:
            now = clock.now
            token = tokens.get(key, "never-issued")
            if op == "tick":
                clock.now += step
            elif op == "claim":
                claim = await store.claim(key, DURATION)
                assert claim.state is model.claim(key, now)
                if claim.state is NEW:
                    assert claim.token is not None
                    assert claim.token not in tokens.values()
                    if key in tokens:
                        stale[key] = tokens[key]
                    tokens[key] = claim.token
                    model.add(key, now, claim.token)
                    assert len(store) == len(model.entries)
            elif op == "commit":
                assert await store.commit(key, token, DURATION) is model.commit(key, token, now)
            elif op == "release":
                assert await store.release(key, token) is model.release(key, token, now)
            else:
                old = stale.get(key, "never-issued")
                assert await store.release(key, old) is False
                assert await store.commit(key, old, DURATION) is False
                assert await store.extend(key, old, DURATION) is False
            assert len(store) <= capacity

    asyncio.run(scenario())
