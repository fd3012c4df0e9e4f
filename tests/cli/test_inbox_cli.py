"""``tahdah webhooks serve``, the ``tahdah inbox`` commands, and inbox URLs."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import json
import os
import re
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tahdah_async.cli import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from tahdah_async.testing import deliver_webhook
from tahdah_async.webhooks.inbox import (
    MemoryInbox,
    NewDelivery,
    SQLiteInbox,
    State,
    StoredDelivery,
)
from tahdah_async.webhooks.inbox._url import open_inbox, redact_url, url_secrets
from tests.servers import refusing_port

from .helpers import WAIT, Cli, child_env, own_lines, spawn
from .hooks_for_tests import FAIL_ENV, RUNS_ENV

ROOT = Path(__file__).parents[2]
SECRET = "wh_inbox_cli_secret"
TARGET = "tests.cli.hooks_for_tests:router"
PAYLOAD = {"id": 1008, "firstName": "Ada", "lastName": "Lovelace"}
HAS_POSTGRES = importlib.util.find_spec("tahdah_async.webhooks.inbox._postgres") is not None
needs_postgres = pytest.mark.skipif(not HAS_POSTGRES, reason="no PostgresInbox in this build")


@pytest.fixture(autouse=True)
def _no_inbox_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TAHDAH_INBOX", RUNS_ENV, FAIL_ENV):
        monkeypatch.delenv(name, raising=False)


def sqlite_url(path: Path) -> str:
    """The URL of an SQLite inbox at an absolute path (four slashes)."""
    assert path.is_absolute()
    return f"sqlite:///{path}"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A child's environment: the repository importable, the secret, the runs file."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return child_env(
        PYTHONPATH=os.pathsep.join(paths),
        TAHDAH_WEBHOOK_SECRET=SECRET,
        **{RUNS_ENV: str(tmp_path / "runs.jsonl")},
        **extra,
    )


def runs(tmp_path: Path) -> list[dict[str, Any]]:
    """What the children's handlers ran, in order."""
    path = tmp_path / "runs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
async def inbox(tmp_path: Path) -> AsyncIterator[SQLiteInbox]:
    """The SQLite inbox of ``tmp_path / "inbox.db"``, opened by the test itself."""
    async with SQLiteInbox(tmp_path / "inbox.db") as opened:
        yield opened


async def until_state(inbox: SQLiteInbox, id: int, state: State) -> StoredDelivery:
    """Poll the row until another process moves it to ``state`` (a hang guard of WAIT s)."""
    async with asyncio.timeout(WAIT):
        while True:
            row = await inbox.get(id)
            if row is not None and row.state == state:
                return row
            await asyncio.sleep(0.02)


def new(
    verb: str = "candidates.created",
    body: bytes | None = None,
    *,
    received_at: dt.datetime | None = None,
) -> NewDelivery:
    """A delivery to put, with a key of its own."""
    return NewDelivery(
        key=f"sha256:{secrets.token_hex(32)}",
        verb=verb,
        body=json.dumps(PAYLOAD).encode() if body is None else body,
        headers={"Content-Type": "application/json"},
        received_at=received_at or dt.datetime.now(dt.UTC),
    )


# -- webhooks serve ------------------------------------------------------------------------


