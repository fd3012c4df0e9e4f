"""The inbox commands: ``tahdah webhooks serve`` and the ``tahdah inbox`` group.

Every command names its inbox with ``--inbox URL`` (or ``TAHDAH_INBOX``, which keeps a
database password out of the process list); a password is never printed. A database that
cannot be opened or fails mid-command exits 4. Verbs, errors and bodies come from senders and
handlers, so what is printed of them goes through ``peer_text`` or ``terminal_json``. JSON
output (``--json``, ``show``) is the JSON alone on stdout.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Final

import click
from aiohttp import web
from rich.table import Table
from rich.text import Text

from .. import _json
from .._untrusted import peer_text
from ..webhooks import WebhookRouter, create_webhook_app
from ..webhooks.inbox import (
    Inbox,
    InboxStats,
    Selection,
    SQLiteInbox,
    State,
    StoredDelivery,
    utc_now,
)
from ..webhooks.inbox._url import open_inbox, redact_url, url_secrets
from ..webhooks.worker import DEFAULT_MAX_ATTEMPTS, InboxWorker
from . import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE
from ._commands import (
    SECRET_ENV,
    Failed,
    cli,
    execute,
    interrupted,
    out,
    say,
    say_json,
    serving,
    until_stopped,
    webhooks,
)

__all__ = ["inbox_group", "load_router", "serve"]

INBOX_ENV: Final = "TAHDAH_INBOX"

_VERB: Final = 128  # the most characters of a verb printed
_LISTED_ERROR: Final = 80  # the most characters of a row's last error ``list`` prints
_DURATION: Final = re.compile(r"(\d{1,9})([smhdw])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TARGET_HINT: Final = "MODULE:ATTRIBUTE"


# -- options -------------------------------------------------------------------------------


def _inbox_url(shared: bool) -> Callable[[click.Context, click.Parameter, str], str]:
    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        try:
            open_inbox(value)
        except (ValueError, ImportError) as exc:
            raise click.BadParameter(str(exc)) from None
        if shared and value.startswith("memory:"):
            raise click.BadParameter(
                "memory: is the inbox of one process and empty in any other: name the "
                "receiver's sqlite: or postgresql: inbox"
            )
        return value

    return check


def inbox_option(*, shared: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--inbox URL`` option; ``shared``: refuse ``memory:`` (no other process sees it)."""
    return click.option(
        "--inbox",
        "inbox_url",
        required=True,
        envvar=INBOX_ENV,
        metavar="URL",
        callback=_inbox_url(shared),
        help=(
            "The inbox: sqlite:///relative.db, sqlite:////absolute.db or "
            f"postgresql://user@host/db[?schema=NAME] (env {INBOX_ENV}, which keeps a "
            "password out of the process list)."
        ),
    )


def filter_options(*states: State) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--state`` (one of ``states``), ``--verb``, ``--since`` and ``--until`` filters
    that :func:`selected` turns into a :class:`Selection`."""
    options = [
        click.option("--state", type=click.Choice([state.value for state in states])),
        click.option("--verb", help="Only deliveries with this verb."),
        click.option(
            "--since",
            callback=_moment,
            metavar="TIME",
            help="Received at or after (ISO 8601, or 12h for ago).",
        ),
        click.option(
            "--until",
            callback=_moment,
            metavar="TIME",
            help="Received before (ISO 8601, or 12h for ago).",
        ),
    ]

    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):  # applied bottom-up, shown top-down
            command = option(command)
        return command

    return add


def selected(
    state: str | None,
    verb: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    ids: tuple[int, ...] = (),
) -> Selection:
    """The :class:`Selection` of :func:`filter_options`' values (and ``ids``, if any)."""
    return Selection(
        ids=list(ids) or None,
        state=None if state is None else State(state),
        verb=verb,
        received_after=since,
        received_before=until,
    )


