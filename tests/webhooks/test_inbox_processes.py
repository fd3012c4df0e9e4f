"""Several worker processes on one SQLite inbox, one of them killed with SIGKILL mid-run."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import signal
import sys
from pathlib import Path

from tahdah_async.webhooks import delivery_key
from tahdah_async.webhooks.inbox import NewDelivery, SQLiteInbox, State

DELIVERIES = 200
HANG_GUARD = 240.0
"""Seconds before the test counts as hung: a killed worker's lease (10 s) must run out."""
ROOT = Path(__file__).resolve().parents[2]


async def start_worker(db: Path, log: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.webhooks.inbox_child", str(db), str(log), *extra, cwd=ROOT
    )


def runs(log: Path) -> list[tuple[int, int, int]]:
    """The (inbox id, attempt, pid) of every handler run logged so far."""
    if not log.exists():
        return []
    return [tuple(map(int, line.split())) for line in log.read_text().splitlines()]  # type: ignore[misc]


async def test_a_killed_worker_loses_nothing_and_only_its_rows_run_twice(tmp_path: Path) -> None:
    db, log = tmp_path / "inbox.db", tmp_path / "runs.log"
    async with asyncio.timeout(HANG_GUARD), SQLiteInbox(db) as inbox:
        now = dt.datetime.now(dt.UTC)
        for n in range(DELIVERIES):
            body = f'{{"id": {n}}}'.encode()
            for _ in range(1 + n % 3):  # resent 1 to 3 times: one row each
                await inbox.put(
                    NewDelivery(key=delivery_key(f"{n:064x}"), verb="x", body=body, received_at=now)
                )

        doomed = await start_worker(db, log, "hold")
        # Other processes' progress shows only in files: polled, with the hang guard as bound.
        while len(runs(log)) < 4:  # noqa: ASYNC110 - it holds four rows in its handlers...
            await asyncio.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)  # ...when it is killed
        await doomed.wait()
        held = {id for id, _, pid in runs(log) if pid == doomed.pid}

        survivors = [await start_worker(db, log) for _ in range(2)]
        try:
            while (await inbox.stats()).by_state[State.DONE] < DELIVERIES:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        finally:
            for worker in survivors:
                worker.send_signal(signal.SIGTERM)
            codes = [await worker.wait() for worker in survivors]
        stats = await inbox.stats()
        rows = await inbox.rows(limit=DELIVERIES + 1)

    assert codes == [0, 0]
    assert len(held) == 4
    assert stats.by_state[State.DONE] == DELIVERIES == len(rows)
    assert all(row.state is State.DONE for row in rows)
    per_row = collections.Counter(id for id, _, _ in runs(log))
    assert set(per_row) == {row.id for row in rows}
    # Only the killed worker's rows ran twice, the second time as attempt 2.
    assert {id for id, count in per_row.items() if count > 1} == held
    assert all(per_row[id] == 2 for id in held)
    reruns = {(id, attempt) for id, attempt, pid in runs(log) if pid != doomed.pid and id in held}
    assert reruns == {(id, 2) for id in held}
    assert {row.id: row.attempts for row in rows if row.id in held} == dict.fromkeys(held, 2)
