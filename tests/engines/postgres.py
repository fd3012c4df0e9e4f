"""A real PostgreSQL for the tests: a private server on a free loopback port per worker.

Fixtures (import them into a test module, or list this module in ``pytest_plugins``):

- ``postgres_server``: one PostgreSQL 15 server per session, so one per xdist worker, in its
  own temporary directory, with durability off (``fsync``, ``synchronous_commit`` and
  ``full_page_writes``: test data only); stopped when the session ends. A server that cannot
  start fails the test with its output (it is never skipped).
- ``postgres_dsn``: the DSN of the server's ``postgres`` database (it holds a password).
- ``postgres_schema``: a schema name no other test uses, for ``PostgresInbox(schema=...)``
  (the inbox creates it), so tests share a database without seeing each other's rows.
- ``postgres_inbox_url``: ``postgres_dsn`` with ``?schema=`` that schema, for
  :func:`~tahdah_async.webhooks.inbox._url.open_inbox`, the command line and child processes.

:func:`start_postgres_server`, :func:`postgres_dsn_for` and :func:`inbox_url_for` do the same
outside pytest's fixtures (for tests that start receivers or workers in other processes, or
run several servers). :data:`asyncpg` is the driver, for a test's own connections.

As root (PostgreSQL refuses to run as root), the server runs as the ``postgres`` user: its
data and socket directory are then in a directory of their own in the system's temporary
directory, owned by that user, since pytest's temporary directories are private to root.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest

__all__ = [
    "PG_BIN",
    "PostgresServer",
    "PostgresServerError",
    "asyncpg",
    "inbox_url_for",
    "postgres_dsn",
    "postgres_dsn_for",
    "postgres_inbox_url",
    "postgres_schema",
    "postgres_server",
    "start_postgres_server",
    "unique_schema",
]

# asyncpg ships no type information: imported by name, it is Any to mypy.
asyncpg: Final[Any] = importlib.import_module("asyncpg")

PG_BIN: Final = Path(os.environ.get("TAHDAH_PG_BIN", "/usr/lib/postgresql/15/bin"))
"""Where ``initdb`` and ``postgres`` are (``TAHDAH_PG_BIN`` overrides it)."""
SUPERUSER: Final = "tahdah"
DATABASE: Final = "postgres"
START_TIMEOUT: Final = 60.0
"""How long a server may take to be ready: a hang guard on a loaded machine."""
INITDB_TIMEOUT: Final = 120.0
STOP_TIMEOUT: Final = 30.0
_RUN_AS: Final = "postgres"
_PORT_ATTEMPTS: Final = 5
_OUTPUT_LIMIT: Final = 4000
_SETTINGS: Final = {
    "listen_addresses": "127.0.0.1",
    # Test data only: nothing is worth a disk flush.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "200",
}


class PostgresServerError(Exception):
    """A PostgreSQL server could not be started; the message holds its output."""


@attrs.define
class PostgresServer:
    """A running ``postgres`` process and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    password: str = attrs.field(repr=False)
    data: Path
    log: Path
    owned: Path | None = None
    """A directory made outside pytest's for the server (as root), removed on stop."""

    @property
    def dsn(self) -> str:
        """The DSN of the server's ``postgres`` database, as the superuser."""
        return postgres_dsn_for(self)

    def output(self) -> str:
        """The end of what the server printed."""
        return _tail(self.log)

    def stop(self) -> None:
        """Stop the server (a fast shutdown, then harder if it lingers) and reap it;
        idempotent."""
        for sig in (signal.SIGINT, signal.SIGQUIT):
            if self.process.poll() is not None:
                break
            self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.owned is not None:
            shutil.rmtree(self.owned, ignore_errors=True)


def postgres_dsn_for(
    server: PostgresServer,
    *,
    database: str = DATABASE,
    user: str = SUPERUSER,
    password: str | None = None,
) -> str:
    """Return the DSN of ``database`` on ``server``, as ``user`` with ``password`` (by
    default, the superuser with its password)."""
    quoted = urllib.parse.quote(server.password if password is None else password, safe="")
    return f"postgresql://{user}:{quoted}@127.0.0.1:{server.port}/{database}"


def inbox_url_for(server: PostgresServer, schema: str, *, database: str = DATABASE) -> str:
    """Return the inbox URL of the inbox in ``schema`` on ``server``."""
    return f"{postgres_dsn_for(server, database=database)}?schema={schema}"


def unique_schema() -> str:
    """Return a schema name no other test uses."""
    return f"t_{uuid.uuid4().hex}"