async def test_serve_stores_deliveries_runs_them_and_stops_on_sigterm(
    tmp_path: Path, inbox: SQLiteInbox
) -> None:
    url = sqlite_url(tmp_path / "inbox.db")
    args = ("webhooks", "serve", TARGET, "--inbox", url, "--port", "0", "--path", "/hooks/")
    async with spawn(*args, env=env_for(tmp_path)) as child:
        found = await child.expect(r"^listening for webhooks on (http://127\.0\.0\.1:\d+/hooks)$")
        hooks = found[1]
        told = await child.expect(r"^storing deliveries in (\S+); (.*)$")
        stored = await deliver_webhook(hooks, "candidates.created", PAYLOAD, secret=SECRET)
        forged = await deliver_webhook(hooks, "candidates.created", {"id": 1}, secret="wh_bad")
        row = await until_state(inbox, 1, State.DONE)
        again = await deliver_webhook(hooks, "candidates.created", PAYLOAD, secret=SECRET)
        code, rest, err = await child.stop(signal.SIGTERM)

    assert (stored.status, stored.body["status"]) == (200, "stored")
    assert (again.status, again.body["status"]) == (200, "duplicate")
    assert forged.status == 401
    assert (row.verb, row.attempts, json.loads(row.body)) == ("candidates.created", 1, PAYLOAD)
    assert await inbox.rows() == [row]  # the forged one was never stored
    assert runs(tmp_path) == [{"verb": "candidates.created", "inbox_id": 1, "attempt": 1}]
    assert told.groups() == (url, "a worker here runs them")
    assert (code, own_lines(err)) == (EXIT_OK, [])
    assert rest.splitlines() == ["stop with Ctrl-C", "stopped"]
    assert SECRET not in "\n".join([*child.lines, rest, err])


async def test_serve_without_a_worker_stores_and_inbox_work_runs_them(
    tmp_path: Path, inbox: SQLiteInbox
) -> None:
    url = sqlite_url(tmp_path / "inbox.db")
    env = env_for(tmp_path)
    args = ("webhooks", "serve", TARGET, "--inbox", url, "--port", "0", "--no-worker")
    async with spawn(*args, env=env) as child:
        base = (await child.expect(r"^listening for webhooks on (http://127\.0\.0\.1:\d+/)$"))[1]
        told = await child.expect(r"^storing deliveries in (\S+); (.*)$")
        replies = [
            await deliver_webhook(base, "candidates.created", {**PAYLOAD, "id": n}, secret=SECRET)
            for n in (1, 2)
        ]
        served = await child.stop(signal.SIGTERM)
    waiting = await inbox.rows()

    async with spawn("inbox", "work", TARGET, "--inbox", url, "--concurrency", "1", env=env) as w:
        started = await w.expect(r"^working on (\S+) as (\S+)$")
        done = [await until_state(inbox, id, State.DONE) for id in (1, 2)]
        worked = await w.stop(signal.SIGINT)

    assert [(r.status, r.body["status"]) for r in replies] == [(200, "stored")] * 2
    assert told.groups() == (url, "`tahdah inbox work` runs them")
    assert (served[0], own_lines(served[2])) == (EXIT_OK, [])
    assert [(row.state, row.attempts) for row in waiting] == [(State.PENDING, 0)] * 2
    assert started[1] == url
    assert [(row.attempts, row.lease_owner) for row in done] == [(1, None)] * 2
    assert [run["inbox_id"] for run in runs(tmp_path)] == [1, 2]
    # Ctrl-C: the worker drains and stops, and the exit says it was interrupted.
    assert (worked[0], own_lines(worked[2])) == (EXIT_INTERRUPTED, ["interrupted"])
    assert worked[1].splitlines() == ["stop with Ctrl-C", "stopped"]


async def test_a_failing_delivery_is_parked_dead_then_replayed_and_completed(
    cli: Cli, tmp_path: Path, inbox: SQLiteInbox
) -> None:
    url = sqlite_url(tmp_path / "inbox.db")
    _, id = await inbox.put(new())
    failing = env_for(tmp_path, **{FAIL_ENV: "1"})
    work = ("inbox", "work", TARGET, "--inbox", url, "--max-attempts", "1")

    async with spawn(*work, env=failing) as child:
        await child.expect(r"^working on ")
        dead = await until_state(inbox, id, State.DEAD)
        first = await child.stop(signal.SIGINT)
    listed = await cli("inbox", "list", "--inbox", url, "--state", "dead")
    replayed = await cli("inbox", "replay", "--inbox", url, "--state", "dead")
    pending = await inbox.get(id)
    async with spawn(*work, env=env_for(tmp_path)) as child:
        await child.expect(r"^working on ")
        done = await until_state(inbox, id, State.DONE)
        second = await child.stop(signal.SIGINT)

    assert (dead.attempts, dead.last_error) == (1, "RuntimeError('asked to fail')")
    assert first[0] == EXIT_INTERRUPTED
    assert listed.code == EXIT_OK, listed.err
    header, line = listed.out.splitlines()
    assert header.split() == ["id", "state", "attempts", "verb", "received", "last", "error"]
    assert re.fullmatch(
        rf" *{id} +dead +1 +candidates\.created +\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\dZ +"
        r"RuntimeError\('asked to fail'\)",
        line,
    ), line
    assert (replayed.code, replayed.out) == (EXIT_OK, "replayed 1 delivery\n")
    assert pending is not None
    assert (pending.state, pending.attempts) == (State.PENDING, 0)
    assert (done.attempts, second[0]) == (1, EXIT_INTERRUPTED)
    assert [run["attempt"] for run in runs(tmp_path)] == [1, 1]