def parse_moment(text: str, now: Callable[[], dt.datetime] = utc_now) -> dt.datetime:
    """Read a time: ISO 8601 (UTC when it has no offset), or a duration ago (``7d``, ``12h``).

    Raises:
        ValueError: ``text`` is neither.
    """
    text = text.strip()
    found = _DURATION.fullmatch(text)
    if found is not None:
        amount, unit = found.groups()
        try:
            return now() - dt.timedelta(**{_UNITS[unit]: int(amount)})
        except OverflowError:
            raise ValueError(f"{text!r} is too long ago") from None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (such as 30m, 12h, 7d, 2w) nor an ISO 8601 time "
            "(such as 2024-05-01T12:00:00Z)"
        ) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def load_router(target: str) -> WebhookRouter:
    """Import ``MODULE:ATTRIBUTE`` (the current directory first) and return the router.

    Raises:
        click.BadParameter: the form is wrong, the module or attribute is missing, or it is
            not a :class:`WebhookRouter`.
    """
    module_name, colon, attribute = target.partition(":")
    names = module_name.split(".")
    if not colon or not attribute or not all(name.isidentifier() for name in names):
        raise click.BadParameter(
            f"{target!r}: give the router as MODULE:ATTRIBUTE, such as myapp.hooks:router",
            param_hint=_TARGET_HINT,
        )
    # As gunicorn and celery do: the application's own modules are found from where it runs
    # (the console script's sys.path starts at its own directory instead).
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        value: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the target itself: a module missing inside the user's code keeps its traceback.
        if exc.name is None or not (module_name + ".").startswith(exc.name + "."):
            raise
        raise click.BadParameter(
            f"no module named {exc.name!r} in the current directory or the installed packages",
            param_hint=_TARGET_HINT,
        ) from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise click.BadParameter(
                f"module {module_name!r} has no attribute {attribute!r}", param_hint=_TARGET_HINT
            ) from None
    if not isinstance(value, WebhookRouter):
        raise click.BadParameter(
            f"{target} is a {type(value).__name__}, not a WebhookRouter", param_hint=_TARGET_HINT
        )
    return value


def _secrets_from(names: Iterable[str]) -> list[str]:
    secrets = []
    for name in names:
        value = os.environ.get(name, "")
        if not value:
            raise click.UsageError(
                f"set the signing secret in the environment variable {name} (it is not taken "
                "from the command line, where the process list would show it)"
            )
        secrets.append(value)
    return secrets


