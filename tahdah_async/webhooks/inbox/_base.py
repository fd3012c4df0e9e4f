"""What every inbox is: the rows it keeps and the operations on them."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Final, Protocol, Self, runtime_checkable

import attrs

from ..dedupe import check_duration

__all__ = [
    "DEFAULT_RETENTION",
    "ERROR_LIMIT",
    "EVERYTHING",
    "KEPT_HEADERS",
    "Clock",
    "ContextManaged",
    "Inbox",
    "InboxStats",
    "NewDelivery",
    "Selection",
    "State",
    "StoredDelivery",
    "check_lease",
    "check_limit",
    "utc_now",
]

Clock = Callable[[], dt.datetime]
"""Returns the current time, timezone-aware (UTC)."""

DEFAULT_RETENTION: Final = dt.timedelta(days=7)
"""How long ``done`` rows are kept before :meth:`Inbox.prune` removes them."""
ERROR_LIMIT: Final = 2000
"""The most characters of a failure an inbox keeps as ``last_error``."""
KEPT_HEADERS: Final = ("Webhook-Verb", "Content-Type", "User-Agent")
"""The request headers a stored delivery keeps (never ``Authorization`` or the signature)."""


class ContextManaged:
    """``async with inbox:`` opens the inbox on entry and closes it on exit."""

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def utc_now() -> dt.datetime:
    """The default :data:`Clock`."""
    return dt.datetime.now(dt.UTC)


class State(enum.StrEnum):
    """Where a stored delivery is in its life."""

    PENDING = "pending"
    """Stored, waiting for a worker."""
    PROCESSING = "processing"
    """Claimed by a worker whose lease has not expired (an expired one is claimable)."""
    DONE = "done"
    """Every handler succeeded."""
    FAILED = "failed"
    """A run failed; another is scheduled at ``next_attempt_at``."""
    DEAD = "dead"
    """Given up (``max_attempts`` runs failed, or the payload does not fit its event):
    kept until replayed or purged."""


@attrs.frozen(kw_only=True)
class NewDelivery:
    """A verified delivery, as the receiver hands it to :meth:`Inbox.put`."""

    key: str
    """The deduplication key (unique in the inbox): see :func:`~..dedupe.delivery_key`."""
    verb: str
    body: bytes = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(repr=False, factory=dict)
    """The :data:`KEPT_HEADERS` the request had."""
    secret_index: int = 0
    received_at: dt.datetime


@attrs.frozen(kw_only=True)
class StoredDelivery:
    """One row of an inbox."""

    id: int
    key: str
    verb: str
    body: bytes = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(repr=False)
    secret_index: int
    received_at: dt.datetime
    state: State
    attempts: int
    """How many times the row was claimed (a run after an expired lease counts too)."""
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    last_error: str | None
    done_at: dt.datetime | None


@attrs.frozen(kw_only=True)
class Selection:
    """Which rows :meth:`Inbox.rows`, :meth:`Inbox.replay` or :meth:`Inbox.purge` act on.

    Every field given must match (``None``: any); an empty selection selects every row.
    """

    ids: Sequence[int] | None = None
    state: State | None = None
    verb: str | None = None
    received_after: dt.datetime | None = None
    """Rows received at or after this time."""
    received_before: dt.datetime | None = None
    """Rows received before this time."""
    done_before: dt.datetime | None = None
    """Rows that became ``done`` before this time."""


EVERYTHING: Final = Selection()
"""The selection of every row."""


@attrs.frozen(kw_only=True)
class InboxStats:
    """What :meth:`Inbox.stats` counts."""

    by_state: Mapping[State, int]
    """Rows per state; every state is present (0 when none)."""
    by_verb: Mapping[str, Mapping[State, int]]
    """Rows per verb and state (only states with rows)."""
    oldest_pending: dt.datetime | None
    """When the oldest row still to be run (``pending`` or ``failed``) was received."""


@runtime_checkable
class Inbox(Protocol):
    """A durable store of deliveries, shared by every receiver and worker that opens it.

    Every method is atomic across the processes sharing the inbox. Times are the inbox's
    :data:`Clock` (timezone-aware UTC). ``owner`` names a worker (unique per process).
    An owner *holds* a row while it is ``processing`` under that owner's name: a lease that
    ran out makes the row claimable, but it is held until another claim takes it.
    """

    async def open(self) -> None:
        """Connect, and create the schema if it is missing (idempotent)."""

    async def close(self) -> None:
        """Close every connection (idempotent)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def put(self, delivery: NewDelivery) -> tuple[bool, int]:
        """Store ``delivery`` unless a row with its key exists; return whether it was stored
        now and the row's id. The row is committed when this returns."""

    async def claim(self, owner: str, limit: int, lease: float) -> list[StoredDelivery]:
        """Claim up to ``limit`` runnable rows for ``lease`` seconds, oldest first.

        Runnable: ``pending``; ``failed`` with ``next_attempt_at`` due; ``processing`` with
        an expired lease held by another owner (``owner`` is still running its own rows).
        Each claimed row becomes ``processing``, owned by ``owner``, with ``attempts`` one
        higher. Rows come back as they are after the claim.
        """

    async def extend(self, owner: str, ids: Sequence[int], lease: float) -> set[int]:
        """Extend ``owner``'s leases on ``ids`` to ``lease`` seconds from now; return the
        ids it still held (a lease that expired and was claimed by another is lost)."""

    async def complete(self, owner: str, id: int) -> bool:
        """Mark a row ``done`` if ``owner`` still holds it; return whether it did."""

    async def fail(self, owner: str, id: int, error: str, retry_at: dt.datetime | None) -> bool:
        """Record a failed run if ``owner`` still holds the row: ``failed`` to run again at
        ``retry_at``, or ``dead`` when ``retry_at`` is ``None``. ``error`` is kept cut to
        :data:`ERROR_LIMIT` characters. Return whether the row was updated."""

    async def release(self, owner: str, ids: Sequence[int]) -> int:
        """Give back rows ``owner`` holds without running them (a clean stop): they are
        runnable again at once. Return how many were given back."""

    async def get(self, id: int) -> StoredDelivery | None:
        """The row ``id``, or ``None``."""

    async def rows(
        self, selection: Selection = EVERYTHING, *, limit: int = 100, after_id: int = 0
    ) -> list[StoredDelivery]:
        """The selected rows with ids above ``after_id``, in id order, at most ``limit``."""

    async def replay(self, selection: Selection) -> int:
        """Make the selected rows that are ``done``, ``failed`` or ``dead`` runnable now,
        with their attempts reset to 0 (rows being processed are left alone). Return how
        many were."""

    async def purge(self, selection: Selection) -> int:
        """Delete the selected rows that are ``done`` or ``dead``; return how many."""

    async def prune(self, retention: dt.timedelta = DEFAULT_RETENTION) -> int:
        """Delete ``done`` rows done longer than ``retention`` ago; return how many."""

    async def stats(self) -> InboxStats:
        """Count the rows by state and verb."""


def check_lease(seconds: float) -> float:
    """Return a lease's seconds, if they are a positive, finite number.

    Raises:
        TypeError: not a number.
        ValueError: zero, negative, infinite or NaN.
    """
    return check_duration(seconds, "lease")


def check_limit(limit: int) -> None:
    """Refuse a negative ``limit`` (SQLite would read it as "no limit").

    Raises:
        ValueError: ``limit`` is negative.
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