# -- stats, list, show ---------------------------------------------------------------------


async def fill(inbox: SQLiteInbox) -> dict[str, int]:
    """Two pending, one done, one dead (whose verb is markup and a terminal escape)."""
    ids = {}
    _, ids["pending"] = await inbox.put(new())
    _, ids["done"] = await inbox.put(new("candidates.updated"))
    _, ids["dead"] = await inbox.put(new("[red]evil[/red]\x1b[2J", b"not json \x1b[31m\xc2\x9b"))
    _, ids["pending2"] = await inbox.put(new())
    for row in await inbox.claim("tester", 3, 60):
        if row.id == ids["done"]:
            assert await inbox.complete("tester", row.id)
        elif row.id == ids["dead"]:
            assert await inbox.fail("tester", row.id, "Boom('\x1b]0;title\x07')", None)
    assert await inbox.release("tester", [ids["pending"]]) == 1
    return ids


async def test_stats_agree_with_the_inbox(cli: Cli, tmp_path: Path, inbox: SQLiteInbox) -> None:
    await fill(inbox)
    counted = await inbox.stats()
    url = sqlite_url(tmp_path / "inbox.db")

    as_json = await cli("inbox", "stats", "--inbox", url, "--json")
    as_table = await cli("inbox", "stats", "--inbox", url)

    assert as_json.code == EXIT_OK, as_json.err
    assert json.loads(as_json.out) == {
        "by_state": {state.value: counted.by_state[state] for state in State},
        "by_verb": {
            verb: {state.value: n for state, n in states.items()}
            for verb, states in counted.by_verb.items()
        },
        "oldest_pending": counted.oldest_pending and counted.oldest_pending.isoformat(),
    }
    assert json.loads(as_json.out)["by_state"] == {
        "pending": 2,
        "processing": 0,
        "done": 1,
        "failed": 0,
        "dead": 1,
    }
    assert as_table.code == EXIT_OK, as_table.err
    cells = [re.findall(r"[^\s│┃]+", line) for line in as_table.out.splitlines()]
    assert ["pending", "2"] in cells
    assert ["processing", "0"] in cells
    assert ["candidates.created", "2", "0", "0", "0", "0"] in cells
    assert ["[red]evil[/red]", "[2J", "0", "0", "0", "0", "1"] in cells  # markup shown as text
    assert "\x1b" not in as_table.out + as_json.out
    assert re.search(r"^oldest waiting delivery: received .*Z \(.+ ago\)$", as_table.out, re.M)


