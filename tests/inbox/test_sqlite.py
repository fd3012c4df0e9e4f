"""The inbox contract on SQLite, and what is particular to :class:`SQLiteInbox`: several
connections and processes on one file, locking, durability and the schema's version."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from tahdah_async.webhooks.inbox import (
    EVERYTHING,
    Inbox,
    SQLiteInbox,
    State,
    StoredDelivery,
    _sqlite,
)
from tahdah_async.webhooks.inbox._sqlite import SCHEMA, SCHEMA_VERSION

from .contract import LEASE, FakeClock, InboxContract, make_delivery, one_of_each

HANG_GUARD = 120.0
"""Seconds before a test counts as hung (never reached when it works)."""
ROOT = Path(__file__).resolve().parents[2]


class TestSQLiteInbox(InboxContract):
    @pytest.fixture
    async def inbox(self, clock: FakeClock, tmp_path: Path) -> AsyncIterator[SQLiteInbox]:
        async with SQLiteInbox(tmp_path / "inbox.db", clock=clock) as inbox:
            yield inbox


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "inbox.db"


@contextlib.contextmanager
def locked(db: Path) -> Iterator[sqlite3.Connection]:
    """Hold the database's write lock, as another process would, until the block ends."""
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
        other.execute("ROLLBACK")
    finally:
        other.close()


