"""A batch job: import learners from a CSV file onto an experience, then top up credits.

The run is resumable: it writes ``import-report.csv`` as it goes, and a rerun after an
interruption skips every learner already done. One ``Throttle`` is shared by the whole job,
so a 429 from the API slows every task down, not just the one that got it.

Run it against the fake server (``tahdah fake-server`` prints the token)::

    TAHDAH_TOKEN=... TAHDAH_BASE_URL=http://127.0.0.1:8080 \\
        python examples/batch_job.py examples/data/learners.csv 1001 1002
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tahdah_async import TahdahClient
from tahdah_async.batch import (
    CreditChange,
    Progress,
    Throttle,
    add_credits,
    import_learners,
    read_learners,
)


async def run(
    client: TahdahClient,
    learners_csv: Path,
    provider_id: int,
    experience_id: int,
    report: Path,
) -> dict[str, int]:
    """Import the learners (resuming from ``report``), then buy their event credits."""
    learners = read_learners(learners_csv)
    throttle = Throttle(16)

    def show(progress: Progress) -> None:
        print(f"\r{progress.finished}/{progress.total} learners", end="", flush=True)

    imported = await import_learners(
        client,
        provider_id,
        experience_id,
        learners,
        concurrency=throttle,
        chunk_size=50,
        report=report,
        resume=True,  # from the report of an earlier run, if there is one
        progress=show,
    )
    print()
    for failure in imported.failed:
        print(f"failed: {failure.key}: {failure.error}")

    # One event credit per learner registered by this run.
    new = imported.counts["ok"]
    credits = await add_credits(
        client,
        [
            CreditChange(
                legal_entity_id=provider_id,
                credits=[{"eventTemplateId": 77, "numberOfCredits": new}],
                order_number="SO-2026-0042",
            )
        ]
        if new
        else [],
        concurrency=throttle,
    )
    return {"imported": new, "credit changes": credits.counts["ok"]}


async def main() -> None:
    learners_csv, provider_id, experience_id = sys.argv[1:4]
    async with TahdahClient(
        os.environ["TAHDAH_TOKEN"],
        base_url=os.environ.get("TAHDAH_BASE_URL", "https://api.tahdah.me"),
    ) as client:
        done = await run(
            client,
            Path(learners_csv),
            int(provider_id),
            int(experience_id),
            Path("import-report.csv"),
        )
    print(done)


if __name__ == "__main__":
    asyncio.run(main())
