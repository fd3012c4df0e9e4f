"""What every dedupe store must do, whatever keeps its keys.

A subclass of :class:`DedupeContract` (named ``Test...``) provides three fixtures:

- ``store``: the store under test, empty (or under a prefix no other test uses);
- ``peer``: another store object over the same keys (another connection); a store that cannot
  be shared between objects gives ``store`` again;
- ``lapse``: a :class:`Lapse`, how time passes for the store.

A lease or retention that must end is :attr:`Lapse.short`, and the test polls until the store
says it ended (:meth:`Lapse.tick` between polls: an injected clock moves, or real time passes);
one that must not end is an hour. No test measures time.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Final, Protocol

import pytest

from tahdah_async.webhooks import Claim, ClaimState, DedupeStore, delivery_key

__all__ = ["HANG_GUARD", "LONG", "DedupeContract", "Lapse", "claim_when_free"]

LONG: Final = 3600.0
"""A lease or retention no test outlives."""
HANG_GUARD: Final = 60.0
"""How long a test polls for a lease to end before it fails (never reached when it works)."""

KEY: Final = delivery_key("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
OTHER_KEY: Final = delivery_key("60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752")
WRONG_TOKEN: Final = "not-the-token"
CONCURRENT: Final = 50


class Lapse(Protocol):
    """How time passes for a store under test."""

    @property
    def short(self) -> float:
        """A lease or retention, in seconds, that a test lets end."""

    async def tick(self) -> None:
        """Let some time pass (between two polls)."""


async def claim_when_free(store: DedupeStore, key: str, lease: float, lapse: Lapse) -> Claim:
    """Claim ``key`` as soon as it is free (a lease or retention ended); fail after the hang
    guard."""
    deadline = time.monotonic() + HANG_GUARD
    while True:
        claim = await store.claim(key, lease)
        if claim.state is ClaimState.NEW:
            return claim
        if time.monotonic() > deadline:
            pytest.fail(f"{key!r} is still {claim.state.value} after {HANG_GUARD} s")
        await lapse.tick()


async def held(store: DedupeStore, key: str) -> Claim:
    """Claim ``key`` for an hour, which must succeed."""
    claim = await store.claim(key, LONG)
    assert claim.state is ClaimState.NEW
    assert claim.token is not None
    return claim


def token_of(claim: Claim) -> str:
    assert claim.token is not None
    return claim.token


async def call(store: DedupeStore, operation: str, key: str, token: str) -> bool:
    """Run ``extend``, ``commit`` or ``release`` with an hour's lease or retention."""
    if operation == "extend":
        return await store.extend(key, token, LONG)
    if operation == "commit":
        return await store.commit(key, token, LONG)
    assert operation == "release"
    return await store.release(key, token)


OPERATIONS: Final = ["extend", "commit", "release"]


