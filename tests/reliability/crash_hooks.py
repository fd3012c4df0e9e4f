"""A router for the inbox crash test's child processes: ``tests.reliability.crash_hooks:router``.

Its one handler appends ``start <delivery id> <inbox id> <attempt> <pid>`` to the file named
by :data:`LOG_ENV` before anything else, and ``done ...`` (the same fields) when it returns;
the delivery id is the ``id`` of the JSON body. With :data:`HOLD_AFTER_ENV` set to N, a process
completes N runs and then holds every further one forever after logging its ``start`` (so a
worker killed then holds rows that no ``done`` line ever follows).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Final

from tahdah_async.webhooks import Delivery, WebhookRouter

__all__ = ["HOLD_AFTER_ENV", "LOG_ENV", "router"]

LOG_ENV: Final = "TAHDAH_CRASH_LOG"
"""The environment variable naming the runs log (appended to by every process)."""
HOLD_AFTER_ENV: Final = "TAHDAH_CRASH_HOLD_AFTER"
"""The environment variable that dooms a process: its runs after this many completed hold."""

# A held run must stay held until the process is killed, however long that takes.
router = WebhookRouter(timeout=None)


class _Completed:
    """How many runs this process has completed."""

    count = 0


@router.on_any
async def record(event: Any, delivery: Delivery) -> None:
    """Log the run's start and end; hold it forever once the process is doomed."""
    fields = f"{json.loads(delivery.body)['id']} {delivery.inbox_id} {delivery.attempt}"
    _append(f"start {fields} {os.getpid()}\n")
    hold_after = os.environ.get(HOLD_AFTER_ENV)
    if hold_after is not None and _Completed.count >= int(hold_after):
        await asyncio.Event().wait()
    _Completed.count += 1
    _append(f"done {fields} {os.getpid()}\n")


def _append(line: str) -> None:
    fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write with O_APPEND: lines of processes never mix
    finally:
        os.close(fd)