def free_port() -> int:
    """Return a loopback port nothing listened on a moment ago (another process may take it
    before the server does: :func:`start_postgres_server` tries again then)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_postgres_server(directory: Path, *, timeout: float = START_TIMEOUT) -> PostgresServer:
    """Create a cluster with ``initdb`` and start ``postgres`` on a free 127.0.0.1 port;
    return the server once it accepts connections.

    Args:
        directory: where the log goes (``postgres.log``) and, unless running as root, the
            data and the socket; created if missing.
        timeout: how long the server may take to be ready, in seconds (a hang guard).

    Raises:
        PostgresServerError: the binaries are missing, ``initdb`` failed, or the server
            exited or was never ready (the message has their output).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for tool in ("initdb", "postgres"):
        if not (PG_BIN / tool).is_file():
            raise PostgresServerError(
                f"{PG_BIN / tool} is missing: install postgresql-15 (scripts/engines does)"
            )
    account = _account()
    owned = None
    home = directory
    if account is not None:
        owned = home = Path(tempfile.mkdtemp(prefix="tahdah-postgres-"))
        os.chown(home, account.pw_uid, account.pw_gid)
    try:
        password = secrets.token_urlsafe(16)
        data = _initdb(home, directory / "initdb.log", password, account)
        log = directory / "postgres.log"
        for attempt in range(_PORT_ATTEMPTS):
            server = _spawn(home, data, log, free_port(), password, account, owned)
            if _wait_until_ready(server, timeout):
                return server
            server.owned = None  # kept for the next attempt
            server.stop()
            output = server.output()
            if "already in use" not in output or attempt == _PORT_ATTEMPTS - 1:
                raise PostgresServerError(
                    f"postgres ({PG_BIN}) on port {server.port} did not start (exit status "
                    f"{server.process.returncode}); its output:\n{output}"
                )
    except BaseException:
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)
        raise
    raise AssertionError("unreachable")


def _account() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as, or ``None`` to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_RUN_AS)
    except KeyError:
        raise PostgresServerError(
            f"running as root, PostgreSQL must run as the {_RUN_AS!r} user, which does not "
            "exist (install postgresql-15, which creates it)"
        ) from None


def _as(account: pwd.struct_passwd | None) -> dict[str, Any]:
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _initdb(home: Path, log: Path, password: str, account: pwd.struct_passwd | None) -> Path:
    data = home / "data"
    pwfile = home / "pwfile"
    pwfile.write_text(password + "\n")
    if account is not None:
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    command = [
        str(PG_BIN / "initdb"),
        "--pgdata", str(data),
        "--username", SUPERUSER,
        "--pwfile", str(pwfile),
        "--auth-local", "trust",
        "--auth-host", "scram-sha-256",
        "--no-locale",
        "--encoding", "UTF8",
        "--no-sync",
    ]  # fmt: skip
    try:
        with log.open("wb") as out:
            ran = subprocess.run(
                command,
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=INITDB_TIMEOUT,
                check=False,
                **_as(account),
            )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PostgresServerError(f"cannot run initdb: {exc}\n{_tail(log)}") from exc
    finally:
        pwfile.unlink(missing_ok=True)
    if ran.returncode != 0:
        raise PostgresServerError(
            f"initdb failed (exit status {ran.returncode}); its output:\n{_tail(log)}"
        )
    return data


def _spawn(
    home: Path,
    data: Path,
    log: Path,
    port: int,
    password: str,
    account: pwd.struct_passwd | None,
    owned: Path | None,
) -> PostgresServer:
    settings = {**_SETTINGS, "port": str(port), "unix_socket_directories": str(home)}
    command = [str(PG_BIN / "postgres"), "-D", str(data)]
    for name, value in settings.items():
        command += ["-c", f"{name}={value}"]
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                **_as(account),
            )
    except OSError as exc:
        raise PostgresServerError(f"cannot run postgres: {exc}") from exc
    return PostgresServer(process, port, password, data, log, owned)


def _wait_until_ready(server: PostgresServer, timeout: float) -> bool:
    # The postmaster writes "ready" on the 8th line of postmaster.pid once it accepts
    # connections.
    pid_file = server.data / "postmaster.pid"
    deadline = time.monotonic() + timeout
    while server.process.poll() is None:
        with contextlib.suppress(OSError):
            lines = pid_file.read_text().splitlines()
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return False


def _tail(log: Path) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError as exc:
        return f"(no output: {exc})"
    return text[-_OUTPUT_LIMIT:]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A PostgreSQL server for this session (this xdist worker)."""
    try:
        server = start_postgres_server(tmp_path_factory.mktemp("postgres"))
    except PostgresServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of the session's server."""
    if postgres_server.process.poll() is not None:
        pytest.fail(
            f"the test PostgreSQL server has exited; its output:\n{postgres_server.output()}"
        )
    return postgres_server.dsn


@pytest.fixture
def postgres_schema() -> str:
    """A schema name unique to the test."""
    return unique_schema()


@pytest.fixture
def postgres_inbox_url(postgres_dsn: str, postgres_schema: str) -> str:
    """The inbox URL of the test's schema on the session's server."""
    return f"{postgres_dsn}?schema={postgres_schema}"