def _mount_path(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.startswith("/") or any(c.isspace() or c in "?#" for c in value):
        raise click.BadParameter(f"{value!r} is not a path such as / or /tahdah/webhooks")
    return "/" + value.strip("/")


# -- the inbox, opened ---------------------------------------------------------------------


def _database_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [sqlite3.Error, OSError, TimeoutError]
    asyncpg = sys.modules.get("asyncpg")  # only a PostgreSQL inbox has imported it
    if asyncpg is not None:
        found += [asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError]
    return tuple(found)


def _reason(exc: BaseException, url: str) -> str:
    # A driver's message can quote its DSN, and a server's is the server's own text.
    return peer_text(f"{type(exc).__name__}: {exc}", secrets=url_secrets(url))


def _file_problem(inbox: Inbox, create: bool) -> str | None:
    """Why an SQLite inbox's file cannot be opened, when that can be told without opening it.

    A mistyped path must not look like an empty inbox; and a file SQLite cannot create is
    refused here, before aiosqlite starts its connection thread for nothing.
    """
    if not isinstance(inbox, SQLiteInbox):
        return None
    path = Path(inbox.path)
    if path.is_dir():
        return f"{inbox.path} is a directory"
    if not path.exists():
        if not create:
            return f"there is no inbox at {inbox.path}"
        if not path.absolute().parent.is_dir():
            return f"there is no directory {path.absolute().parent} for the inbox"
    return None


@contextlib.asynccontextmanager
async def opened(url: str, *, create: bool = False) -> AsyncIterator[Inbox]:
    """Open the inbox ``url`` names; a failure to open it, or of the database while the
    block runs, is :class:`Failed` with exit code 4 and no password in the message.

    Without ``create``, a missing SQLite file is an error (exit 2) rather than a new inbox.
    """
    inbox = open_inbox(url)
    shown = redact_url(url)
    problem = _file_problem(inbox, create)
    if problem is not None:
        raise Failed(problem, EXIT_USAGE)
    try:
        await inbox.open()
    except Exception as exc:  # whatever the driver raises, the inbox is not there
        raise Failed(
            f"cannot open the inbox {shown}: {_reason(exc, url)}", EXIT_UNREACHABLE
        ) from None
    try:
        yield inbox
    except _database_errors() as exc:
        raise Failed(f"the inbox {shown} failed: {_reason(exc, url)}", EXIT_UNREACHABLE) from None
    finally:
        with contextlib.suppress(Exception):
            await inbox.close()


# -- webhooks serve ------------------------------------------------------------------------


@webhooks.command()
@click.argument("target", metavar=_TARGET_HINT)
@inbox_option(shared=False)
@click.option(
    "--secret-env",
    "secret_envs",
    multiple=True,
    default=[SECRET_ENV],
    show_default=True,
    metavar="NAME",
    help="The environment variable holding the signing secret (repeat during a rotation).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen.")
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--path",
    default="/",
    show_default=True,
    callback=_mount_path,
    help="The path deliveries are posted to.",
)
@click.option(
    "--no-worker",
    is_flag=True,
    help="Only store deliveries; `tahdah inbox work` runs them in other processes.",
)
def serve(
    target: str,
    inbox_url: str,
    secret_envs: tuple[str, ...],
    host: str,
    port: int,
    path: str,
    no_worker: bool,
) -> None:
    """Receive webhooks into an inbox and run them with the handlers of MODULE:ATTRIBUTE.

    MODULE:ATTRIBUTE names a WebhookRouter, such as myapp.hooks:router (modules in the
    current directory are found). Each verified delivery is stored and answered 200; a
    worker in this process runs it (unless --no-worker), retrying failures.
    """
    if no_worker and inbox_url.startswith("memory:"):
        raise click.UsageError(
            "with --no-worker a memory: inbox is never worked on: use sqlite: or postgresql:"
        )
    secrets = _secrets_from(secret_envs)
    router = load_router(target)
    shown = redact_url(inbox_url)

    async def run_server() -> int:
        async with opened(inbox_url, create=True) as inbox:
            receiver = create_webhook_app(
                router, secrets=secrets, inbox=inbox, worker=not no_worker
            )
            app = receiver
            if path != "/":
                app = web.Application()
                app.add_subapp(path, receiver)
            async with serving(app, host, port) as base:
                say(f"listening for webhooks on {base.rstrip('/')}{path}")
                if no_worker:
                    say(f"storing deliveries in {shown}; `tahdah inbox work` runs them")
                else:
                    say(f"storing deliveries in {shown}; a worker here runs them")
                say("stop with Ctrl-C")
                stopped_by = await until_stopped()
        say("stopped")
        return stopped_by

    interrupted(execute(run_server()))


# -- tahdah inbox ----------------------------------------------------------------------------


@cli.group("inbox")
def inbox_group() -> None:
    """Work on a webhook inbox: run, count, list, show, replay and purge its deliveries."""


