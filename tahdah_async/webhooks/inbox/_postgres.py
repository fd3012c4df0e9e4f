"""The inbox on PostgreSQL: receivers and workers on any number of hosts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import importlib
import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from types import ModuleType
from typing import Any, Final

from ..._checks import check_count
from ..._untrusted import mask
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
from ._url import url_secrets

__all__ = ["SCHEMA_VERSION", "PostgresInbox", "schema_sql"]

SCHEMA_VERSION: Final = 1
"""The version of the tables :func:`schema_sql` describes (kept in ``<table>_meta``)."""

CLOSE_TIMEOUT: Final = 30.0
"""How long :meth:`PostgresInbox.close` waits for connections in use before it cuts them."""

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_MAX_SCHEMA: Final = 63
# PostgreSQL cuts identifiers at 63 bytes; the longest name derived from the table's
# ("<table>_runnable") must stay whole, or two names could collide.
_MAX_TABLE: Final = 63 - len("_runnable")
_INT64: Final = range(-(2**63), 2**63)
_INSTALL: Final = "a PostgreSQL inbox needs asyncpg: pip install 'tahdah-async[postgres]'"
_COLUMNS: Final = (
    "id, key, verb, body, headers, secret_index, received_at, state, attempts, lease_owner, "
    "lease_expires_at, next_attempt_at, last_error, done_at"
)
_STATES: Final = ", ".join(f"'{state}'" for state in State)


def schema_sql(schema: str = "public", table: str = "tahdah_inbox") -> str:
    """Return the SQL that creates an inbox's tables and indexes, for a migration tool.

    The script is idempotent and records :data:`SCHEMA_VERSION` in ``<table>_meta``. Open the
    inbox with ``PostgresInbox(..., create_schema=False)`` once it has run. Names are quoted,
    so they keep their case.

    Args:
        schema: the schema of the tables (created by the script unless it is ``public``).
        table: the inbox's table; ``<table>_meta`` and indexes named after it go beside it.

    Raises:
        ValueError: a name is not letters, digits and underscores, or is too long.
    """
    statements = _ddl(_identifier(schema, "schema", _MAX_SCHEMA), _identifier(table))
    return "".join(f"{statement};\n" for statement in statements)


def _ddl(schema: str, table: str, *, create_schema: bool = True) -> list[str]:
    t = _qualified(schema, table)
    meta = _qualified(schema, f"{table}_meta")
    statements = [
        f'CREATE SCHEMA IF NOT EXISTS "{schema}"' if create_schema and schema != "public" else "",
        f"CREATE TABLE IF NOT EXISTS {meta} (\n"
        "    name TEXT PRIMARY KEY,\n"
        "    value INTEGER NOT NULL\n"
        ")",
        f"CREATE TABLE IF NOT EXISTS {t} (\n"
        "    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    key TEXT NOT NULL UNIQUE,\n"
        "    verb TEXT NOT NULL,\n"
        "    body BYTEA NOT NULL,\n"
        "    headers JSONB NOT NULL,\n"
        "    secret_index INTEGER NOT NULL,\n"
        "    received_at TIMESTAMPTZ NOT NULL,\n"
        f"    state TEXT NOT NULL CHECK (state IN ({_STATES})),\n"
        "    attempts INTEGER NOT NULL DEFAULT 0,\n"
        "    lease_owner TEXT,\n"
        "    lease_expires_at TIMESTAMPTZ,\n"
        "    next_attempt_at TIMESTAMPTZ,\n"
        "    last_error TEXT,\n"
        "    done_at TIMESTAMPTZ\n"
        ")",
        # The claim walks the rows that may be runnable in id order; done and dead rows,
        # the bulk of a busy inbox, are not in this index.
        f'CREATE INDEX IF NOT EXISTS "{table}_runnable" ON {t} (id)'
        " WHERE state IN ('pending', 'failed', 'processing')",
        f'CREATE INDEX IF NOT EXISTS "{table}_state" ON {t} (state, received_at)',
        f'CREATE INDEX IF NOT EXISTS "{table}_verb" ON {t} (verb, state)',
        f"CREATE INDEX IF NOT EXISTS \"{table}_done\" ON {t} (done_at) WHERE state = 'done'",
        f"INSERT INTO {meta} (name, value) VALUES ('schema_version', {SCHEMA_VERSION})"
        " ON CONFLICT (name) DO NOTHING",
    ]
    return [s for s in statements if s]


class PostgresInbox(ContextManaged):
    """An :class:`~tahdah_async.webhooks.inbox.Inbox` in a PostgreSQL table.

    Any number of receivers and workers, on any hosts, may open the same table: a claim
    takes rows with ``FOR UPDATE SKIP LOCKED``, so workers never wait for each other and
    never share a row. Times come from ``clock`` (not the server's), so every process
    sharing the table needs a synchronised clock. Needs asyncpg (``tahdah-async[postgres]``).

    Args:
        dsn: a ``postgresql://user:password@host:port/database`` URL, as asyncpg reads it.
            It is never shown in a repr, a log line or an error message.
        schema: the schema of the inbox's tables (created if missing).
        table: the inbox's table (``<table>_meta`` holds its schema version).
        clock: the current time (UTC).
        min_size: connections the pool keeps open.
        max_size: the most connections the pool opens.
        create_schema: create the tables on :meth:`open` if missing (off: they must
            exist, made by :func:`schema_sql` and a migration tool).

    Raises:
        TypeError: ``dsn`` is not a str.
        ValueError: a name is not letters, digits and underscores, or the sizes are wrong.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        table: str = "tahdah_inbox",
        clock: Clock = utc_now,
        min_size: int = 1,
        max_size: int = 10,
        create_schema: bool = True,
    ) -> None:
        if not isinstance(dsn, str):
            raise TypeError("the DSN is a str: postgresql://user:password@host:port/database")
        self.schema = _identifier(schema, "schema", _MAX_SCHEMA)
        self.table = _identifier(table)
        check_count(min_size, "min_size", minimum=0)
        check_count(max_size, "max_size", minimum=0)
        if max_size < 1 or min_size > max_size:
            raise ValueError("max_size must be at least 1 and at least min_size")
        self._dsn = dsn
        self._clock = clock
        self._min_size = min_size
        self._max_size = max_size
        self._create_schema = create_schema
        self._pool: Any = None
        self._opening = asyncio.Lock()
        self._t = _qualified(self.schema, self.table)
        self._meta = _qualified(self.schema, f"{self.table}_meta")

    def __repr__(self) -> str:
        return f"<PostgresInbox {self.schema}.{self.table}{_server(self._dsn)}>"

    async def open(self) -> None:
        """Connect, and create the tables if missing (idempotent).

        Two processes opening at once do not race: the creation runs in a transaction
        under an advisory lock named after the table.

        Raises:
            ImportError: asyncpg is not installed.
            RuntimeError: the tables are missing and ``create_schema`` is off, or they hold
                a newer schema version than this version of tahdah_async knows.
            OSError: the server cannot be reached (asyncpg's errors for the others; no
                message shows the DSN's password).
        """
        async with self._opening:  # two concurrent calls make one pool
            if self._pool is not None:
                return
            asyncpg = _asyncpg()
            with self._scrubbed():
                pool = await asyncpg.create_pool(
                    self._dsn, min_size=self._min_size, max_size=self._max_size
                )
            try:
                with self._scrubbed():
                    async with pool.acquire() as conn, conn.transaction():
                        await self._prepare_schema(conn)
            except BaseException:
                await _close_pool(pool)
                raise
            self._pool = pool

    async def _prepare_schema(self, conn: Any) -> None:
        if self._create_schema:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(self._t))
        version = await self._version(conn)
        if version is None:
            if not self._create_schema:
                raise RuntimeError(
                    f"there is no inbox table {self.schema}.{self.table}: create it with "
                    "schema_sql() or open the inbox with create_schema=True"
                )
            exists = await conn.fetchval(
                "SELECT true FROM pg_namespace WHERE nspname = $1", self.schema
            )
            # CREATE SCHEMA needs the CREATE privilege on the database even when the
            # schema exists, so it runs only when the schema is missing.
            ddl = _ddl(self.schema, self.table, create_schema=not exists)
            await conn.execute(";\n".join(ddl))
        elif version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.schema}.{self.table} holds inbox schema version {version}; this "
                f"version of tahdah_async knows up to {SCHEMA_VERSION}: upgrade tahdah_async"
            )

    async def _version(self, conn: Any) -> int | None:
        found = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", self._meta)
        if not found:
            return None
        version: int | None = await conn.fetchval(
            f"SELECT value FROM {self._meta} WHERE name = 'schema_version'"
        )
        return version

    async def close(self) -> None:
        """Close every connection of the pool (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await _close_pool(pool)

    # -- writes ----------------------------------------------------------------------------

    async def put(self, delivery: NewDelivery) -> tuple[bool, int]:
        received_at = _aware(delivery.received_at)
        headers = json.dumps(dict(delivery.headers))
        insert = (
            f"INSERT INTO {self._t} (key, verb, body, headers, secret_index, received_at, state)"
            " VALUES ($1, $2, $3, $4::jsonb, $5, $6, 'pending')"
            " ON CONFLICT (key) DO NOTHING RETURNING id"
        )
        async with self._connection() as conn:
            while True:
                stored = await conn.fetchval(
                    insert,
                    delivery.key,
                    delivery.verb,
                    bytes(delivery.body),
                    headers,
                    delivery.secret_index,
                    received_at,
                )
                if stored is not None:
                    return True, int(stored)
                existing = await conn.fetchval(
                    f"SELECT id FROM {self._t} WHERE key = $1", delivery.key
                )
                if existing is not None:
                    return False, int(existing)
                # The row that had the key was purged in between: store this one after all.

    async def claim(self, owner: str, limit: int, lease: float) -> list[StoredDelivery]:
        check_limit(limit)
        check_lease(lease)
        if limit == 0:
            return []
        now = self._now()
        query = (
            f"UPDATE {self._t} SET state = 'processing', attempts = attempts + 1,"
            " lease_owner = $1, lease_expires_at = $3"
            f" WHERE id IN (SELECT id FROM {self._t} WHERE state = 'pending'"
            " OR (state = 'failed' AND (next_attempt_at IS NULL OR next_attempt_at <= $2))"
            " OR (state = 'processing' AND (lease_expires_at IS NULL OR lease_expires_at <= $2)"
            " AND lease_owner IS DISTINCT FROM $1)"
            " ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)"
            f" RETURNING {_COLUMNS}"
        )
        async with self._connection() as conn:
            found = await conn.fetch(query, owner, now, _later(now, lease), limit)
        return sorted((_row(r) for r in found), key=lambda row: row.id)

    async def extend(self, owner: str, ids: Sequence[int], lease: float) -> set[int]:
        check_lease(lease)
        wanted = _ids(ids)
        if not wanted:
            return set()
        held = "state = 'processing' AND lease_owner = $2"
        query = (
            f"WITH locked AS ({self._lock('id = ANY($1::bigint[]) AND ' + held)})"
            f" UPDATE {self._t} SET lease_expires_at = $3"
            f" WHERE id IN (SELECT id FROM locked) AND {held} RETURNING id"
        )
        async with self._connection() as conn:
            found = await conn.fetch(query, wanted, owner, _later(self._now(), lease))
        return {int(r["id"]) for r in found}

    async def complete(self, owner: str, id: int) -> bool:
        if id not in _INT64:
            return False
        query = (
            f"UPDATE {self._t} SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,"
            " done_at = $3 WHERE id = $1 AND state = 'processing' AND lease_owner = $2"
        )
        async with self._connection() as conn:
            return _count(await conn.execute(query, id, owner, self._now())) == 1

    async def fail(self, owner: str, id: int, error: str, retry_at: dt.datetime | None) -> bool:
        if id not in _INT64:
            return False
        state = State.DEAD if retry_at is None else State.FAILED
        retry = None if retry_at is None else _aware(retry_at)
        query = (
            f"UPDATE {self._t} SET state = $3, lease_owner = NULL, lease_expires_at = NULL,"
            " next_attempt_at = $4, last_error = $5"
            " WHERE id = $1 AND state = 'processing' AND lease_owner = $2"
        )
        async with self._connection() as conn:
            status = await conn.execute(query, id, owner, str(state), retry, _text(error))
        return _count(status) == 1

    async def release(self, owner: str, ids: Sequence[int]) -> int:
        wanted = _ids(ids)
        if not wanted:
            return 0
        held = "state = 'processing' AND lease_owner = $2"
        query = (
            f"WITH locked AS ({self._lock('id = ANY($1::bigint[]) AND ' + held)})"
            f" UPDATE {self._t} SET state = 'pending', lease_owner = NULL,"
            " lease_expires_at = NULL, next_attempt_at = NULL"
            f" WHERE id IN (SELECT id FROM locked) AND {held}"
        )
        async with self._connection() as conn:
            return _count(await conn.execute(query, wanted, owner))

    async def replay(self, selection: Selection) -> int:
        where = _Where(selection)
        rerunnable = f"state IN ('done', 'failed', 'dead') AND {where.sql}"
        query = (
            f"WITH locked AS ({self._lock(rerunnable)})"
            f" UPDATE {self._t} SET state = 'pending', attempts = 0, next_attempt_at = NULL,"
            " done_at = NULL WHERE id IN (SELECT id FROM locked)"
            " AND state IN ('done', 'failed', 'dead')"
        )
        async with self._connection() as conn:
            return _count(await conn.execute(query, *where.params))

    async def purge(self, selection: Selection) -> int:
        where = _Where(selection)
        purgeable = f"state IN ('done', 'dead') AND {where.sql}"
        query = (
            f"WITH locked AS ({self._lock(purgeable)})"
            f" DELETE FROM {self._t} WHERE id IN (SELECT id FROM locked)"
            " AND state IN ('done', 'dead')"
        )
        async with self._connection() as conn:
            return _count(await conn.execute(query, *where.params))

    async def prune(self, retention: dt.timedelta = DEFAULT_RETENTION) -> int:
        return await self.purge(Selection(state=State.DONE, done_before=self._now() - retention))

    # -- reads -----------------------------------------------------------------------------

    async def get(self, id: int) -> StoredDelivery | None:
        if id not in _INT64:
            return None
        async with self._connection() as conn:
            found = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {self._t} WHERE id = $1", id)
        return None if found is None else _row(found)

    async def rows(
        self, selection: Selection = EVERYTHING, *, limit: int = 100, after_id: int = 0
    ) -> list[StoredDelivery]:
        check_limit(limit)
        if limit == 0 or after_id >= _INT64.stop - 1:
            return []
        where = _Where(selection)
        after = where.param(max(after_id, _INT64.start))
        most = where.param(limit)
        query = (
            f"SELECT {_COLUMNS} FROM {self._t} WHERE id > {after} AND {where.sql}"
            f" ORDER BY id LIMIT {most}"
        )
        async with self._connection() as conn:
            return [_row(r) for r in await conn.fetch(query, *where.params)]

    async def stats(self) -> InboxStats:
        by_state = dict.fromkeys(State, 0)
        by_verb: dict[str, dict[State, int]] = {}
        async with (
            self._connection() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            counts = await conn.fetch(
                f"SELECT verb, state, count(*) AS n FROM {self._t} GROUP BY verb, state"
            )
            oldest = await conn.fetchval(
                f"SELECT min(received_at) FROM {self._t} WHERE state IN ('pending', 'failed')"
            )
        for r in counts:
            state = State(r["state"])
            by_state[state] += r["n"]
            by_verb.setdefault(r["verb"], {})[state] = r["n"]
        return InboxStats(by_state=by_state, by_verb=by_verb, oldest_pending=oldest)

    # -- helpers ---------------------------------------------------------------------------

    def _lock(self, where: str) -> str:
        # Rows are locked in id order, so two statements over overlapping rows cannot
        # deadlock.
        return f"SELECT id FROM {self._t} WHERE {where} ORDER BY id FOR UPDATE"

    def _now(self) -> dt.datetime:
        return _aware(self._clock())

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        pool = self._pool
        if pool is None:
            raise RuntimeError(
                "the inbox is not open: use `async with inbox` or `await inbox.open()`"
            )
        with self._scrubbed():
            conn = await pool.acquire()
        try:
            yield conn
        finally:
            await pool.release(conn)

    @contextlib.contextmanager
    def _scrubbed(self) -> Iterator[None]:
        """Raise an error that quotes the DSN's password again without it."""
        try:
            yield
        except Exception as exc:
            secrets = url_secrets(self._dsn)
            text = f"{exc} {exc.args!r}"
            if not any(secret in text for secret in secrets):
                raise
            shown = mask(str(exc), secrets)
            kind = ValueError if isinstance(exc, ValueError) else ConnectionError
            raise kind(f"{type(exc).__name__}: {shown}") from None