async def started(inbox: SQLiteInbox, statement: str) -> asyncio.Event:
    """An event set when the inbox's connection starts running ``statement`` (white box:
    the only sign that a statement is waiting for a lock is that it started)."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()

    def trace(sql: str) -> None:
        if sql.strip() == statement:
            loop.call_soon_threadsafe(event.set)

    assert inbox._db is not None
    await inbox._db.set_trace_callback(trace)
    return event


def sqlite_file(db: Path, query: str, params: Any = ()) -> list[Any]:
    """Run ``query`` on ``db`` through a connection of its own."""
    with contextlib.closing(sqlite3.connect(db)) as connection, connection:
        return connection.execute(query, params).fetchall()


# -- opening and closing -------------------------------------------------------------------


async def test_using_it_before_open_or_after_close_raises(db: Path) -> None:
    inbox = SQLiteInbox(db)
    with pytest.raises(RuntimeError, match="not open"):
        await inbox.put(make_delivery(1))
    with pytest.raises(RuntimeError, match="not open"):
        await inbox.stats()
    assert not await asyncio.to_thread(db.exists)  # no lazy opening
    async with inbox as opened:
        assert opened is inbox
        assert (await inbox.put(make_delivery(1)))[0]
    with pytest.raises(RuntimeError, match="not open"):
        await inbox.get(1)


async def test_open_and_close_are_idempotent(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connections = 0
    connect = aiosqlite.connect

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal connections
        connections += 1
        return connect(*args, **kwargs)

    monkeypatch.setattr(aiosqlite, "connect", counting)
    inbox = SQLiteInbox(db)
    await asyncio.gather(inbox.open(), inbox.open())
    await inbox.open()
    assert connections == 1
    _, id = await inbox.put(make_delivery(1))
    await asyncio.gather(inbox.close(), inbox.close())
    await inbox.close()
    await inbox.open()  # again, after a close
    assert connections == 2
    assert (await inbox.get(id)) is not None
    await inbox.close()


async def test_close_lets_the_running_operation_finish(db: Path) -> None:
    async with SQLiteInbox(db) as inbox:
        with locked(db):
            begun = await started(inbox, "BEGIN IMMEDIATE")
            put = asyncio.create_task(inbox.put(make_delivery(1)))
            async with asyncio.timeout(HANG_GUARD):
                await begun.wait()
            closing = asyncio.create_task(inbox.close())
        async with asyncio.timeout(HANG_GUARD):
            assert (await put)[0]
            await closing
    assert sqlite_file(db, "SELECT count(*) FROM tahdah_inbox") == [(1,)]


async def test_the_repr_names_the_file(db: Path) -> None:
    assert repr(SQLiteInbox(db)) == f"<SQLiteInbox {str(db)!r}>"
    assert SQLiteInbox(db).path == str(db)


@pytest.mark.parametrize("busy_timeout", [0, -1.0, float("nan"), float("inf")])
def test_the_busy_timeout_is_a_positive_number_of_seconds(db: Path, busy_timeout: float) -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        SQLiteInbox(db, busy_timeout=busy_timeout)


# -- the file ------------------------------------------------------------------------------


async def test_the_file_is_in_wal_mode_with_normal_sync(db: Path) -> None:
    async with SQLiteInbox(db) as inbox:
        assert inbox._db is not None
        async with inbox._db.execute("PRAGMA synchronous") as cursor:
            assert list(await cursor.fetchall()) == [(1,)]  # NORMAL
        assert sqlite_file(db, "PRAGMA journal_mode") == [("wal",)]
        assert sqlite_file(db, "SELECT value FROM tahdah_inbox_meta") == [(SCHEMA_VERSION,)]


async def test_rows_survive_closing_and_reopening(db: Path) -> None:
    clock = FakeClock()
    async with SQLiteInbox(db, clock=clock) as inbox:
        await one_of_each(inbox, clock)
        before = await inbox.rows()
        stats = await inbox.stats()
    async with SQLiteInbox(db, clock=clock) as inbox:
        assert await inbox.rows() == before
        assert await inbox.stats() == stats
        assert await inbox.put(make_delivery(0)) == (False, before[0].id)
    assert sqlite_file(db, "SELECT value FROM tahdah_inbox_meta") == [(SCHEMA_VERSION,)]


async def test_the_schema_can_be_created_by_hand(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.executescript(SCHEMA)
    async with SQLiteInbox(db) as inbox:
        assert (await inbox.put(make_delivery(1)))[0]
    assert sqlite_file(db, "SELECT value FROM tahdah_inbox_meta") == [(SCHEMA_VERSION,)]


@pytest.mark.parametrize("with_rows", [True, False], ids=["used-file", "meta-only"])
async def test_a_newer_schema_is_refused_and_left_alone(db: Path, with_rows: bool) -> None:
    if with_rows:
        async with SQLiteInbox(db) as inbox:
            await inbox.put(make_delivery(1))
    else:
        sqlite_file(db, "CREATE TABLE tahdah_inbox_meta (name TEXT PRIMARY KEY, value INTEGER)")
    newer = SCHEMA_VERSION + 1
    sqlite_file(
        db, "INSERT OR REPLACE INTO tahdah_inbox_meta VALUES ('schema_version', ?)", (newer,)
    )
    tables = sqlite_file(db, "SELECT type, name FROM sqlite_master ORDER BY name")

    inbox = SQLiteInbox(db)
    with pytest.raises(RuntimeError, match=f"version {newer}.*upgrade tahdah_async"):
        await inbox.open()
    with pytest.raises(RuntimeError, match="not open"):
        await inbox.stats()
    await inbox.close()
    assert sqlite_file(db, "SELECT type, name FROM sqlite_master ORDER BY name") == tables


async def test_a_file_that_is_not_a_database_is_refused(db: Path) -> None:
    await asyncio.to_thread(db.write_bytes, b"not a database, " * 100)
    inbox = SQLiteInbox(db)
    with pytest.raises(sqlite3.DatabaseError):
        await inbox.open()
    with pytest.raises(RuntimeError, match="not open"):
        await inbox.stats()


async def test_claims_prunes_and_stats_read_indexes_not_the_table(db: Path) -> None:
    async with SQLiteInbox(db):
        pass
    for query, params in [
        (_sqlite._CLAIM, {"now": 0, "owner": "a", "limit": 1, "expires": 1}),
        (_sqlite._PURGE + " AND state = 'done' AND done_at < :t", {"t": 0}),
        (_sqlite._COUNTS, {}),
    ]:
        plan = [row[3] for row in sqlite_file(db, f"EXPLAIN QUERY PLAN {query}", params)]
        scans = [step for step in plan if step.startswith("SCAN tahdah_inbox")]
        assert all("USING COVERING INDEX" in step for step in scans), (query, plan)


# -- locking -------------------------------------------------------------------------------


async def test_a_write_waits_for_another_connection_to_finish(db: Path) -> None:
    async with SQLiteInbox(db) as inbox:
        with locked(db):
            begun = await started(inbox, "BEGIN IMMEDIATE")
            put = asyncio.create_task(inbox.put(make_delivery(1)))
            async with asyncio.timeout(HANG_GUARD):
                await begun.wait()
            assert not put.done()
        async with asyncio.timeout(HANG_GUARD):
            stored, id = await put
        assert stored
        assert (await inbox.get(id)) is not None


async def test_a_write_gives_up_after_the_busy_timeout_and_the_inbox_recovers(db: Path) -> None:
    async with SQLiteInbox(db, busy_timeout=0.05) as inbox:
        with locked(db), pytest.raises(sqlite3.OperationalError, match="database is locked"):
            await inbox.put(make_delivery(1))
        assert await inbox.rows() == []
        assert (await inbox.put(make_delivery(1)))[0]


async def test_a_write_cancelled_while_it_waits_for_the_lock_leaves_the_inbox_usable(
    db: Path,
) -> None:
    async with SQLiteInbox(db) as inbox:
        _, id = await inbox.put(make_delivery(1))
        with locked(db):
            begun = await started(inbox, "BEGIN IMMEDIATE")
            claim = asyncio.create_task(inbox.claim("a", 1, LEASE))
            async with asyncio.timeout(HANG_GUARD):
                await begun.wait()
            claim.cancel()
        with pytest.raises(asyncio.CancelledError):
            await claim
        # The cancelled claim's transaction was rolled back once it began.
        assert [row.state for row in await inbox.rows()] == [State.PENDING]
        assert [row.id for row in await inbox.claim("b", 1, LEASE)] == [id]
        assert (await inbox.put(make_delivery(2)))[0]


async def test_an_error_inside_a_write_rolls_it_back(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SQLiteInbox(db) as inbox:
        _, id = await inbox.put(make_delivery(1))
        # A broken row converter fails the claim after its UPDATE ran.
        monkeypatch.setattr(_sqlite, "_row", lambda row: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            await inbox.claim("a", 1, LEASE)
        monkeypatch.undo()
        assert [(row.id, row.state) for row in await inbox.rows()] == [(id, State.PENDING)]
        assert (await inbox.claim("a", 1, LEASE))[0].attempts == 1


# -- several connections and processes -----------------------------------------------------


async def test_two_inboxes_on_one_file_never_store_or_hand_out_a_row_twice(db: Path) -> None:
    clock = FakeClock()
    async with SQLiteInbox(db, clock=clock) as one, SQLiteInbox(db, clock=clock) as two:
        inboxes: list[Inbox] = [one, two]
        deliveries = [make_delivery(n) for n in range(60)]
        answers = await asyncio.gather(
            *(inbox.put(delivery) for delivery in deliveries for inbox in inboxes)
        )
        for first, second in zip(answers[::2], answers[1::2], strict=True):
            assert sorted([first[0], second[0]]) == [False, True]
            assert first[1] == second[1]
        ids = sorted({id for _, id in answers})
        assert len(ids) == 60

        claims = await asyncio.gather(*(inboxes[i % 2].claim(f"w{i}", 4, LEASE) for i in range(20)))
        claimed = sorted(row.id for rows in claims for row in rows)
        assert claimed == ids

        done = await asyncio.gather(
            *(
                inboxes[i % 2].complete(f"w{i}", row.id)
                for i, rows in enumerate(claims)
                for row in rows
            )
        )
        assert all(done)
        assert (await one.stats()).by_state[State.DONE] == 60
        assert all(row.state is State.DONE for row in await two.rows(limit=100))


async def test_processes_sharing_one_file_complete_every_row_exactly_once(
    tmp_path: Path, db: Path
) -> None:
    outs = [tmp_path / f"completed-{i}.txt" for i in range(3)]
    children: list[asyncio.subprocess.Process] = []
    try:
        async with asyncio.timeout(HANG_GUARD):
            for i, out in enumerate(outs):
                children.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "tests.inbox.sqlite_child",
                        str(db),
                        str(out),
                        f"child-{i}",
                        cwd=ROOT,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE,
                    )
                )
            for child in children:
                assert child.stdout is not None
                assert await child.stdout.readline() == b"ready\n"
            # Every child opens the new file, stores and claims at once.
            results = await asyncio.gather(*(child.communicate(b"go\n") for child in children))
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.communicate()

    for child, (_, stderr) in zip(children, results, strict=True):
        assert b"database is locked" not in stderr
        assert child.returncode == 0, stderr.decode(errors="replace")
    completed = [[int(line) for line in out.read_text().split()] for out in outs]
    async with SQLiteInbox(db) as inbox:
        rows: list[StoredDelivery] = await inbox.rows(EVERYTHING, limit=1000)
        stats = await inbox.stats()
    assert len(rows) == 200
    assert {row.key for row in rows} == {make_delivery(n).key for n in range(200)}
    assert sorted(id for ids in completed for id in ids) == sorted(row.id for row in rows)
    assert all(row.state is State.DONE and row.attempts == 1 for row in rows)
    assert stats.by_state[State.DONE] == 200


# -- arguments -----------------------------------------------------------------------------
