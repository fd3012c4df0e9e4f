"""PostgresInbox against a real PostgreSQL server: the inbox contract, then what is particular
to PostgreSQL (several pools and processes on one table, creating and versioning the schema,
the DSN's password)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import random
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest

from tahdah_async.webhooks.inbox import Selection, State
from tahdah_async.webhooks.inbox._postgres import SCHEMA_VERSION, PostgresInbox, schema_sql
from tahdah_async.webhooks.inbox._url import open_inbox
from tests.engines import postgres as engine
from tests.engines.postgres import asyncpg
from tests.servers import refusing_port

from .contract import LONG, FakeClock, InboxContract, make_delivery

# The engine's fixtures, for this module.
postgres_server = engine.postgres_server
postgres_dsn = engine.postgres_dsn
postgres_schema = engine.postgres_schema

HANG_GUARD: Final = 120.0
"""Seconds before a test counts as hung (never reached when it works)."""
ROOT: Final = Path(__file__).resolve().parents[2]
KEYS: Final = 200
CHILDREN: Final = 3
PASSWORD: Final = "pw_hidden_9f3k"
DSN_ENV: Final = "TAHDAH_TEST_POSTGRES_DSN"


async def fetchval(dsn: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


class TestPostgresInbox(InboxContract):
    @pytest.fixture
    async def inbox(
        self, postgres_dsn: str, postgres_schema: str, clock: FakeClock
    ) -> AsyncIterator[PostgresInbox]:
        async with PostgresInbox(postgres_dsn, schema=postgres_schema, clock=clock) as inbox:
            yield inbox

    async def test_times_must_be_timezone_aware(self, inbox: PostgresInbox) -> None:
        naive = attrs.evolve(make_delivery(0), received_at=dt.datetime(2026, 12, 1))

        with pytest.raises(ValueError, match="timezone-aware"):
            await inbox.put(naive)

    async def test_ids_beyond_bigint_name_no_row(self, inbox: PostgresInbox) -> None:
        await inbox.put(make_delivery(0))

        assert await inbox.get(2**70) is None
        assert not await inbox.complete("w1", 2**70)
        assert await inbox.extend("w1", [2**70], LONG) == set()
        assert await inbox.rows(Selection(ids=[2**70])) == []
        assert await inbox.rows(after_id=2**70) == []

    async def test_errors_keep_what_text_columns_cannot_hold(self, inbox: PostgresInbox) -> None:
        _, id = await inbox.put(make_delivery(0))
        await inbox.claim("w1", 1, LONG)

        assert await inbox.fail("w1", id, "nul \x00 and surrogate \udc80", None)

        row = await inbox.get(id)
        assert row is not None
        assert row.last_error == "nul \ufffd and surrogate ?"


async def test_a_closed_inbox_says_how_to_open_it(postgres_dsn: str, postgres_schema: str) -> None:
    inbox = PostgresInbox(postgres_dsn, schema=postgres_schema)
    async with inbox:
        await inbox.put(make_delivery(0))
    await inbox.close()  # idempotent

    with pytest.raises(RuntimeError, match="not open"):
        await inbox.get(1)


async def test_opening_twice_at_once_makes_one_pool(
    postgres_dsn: str, postgres_schema: str
) -> None:
    name = engine.unique_schema()
    inbox = PostgresInbox(f"{postgres_dsn}?application_name={name}", schema=postgres_schema)
    try:
        await asyncio.gather(inbox.open(), inbox.open())
        connections = await fetchval(
            postgres_dsn,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            name,
        )
    finally:
        await inbox.close()

    assert connections == 1  # min_size connections of one pool


# -- several pools and processes on one table --------------------------------------------------


async def test_two_pools_claiming_at_once_never_share_a_row(
    postgres_dsn: str, postgres_schema: str
) -> None:
    async with (
        asyncio.timeout(HANG_GUARD),
        PostgresInbox(postgres_dsn, schema=postgres_schema, min_size=4, max_size=4) as one,
        PostgresInbox(postgres_dsn, schema=postgres_schema, min_size=4, max_size=4) as two,
    ):
        ids = {(await one.put(make_delivery(n)))[1] for n in range(KEYS)}

        async def drain(inbox: PostgresInbox, owner: str) -> list[int]:
            taken: list[int] = []
            while batch := await inbox.claim(owner, 3, LONG):
                taken += [row.id for row in batch]
            return taken

        runs = await asyncio.gather(
            *(drain(one, f"one-{n}") for n in range(4)),
            *(drain(two, f"two-{n}") for n in range(4)),
        )
        rows = await one.rows(limit=KEYS + 1)

    taken = [id for run in runs for id in run]
    assert sorted(taken) == sorted(ids)  # every row once, none twice
    assert {row.attempts for row in rows} == {1}


def child_main(schema: str, seed: int, out: str) -> None:
    """One of the processes of :func:`test_processes_putting_and_working_do_every_row_once`:
    open the inbox, say ``ready``, wait for ``go``, then put the keys in an order of its own
    while claiming and completing, and drain; write what it stored and completed to ``out``.
    The DSN comes in the environment, not on the command line the process list shows."""
    dsn = os.environ[DSN_ENV]

    async def run() -> dict[str, list[int]]:
        stored: list[int] = []
        done: list[int] = []
        owner = f"child-{seed}"
        keys = list(range(KEYS))
        random.Random(seed).shuffle(keys)
        async with PostgresInbox(dsn, schema=schema, max_size=2) as inbox:
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)

            async def work() -> int:
                claimed = await inbox.claim(owner, 5, LONG)
                for row in claimed:
                    if await inbox.complete(owner, row.id):
                        done.append(row.id)
                return len(claimed)

            for n, key in enumerate(keys):
                created, id = await inbox.put(make_delivery(key))
                if created:
                    stored.append(id)
                if n % 10 == 9:
                    await work()
            # Every row is put before some child's last claim finds nothing left.
            while await work():
                pass
        return {"stored": stored, "done": done}

    Path(out).write_text(json.dumps(asyncio.run(run())))


async def test_processes_putting_and_working_do_every_row_once(
    postgres_dsn: str, postgres_schema: str, tmp_path: Path
) -> None:
    outs = [tmp_path / f"child-{n}.json" for n in range(CHILDREN)]
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from tests.inbox.test_postgres import child_main;"
            " child_main(sys.argv[1], int(sys.argv[2]), sys.argv[3])",
            postgres_schema,
            str(n),
            str(out),
            cwd=ROOT,
            env={**os.environ, DSN_ENV: postgres_dsn},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for n, out in enumerate(outs)
    ]
    try:
        async with asyncio.timeout(HANG_GUARD):
            # Each creates the schema as it opens; all start putting at once.
            for child in children:
                assert child.stdout is not None
                assert await child.stdout.readline() == b"ready\n"
            for child in children:
                assert child.stdin is not None
                child.stdin.write(b"go\n")
                await child.stdin.drain()
            codes = [await child.wait() for child in children]
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()

    assert codes == [0] * CHILDREN
    results = [json.loads(out.read_text()) for out in outs]
    stored = [id for result in results for id in result["stored"]]
    done = [id for result in results for id in result["done"]]
    async with PostgresInbox(postgres_dsn, schema=postgres_schema) as inbox:
        rows = await inbox.rows(limit=KEYS + 1)
    assert len(rows) == KEYS
    assert sorted(stored) == sorted(done) == sorted(row.id for row in rows)
    assert {(row.state, row.attempts) for row in rows} == {(State.DONE, 1)}


# -- the schema --------------------------------------------------------------------------------


async def test_inboxes_opening_at_once_create_the_schema_once(postgres_dsn: str) -> None:
    for _ in range(3):  # fresh schemas: each round races on creating one
        schema = engine.unique_schema()
        inboxes = [PostgresInbox(postgres_dsn, schema=schema) for _ in range(5)]
        try:
            async with asyncio.timeout(HANG_GUARD):
                await asyncio.gather(*(inbox.open() for inbox in inboxes))
                results = [await inbox.put(make_delivery(1)) for inbox in inboxes]
        finally:
            for inbox in inboxes:
                await inbox.close()

        assert results == [(True, 1)] + [(False, 1)] * 4
        versions = await fetchval(
            postgres_dsn, f'SELECT array_agg(value) FROM "{schema}".tahdah_inbox_meta'
        )
        assert versions == [SCHEMA_VERSION]


async def test_schema_sql_applied_by_hand_then_opened_without_creating(
    postgres_dsn: str, postgres_schema: str
) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(schema_sql(postgres_schema, "hooks"))
        await conn.execute(schema_sql(postgres_schema, "hooks"))  # idempotent
    finally:
        await conn.close()

    async with PostgresInbox(
        postgres_dsn, schema=postgres_schema, table="hooks", create_schema=False
    ) as inbox:
        assert await inbox.put(make_delivery(0)) == (True, 1)
        assert [row.id for row in await inbox.claim("w1", 5, LONG)] == [1]

    indexes = await fetchval(
        postgres_dsn,
        "SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes"
        " WHERE schemaname = $1 AND tablename = 'hooks'",
        postgres_schema,
    )
    assert indexes == [
        "hooks_done",
        "hooks_key_key",
        "hooks_pkey",
        "hooks_runnable",
        "hooks_state",
        "hooks_verb",
    ]


async def test_a_missing_table_is_refused_without_create_schema(
    postgres_dsn: str, postgres_schema: str
) -> None:
    inbox = PostgresInbox(postgres_dsn, schema=postgres_schema, create_schema=False)

    with pytest.raises(RuntimeError, match=r"no inbox table t_\w+\.tahdah_inbox.*schema_sql"):
        await inbox.open()

    assert not await fetchval(
        postgres_dsn, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", postgres_schema
    )
    with pytest.raises(RuntimeError, match="not open"):
        await inbox.stats()


async def test_a_newer_schema_version_is_refused(postgres_dsn: str, postgres_schema: str) -> None:
    async with PostgresInbox(postgres_dsn, schema=postgres_schema) as inbox:
        await inbox.put(make_delivery(0))
    await fetchval(
        postgres_dsn,
        f'UPDATE "{postgres_schema}".tahdah_inbox_meta SET value = $1',
        SCHEMA_VERSION + 1,
    )

    for create_schema in (True, False):
        inbox = PostgresInbox(postgres_dsn, schema=postgres_schema, create_schema=create_schema)
        with pytest.raises(RuntimeError, match=f"schema version {SCHEMA_VERSION + 1}.*upgrade"):
            await inbox.open()
        with pytest.raises(RuntimeError, match="not open"):
            await inbox.stats()


async def test_an_inbox_in_an_existing_schema_needs_no_create_privilege(
    postgres_server: engine.PostgresServer,
) -> None:
    # CREATE SCHEMA IF NOT EXISTS needs the database's CREATE privilege even when the schema
    # exists: a role without it still opens an inbox in a schema it owns.
    role = schema = engine.unique_schema()
    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw_{role}'")
        await conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {role}")
    finally:
        await conn.close()
    dsn = engine.postgres_dsn_for(postgres_server, user=role, password=f"pw_{role}")

    async with PostgresInbox(dsn, schema=schema) as inbox:
        assert await inbox.put(make_delivery(0)) == (True, 1)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await PostgresInbox(dsn, schema=engine.unique_schema()).open()


@pytest.mark.parametrize(
    "name", ["", "a-b", "1table", 'x"; DROP TABLE y; --', "tab le", "é", "a\n", "x" * 64]
)
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"letters, digits and underscores|at most"):
        PostgresInbox("postgresql://db/app", table=name)
    with pytest.raises(ValueError, match=r"letters, digits and underscores|at most"):
        PostgresInbox("postgresql://db/app", schema=name)
    with pytest.raises(ValueError, match=r"letters, digits and underscores|at most"):
        schema_sql(name)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"min_size": -1}, ValueError, "min_size must be at least 0, got -1"),
        ({"max_size": 0}, ValueError, "max_size must be at least 1"),
        ({"min_size": 5, "max_size": 2}, ValueError, "at least min_size"),
        ({"max_size": True}, TypeError, "max_size must be an int, got bool"),
    ],
)
def test_bad_pool_sizes_are_refused(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        PostgresInbox("postgresql://db/app", **options)


def test_the_module_imports_without_asyncpg_and_opening_says_what_to_install() -> None:
    program = (
        "import asyncio, sys\n"
        "sys.modules['asyncpg'] = None\n"
        "from tahdah_async.webhooks.inbox._postgres import PostgresInbox\n"
        "inbox = PostgresInbox('postgresql://db/app')\n"
        "try:\n"
        "    asyncio.run(inbox.open())\n"
        "except ImportError as exc:\n"
        "    print(exc.name, exc)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=HANG_GUARD,
        check=True,
    )

    assert ran.stdout == (
        "asyncpg a PostgreSQL inbox needs asyncpg: pip install 'tahdah-async[postgres]'\n"
    )


# -- the DSN's password ------------------------------------------------------------------------


def shown(exc: BaseException) -> str:
    """Everything a traceback of ``exc`` shows."""
    return "".join(traceback.format_exception(exc)) + repr(exc)


async def test_an_unreachable_server_shows_no_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with refusing_port() as port:
        dsn = f"postgresql://ada:{PASSWORD}@127.0.0.1:{port}/app?password={PASSWORD}x"
        inbox = PostgresInbox(dsn)
        with pytest.raises(OSError, match=r"Connect call failed|Multiple exceptions") as raised:
            await inbox.open()

    assert PASSWORD not in shown(raised.value)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(inbox)
    assert repr(inbox) == f"<PostgresInbox public.tahdah_inbox at 127.0.0.1:{port}/app>"


async def test_a_wrong_password_is_not_shown(
    postgres_server: engine.PostgresServer, postgres_schema: str
) -> None:
    dsn = engine.postgres_dsn_for(postgres_server, password=PASSWORD)
    inbox = PostgresInbox(dsn, schema=postgres_schema)

    with pytest.raises(asyncpg.InvalidPasswordError) as raised:
        await inbox.open()

    assert PASSWORD not in shown(raised.value)
    assert postgres_server.password not in repr(PostgresInbox(postgres_server.dsn))


async def test_a_driver_error_quoting_the_dsn_is_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dsn = f"postgresql://ada:{PASSWORD}@db/app"

    async def create_pool(dsn: str, **options: Any) -> None:
        raise asyncpg.exceptions.ClientConfigurationError(f"cannot parse {dsn!r}")

    monkeypatch.setattr(asyncpg, "create_pool", create_pool)
    with pytest.raises(ValueError, match=r"ClientConfigurationError: cannot parse") as raised:
        await PostgresInbox(dsn).open()

    assert PASSWORD not in shown(raised.value)
    assert "postgresql://ada:***@db/app" in str(raised.value)


# -- the test server -------------------------------------------------------------------------


def test_a_server_without_its_binaries_fails_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "PG_BIN", tmp_path / "bin")

    with pytest.raises(engine.PostgresServerError, match=r"bin/initdb is missing.*postgresql-15"):
        engine.start_postgres_server(tmp_path / "server")


async def test_an_inbox_url_on_the_server_opens_its_schema(
    postgres_server: engine.PostgresServer, postgres_schema: str
) -> None:
    url = engine.inbox_url_for(postgres_server, postgres_schema)
    assert url == f"{postgres_server.dsn}?schema={postgres_schema}"
    assert f"@127.0.0.1:{postgres_server.port}/postgres?" in url
    assert postgres_server.password not in repr(postgres_server)

    async with open_inbox(url) as inbox:
        assert isinstance(inbox, PostgresInbox)
        assert await inbox.put(make_delivery(0)) == (True, 1)
    assert (
        await fetchval(
            postgres_server.dsn, f'SELECT count(*) FROM "{postgres_schema}".tahdah_inbox'
        )
        == 1
    )
