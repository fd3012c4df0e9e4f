"""The embedded inbox: one SQLite file, shared by the processes of one host."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import aiosqlite

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

__all__ = ["SCHEMA", "SCHEMA_VERSION", "SQLiteInbox"]

SCHEMA_VERSION: Final = 1
"""The version of :data:`SCHEMA`, kept in ``tahdah_inbox_meta``."""
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS tahdah_inbox_meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tahdah_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: a purged row's id is never reused
    key TEXT NOT NULL UNIQUE,
    verb TEXT NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,                 -- a JSON object
    secret_index INTEGER NOT NULL,
    received_at INTEGER NOT NULL,          -- every time: microseconds since the epoch, UTC
    state TEXT NOT NULL CHECK (state IN ('pending', 'processing', 'done', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    next_attempt_at INTEGER,
    last_error TEXT,
    done_at INTEGER
);
CREATE INDEX IF NOT EXISTS tahdah_inbox_state ON tahdah_inbox (state, id);
CREATE INDEX IF NOT EXISTS tahdah_inbox_due ON tahdah_inbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS tahdah_inbox_done ON tahdah_inbox (state, done_at);
CREATE INDEX IF NOT EXISTS tahdah_inbox_verb ON tahdah_inbox (verb, state);
"""
"""The inbox's tables, for reading or for a migration tool (``open()`` creates them)."""

_COLUMNS: Final = (
    "id, key, verb, body, headers, secret_index, received_at, state, attempts, lease_owner,"
    " lease_expires_at, next_attempt_at, last_error, done_at"
)

_META_EXISTS: Final = (
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tahdah_inbox_meta'"
)
_SELECT_VERSION: Final = "SELECT value FROM tahdah_inbox_meta WHERE name = 'schema_version'"
_INSERT_VERSION: Final = (
    "INSERT INTO tahdah_inbox_meta (name, value) VALUES ('schema_version', :version)"
)

_INSERT: Final = """
INSERT INTO tahdah_inbox (key, verb, body, headers, secret_index, received_at, state)
VALUES (:key, :verb, :body, :headers, :secret_index, :received_at, 'pending')
ON CONFLICT (key) DO NOTHING
RETURNING id
"""
_SELECT_ID: Final = "SELECT id FROM tahdah_inbox WHERE key = :key"

# One branch per kind of runnable row, each read from an index in id order and merged, so a
# claim reads a few index entries however many rows are done or waiting for a later retry.
# Rows in "processing" are few (the running handlers of the workers alive now).
_CLAIM: Final = f"""
UPDATE tahdah_inbox
SET state = 'processing', attempts = attempts + 1, lease_owner = :owner,
    lease_expires_at = :expires
WHERE id IN (
    SELECT id FROM tahdah_inbox WHERE state = 'pending'
    UNION ALL
    SELECT id FROM tahdah_inbox INDEXED BY tahdah_inbox_due
    WHERE state = 'failed' AND next_attempt_at <= :now
    UNION ALL
    SELECT id FROM tahdah_inbox
    WHERE state = 'processing' AND lease_expires_at <= :now AND lease_owner != :owner
    ORDER BY id
    LIMIT :limit
)
RETURNING {_COLUMNS}
"""

# A lease that ran out still holds the row until another worker claims it.
_HELD: Final = "state = 'processing' AND lease_owner = :owner"
_IDS: Final = "id IN (SELECT value FROM json_each(:ids))"

