"""A router for the inbox command tests, imported by child processes as
``tests.cli.hooks_for_tests:router``.

Its handler appends one JSON line per run to the file named by :data:`RUNS_ENV` (so a test
can see what a child's worker ran), and fails every run while :data:`FAIL_ENV` is set.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from tahdah_async.webhooks import Delivery, WebhookRouter

__all__ = ["FAIL_ENV", "RUNS_ENV", "not_a_router", "router"]

RUNS_ENV = "TAHDAH_TEST_INBOX_RUNS"
FAIL_ENV = "TAHDAH_TEST_INBOX_FAIL"

router = WebhookRouter()
not_a_router = 42


@router.on_any
async def record(event: Any, delivery: Delivery) -> None:
    run = {"verb": delivery.verb, "inbox_id": delivery.inbox_id, "attempt": delivery.attempt}
    await asyncio.to_thread(_append, Path(os.environ[RUNS_ENV]), json.dumps(run))
    if os.environ.get(FAIL_ENV):
        raise RuntimeError("asked to fail")


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as runs:
        runs.write(line + "\n")