class _Where:
    """A :class:`Selection` as a WHERE clause with numbered parameters."""

    def __init__(self, selection: Selection) -> None:
        self.params: list[Any] = []
        clauses = ["true"]
        if selection.ids is not None:
            clauses.append(f"id = ANY({self.param(_ids(selection.ids))}::bigint[])")
        if selection.state is not None:
            clauses.append(f"state = {self.param(str(State(selection.state)))}")
        if selection.verb is not None:
            clauses.append(f"verb = {self.param(selection.verb)}")
        for value, condition in (
            (selection.received_after, "received_at >= {}"),
            (selection.received_before, "received_at < {}"),
            (selection.done_before, "done_at < {}"),
        ):
            if value is not None:
                clauses.append(condition.format(self.param(_aware(value))))
        self.sql = " AND ".join(clauses)

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"


def _asyncpg() -> ModuleType:
    # Imported here, so that the inbox package works without the postgres extra; and by
    # name, because asyncpg ships no type information.
    try:
        return importlib.import_module("asyncpg")
    except ModuleNotFoundError as exc:
        if exc.name != "asyncpg":
            raise
        raise ImportError(_INSTALL, name="asyncpg") from None


async def _close_pool(pool: Any) -> None:
    try:
        await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
    except TimeoutError:
        pool.terminate()