async def test_list_filters_and_pages(cli: Cli, tmp_path: Path, inbox: SQLiteInbox) -> None:
    ids = await fill(inbox)
    url = sqlite_url(tmp_path / "inbox.db")

    pending = await cli("inbox", "list", "--inbox", url, "--state", "pending", "--json")
    by_verb = await cli("inbox", "list", "--inbox", url, "--verb", "candidates.updated")
    first = await cli("inbox", "list", "--inbox", url, "--limit", "1")
    rest = await cli("inbox", "list", "--inbox", url, "--after", str(ids["pending"]), "--json")
    future = await cli("inbox", "list", "--inbox", url, "--since", "2999-01-01T00:00:00+00:00")
    everything = await cli("inbox", "list", "--inbox", url)

    rows = json.loads(pending.out)
    assert [row["id"] for row in rows] == [ids["pending"], ids["pending2"]]
    assert rows[0]["state"] == "pending"
    assert "body" not in rows[0]
    assert [line.split()[0] for line in by_verb.out.splitlines()] == ["id", str(ids["done"])]
    assert len(first.out.splitlines()) == 2
    assert f"more deliveries follow: --after {ids['pending']} lists them" in first.err
    after_first = [row["id"] for row in json.loads(rest.out)]
    assert after_first == [ids["done"], ids["dead"], ids["pending2"]]
    assert (future.code, future.out) == (EXIT_OK, "")
    dead_line = everything.out.splitlines()[3]
    assert "[red]evil[/red] [2J" in dead_line
    assert "Boom('" in dead_line
    assert "\x1b" not in everything.out + rest.out
    assert "not json" not in everything.out  # list shows no bodies


async def test_json_output_is_the_data_exactly(
    cli: Cli, tmp_path: Path, inbox: SQLiteInbox
) -> None:
    # Emoji codes and markup in a sender's verb or body stay as they were sent: JSON output is
    # written as it is, never rendered.
    verb = ":thumbs_up: [bold]x[/bold]"
    body = {"note": ":smile: [red]hi[/red]", "id": 1}
    _, id = await inbox.put(new(verb, json.dumps(body).encode()))
    url = sqlite_url(tmp_path / "inbox.db")

    listed = await cli("inbox", "list", "--inbox", url, "--json")
    shown = await cli("inbox", "show", str(id), "--inbox", url)
    counted = await cli("inbox", "stats", "--inbox", url, "--json")

    assert (listed.code, shown.code, counted.code) == (EXIT_OK, EXIT_OK, EXIT_OK)
    assert [row["verb"] for row in json.loads(listed.out)] == [verb]
    assert json.loads(shown.out)["body"] == body
    assert list(json.loads(counted.out)["by_verb"]) == [verb]
    assert listed.err == shown.err == counted.err == ""


async def test_show_prints_a_row_with_its_body(
    cli: Cli, tmp_path: Path, inbox: SQLiteInbox
) -> None:
    ids = await fill(inbox)
    url = sqlite_url(tmp_path / "inbox.db")

    json_body = await cli("inbox", "show", str(ids["done"]), "--inbox", url)
    text_body = await cli("inbox", "show", str(ids["dead"]), "--inbox", url)
    missing = await cli("inbox", "show", "999", "--inbox", url)

    assert json_body.code == EXIT_OK, json_body.err
    shown = json.loads(json_body.out)
    assert shown["body"] == PAYLOAD
    assert "body_text" not in shown
    assert (shown["id"], shown["state"], shown["verb"]) == (
        ids["done"],
        "done",
        "candidates.updated",
    )
    assert shown["headers"] == {"Content-Type": "application/json"}
    assert shown["done_at"] is not None
    assert text_body.code == EXIT_OK, text_body.err
    dead = json.loads(text_body.out)
    assert dead["body_text"] == "not json \x1b[31m\x9b"
    assert "body" not in dead
    assert dead["last_error"] == "Boom('\x1b]0;title\x07')"
    assert "\x1b" not in text_body.out
    assert "\x9b" not in text_body.out
    assert "\\u001b[31m\\u009b" in text_body.out
    assert (missing.code, missing.out) == (EXIT_FAILED, "")
    assert "error: the inbox has no delivery 999" in missing.err


# -- replay, purge -------------------------------------------------------------------------


