"""A real Redis for the tests: ``redis-server`` on a free loopback port, private to a worker.

Fixtures (import them into a test module, or list this module in ``pytest_plugins``):

- ``redis_server``: one server per session, so one per xdist worker, in its own temporary
  directory, with persistence off; stopped when the session ends. A server that cannot start
  fails the test with its output (it is never skipped).
- ``redis_url``: the server's URL (database 0).
- ``redis_prefix``: a key prefix no other test uses, so tests can share the server.
- ``redis_client``: a ``redis.asyncio.Redis`` on the server, closed after the test.

:func:`start_redis_server` and :meth:`RedisServer.stop` start and stop a server outside
pytest's fixtures (for tests that run several servers, or restart one).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import attrs
import pytest
import redis.asyncio as aioredis

__all__ = [
    "REDIS_SERVER",
    "RedisServer",
    "RedisServerError",
    "free_port",
    "redis_client",
    "redis_prefix",
    "redis_server",
    "redis_url",
    "start_redis_server",
]

REDIS_SERVER: Final = shutil.which("redis-server") or "/usr/bin/redis-server"
START_TIMEOUT: Final = 60.0
"""How long a server may take to answer its first PING: a hang guard on a loaded machine."""
STOP_TIMEOUT: Final = 30.0
_PORT_ATTEMPTS: Final = 5
_OUTPUT_LIMIT: Final = 4000


class RedisServerError(Exception):
    """A Redis server could not be started; the message holds its output."""


@attrs.define
class RedisServer:
    """A running ``redis-server`` process."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    log: Path

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def output(self) -> str:
        """The end of what the server printed."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no output: {exc})"
        return text[-_OUTPUT_LIMIT:]

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers) and reap it; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    """Return a loopback port nothing listened on a moment ago (another process may take it
    before it is used: :func:`start_redis_server` tries again then)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis_server(
    directory: Path, *, port: int | None = None, timeout: float = START_TIMEOUT
) -> RedisServer:
    """Start ``redis-server`` on 127.0.0.1 with its files in ``directory``; return it once it
    answers PING.

    Args:
        directory: where the server runs and logs (``redis.log``); created if missing.
        port: the port; by default a free one (another one is tried if something takes it
            first).
        timeout: how long the server may take to answer, in seconds (a hang guard).

    Raises:
        RedisServerError: the server exited or never answered (the message has its output).
    """
    directory.mkdir(parents=True, exist_ok=True)
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    for attempt in range(attempts):
        server = _spawn(directory, port if port is not None else free_port())
        if _wait_until_ready(server, timeout):
            return server
        server.stop()
        output = server.output()
        if "Address already in use" not in output or attempt == attempts - 1:
            raise RedisServerError(
                f"redis-server ({REDIS_SERVER}) on port {server.port} did not start "
                f"(exit status {server.process.returncode}); its output:\n{output}"
            )
    raise AssertionError("unreachable")


def _spawn(directory: Path, port: int) -> RedisServer:
    log = directory / "redis.log"
    command = [
        REDIS_SERVER,
        "--save", "",
        "--appendonly", "no",
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(directory),
        "--daemonize", "no",
        "--logfile", "",
    ]  # fmt: skip
    try:
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=directory, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
    except OSError as exc:
        raise RedisServerError(f"cannot run {REDIS_SERVER}: {exc}") from exc
    return RedisServer(process, port, directory, log)


def _wait_until_ready(server: RedisServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while server.process.poll() is None:
        if _answers_ping(server.port):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis server for this session (this xdist worker)."""
    try:
        server = start_redis_server(tmp_path_factory.mktemp("redis"))
    except RedisServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis server URL."""
    if redis_server.process.poll() is not None:
        pytest.fail(f"the test Redis server has exited; its output:\n{redis_server.output()}")
    return redis_server.url


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix unique to the test."""
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the session's Redis server, closed after the test."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