@inbox_group.command()
@click.argument("target", metavar=_TARGET_HINT)
@inbox_option()
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 1024))
@click.option(
    "--lease",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0, 86400, min_open=True),
    help="Seconds a claim lasts; extended while the handlers run.",
)
@click.option(
    "--max-attempts",
    default=DEFAULT_MAX_ATTEMPTS,
    show_default=True,
    type=click.IntRange(1),
    help="Runs before a delivery is dead.",
)
@click.option(
    "--drain",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds running deliveries may take to finish at a stop before they are given back.",
)
def work(
    target: str,
    inbox_url: str,
    concurrency: int,
    lease: float,
    max_attempts: int,
    drain: float,
) -> None:
    """Run the inbox's deliveries with the handlers of MODULE:ATTRIBUTE until stopped.

    Any number of workers may share one inbox. On Ctrl-C or SIGTERM the worker stops
    claiming, lets running deliveries finish (up to --drain seconds) and gives back the rest;
    it then exits 130 after Ctrl-C, 0 after SIGTERM.
    """
    router = load_router(target)
    router.resolve()

    async def run_worker() -> int:
        async with opened(inbox_url, create=True) as inbox:
            worker = InboxWorker(
                router, inbox, concurrency=concurrency, lease=lease, max_attempts=max_attempts
            )
            await worker.start()
            try:
                say(f"working on {redact_url(inbox_url)} as {worker.owner}")
                say("stop with Ctrl-C")
                stopped_by = await until_stopped()
            finally:
                await worker.stop(drain)
        say("stopped")
        return stopped_by

    interrupted(execute(run_worker()))


@inbox_group.command()
@inbox_option()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(inbox_url: str, as_json: bool) -> None:
    """Count the deliveries by state and verb, and say how old the oldest waiting one is."""

    async def count() -> InboxStats:
        async with opened(inbox_url) as inbox:
            return await inbox.stats()

    counted = execute(count())
    if as_json:
        say_json(stats_json(counted))
        return
    by_state = Table(title="deliveries")
    by_state.add_column("state")
    by_state.add_column("count", justify="right")
    for state in State:
        by_state.add_row(state.value, str(counted.by_state.get(state, 0)))
    out.print(by_state)
    if counted.by_verb:
        by_verb = Table(title="by verb")
        by_verb.add_column("verb", overflow="fold")
        for state in State:
            by_verb.add_column(state.value, justify="right")
        for verb, states in sorted(counted.by_verb.items()):
            # A Text cell: the verb is the sender's and must not be read as rich markup.
            cells = [str(states.get(state, 0)) for state in State]
            by_verb.add_row(Text(peer_text(verb, limit=_VERB)), *cells)
        out.print(by_verb)
    oldest = counted.oldest_pending
    if oldest is None:
        say("oldest waiting delivery: none")
    else:
        age = _age(utc_now() - oldest)
        say(f"oldest waiting delivery: received {_shown_time(oldest)} ({age} ago)")


def stats_json(counted: InboxStats) -> dict[str, Any]:
    """The JSON ``tahdah inbox stats --json`` prints."""
    return {
        "by_state": {state.value: counted.by_state.get(state, 0) for state in State},
        "by_verb": {
            verb: {State(state).value: n for state, n in states.items()}
            for verb, states in sorted(counted.by_verb.items())
        },
        "oldest_pending": _iso(counted.oldest_pending),
    }


@inbox_group.command("list")
@inbox_option()
@filter_options(*State)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--after", "after_id", default=0, type=click.IntRange(0), help="Ids above this.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_rows(
    inbox_url: str,
    state: str | None,
    verb: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    limit: int,
    after_id: int,
    as_json: bool,
) -> None:
    """List deliveries, oldest first: id, state, attempts, verb, when received, last error."""
    selection = selected(state, verb, since, until)

    async def fetch() -> list[StoredDelivery]:
        async with opened(inbox_url) as inbox:
            return await inbox.rows(selection, limit=limit + 1, after_id=after_id)

    rows = execute(fetch())
    more, rows = len(rows) > limit, rows[:limit]
    if as_json:
        say_json([row_json(row) for row in rows])
    else:
        for line in _row_lines(rows):
            say(line)
    if more:
        click.echo(f"more deliveries follow: --after {rows[-1].id} lists them", err=True)