async def test_replay_selects_by_id_and_refuses_an_empty_selection(
    cli: Cli, tmp_path: Path, inbox: SQLiteInbox
) -> None:
    ids = await fill(inbox)
    url = sqlite_url(tmp_path / "inbox.db")

    refused = await cli("inbox", "replay", "--inbox", url)
    by_id = await cli("inbox", "replay", "--inbox", url, str(ids["done"]))
    by_verb = await cli("inbox", "replay", "--inbox", url, "--verb", "nothing.like.this")
    everything = await cli("inbox", "replay", "--inbox", url, "--all")

    assert refused.code == EXIT_USAGE
    assert "say what to replay" in refused.err
    assert (by_id.code, by_id.out) == (EXIT_OK, "replayed 1 delivery\n")
    assert by_verb.out == "replayed 0 deliveries\n"
    assert everything.out == "replayed 1 delivery\n"  # the dead one; the rest are pending
    assert {row.state for row in await inbox.rows()} == {State.PENDING}


async def test_purge_deletes_old_done_or_dead_deliveries(
    cli: Cli, tmp_path: Path, inbox: SQLiteInbox
) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    _, old_done = await inbox.put(new(received_at=old))
    _, old_dead = await inbox.put(new(received_at=old))
    _, old_pending = await inbox.put(new(received_at=old))
    _, new_done = await inbox.put(new())
    for row in await inbox.claim("tester", 4, 60):
        if row.id in (old_done, new_done):
            await inbox.complete("tester", row.id)
        elif row.id == old_dead:
            await inbox.fail("tester", row.id, "boom", None)
        else:
            await inbox.release("tester", [row.id])
    url = sqlite_url(tmp_path / "inbox.db")

    too_old = await cli("inbox", "purge", "--inbox", url, "--older-than", "2000-01-01")
    done = await cli("inbox", "purge", "--inbox", url, "--older-than", "7d")
    dead = await cli("inbox", "purge", "--inbox", url, "--older-than", "168h", "--state", "dead")
    bad = await cli("inbox", "purge", "--inbox", url, "--older-than", "7 days")

    assert (too_old.code, too_old.out) == (EXIT_OK, "purged 0 deliveries\n")
    assert (done.code, done.out) == (EXIT_OK, "purged 1 delivery\n")
    assert (dead.code, dead.out) == (EXIT_OK, "purged 1 delivery\n")
    assert [row.id for row in await inbox.rows()] == [old_pending, new_done]
    assert bad.code == EXIT_USAGE
    assert "is neither a duration" in bad.err


# -- usage and database errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.cli.hooks_for_tests", "give the router as MODULE:ATTRIBUTE"),
        ("tests.cli.hooks_for_tests:", "give the router as MODULE:ATTRIBUTE"),
        ("no_such_module_here:router", "no module named 'no_such_module_here'"),
        ("tests.cli.no_such_hooks:router", "no module named 'tests.cli.no_such_hooks'"),
        ("tests.cli.hooks_for_tests:nothing", "has no attribute 'nothing'"),
        ("tests.cli.hooks_for_tests:not_a_router", "is a int, not a WebhookRouter"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "work"])
async def test_a_bad_router_is_a_usage_error(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    target: str,
    message: str,
) -> None:
    monkeypatch.setenv("TAHDAH_WEBHOOK_SECRET", SECRET)
    group = "webhooks" if command == "serve" else "inbox"
    ran = await cli(group, command, target, "--inbox", sqlite_url(tmp_path / "x.db"))

    assert ran.code == EXIT_USAGE
    assert message in ran.err
    assert not (tmp_path / "x.db").exists()


