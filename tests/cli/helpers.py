"""Running the ``tahdah`` command in tests: in a worker thread, or as a child process.

In a worker thread (``main`` calls ``asyncio.run`` itself, so it must not run on the test's
loop thread, which serves the fake)::

    ran = await tahdah("call", "trust_groups.list", "-p", "legalEntityId=1001", ...)
    assert ran.code == EXIT_OK

As a child process, for the commands that serve until a signal::

    async with spawn("fake-server", "--port", "0") as child:
        line = await child.expect(r"listening on (\\S+)")
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import attrs

__all__ = [
    "ENV_NAMES",
    "LEARNERS",
    "WAIT",
    "Child",
    "Ran",
    "Tahdah",
    "child_env",
    "spawn",
    "write_csv",
]

WAIT = 10.0
"""The longest any one wait may take before the test fails instead of hanging."""
ENV_NAMES = ("TAHDAH_TOKEN", "TAHDAH_BASE_URL", "TAHDAH_WEBHOOK_SECRET")
"""The command's environment variables: unset for every test unless it sets them."""
LEARNERS = Path(__file__).parents[2] / "examples" / "data" / "learners.csv"
"""The bundled learners: 12 rows, keys NF-0001..NF-0012, behaviours 1 and 2."""


@attrs.frozen
class Ran:
    """What one run of the command did."""

    code: int
    out: str
    err: str


Tahdah = Callable[..., Awaitable[Ran]]
"""The ``tahdah`` fixture: ``await tahdah(*args)`` runs ``main(args)`` in a worker thread."""


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child: ours without the command's variables or forced colour."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ENV_NAMES and name not in ("FORCE_COLOR", "COLUMNS", "PYTHONWARNINGS")
    }
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def write_csv(path: Path, *lines: str) -> Path:
    """Write a CSV file of ``lines`` and return its path."""
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@attrs.define
class Child:
    """A running ``python -m tahdah_async``, its stdout read line by line."""

    process: asyncio.subprocess.Process
    lines: list[str] = attrs.field(factory=list)
    """Every stdout line read so far (without line ends)."""

    async def line(self) -> str:
        """Read the next stdout line; fail after :data:`WAIT` seconds or at its end."""
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), WAIT)
        if not raw:
            raise AssertionError(f"stdout ended; it said: {self.lines}")
        text = raw.decode().rstrip("\r\n")
        self.lines.append(text)
        return text

    async def expect(self, pattern: str) -> re.Match[str]:
        """Read stdout lines until one matches ``pattern`` (searched); return the match."""
        async with asyncio.timeout(WAIT):
            while True:
                found = re.search(pattern, await self.line())
                if found is not None:
                    return found

    async def stop(self, signum: int = signal.SIGINT) -> tuple[int, str, str]:
        """Send ``signum``; return the exit code and the rest of stdout and stderr."""
        self.process.send_signal(signum)
        return await self.finish()

    async def finish(self) -> tuple[int, str, str]:
        """Wait for the exit; return the exit code and the rest of stdout and stderr."""
        out, err = await asyncio.wait_for(self.process.communicate(), WAIT)
        assert self.process.returncode is not None
        return self.process.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def spawn(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[Child]:
    """Start ``python -m tahdah_async *args``; kill it on the way out if it still runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tahdah_async",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env() if env is None else env,
    )
    try:
        yield Child(process)
    finally:
        if process.returncode is None:
            process.kill()
        # Reading both pipes to their end lets asyncio close the transport (no ResourceWarning).
        await asyncio.wait_for(process.communicate(), WAIT)