def _row_lines(rows: list[StoredDelivery]) -> list[str]:
    if not rows:
        return []
    table = [("id", "state", "attempts", "verb", "received", "last error")]
    for row in rows:
        error = "" if row.last_error is None else peer_text(row.last_error, limit=_LISTED_ERROR)
        table.append(
            (
                str(row.id),
                row.state.value,
                str(row.attempts),
                peer_text(row.verb, limit=_VERB) or "-",
                _shown_time(row.received_at),
                error,
            )
        )
    widths = [max(len(line[column]) for line in table) for column in range(5)]
    lines = []
    for line in table:
        cells = [line[0].rjust(widths[0])]
        cells += [cell.ljust(width) for cell, width in zip(line[1:5], widths[1:], strict=True)]
        lines.append("  ".join([*cells, line[5]]).rstrip())
    return lines


@inbox_group.command()
@click.argument("id", type=click.IntRange(1))
@inbox_option()
def show(id: int, inbox_url: str) -> None:
    """Print one delivery as JSON, with its body (as JSON, or as "body_text" if it is not)."""

    async def fetch() -> StoredDelivery | None:
        async with opened(inbox_url) as inbox:
            return await inbox.get(id)

    row = execute(fetch())
    if row is None:
        raise Failed(f"the inbox has no delivery {id}", EXIT_FAILED)
    shown = row_json(row)
    shown["headers"] = dict(row.headers)
    try:
        body = _json.loads(row.body)
        say_json({**shown, "body": body})
    except (ValueError, RecursionError):
        say_json({**shown, "body_text": row.body.decode("utf-8", errors="replace")})


def row_json(row: StoredDelivery) -> dict[str, Any]:
    """A row as ``list --json`` prints it (no body, no headers)."""
    return {
        "id": row.id,
        "key": row.key,
        "verb": row.verb,
        "state": row.state.value,
        "attempts": row.attempts,
        "received_at": _iso(row.received_at),
        "next_attempt_at": _iso(row.next_attempt_at),
        "done_at": _iso(row.done_at),
        "lease_owner": row.lease_owner,
        "lease_expires_at": _iso(row.lease_expires_at),
        "last_error": row.last_error,
        "secret_index": row.secret_index,
    }


@inbox_group.command()
@click.argument("ids", nargs=-1, type=click.IntRange(1), metavar="[ID]...")
@inbox_option()
@filter_options(State.DEAD, State.FAILED, State.DONE)
@click.option("--all", "everything", is_flag=True, help="Replay every done, failed or dead one.")
def replay(
    ids: tuple[int, ...],
    inbox_url: str,
    state: str | None,
    verb: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    everything: bool,
) -> None:
    """Run deliveries again: the IDs given and those matching every filter given.

    Done, failed and dead deliveries become pending, with their attempts reset (those
    being run are left alone); a worker runs them.
    """
    selection = selected(state, verb, since, until, ids)
    if selection == Selection() and not everything:
        raise click.UsageError(
            "say what to replay: IDs, --state, --verb, --since or --until (or --all for all)"
        )

    async def run_replay() -> int:
        async with opened(inbox_url) as inbox:
            return await inbox.replay(selection)

    say(f"replayed {_deliveries(execute(run_replay()))}")


@inbox_group.command()
@inbox_option()
@click.option(
    "--older-than",
    "older_than",
    required=True,
    callback=_moment,
    metavar="DURATION|TIME",
    help="A duration (30m, 12h, 7d, 2w) or an ISO 8601 time: deliveries received before it.",
)
@click.option(
    "--state",
    type=click.Choice(["done", "dead"]),
    default="done",
    show_default=True,
)
def purge(inbox_url: str, older_than: dt.datetime, state: str) -> None:
    """Delete done (or dead) deliveries received before a time."""
    selection = Selection(state=State(state), received_before=older_than)

    async def run_purge() -> int:
        async with opened(inbox_url) as inbox:
            return await inbox.purge(selection)

    say(f"purged {_deliveries(execute(run_purge()))}")


# -- helpers -------------------------------------------------------------------------------


def _deliveries(count: int) -> str:
    return f"{count} deliver{'y' if count == 1 else 'ies'}"


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _shown_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _age(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n]
    return " ".join(shown[:2]) or "0s"