async def test_the_router_module_is_found_in_the_current_directory(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"inbox_cli_probe_{secrets.token_hex(4)}"
    (tmp_path / f"{name}.py").write_text("hooks = 'not a router'\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, name, raising=False)

    ran = await cli("inbox", "work", f"{name}:hooks", "--inbox", "sqlite:///x.db")

    assert ran.code == EXIT_USAGE
    assert f"{name}:hooks is a str, not a WebhookRouter" in ran.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inbox", "stats", "--inbox", "mysql://ada:pw_hidden_1@db/x"], "a mysql: URL is not"),
        (["inbox", "stats", "--inbox", "pw_hidden_1"], "is not an inbox URL: use memory:"),
        (["inbox", "stats", "--inbox", "sqlite://pw_hidden_1/x.db"], "three slashes"),
        (["inbox", "stats", "--inbox", "memory:"], "memory: is the inbox of one process"),
        (["inbox", "stats"], "Missing option '--inbox'"),
        (["inbox", "list", "--inbox", "sqlite:///x.db", "--since", "soon"], "neither a duration"),
        (["inbox", "replay", "--inbox", "sqlite:///x.db", "--state", "pending"], "'pending'"),
        (["webhooks", "serve", TARGET, "--inbox", "memory:"], "TAHDAH_WEBHOOK_SECRET"),
        (
            ["webhooks", "serve", TARGET, "--inbox", "memory:", "--secret-env", "OTHER_SECRET_1"],
            "set the signing secret in the environment variable OTHER_SECRET_1",
        ),
        (["webhooks", "serve", TARGET, "--inbox", "memory:", "--path", "hooks"], "not a path"),
        (["webhooks", "serve", TARGET, "--inbox", "memory:", "--no-worker"], "never worked on"),
    ],
)
async def test_usage_errors(cli: Cli, args: list[str], message: str) -> None:
    ran = await cli(*args)

    assert ran.code == EXIT_USAGE
    assert message in ran.err
    assert "pw_hidden_1" not in ran.err + ran.out
    assert "listening" not in ran.out