def _identifier(name: str, what: str = "table", longest: int = _MAX_TABLE) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"the {what} name must be letters, digits and underscores, not starting with a "
            f"digit: {name!r} is not"
        )
    if len(name) > longest:
        raise ValueError(f"the {what} name is {len(name)} characters long; at most {longest}")
    return name


def _qualified(schema: str, table: str) -> str:
    return f'"{schema}"."{table}"'


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(f"tahdah_async inbox {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _server(dsn: str) -> str:
    """Where ``dsn`` points, without its user or password (empty if it cannot be read)."""
    try:
        parts = urllib.parse.urlsplit(dsn)
        host, port = parts.hostname, parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    shown = f"{host}:{port}" if port else host
    return f" at {shown}{parts.path}"


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("inbox times must be timezone-aware")
    return moment


def _later(now: dt.datetime, seconds: float) -> dt.datetime:
    return now + dt.timedelta(seconds=seconds)


def _ids(ids: Iterable[int]) -> list[int]:
    # An id outside BIGINT names no row (and asyncpg could not send it).
    return [int(i) for i in ids if int(i) in _INT64]


def _text(error: str) -> str:
    # TEXT holds neither NUL nor lone surrogates.
    cut = error[:ERROR_LIMIT].replace("\x00", "\ufffd")
    return cut.encode("utf-8", "replace").decode("utf-8")


def _count(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3``."""
    return int(status.rpartition(" ")[2])


def _row(r: Any) -> StoredDelivery:
    return StoredDelivery(
        id=r["id"],
        key=r["key"],
        verb=r["verb"],
        body=bytes(r["body"]),
        headers=json.loads(r["headers"]),
        secret_index=r["secret_index"],
        received_at=r["received_at"],
        state=State(r["state"]),
        attempts=r["attempts"],
        lease_owner=r["lease_owner"],
        lease_expires_at=r["lease_expires_at"],
        next_attempt_at=r["next_attempt_at"],
        last_error=r["last_error"],
        done_at=r["done_at"],
    )
