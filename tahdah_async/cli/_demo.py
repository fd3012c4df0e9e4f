"""``tahdah demo``: a whole integration on loopback, with the real client and receiver."""

from __future__ import annotations

import secrets as _secrets
import time
from collections import Counter
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table

from .._client import TahdahClient
from .._retry import RetryPolicy
from ..batch import LearnerFileError, Outcome, Throttle, import_learners, read_learners
from ..models import BadgeRecipient, EventTemplateCredit
from ..testing import FakeTahdah
from ..webhooks import Delivery, WebhookRouter, create_webhook_app
from ..webhooks.events import UnknownEvent
from ._commands import progress_bar, serving

__all__ = ["DemoSummary", "learners_file", "run_demo"]

PROVIDER = "Northfield Training Ltd"
MEMBERS = ("Harbour Care Ltd", "Riverside College", "Summit Safety Services")
EVENT_TEMPLATE = 77
ORDER = "SO-2026-0042"


@attrs.frozen
class DemoSummary:
    ok: bool
    problem: str = ""


def learners_file() -> Path:
    """The bundled learners CSV: inside the package when installed, else in the checkout."""
    bundled = resources.files("tahdah_async.cli") / "learners.csv"
    if bundled.is_file():
        return Path(str(bundled))
    return Path(__file__).resolve().parents[2] / "examples" / "data" / "learners.csv"


async def run_demo(out: Console, learners: Path | None = None) -> DemoSummary:
    """Run the demo, printing as it goes; return whether every webhook arrived once."""
    started = time.perf_counter()
    path = learners or learners_file()
    records = read_learners(path)
    for record in records:
        if record.behavior is None:
            raise LearnerFileError(
                f"{path}:{record.line}: learner {record.key!r} has no behavior "
                "(the demo needs a behavior column)"
            )
    secret = f"wh_demo_{_secrets.token_hex(8)}"
    heard: Counter[str] = Counter()
    router = WebhookRouter()

    def step(title: str) -> None:
        out.print(f"\n[bold]{title}[/bold]")

    @router.on_any
    async def show(event: Any, delivery: Delivery) -> None:
        heard[delivery.verb] += 1
        out.print(
            f"  [green]webhook[/green] {delivery.verb:<26} {describe(event)}  "
            "[dim](signature verified)[/dim]"
        )

    async with serving(create_webhook_app(router, secrets=secret), "127.0.0.1", 0) as hook_url:
        fake = FakeTahdah(secret=secret, webhook_urls=[hook_url], owner_name=PROVIDER)
        quick = RetryPolicy(initial_delay=0.05, max_delay=0.5)
        async with fake, TahdahClient(fake.token, base_url=fake.url, retry=quick) as tahdah:
            out.print(f"fake Tahdah API on {fake.url}, webhook receiver on {hook_url}")
            owner = fake.owner_id
            seeded = fake.seed(
                experiences=[{"name": "Fire Safety Awareness", "code": "FSA-101"}],
                badge_templates=[{"name": "Fire Safety Awareness: completed"}],
            )
            (experience,) = seeded.experiences
            (template,) = seeded.badge_templates
            out.print(f"provider {PROVIDER} (legal entity {owner}), experience {experience}")

            step("1. A trust group with member organisations")
            group = await tahdah.trust_groups.create(owner, name="Regional Training Partners")
            assert isinstance(group.id, int)
            out.print(f"  created trust group {group.id}: {group.name}")
            for name in MEMBERS:
                member = await tahdah.legal_entities.create(
                    owner, name=name, trust_group_ids=[group.id]
                )
                out.print(f"  created legal entity {member}: {name}, added to the group")
            await fake.settle()

            step(f"2. Learners from {path.name}, registered in batches")
            with progress_bar("  importing", len(records)) as update:
                imported = await import_learners(
                    tahdah,
                    owner,
                    experience,
                    records,
                    concurrency=Throttle(8),
                    chunk_size=5,
                    progress=update,
                )
            await fake.settle()
            counts = imported.counts
            out.print(f"  imported {counts['ok']} learners, {counts['failed']} failed")

            step("3. Event credits bought against an order")
            key = await tahdah.event_credits.add(
                owner,
                [EventTemplateCredit(event_template_id=EVENT_TEMPLATE, number_of_credits=50)],
                order_number=ORDER,
            )
            out.print(f"  added 50 credits to event template {EVENT_TEMPLATE} (key {key[:8]}…)")
            await fake.settle()

            step("4. A digital badge")
            first = imported.ok[0]
            assert first.value is not None
            # A registration names its candidate with a string id, a badge with an integer.
            recipient = BadgeRecipient(
                candidate_id=int(first.value.candidate_id), email=first.item.candidate.email
            )
            await tahdah.digital_badges.issue(owner, template, recipient)
            out.print(f"  issued badge template {template} to {first.item.key}")
            await fake.settle()

        fired = Counter(verb for verb, _ in fake.events)
        elapsed = time.perf_counter() - started
        out.print()
        out.print(summary_table(fake, fired, heard, counts, elapsed))
        if fired != heard:
            missing = fired - heard
            extra = heard - fired
            return DemoSummary(False, f"webhooks not heard once each: missing {dict(missing)}, "
                               f"extra {dict(extra)}")  # fmt: skip
        if counts["ok"] != len(records):
            return DemoSummary(False, f"{len(records) - counts['ok']} learners not imported")
    return DemoSummary(True)


def describe(event: Any) -> str:
    """A few words about an event."""
    if isinstance(event, UnknownEvent):
        return "(unknown verb)"
    invoice = getattr(event, "invoice_detail", None)
    if invoice is not None:
        return f"invoice {invoice.number} for order {invoice.po_number}"
    parts = []
    for name in ("id", "name", "first_name", "last_name", "legal_entity_id", "candidate_id"):
        value = getattr(event, name, None)
        if isinstance(value, int | str) and not isinstance(value, bool):
            parts.append(f"{name}={value}")
    return " ".join(parts[:3])


def summary_table(
    fake: FakeTahdah,
    fired: Counter[str],
    heard: Counter[str],
    counts: Mapping[Outcome, int],
    elapsed: float,
) -> Table:
    statuses = Counter(record.status for record in fake.requests)
    table = Table(title="summary", show_header=False)
    table.add_column("what")
    table.add_column("result", justify="right")
    calls = ", ".join(f"{n} x {status}" for status, n in statuses.items())
    table.add_row("API calls", f"{len(fake.requests)} ({calls})")
    table.add_row("learners imported", f"{counts['ok']} of {sum(counts.values())}")
    table.add_row("event credit balance", str(fake.state.balance(fake.owner_id, EVENT_TEMPLATE)))
    table.add_row("badges issued", str(len(fake.state.badges)))
    table.add_row("webhooks sent", str(sum(fired.values())))
    table.add_row("webhooks verified", str(sum(heard.values())))
    for verb in sorted(fired):
        table.add_row(f"  {verb}", f"{heard[verb]}/{fired[verb]}")
    table.add_row("time", f"{elapsed:.2f} s")
    return table