async def test_the_secret_is_read_from_the_named_variable_only(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAHDAH_WEBHOOK_SECRET", SECRET)

    ran = await cli("webhooks", "serve", TARGET, "--inbox", "memory:", "--secret-env", "OTHER_1")
    no_option = await cli("webhooks", "serve", TARGET, "--inbox", "memory:", "--secret", SECRET)

    assert ran.code == EXIT_USAGE
    assert "OTHER_1" in ran.err
    assert no_option.code == EXIT_USAGE
    assert "No such option '--secret'" in no_option.err
    assert SECRET not in ran.err + no_option.err


async def test_a_database_that_cannot_be_opened_exits_4(cli: Cli, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database, and it is long enough to tell" * 20)
    url = sqlite_url(garbage)

    work = await cli("inbox", "work", TARGET, "--inbox", url)
    stats = await cli("inbox", "stats", "--inbox", url)

    assert work.code == EXIT_UNREACHABLE
    assert f"error: cannot open the inbox {url}: DatabaseError: file is not a database" in work.err
    assert "working on" not in work.out
    assert stats.code == EXIT_UNREACHABLE
    assert "DatabaseError" in stats.err


async def test_a_missing_sqlite_file_or_directory_is_a_usage_error(
    cli: Cli, tmp_path: Path
) -> None:
    nowhere = tmp_path / "no" / "such" / "dir" / "inbox.db"

    work = await cli("inbox", "work", TARGET, "--inbox", sqlite_url(nowhere))
    typo = await cli("inbox", "stats", "--inbox", sqlite_url(tmp_path / "typo.db"))
    directory = await cli("inbox", "list", "--inbox", sqlite_url(tmp_path))

    assert work.code == EXIT_USAGE
    assert f"error: there is no directory {nowhere.parent} for the inbox" in work.err
    assert typo.code == EXIT_USAGE
    assert f"error: there is no inbox at {tmp_path / 'typo.db'}" in typo.err
    assert not (tmp_path / "typo.db").exists()
    assert directory.code == EXIT_USAGE
    assert f"{tmp_path} is a directory" in directory.err


@needs_postgres
async def test_an_unreachable_postgres_inbox_exits_4_without_its_password(cli: Cli) -> None:
    with refusing_port() as port:
        url = f"postgresql://ada:pw_hidden_2@127.0.0.1:{port}/inbox?password=pw_hidden_3"
        ran = await cli("inbox", "stats", "--inbox", url)

    assert ran.code == EXIT_UNREACHABLE
    assert "error: cannot open the inbox postgresql://ada:***@127.0.0.1" in ran.err
    assert "pw_hidden" not in ran.err + ran.out


async def test_the_inbox_url_may_come_from_the_environment(
    cli: Cli, tmp_path: Path, inbox: SQLiteInbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    await inbox.put(new())
    monkeypatch.setenv("TAHDAH_INBOX", sqlite_url(tmp_path / "inbox.db"))

    ran = await cli("inbox", "stats", "--json")

    assert ran.code == EXIT_OK, ran.err
    assert json.loads(ran.out)["by_state"]["pending"] == 1


# -- open_inbox ----------------------------------------------------------------------------


def test_memory_urls_open_a_memory_inbox() -> None:
    assert isinstance(open_inbox("memory:"), MemoryInbox)
    assert open_inbox("memory:") is not open_inbox("memory:")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///inbox.db", "inbox.db"),
        ("sqlite:///data/inbox.db", "data/inbox.db"),
        ("sqlite:////var/lib/tahdah/inbox.db", "/var/lib/tahdah/inbox.db"),
        ("sqlite:////tmp/with%20space.db", "/tmp/with space.db"),
    ],
)
def test_sqlite_urls_follow_sqlalchemy(url: str, path: str) -> None:
    opened = open_inbox(url)

    assert isinstance(opened, SQLiteInbox)
    assert opened.path == path
    assert redact_url(url) == url


async def test_a_relative_sqlite_url_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_inbox("sqlite:///relative.db") as opened:
        await opened.put(new())

    assert (tmp_path / "relative.db").exists()


@needs_postgres
@pytest.mark.parametrize(
    ("url", "dsn", "schema"),
    [
        ("postgresql://ada:pw@db:5432/app", "postgresql://ada:pw@db:5432/app", None),
        ("postgres://db/app?schema=hooks", "postgres://db/app", "hooks"),
        (
            "postgresql://db/app?sslmode=require&schema=hooks&application_name=tahdah",
            "postgresql://db/app?sslmode=require&application_name=tahdah",
            "hooks",
        ),
    ],
)
def test_postgres_urls_open_a_postgres_inbox(url: str, dsn: str, schema: str | None) -> None:
    from tahdah_async.webhooks.inbox._postgres import PostgresInbox

    opened = open_inbox(url)

    assert isinstance(opened, PostgresInbox)
    assert vars(opened).get("dsn", vars(opened).get("_dsn")) == dsn
    if schema is not None:
        assert schema in {vars(opened).get("schema"), vars(opened).get("_schema")}
    assert "pw" not in repr(opened)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "inbox.db",
        "mysql://ada:pw_hidden_4@db/app",
        "redis://:pw_hidden_4@localhost:6379/0",
        "sqlite://",
        "sqlite:///",
        "sqlite:///data/",
        "sqlite:///:memory:",
        "sqlite://pw_hidden_4@host/inbox.db",
        "sqlite:///inbox.db?mode=ro",
        "postgresql://ada:pw_hidden_4@db:notaport/app",
        "postgresql://ada:pw_hidden_4@db/app?schema=a&schema=b",
        "postgresql://ada:pw_hidden_4@db/app?schema=",
    ],
)
def test_bad_inbox_urls_are_refused_without_their_password(url: str) -> None:
    with pytest.raises(ValueError, match=r"\S") as raised:
        open_inbox(url)

    assert "pw_hidden_4" not in str(raised.value)


def test_unknown_schemes_name_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="a mysql: URL is not an inbox URL") as raised:
        open_inbox("mysql://ada:pw@db/app")

    for form in ("memory:", "sqlite:///relative/path.db", "sqlite:////absolute/path.db"):
        assert form in str(raised.value)
    assert "postgresql://" in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        ("postgresql://ada:s3cr%40t@db/app", "postgresql://ada:***@db/app", ("s3cr%40t", "s3cr@t")),
        ("postgresql://ada:p@ss@db/app", "postgresql://ada:***@db/app", ("p@ss",)),
        ("postgresql:///app?password=pq&x=1", "postgresql:///app?password=***&x=1", ("pq",)),
        ("postgresql://ada@db/app", "postgresql://ada@db/app", ()),
        ("memory:", "memory:", ()),
    ],
)
def test_redact_url_hides_passwords(url: str, shown: str, hidden: tuple[str, ...]) -> None:
    assert redact_url(url) == shown
    assert url_secrets(url) == hidden
