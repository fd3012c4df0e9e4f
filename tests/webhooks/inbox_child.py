"""A worker process on an SQLite inbox, for the multi-process tests.

``python -m tests.webhooks.inbox_child DB LOG [hold]``: runs an :class:`InboxWorker` until
SIGTERM. Each handler run appends ``<inbox id> <attempt> <pid>`` to LOG first; with ``hold``
the handler then never returns (the test kills the process mid-run).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from tahdah_async.webhooks import Delivery, InboxWorker, WebhookRouter
from tahdah_async.webhooks.inbox import SQLiteInbox

LEASE = 10.0
"""Real seconds: a killed worker's rows are taken over after this; a live one extends it."""


async def main(db: str, log: str, hold: bool) -> None:
    router = WebhookRouter(timeout=None)

    @router.on_any
    async def record(event: Any, delivery: Delivery) -> None:
        line = f"{delivery.inbox_id} {delivery.attempt} {os.getpid()}\n".encode()
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)  # one write with O_APPEND: lines of processes never mix
        finally:
            os.close(fd)
        if hold:
            await asyncio.Event().wait()

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with SQLiteInbox(db) as inbox:
        worker = InboxWorker(router, inbox, concurrency=4, lease=LEASE, poll_interval=0.2)
        await worker.start()
        await stop.wait()
        await worker.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], "hold" in sys.argv[3:]))
