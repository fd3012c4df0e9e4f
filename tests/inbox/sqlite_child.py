"""A process sharing an SQLite inbox with others, for the multi-process test.

``python -m tests.inbox.sqlite_child DB OUT OWNER``: prints ``ready`` and waits for a line on
stdin (so every child starts at once), then opens the inbox, stores the same deliveries as
every other child, and claims and completes rows as OWNER until none is left to claim. OUT
gets the id of every row it completed, one a line.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tahdah_async.webhooks.inbox import SQLiteInbox

from .contract import make_delivery

DELIVERIES = 200
LEASE = 600.0
"""Real seconds: no lease runs out while the children run."""


async def main(db: str, owner: str) -> list[int]:
    completed: list[int] = []
    async with SQLiteInbox(db) as inbox:
        for n in range(DELIVERIES):
            await inbox.put(make_delivery(n))
        while claimed := await inbox.claim(owner, 5, LEASE):
            for row in claimed:
                if await inbox.complete(owner, row.id):
                    completed.append(row.id)
    return completed


if __name__ == "__main__":
    print("ready", flush=True)
    sys.stdin.readline()
    db, out, owner = sys.argv[1:4]
    completed = asyncio.run(main(db, owner))
    Path(out).write_text("".join(f"{id}\n" for id in completed))
