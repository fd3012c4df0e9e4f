"""``tahdah demo``: the whole integration offline, in one command."""

from __future__ import annotations

import re
from pathlib import Path

from tahdah_async.cli import EXIT_OK, EXIT_USAGE

from .helpers import Cli, write_csv

STEPS = (
    "1. A trust group with member organisations",
    "2. Learners from {name}, registered in batches",
    "3. Event credits bought against an order",
    "4. A digital badge",
)


def summary(out: str, what: str) -> str:
    """A value of the demo's summary table."""
    found = re.search(rf"│ {re.escape(what)}\s*│\s*(.+?)\s*│", out)
    assert found is not None, f"no {what!r} row in:\n{out}"
    return found.group(1)


def webhook_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("webhook ")]


async def test_demo_runs_the_whole_integration(cli: Cli) -> None:
    ran = await cli("demo")

    assert ran.code == EXIT_OK, ran.err
    assert ran.err == ""
    lines = [line.strip() for line in ran.out.splitlines()]
    positions = [lines.index(step.format(name="learners.csv")) for step in STEPS]
    assert positions == sorted(positions)
    assert "imported 12 learners, 0 failed" in lines
    assert "issued badge template" in ran.out
    hooks = webhook_lines(ran.out)
    assert all(line.endswith("(signature verified)") for line in hooks)
    verbs = [line.split()[1] for line in hooks]
    assert verbs.count("candidates.created") == 12
    assert verbs.count("registrations.created") == 12
    assert verbs.count("legalEntities.created") == 3
    assert verbs.count("trustGroups.member.added") == 3
    sent = int(summary(ran.out, "webhooks sent"))
    assert int(summary(ran.out, "webhooks verified")) == sent == len(hooks)
    assert summary(ran.out, "learners imported") == "12 of 12"
    assert summary(ran.out, "event credit balance") == "50"
    assert summary(ran.out, "badges issued") == "1"
    assert summary(ran.out, "  candidates.created") == "12/12"


async def test_demo_imports_the_learners_file_given(cli: Cli, tmp_path: Path) -> None:
    learners = write_csv(
        tmp_path / "two.csv",
        "firstName,lastName,email,behavior",
        "Ada,Lovelace,ada@example.com,1",
        "Grace,Hopper,grace@example.com,2",
    )

    ran = await cli("demo", "--learners", str(learners))

    assert ran.code == EXIT_OK, ran.err
    assert "2. Learners from two.csv, registered in batches" in ran.out
    assert "imported 2 learners, 0 failed" in ran.out
    created = [line for line in webhook_lines(ran.out) if "candidates.created" in line]
    assert len(created) == 2
    assert "first_name=Ada last_name=Lovelace" in created[0] + created[1]
    assert "first_name=Grace last_name=Hopper" in created[0] + created[1]
    assert summary(ran.out, "learners imported") == "2 of 2"
    assert summary(ran.out, "  registrations.created") == "2/2"
    assert summary(ran.out, "webhooks verified") == summary(ran.out, "webhooks sent")


async def test_demo_refuses_a_malformed_learners_file(cli: Cli, tmp_path: Path) -> None:
    learners = write_csv(
        tmp_path / "bad.csv",
        "first_name,last_name,email,behavior",
        "Ada,Lovelace,ada@example.com,1",
        "Grace,Hopper,grace@example.com",
    )

    ran = await cli("demo", "--learners", str(learners))

    assert ran.code == EXIT_USAGE
    assert f"{learners}:3: 3 fields, but the header has 4" in ran.err
    assert "Traceback" not in ran.err
    assert "1. A trust group" not in ran.out


async def test_demo_refuses_a_missing_learners_file(cli: Cli, tmp_path: Path) -> None:
    ran = await cli("demo", "--learners", str(tmp_path / "nowhere.csv"))

    assert ran.code == EXIT_USAGE
    assert "does not exist" in ran.err


async def test_demo_refuses_learners_without_behavior(cli: Cli, tmp_path: Path) -> None:
    learners = write_csv(
        tmp_path / "learners.csv", "first_name,last_name,email", "Ada,Lovelace,ada@example.com"
    )

    ran = await cli("demo", "--learners", str(learners))

    assert ran.code == EXIT_USAGE
    assert f"{learners}:2: learner 'ada@example.com' has no behavior" in ran.err