class DedupeContract:
    """The behaviour shared by every :class:`~tahdah_async.webhooks.DedupeStore`."""

    def test_the_store_satisfies_the_protocol(self, store: DedupeStore) -> None:
        assert isinstance(store, DedupeStore)

    # -- claiming ------------------------------------------------------------------------

    async def test_a_new_key_is_claimed_with_a_token(self, store: DedupeStore) -> None:
        claim = await store.claim(KEY, LONG)
        assert claim.state is ClaimState.NEW
        assert isinstance(claim.token, str)
        assert len(claim.token) >= 16
        assert claim.token not in repr(claim)

    async def test_every_claim_gets_its_own_token(self, store: DedupeStore) -> None:
        first = await held(store, KEY)
        second = await held(store, OTHER_KEY)
        assert await store.release(KEY, token_of(first))
        third = await held(store, KEY)
        assert len({first.token, second.token, third.token}) == 3

    async def test_a_held_key_is_in_progress(self, store: DedupeStore) -> None:
        await held(store, KEY)
        for _ in range(3):
            assert await store.claim(KEY, LONG) == Claim(ClaimState.IN_PROGRESS)

    async def test_keys_are_independent(self, store: DedupeStore) -> None:
        first = await held(store, KEY)
        await held(store, OTHER_KEY)
        assert await store.commit(KEY, token_of(first), LONG)
        assert (await store.claim(KEY, LONG)).state is ClaimState.DUPLICATE
        assert (await store.claim(OTHER_KEY, LONG)).state is ClaimState.IN_PROGRESS

    @pytest.mark.parametrize(
        "key",
        ["", "ключ", "a b\n*?[]{}\\'\"", "k" * 1000, "sha256:"],
        ids=["empty", "unicode", "glob-and-quotes", "long", "sha256-prefix-only"],
    )
    async def test_any_string_is_a_key(self, store: DedupeStore, key: str) -> None:
        claim = await held(store, key)
        assert (await store.claim(key, LONG)).state is ClaimState.IN_PROGRESS
        assert (await store.claim(key + "x", LONG)).state is ClaimState.NEW
        assert await store.commit(key, token_of(claim), LONG)
        assert (await store.claim(key, LONG)).state is ClaimState.DUPLICATE

    # -- committing and releasing ------------------------------------------------------------

    async def test_a_committed_key_is_a_duplicate(self, store: DedupeStore) -> None:
        claim = await held(store, KEY)
        assert await store.commit(KEY, token_of(claim), LONG) is True
        for _ in range(3):
            assert await store.claim(KEY, LONG) == Claim(ClaimState.DUPLICATE)

    async def test_a_released_key_is_new_again(self, store: DedupeStore) -> None:
        first = await held(store, KEY)
        assert await store.release(KEY, token_of(first)) is True
        second = await store.claim(KEY, LONG)
        assert second.state is ClaimState.NEW
        assert second.token != first.token
        assert (await store.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS

    async def test_a_released_claim_cannot_be_released_or_committed_again(
        self, store: DedupeStore
    ) -> None:
        claim = await held(store, KEY)
        assert await store.release(KEY, token_of(claim))
        for operation in OPERATIONS:
            assert await call(store, operation, KEY, token_of(claim)) is False
        # Nothing was written back by the late calls: the key is free.
        assert (await store.claim(KEY, LONG)).state is ClaimState.NEW

    @pytest.mark.parametrize("operation", OPERATIONS)
    async def test_a_committed_key_stays_committed(
        self, store: DedupeStore, operation: str
    ) -> None:
        claim = await held(store, KEY)
        assert await store.commit(KEY, token_of(claim), LONG)
        assert await call(store, operation, KEY, token_of(claim)) is False
        assert (await store.claim(KEY, LONG)).state is ClaimState.DUPLICATE

    @pytest.mark.parametrize("operation", OPERATIONS)
    async def test_a_wrong_token_changes_nothing(self, store: DedupeStore, operation: str) -> None:
        claim = await held(store, KEY)
        assert await call(store, operation, KEY, WRONG_TOKEN) is False
        assert await call(store, operation, KEY, "") is False
        assert (await store.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS
        # The claim is still its holder's.
        assert await store.commit(KEY, token_of(claim), LONG)
        assert (await store.claim(KEY, LONG)).state is ClaimState.DUPLICATE

    async def test_another_keys_token_changes_nothing(self, store: DedupeStore) -> None:
        mine = await held(store, KEY)
        theirs = await held(store, OTHER_KEY)
        for operation in OPERATIONS:
            assert await call(store, operation, KEY, token_of(theirs)) is False
        assert (await store.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS
        assert await store.release(KEY, token_of(mine))
        assert await store.commit(OTHER_KEY, token_of(theirs), LONG)

    @pytest.mark.parametrize("operation", OPERATIONS)
    async def test_a_key_never_claimed_is_not_touched(
        self, store: DedupeStore, operation: str
    ) -> None:
        assert await call(store, operation, KEY, WRONG_TOKEN) is False
        assert (await store.claim(KEY, LONG)).state is ClaimState.NEW

    # -- leases and retention ------------------------------------------------------------

    @pytest.mark.parametrize(
        ("bad", "error"),
        [
            (0, ValueError),
            (-1.0, ValueError),
            (math.nan, ValueError),
            (math.inf, ValueError),
            ("5", TypeError),
            (True, TypeError),
            (None, TypeError),
        ],
        ids=["zero", "negative", "nan", "inf", "str", "bool", "none"],
    )
    async def test_a_duration_that_is_not_a_positive_finite_number_is_refused(
        self, store: DedupeStore, bad: object, error: type[Exception]
    ) -> None:
        with pytest.raises(error, match="lease"):
            await store.claim(KEY, bad)  # type: ignore[arg-type]
        claim = await held(store, KEY)  # the refused claim took nothing
        with pytest.raises(error, match="lease"):
            await store.extend(KEY, token_of(claim), bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="ttl"):
            await store.commit(KEY, token_of(claim), bad)  # type: ignore[arg-type]
        assert (await store.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS  # still held

    async def test_a_lease_ends(self, store: DedupeStore, lapse: Lapse) -> None:
        first = await store.claim(KEY, lapse.short)
        assert first.state is ClaimState.NEW
        second = await claim_when_free(store, KEY, LONG, lapse)
        assert second.token != first.token

    @pytest.mark.parametrize("operation", OPERATIONS)
    async def test_an_ended_lease_cannot_be_extended_committed_or_released(
        self, store: DedupeStore, lapse: Lapse, operation: str
    ) -> None:
        claim = await store.claim(KEY, lapse.short)
        assert claim.state is ClaimState.NEW
        # A key claimed after it with the same lease ends after it: once the witness is free,
        # the claim's lease has ended too, and nobody has claimed the key since.
        assert (await store.claim(OTHER_KEY, lapse.short)).state is ClaimState.NEW
        await claim_when_free(store, OTHER_KEY, LONG, lapse)
        assert await call(store, operation, KEY, token_of(claim)) is False
        assert (await store.claim(KEY, LONG)).state is ClaimState.NEW

    @pytest.mark.parametrize("operation", OPERATIONS)
    async def test_a_late_call_cannot_touch_the_claim_that_took_over(
        self, store: DedupeStore, lapse: Lapse, operation: str
    ) -> None:
        late = await store.claim(KEY, lapse.short)
        assert late.state is ClaimState.NEW
        current = await claim_when_free(store, KEY, LONG, lapse)
        assert await call(store, operation, KEY, token_of(late)) is False
        assert (await store.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS
        assert await store.commit(KEY, token_of(current), LONG)
        assert (await store.claim(KEY, LONG)).state is ClaimState.DUPLICATE

    async def test_an_extended_claim_stays_held(self, store: DedupeStore, lapse: Lapse) -> None:
        claim = await held(store, KEY)
        assert await store.extend(KEY, token_of(claim), LONG) is True
        # Let a short lease begun after the extension end: the claim is still held.
        assert (await store.claim(OTHER_KEY, lapse.short)).state is ClaimState.NEW
        await claim_when_free(store, OTHER_KEY, LONG, lapse)
        assert (await store.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS
        assert await store.extend(KEY, token_of(claim), LONG) is True
        assert await store.commit(KEY, token_of(claim), LONG) is True

    async def test_extend_sets_the_lease_from_now(self, store: DedupeStore, lapse: Lapse) -> None:
        claim = await held(store, KEY)
        assert await store.extend(KEY, token_of(claim), lapse.short) is True
        await claim_when_free(store, KEY, LONG, lapse)
        assert await store.extend(KEY, token_of(claim), LONG) is False

    async def test_a_commit_is_remembered_for_its_ttl(
        self, store: DedupeStore, lapse: Lapse
    ) -> None:
        claim = await held(store, KEY)
        assert await store.commit(KEY, token_of(claim), lapse.short)
        again = await claim_when_free(store, KEY, LONG, lapse)
        assert again.token != claim.token
        assert (await store.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS

    async def test_a_commit_outlives_a_short_lease(self, store: DedupeStore, lapse: Lapse) -> None:
        claim = await held(store, KEY)
        assert await store.commit(KEY, token_of(claim), LONG)
        assert (await store.claim(OTHER_KEY, lapse.short)).state is ClaimState.NEW
        await claim_when_free(store, OTHER_KEY, LONG, lapse)
        assert (await store.claim(KEY, LONG)).state is ClaimState.DUPLICATE

    # -- concurrency ---------------------------------------------------------------------

    async def test_concurrent_claims_give_one_new(self, store: DedupeStore) -> None:
        claims = await asyncio.gather(*(store.claim(KEY, LONG) for _ in range(CONCURRENT)))
        states = [claim.state for claim in claims]
        assert states.count(ClaimState.NEW) == 1
        assert states.count(ClaimState.IN_PROGRESS) == CONCURRENT - 1

    async def test_concurrent_claims_through_two_stores_give_one_new(
        self, store: DedupeStore, peer: DedupeStore
    ) -> None:
        claims = await asyncio.gather(
            *(
                (store if n % 2 else peer).claim(KEY, LONG)
                for n in range(CONCURRENT)  # interleaved
            )
        )
        states = [claim.state for claim in claims]
        assert states.count(ClaimState.NEW) == 1
        assert states.count(ClaimState.IN_PROGRESS) == CONCURRENT - 1

    async def test_a_claim_through_one_store_is_seen_by_the_other(
        self, store: DedupeStore, peer: DedupeStore
    ) -> None:
        claim = await held(store, KEY)
        assert (await peer.claim(KEY, LONG)).state is ClaimState.IN_PROGRESS
        assert await peer.commit(KEY, token_of(claim), LONG)
        assert (await store.claim(KEY, LONG)).state is ClaimState.DUPLICATE

    async def test_a_commit_racing_a_release_wins_or_loses_whole(
        self, store: DedupeStore, peer: DedupeStore
    ) -> None:
        claim = await held(store, KEY)
        committed, released = await asyncio.gather(
            store.commit(KEY, token_of(claim), LONG), peer.release(KEY, token_of(claim))
        )
        assert [committed, released].count(True) == 1
        expected = ClaimState.DUPLICATE if committed else ClaimState.NEW
        assert (await store.claim(KEY, LONG)).state is expected

    async def test_concurrent_claims_of_many_keys_give_one_new_each(
        self, store: DedupeStore, peer: DedupeStore
    ) -> None:
        keys = [delivery_key(f"{n:064x}") for n in range(10)]
        claims = await asyncio.gather(
            *(s.claim(key, LONG) for key in keys for s in (store, peer, store, peer))
        )
        for n in range(len(keys)):
            states = [claim.state for claim in claims[4 * n : 4 * n + 4]]
            assert states.count(ClaimState.NEW) == 1
