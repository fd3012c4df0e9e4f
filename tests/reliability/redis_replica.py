"""One webhook receiver replica on a shared Redis dedupe store, for the multi-process tests.

``python -m tests.reliability.redis_replica REDIS_URL PREFIX LOG [hold-after N]`` serves
``create_webhook_app`` in process-then-ack mode on 127.0.0.1 (a free port, printed on one line
of stdout) until SIGTERM, then shuts down cleanly and exits 0. The signing secret is read from
the :data:`SECRET_ENV` environment variable.

Deliveries are signed ``{"id": N}`` bodies under the verb :data:`VERB`. Each handler run
appends one line to LOG (one ``os.write`` on an ``O_APPEND`` descriptor, so the lines of
several processes never mix):

- ``start <id> <pid>`` when it begins;
- ``fail <id> <pid>`` when it fails on purpose: the first run of every tenth id (``id % 10 ==
  0``) creates the marker file ``<LOG>.failed.<id>`` and raises, so the receiver answers 500
  and the sender's resend succeeds;
- ``done <id> <pid>`` when it returns.

With ``hold-after N``, once N runs of this process have returned, every run that starts logs
``start`` and then waits forever: the process holds those claims when it is killed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any, Final

from aiohttp import web

from tahdah_async.webhooks import PROCESS_THEN_ACK, Delivery, WebhookRouter, create_webhook_app
from tahdah_async.webhooks.redis import RedisDedupeStore

SECRET_ENV: Final = "TAHDAH_TEST_REPLICA_SECRET"
VERB: Final = "reliability.delivered"
LEASE: Final = 5.0
"""Real seconds: a killed replica's claims are free again this long after its last extension."""
FAILING_EVERY: Final = 10


class PlannedFailure(Exception):
    """Raised by the first run of every tenth delivery."""


def append(log: str, line: str) -> None:
    """Append ``line`` to ``log`` in one write, so concurrent writers never interleave."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def first_failure(log: str, delivery_id: int) -> bool:
    """Return whether this run is the one that fails ``delivery_id`` (and mark it failed)."""
    if delivery_id % FAILING_EVERY:
        return False
    try:
        # O_EXCL: exactly one run ever creates the marker, whichever process it is in.
        os.close(os.open(f"{log}.failed.{delivery_id}", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


def make_router(log: str, hold_after: int | None) -> WebhookRouter:
    """Return the router whose handler logs every run (see the module docstring)."""
    router = WebhookRouter(timeout=None)  # a held run must not be timed out
    pid = os.getpid()
    completed = 0

    @router.on(VERB)
    async def record(event: Any, delivery: Delivery) -> None:
        nonlocal completed
        delivery_id = int(json.loads(delivery.body)["id"])
        # No await between deciding to hold and logging the start, nor between logging the
        # end and counting it: a start logged after this process's Nth "done" always holds.
        append(log, f"start {delivery_id} {pid}\n")
        if hold_after is not None and completed >= hold_after:
            await asyncio.Event().wait()
        if first_failure(log, delivery_id):
            append(log, f"fail {delivery_id} {pid}\n")
            raise PlannedFailure(f"delivery {delivery_id} fails on its first run")
        append(log, f"done {delivery_id} {pid}\n")
        completed += 1

    return router


async def serve(redis_url: str, prefix: str, log: str, hold_after: int | None) -> None:
    """Serve one replica until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with RedisDedupeStore(redis_url, prefix=prefix) as store:
        app = create_webhook_app(
            make_router(log, hold_after),
            secrets=os.environ[SECRET_ENV],
            mode=PROCESS_THEN_ACK,
            dedupe=store,
            dedupe_lease=LEASE,
        )
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            _, port = runner.addresses[0][:2]
            print(port, flush=True)
            await stop.wait()
        finally:
            await runner.cleanup()


def unplanned(record: logging.LogRecord) -> bool:
    """Keep a log record unless it reports a planned failure (the run log has those)."""
    return record.exc_info is None or not isinstance(record.exc_info[1], PlannedFailure)


def main(argv: list[str]) -> None:
    """Parse ``REDIS_URL PREFIX LOG [hold-after N]`` and serve."""
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != "hold-after"):
        sys.exit(f"usage: {sys.argv[0]} REDIS_URL PREFIX LOG [hold-after N]")
    hold_after = int(argv[4]) if len(argv) == 5 else None
    # Warnings and errors (the planned failures, an expired lease) go to stderr, which the
    # test keeps in a file and shows when it fails.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(unplanned)
    asyncio.run(serve(argv[0], argv[1], argv[2], hold_after))


if __name__ == "__main__":
    main(sys.argv[1:])
