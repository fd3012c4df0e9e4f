"""An inbox in this process's memory: for tests and single-process use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from types import MappingProxyType
from typing import Final

import attrs

from ._base import (
    DEFAULT_RETENTION,
    ERROR_LIMIT,
    EVERYTHING,
    Clock,
    ContextManaged,
    InboxStats,
    NewDelivery,
    Selection,
    State,
    StoredDelivery,
    check_lease,
    check_limit,
    utc_now,
)

__all__ = ["MemoryInbox"]

_RERUNNABLE: Final = (State.DONE, State.FAILED, State.DEAD)
_PURGEABLE: Final = (State.DONE, State.DEAD)
_TO_RUN: Final = (State.PENDING, State.FAILED)


class MemoryInbox(ContextManaged):
    """An :class:`~tahdah_async.webhooks.inbox.Inbox` in a dict.

    Nothing survives the process: a crash or a restart loses every stored delivery, though
    the sender was told it had been received. Use it in tests, or where that is acceptable;
    :class:`SQLiteInbox` keeps deliveries on disk. It is shared by sharing the object (one
    event loop); :meth:`open` and :meth:`close` do nothing, and it works without them.

    Args:
        clock: the current time (UTC).
    """

    def __init__(self, *, clock: Clock = utc_now) -> None:
        self._clock = clock
        # In id order: ids only grow, and a row replaced keeps its place.
        self._rows: dict[int, StoredDelivery] = {}
        self._by_key: dict[str, int] = {}
        self._next_id = 1

    def __repr__(self) -> str:
        return f"<MemoryInbox rows={len(self._rows)}>"

    async def open(self) -> None:
        """Do nothing: the inbox is ready when made."""

    async def close(self) -> None:
        """Do nothing: the rows stay until the object is dropped."""

    # No method awaits between its reads and its writes: each is atomic on the event loop.

    async def put(self, delivery: NewDelivery) -> tuple[bool, int]:
        existing = self._by_key.get(delivery.key)
        if existing is not None:
            return False, existing
        id, self._next_id = self._next_id, self._next_id + 1
        self._rows[id] = StoredDelivery(
            id=id,
            key=delivery.key,
            verb=delivery.verb,
            body=bytes(delivery.body),
            headers=MappingProxyType(dict(delivery.headers)),
            secret_index=delivery.secret_index,
            received_at=_utc(delivery.received_at),
            state=State.PENDING,
            attempts=0,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=None,
            last_error=None,
            done_at=None,
        )
        self._by_key[delivery.key] = id
        return True, id

    async def claim(self, owner: str, limit: int, lease: float) -> list[StoredDelivery]:
        check_limit(limit)
        now = self._now()
        expires = now + _lease(lease)
        claimed: list[StoredDelivery] = []
        for id, row in self._rows.items():
            if len(claimed) >= limit:
                break
            if _runnable(row, now, owner):
                row = self._rows[id] = attrs.evolve(
                    row,
                    state=State.PROCESSING,
                    attempts=row.attempts + 1,
                    lease_owner=owner,
                    lease_expires_at=expires,
                )
                claimed.append(row)
        return claimed

    async def extend(self, owner: str, ids: Sequence[int], lease: float) -> set[int]:
        expires = self._now() + _lease(lease)
        held = set()
        for id in ids:
            row = self._held(owner, id)
            if row is not None:
                self._rows[id] = attrs.evolve(row, lease_expires_at=expires)
                held.add(id)
        return held

    async def complete(self, owner: str, id: int) -> bool:
        row = self._held(owner, id)
        if row is None:
            return False
        self._rows[id] = attrs.evolve(
            row,
            state=State.DONE,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=None,
            done_at=self._now(),
        )
        return True

    async def fail(self, owner: str, id: int, error: str, retry_at: dt.datetime | None) -> bool:
        row = self._held(owner, id)
        if row is None:
            return False
        self._rows[id] = attrs.evolve(
            row,
            state=State.DEAD if retry_at is None else State.FAILED,
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=None if retry_at is None else _utc(retry_at),
            last_error=error[:ERROR_LIMIT],
        )
        return True

    async def release(self, owner: str, ids: Sequence[int]) -> int:
        given_back = 0
        for id in set(ids):
            row = self._held(owner, id)
            if row is not None:
                self._rows[id] = attrs.evolve(
                    row,
                    state=State.PENDING,
                    lease_owner=None,
                    lease_expires_at=None,
                    next_attempt_at=None,
                )
                given_back += 1
        return given_back

    async def replay(self, selection: Selection) -> int:
        chosen = [row for row in self._select(selection) if row.state in _RERUNNABLE]
        for row in chosen:
            self._rows[row.id] = attrs.evolve(
                row, state=State.PENDING, attempts=0, next_attempt_at=None, done_at=None
            )
        return len(chosen)

    async def purge(self, selection: Selection) -> int:
        doomed = [row for row in self._select(selection) if row.state in _PURGEABLE]
        for row in doomed:
            del self._rows[row.id], self._by_key[row.key]
        return len(doomed)

    async def prune(self, retention: dt.timedelta = DEFAULT_RETENTION) -> int:
        return await self.purge(Selection(state=State.DONE, done_before=self._now() - retention))

    # -- reads -----------------------------------------------------------------------------

    async def get(self, id: int) -> StoredDelivery | None:
        return self._rows.get(id)

    async def rows(
        self, selection: Selection = EVERYTHING, *, limit: int = 100, after_id: int = 0
    ) -> list[StoredDelivery]:
        check_limit(limit)
        found: list[StoredDelivery] = []
        for row in self._select(selection):
            if len(found) >= limit:
                break
            if row.id > after_id:
                found.append(row)
        return found

    async def stats(self) -> InboxStats:
        by_state = dict.fromkeys(State, 0)
        by_verb: dict[str, dict[State, int]] = {}
        waiting = [row.received_at for row in self._rows.values() if row.state in _TO_RUN]
        for row in self._rows.values():
            by_state[row.state] += 1
            verb = by_verb.setdefault(row.verb, {})
            verb[row.state] = verb.get(row.state, 0) + 1
        return InboxStats(
            by_state=by_state, by_verb=by_verb, oldest_pending=min(waiting, default=None)
        )

    # -- helpers ---------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return _utc(self._clock())

    def _held(self, owner: str, id: int) -> StoredDelivery | None:
        row = self._rows.get(id)
        # A lease that ran out still holds the row until another worker claims it.
        if row is None or row.state is not State.PROCESSING or row.lease_owner != owner:
            return None
        return row

    def _select(self, selection: Selection) -> list[StoredDelivery]:
        s = selection
        ids = None if s.ids is None else {int(id) for id in s.ids}
        after = None if s.received_after is None else _utc(s.received_after)
        before = None if s.received_before is None else _utc(s.received_before)
        done_before = None if s.done_before is None else _utc(s.done_before)
        return [
            row
            for row in self._rows.values()
            if (ids is None or row.id in ids)
            and (s.state is None or row.state == s.state)
            and (s.verb is None or row.verb == s.verb)
            and (after is None or row.received_at >= after)
            and (before is None or row.received_at < before)
            and (done_before is None or (row.done_at is not None and row.done_at < done_before))
        ]


def _runnable(row: StoredDelivery, now: dt.datetime, owner: str) -> bool:
    if row.state is State.PENDING:
        return True
    if row.state is State.FAILED:
        return row.next_attempt_at is None or row.next_attempt_at <= now
    if row.state is State.PROCESSING and row.lease_owner != owner:
        return row.lease_expires_at is None or row.lease_expires_at <= now
    return False


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.utcoffset() is None:
        raise ValueError("inbox times must be timezone-aware")
    return moment.astimezone(dt.UTC)


def _lease(seconds: float) -> dt.timedelta:
    return dt.timedelta(seconds=check_lease(seconds))