_EXTEND: Final = f"""
UPDATE tahdah_inbox SET lease_expires_at = :expires
WHERE {_IDS} AND {_HELD}
RETURNING id
"""
_COMPLETE: Final = f"""
UPDATE tahdah_inbox
SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = NULL,
    done_at = :now
WHERE id = :id AND {_HELD}
"""
_FAIL: Final = f"""
UPDATE tahdah_inbox
SET state = :state, lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = :retry_at,
    last_error = :error
WHERE id = :id AND {_HELD}
"""
_RELEASE: Final = f"""
UPDATE tahdah_inbox
SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = NULL
WHERE {_IDS} AND {_HELD}
"""
# The selection's conditions follow these three (see _where).
_REPLAY: Final = """
UPDATE tahdah_inbox SET state = 'pending', attempts = 0, next_attempt_at = NULL, done_at = NULL
WHERE state IN ('done', 'failed', 'dead')
"""
_PURGE: Final = "DELETE FROM tahdah_inbox WHERE state IN ('done', 'dead')"
_ROWS: Final = f"SELECT {_COLUMNS} FROM tahdah_inbox WHERE id > :after_id"

_GET: Final = f"SELECT {_COLUMNS} FROM tahdah_inbox WHERE id = :id"
_COUNTS: Final = "SELECT verb, state, count(*) FROM tahdah_inbox GROUP BY verb, state"
_OLDEST: Final = "SELECT min(received_at) FROM tahdah_inbox WHERE state IN ('pending', 'failed')"


