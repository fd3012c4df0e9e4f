"""Running the ``tahdah`` command in tests: in a worker thread, or as a child process.

In a worker thread (``main`` calls ``asyncio.run`` itself, so it must not run on the test's
loop thread, which serves the fake)::

    ran = await cli("call", "trust_groups.list", "-p", "legalEntityId=1001", ...)
    assert ran.code == EXIT_OK

As a child process, for the commands that serve until a signal::

    async with spawn("fake-server", "--port", "0") as child:
        line = await child.expect(r"listening on (\\S+)")

A child's stderr may carry lines the command did not write (asyncio debug mode warns about
slow callbacks on a loaded machine): compare :func:`own_lines` of it, never the raw text.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import attrs

from tahdah_async.testing import Hold

__all__ = [
    "ENV_NAMES",
    "LEARNERS",
    "WAIT",
    "Child",
    "Cli",
    "Ran",
    "child_env",
    "held",
    "own_lines",
    "spawn",
    "write_csv",
]

WAIT = 60.0
"""A guard against a hang only: the longest any one wait may take before the test fails.
Every wait ends on an event (a line, an exit, a held call) long before this."""
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


Cli = Callable[..., Coroutine[Any, Any, Ran]]
"""The ``cli`` fixture: ``await cli(*args)`` runs ``main(args)`` in a worker thread."""

_RUNTIME_NOISE = re.compile(
    r"^(?:WARNING:asyncio:|WARNING asyncio: )?Executing <.*> took [\d.]+ seconds$"
)
"""asyncio debug mode's warning about a slow callback: the runtime's line, not the command's."""


def own_lines(text: str) -> list[str]:
    """The lines of a child's output that the command wrote (without the runtime's warnings)."""
    return [line for line in text.splitlines() if not _RUNTIME_NOISE.match(line)]


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
    err_lines: list[str] = attrs.field(factory=list)
    """Every stderr line read so far (without line ends)."""

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

    async def err_line(self) -> str:
        """Read the next stderr line; fail after :data:`WAIT` seconds or at its end."""
        assert self.process.stderr is not None
        raw = await asyncio.wait_for(self.process.stderr.readline(), WAIT)
        if not raw:
            raise AssertionError(f"stderr ended; it said: {self.err_lines}")
        text = raw.decode().rstrip("\r\n")
        self.err_lines.append(text)
        return text

    async def expect_err(self, pattern: str) -> re.Match[str]:
        """The first stderr line matching ``pattern`` (searched), among those read so far or
        the next ones; for log lines, whose order across tasks is not fixed."""
        for line in self.err_lines:
            found = re.search(pattern, line)
            if found is not None:
                return found
        async with asyncio.timeout(WAIT):
            while True:
                found = re.search(pattern, await self.err_line())
                if found is not None:
                    return found

    async def ended(self) -> int:
        """Wait for the exit (without reading the pipes); return the exit code."""
        return await self.process.wait()

    async def stop(self, signum: int = signal.SIGINT) -> tuple[int, str, str]:
        """Send ``signum``; return the exit code and the rest of stdout and stderr."""
        self.process.send_signal(signum)
        return await self.finish()

    async def finish(self) -> tuple[int, str, str]:
        """Wait for the exit; return the exit code and the rest of stdout and stderr."""
        out, err = await asyncio.wait_for(self.process.communicate(), WAIT)
        assert self.process.returncode is not None
        return self.process.returncode, out.decode(), err.decode()


async def held(hold: Hold, count: int, running: Child | asyncio.Future[Any]) -> None:
    """Wait until ``count`` calls of a running command are held; fail if it ends first.

    ``running`` is a spawned :class:`Child` or the task of an in-process run.
    """
    ended = asyncio.ensure_future(running.ended()) if isinstance(running, Child) else running
    arrival = asyncio.ensure_future(hold.arrived(count))
    try:
        done, _ = await asyncio.wait(
            {arrival, ended}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in (arrival, ended) if ended is not running else (arrival,):
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
    if arrival not in done:
        how = f"ended ({ended.result()!r})" if ended in done else f"ran for {WAIT} s"
        raise AssertionError(f"{hold.count} of {count} calls were held when the command {how}")


# ``python -m tahdah_async`` with SIGINT handled as a terminal's Ctrl-C finds it. A job started
# in the background by a shell without job control (``pytest &`` from a script or CI step)
# inherits SIGINT ignored, and Python then leaves it ignored, so the interrupt a test sends
# would do nothing. The tests send SIGINT as a user at a terminal would, so each child restores
# Python's own handler first, however pytest was started. (Done in the child's own code, not a
# ``preexec_fn``, which is unsafe in a process with threads.)
_MAIN_WITH_SIGINT = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "sys.argv[0] = 'tahdah'\n"
    "runpy.run_module('tahdah_async', run_name='__main__', alter_sys=True)\n"
)


@contextlib.asynccontextmanager
async def spawn(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[Child]:
    """Start ``python -m tahdah_async *args``; kill it on the way out if it still runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MAIN_WITH_SIGINT,
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