class SQLiteInbox(ContextManaged):
    """An :class:`~tahdah_async.webhooks.inbox.Inbox` in an SQLite file.

    Any number of receivers and workers on one host may open the same file, each process
    with its own :class:`SQLiteInbox`: every write takes the database's lock when it begins
    (``BEGIN IMMEDIATE``) and waits up to ``busy_timeout`` for it, and the file is in WAL mode
    so reads never wait for writes. Not for several hosts (a network file system breaks
    SQLite's locking): use :class:`PostgresInbox` there.

    A stored delivery survives a crash of the process. The file is written with
    ``synchronous=NORMAL``: a power cut or an operating-system crash may lose the last
    deliveries stored, never corrupt the file.

    Open it before use (``async with SQLiteInbox(path) as inbox:`` or ``await inbox.open()``);
    any other method raises :exc:`RuntimeError` before then and after :meth:`close`. Times
    are kept to the microsecond.

    Args:
        path: the database file (created, with its tables, if missing).
        clock: the current time (UTC).
        busy_timeout: seconds a write waits for another process to finish its own.

    Raises:
        ValueError: ``busy_timeout`` is not a positive number of seconds.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Clock = utc_now, busy_timeout: float = 30.0
    ) -> None:
        if not (busy_timeout > 0 and math.isfinite(busy_timeout)):
            raise ValueError("busy_timeout must be a positive number of seconds")
        self.path = os.fspath(path)
        """The database file."""
        self._clock = clock
        self._busy_timeout = float(busy_timeout)
        self._db: aiosqlite.Connection | None = None
        self._opening = asyncio.Lock()
        # One transaction at a time on the connection: the receiver and the worker share it,
        # and their statements would otherwise land inside each other's transactions.
        self._turn = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<SQLiteInbox {self.path!r}>"

    async def open(self) -> None:
        """Open the file, and create the tables if they are missing (idempotent).

        Raises:
            RuntimeError: the file holds a newer inbox schema than this version knows.
            sqlite3.Error: the file cannot be opened, or is not an SQLite database.
        """
        async with self._opening:
            if self._db is not None:
                return
            # isolation_level=None: this class begins every transaction itself.
            db = await aiosqlite.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None
            )
            try:
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
                async with _transaction(db):
                    await self._create_schema(db)
            except BaseException:
                await db.close()
                raise
            self._db = db

    async def close(self) -> None:
        """Close the connection, after the operation running now (idempotent)."""
        async with self._opening:
            db, self._db = self._db, None
            if db is not None:
                async with self._turn:
                    await db.close()

    # -- writes ----------------------------------------------------------------------------

    async def put(self, delivery: NewDelivery) -> tuple[bool, int]:
        params = {
            "key": delivery.key,
            "verb": delivery.verb,
            "body": bytes(delivery.body),
            "headers": json.dumps(dict(delivery.headers)),
            "secret_index": delivery.secret_index,
            "received_at": _micros(delivery.received_at),
        }
        async with self._write() as db:
            inserted = await _all(db, _INSERT, params)
            if inserted:
                return True, int(inserted[0][0])
            existing = await _all(db, _SELECT_ID, {"key": delivery.key})
        return False, int(existing[0][0])

    async def claim(self, owner: str, limit: int, lease: float) -> list[StoredDelivery]:
        check_limit(limit)
        now = self._now()
        params = {"now": now, "owner": owner, "limit": limit, "expires": now + _lease(lease)}
        async with self._write() as db:
            # Converted inside the transaction: a row that cannot be read is not claimed.
            claimed = [_row(r) for r in await _all(db, _CLAIM, params)]
        return sorted(claimed, key=lambda row: row.id)

    async def extend(self, owner: str, ids: Sequence[int], lease: float) -> set[int]:
        params = {"owner": owner, "ids": _json_ids(ids), "expires": self._now() + _lease(lease)}
        async with self._write() as db:
            extended = await _all(db, _EXTEND, params)
        return {int(r[0]) for r in extended}

    async def complete(self, owner: str, id: int) -> bool:
        params = {"owner": owner, "id": id, "now": self._now()}
        return await self._change(_COMPLETE, params) == 1

    async def fail(self, owner: str, id: int, error: str, retry_at: dt.datetime | None) -> bool:
        params = {
            "owner": owner,
            "id": id,
            "state": (State.DEAD if retry_at is None else State.FAILED).value,
            "retry_at": None if retry_at is None else _micros(retry_at),
            "error": error[:ERROR_LIMIT],
        }
        return await self._change(_FAIL, params) == 1

    async def release(self, owner: str, ids: Sequence[int]) -> int:
        return await self._change(_RELEASE, {"owner": owner, "ids": _json_ids(ids)})

    async def replay(self, selection: Selection) -> int:
        where, params = _where(selection)
        return await self._change(_REPLAY + where, params)

    async def purge(self, selection: Selection) -> int:
        where, params = _where(selection)
        return await self._change(_PURGE + where, params)

    async def prune(self, retention: dt.timedelta = DEFAULT_RETENTION) -> int:
        return await self.purge(Selection(state=State.DONE, done_before=self._clock() - retention))

    # -- reads -----------------------------------------------------------------------------

    async def get(self, id: int) -> StoredDelivery | None:
        async with self._read() as db:
            found = await _all(db, _GET, {"id": id})
        return _row(found[0]) if found else None

    async def rows(
        self, selection: Selection = EVERYTHING, *, limit: int = 100, after_id: int = 0
    ) -> list[StoredDelivery]:
        check_limit(limit)
        where, params = _where(selection)
        params.update(after_id=after_id, limit=limit)
        async with self._read() as db:
            found = await _all(db, f"{_ROWS}{where} ORDER BY id LIMIT :limit", params)
        return [_row(r) for r in found]

    async def stats(self) -> InboxStats:
        # One transaction: the counts and the oldest row are of the same moment.
        async with self._read() as db, _transaction(db, "BEGIN"):
            counts = await _all(db, _COUNTS)
            oldest = (await _all(db, _OLDEST))[0][0]
        by_state = dict.fromkeys(State, 0)
        by_verb: dict[str, dict[State, int]] = {}
        for verb, state, count in counts:
            by_state[State(state)] += count
            by_verb.setdefault(verb, {})[State(state)] = count
        return InboxStats(
            by_state=by_state,
            by_verb=by_verb,
            oldest_pending=None if oldest is None else _time(oldest),
        )

    # -- helpers ---------------------------------------------------------------------------

    async def _create_schema(self, db: aiosqlite.Connection) -> None:
        # The version is read before any CREATE, so a newer schema is refused untouched.
        version = None
        if await _all(db, _META_EXISTS):
            found = await _all(db, _SELECT_VERSION)
            version = found[0][0] if found else None
        if version is not None and version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} holds inbox schema version {version}, and this version of "
                f"tahdah_async knows versions up to {SCHEMA_VERSION}: upgrade tahdah_async"
            )
        for statement in _statements(SCHEMA):
            await db.execute(statement)
        if version is None:
            await db.execute(_INSERT_VERSION, {"version": SCHEMA_VERSION})

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._turn:
            yield self._connection()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        # A deferred BEGIN that later needs the write lock fails at once with "database is
        # locked" when another process holds it, whatever the busy timeout; an IMMEDIATE one
        # takes the lock first, waiting for it.
        async with self._turn:
            db = self._connection()
            async with _transaction(db, "BEGIN IMMEDIATE"):
                yield db

    async def _change(self, statement: str, params: dict[str, Any]) -> int:
        async with self._write() as db, db.execute(statement, params) as cursor:
            return cursor.rowcount

    def _connection(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError(
                "the inbox is not open: use `async with inbox` or `await inbox.open()`"
            )
        return self._db

    def _now(self) -> int:
        return _micros(self._clock())


@contextlib.asynccontextmanager
async def _transaction(
    db: aiosqlite.Connection, begin: str = "BEGIN IMMEDIATE"
) -> AsyncIterator[None]:
    try:
        await db.execute(begin)
        yield
        await db.execute("COMMIT")
    except BaseException:
        # Statements run in order on the connection's thread, and a cancelled one still runs
        # to its end: this ROLLBACK comes after it, so no transaction is left open. It fails
        # harmlessly when none was (BEGIN itself failed, or COMMIT had finished).
        with contextlib.suppress(sqlite3.Error, ValueError):
            await db.execute("ROLLBACK")
        raise


async def _all(
    db: aiosqlite.Connection, query: str, params: dict[str, Any] | None = None
) -> list[Any]:
    async with db.execute(query, params) as cursor:
        return list(await cursor.fetchall())


def _statements(script: str) -> list[str]:
    lines = [line.split("--")[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _where(selection: Selection) -> tuple[str, dict[str, Any]]:
    """The selection as `` AND ...`` conditions (empty for every row) and their parameters."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if selection.ids is not None:
        clauses.append(_IDS)
        params["ids"] = _json_ids(selection.ids)
    if selection.state is not None:
        clauses.append("state = :state")
        params["state"] = State(selection.state).value
    if selection.verb is not None:
        clauses.append("verb = :verb")
        params["verb"] = selection.verb
    for name, condition in (
        ("received_after", "received_at >= :received_after"),
        ("received_before", "received_at < :received_before"),
        ("done_before", "done_at < :done_before"),
    ):
        moment = getattr(selection, name)
        if moment is not None:
            clauses.append(condition)
            params[name] = _micros(moment)
    return "".join(f" AND {clause}" for clause in clauses), params


def _json_ids(ids: Sequence[int]) -> str:
    return json.dumps([int(id) for id in ids])


def _lease(seconds: float) -> int:
    return round(check_lease(seconds) * 1_000_000)


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _micros(moment: dt.datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError("inbox times must be timezone-aware")
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _time(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


def _row(r: Any) -> StoredDelivery:
    """A row of :data:`_COLUMNS` as a :class:`StoredDelivery`."""
    (
        id,
        key,
        verb,
        body,
        headers,
        secret_index,
        received_at,
        state,
        attempts,
        lease_owner,
        lease_expires_at,
        next_attempt_at,
        last_error,
        done_at,
    ) = r
    return StoredDelivery(
        id=id,
        key=key,
        verb=verb,
        body=bytes(body),
        headers=json.loads(headers),
        secret_index=secret_index,
        received_at=_time(received_at),
        state=State(state),
        attempts=attempts,
        lease_owner=lease_owner,
        lease_expires_at=None if lease_expires_at is None else _time(lease_expires_at),
        next_attempt_at=None if next_attempt_at is None else _time(next_attempt_at),
        last_error=last_error,
        done_at=None if done_at is None else _time(done_at),
    )
