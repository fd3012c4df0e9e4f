"""``tahdah import-learners``: a CSV of learners, created and registered on the fake server."""

from __future__ import annotations

import asyncio
import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tahdah_async.cli import EXIT_AUTH, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from tahdah_async.testing import FakeTahdah

from .helpers import LEARNERS, Cli, held, own_lines, spawn, write_csv

REGISTER = "learning_experiences.register_learners"
CREATE = "candidates.create"
KEYS = [f"NF-{n:04d}" for n in range(1, 13)]


@pytest.fixture
def experience(fake_tahdah: FakeTahdah) -> int:
    (made,) = fake_tahdah.seed(experiences=[{"name": "Fire Safety", "code": "FSA-101"}]).experiences
    return made


def command(fake: FakeTahdah, experience: int, file: Path, *options: str) -> tuple[str, ...]:
    return (
        "import-learners",
        str(file),
        "--legal-entity",
        str(fake.owner_id),
        "--experience",
        str(experience),
        "--token",
        fake.token,
        "--base-url",
        fake.url,
        *options,
    )


def outcomes(out: str) -> dict[str, int]:
    """The outcome table's counts."""
    rows = re.findall(r"│ (ok|failed|skipped|cancelled)\s*│\s*(\d+) │", out)
    return {outcome: int(count) for outcome, count in rows}


def report_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def last_rows(path: Path) -> dict[str, dict[str, str]]:
    return {row["item"]: row for row in report_rows(path)}


def registrations(fake: FakeTahdah, experience: int) -> dict[int, int]:
    """Candidate id -> behaviour of each registration on the experience."""
    made = fake.state.experiences[experience].registrations
    return {r.candidate_id: r.behavior for r in made}


def candidates_by_external_id(fake: FakeTahdah) -> dict[str, int]:
    ids: dict[str, int] = {}
    for record in fake.state.candidates.values():
        external = record.data["externalId"]
        assert external not in ids, f"{external} created twice"
        ids[external] = record.id
    return ids


async def test_import_creates_and_registers_every_learner(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"

    ran = await cli(*command(fake_tahdah, experience, LEARNERS, "--report", str(report)))

    assert ran.code == EXIT_OK, ran.err
    assert ran.err == ""
    assert "resuming" not in ran.out  # no report yet: a first run
    assert outcomes(ran.out) == {"ok": 12}
    created = candidates_by_external_id(fake_tahdah)
    assert sorted(created) == KEYS
    ada = fake_tahdah.state.candidates[created["NF-0001"]].data
    assert (ada["firstName"], ada["lastName"], ada["email"]) == (
        "Ada",
        "Lovelace",
        "ada.lovelace@example.com",
    )
    # Tim Berners-Lee, Barbara Liskov and Radia Perlman have behaviour 2 in the file.
    twos = {created[key] for key in ("NF-0005", "NF-0008", "NF-0012")}
    assert registrations(fake_tahdah, experience) == {
        ident: 2 if ident in twos else 1 for ident in created.values()
    }
    assert {
        r.registration_date for r in fake_tahdah.state.experiences[experience].registrations
    } == {"2026-12-01"}
    assert [r.operation for r in fake_tahdah.requests].count(REGISTER) == 1  # chunks of 100
    final = last_rows(report)
    assert {key: (row["outcome"], row["id"]) for key, row in final.items()} == {
        key: ("ok", str(created[key])) for key in KEYS
    }


async def test_json_prints_the_counts_and_every_learner_alone(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    fake_tahdah.faults.fail(422, operation=REGISTER)
    options = ("--report", str(report), "--chunk-size", "5", "--concurrency", "1", "--json")

    ran = await cli(*command(fake_tahdah, experience, LEARNERS, *options))

    assert ran.code == EXIT_FAILED
    assert ran.err.strip() == "error: 5 not imported"
    shown = json.loads(ran.out)  # stdout is the JSON alone: no progress bar, no table
    assert shown["complete"] is False
    assert shown["stopped_by"] is None
    assert shown["counts"] == {"ok": 7, "failed": 5, "skipped": 0, "cancelled": 0}
    learners = shown["learners"]
    assert [item["key"] for item in learners] == KEYS
    assert [item["line"] for item in learners] == list(range(2, 14))
    created = candidates_by_external_id(fake_tahdah)
    registered = {
        r.candidate_id: r.candidate_experience_id
        for r in fake_tahdah.state.experiences[experience].registrations
    }
    for item in learners[:5]:
        assert item["outcome"] == "failed"
        assert item["error"].startswith("UnprocessableEntityError: 422 Unprocessable Entity")
        assert "candidate_id" not in item
    for item in learners[5:]:
        ident = created[item["key"]]
        assert item == {
            "key": item["key"],
            "line": item["line"],
            "outcome": "ok",
            "candidate_id": ident,
            "candidate_experience_id": str(registered[ident]),
        }
    assert fake_tahdah.token not in ran.out + ran.err


async def test_json_of_a_resumed_import_keeps_stdout_for_the_json(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"
    first = await cli(*command(fake_tahdah, experience, LEARNERS, "--report", str(report)))
    assert first.code == EXIT_OK, first.err

    ran = await cli(*command(fake_tahdah, experience, LEARNERS, "--report", str(report), "--json"))

    assert ran.code == EXIT_OK, ran.err
    shown = json.loads(ran.out)
    assert (shown["complete"], shown["counts"]["skipped"]) == (True, 12)
    assert {item["outcome"] for item in shown["learners"]} == {"skipped"}
    assert ran.err == f"resuming from {report}: 12 already done\n"


async def test_chunk_size_sets_learners_per_register_call(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int
) -> None:
    ran = await cli(*command(fake_tahdah, experience, LEARNERS, "--chunk-size", "5"))

    assert ran.code == EXIT_OK, ran.err
    operations = [r.operation for r in fake_tahdah.requests]
    assert operations.count(CREATE) == 12
    assert operations.count(REGISTER) == 3  # 5 + 5 + 2
    assert len(registrations(fake_tahdah, experience)) == 12


async def test_a_jsonl_report_is_written_as_json_lines(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"

    ran = await cli(*command(fake_tahdah, experience, LEARNERS, "--report", str(report)))

    assert ran.code == EXIT_OK, ran.err
    rows: list[dict[str, Any]] = [json.loads(line) for line in report.read_text().splitlines()]
    assert {row["item"] for row in rows if row["outcome"] == "ok"} == set(KEYS)
    assert all(set(row) == {"item", "outcome", "id", "error"} for row in rows)


async def test_failed_learners_exit_1_and_are_reported(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    fake_tahdah.faults.fail(422, operation=REGISTER)
    options = ("--report", str(report), "--chunk-size", "5", "--concurrency", "1")

    ran = await cli(*command(fake_tahdah, experience, LEARNERS, *options))

    assert ran.code == EXIT_FAILED
    assert outcomes(ran.out) == {"ok": 7, "failed": 5}
    assert "422 Unprocessable Entity" in ran.out
    assert ran.err.strip() == "error: 5 not imported"
    created = candidates_by_external_id(fake_tahdah)
    assert len(created) == 12
    assert len(registrations(fake_tahdah, experience)) == 7
    final = last_rows(report)
    for key in KEYS[:5]:
        assert final[key]["outcome"] == "failed"
        assert final[key]["id"] == str(created[key])
        assert final[key]["error"].startswith("UnprocessableEntityError: 422 Unprocessable Entity")
    assert {final[key]["outcome"] for key in KEYS[5:]} == {"ok"}


async def test_a_rerun_with_the_report_resumes_without_duplicates(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    fake_tahdah.faults.fail(422, operation=REGISTER)
    options = ("--report", str(report), "--chunk-size", "5", "--concurrency", "1")
    first = await cli(*command(fake_tahdah, experience, LEARNERS, *options))
    assert first.code == EXIT_FAILED

    ran = await cli(*command(fake_tahdah, experience, LEARNERS, *options))

    assert ran.code == EXIT_OK, ran.err
    assert f"resuming from {report}: 7 already done" in ran.out
    assert outcomes(ran.out) == {"ok": 5, "skipped": 7}
    created = candidates_by_external_id(fake_tahdah)  # fails on a duplicate
    assert sorted(created) == KEYS
    operations = [r.operation for r in fake_tahdah.requests]
    assert operations.count("candidates.create") == 12
    assert set(registrations(fake_tahdah, experience)) == set(created.values())
    assert {row["outcome"] for row in last_rows(report).values()} == {"ok", "skipped"}


async def test_a_rerun_after_a_complete_import_sends_nothing(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    report = tmp_path / "report.jsonl"
    first = await cli(*command(fake_tahdah, experience, LEARNERS, "--report", str(report)))
    assert first.code == EXIT_OK, first.err
    before = len(fake_tahdah.requests)

    ran = await cli(*command(fake_tahdah, experience, LEARNERS, "--report", str(report)))

    assert ran.code == EXIT_OK, ran.err
    assert f"resuming from {report}: 12 already done" in ran.out
    assert outcomes(ran.out) == {"skipped": 12}
    assert fake_tahdah.requests[before:] == []
    assert len(candidates_by_external_id(fake_tahdah)) == 12


async def test_a_missing_file_is_a_usage_error(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    ran = await cli(*command(fake_tahdah, experience, tmp_path / "absent.csv"))

    assert ran.code == EXIT_USAGE
    assert "does not exist" in ran.err
    assert fake_tahdah.requests == []


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            ["external_id,first_name,last_name,behavior", "A-1,Ada,L,1", "A-2,Grace,H"],
            ":3: 3 fields, but the header has 4",
        ),
        (
            [
                "external_id,first_name,last_name,behavior",
                "A-1,Ada,L,1",
                "A-2,Grace,H,1",
                "A-3,Alan,T,often",
            ],
            ":4: behavior must be an integer, got 'often'",
        ),
        (
            ["external_id,first_name,last_name,behavior", "A-1,Ada,L,1", "A-1,Ada,L,1"],
            ":3: learner 'A-1'",
        ),
        (
            ["external_id,first_name,last_name,shoe_size", "A-1,A,L,9"],
            ":1: unknown column 'shoe_size'",
        ),
        (["external_id,first_name,behavior", "A-1,Ada,1"], ":1: no last_name column"),
        (
            ["email,first_name,last_name,behavior", "ada at example.com,Ada,L,1"],
            ":2: email 'ada at example.com' is not an email address",
        ),
    ],
    ids=["short-row", "bad-behavior", "duplicate", "unknown-column", "no-name", "bad-email"],
)
async def test_a_malformed_file_is_a_usage_error_naming_the_line(
    cli: Cli,
    fake_tahdah: FakeTahdah,
    experience: int,
    tmp_path: Path,
    lines: list[str],
    message: str,
) -> None:
    file = write_csv(tmp_path / "learners.csv", *lines)

    ran = await cli(*command(fake_tahdah, experience, file))

    assert ran.code == EXIT_USAGE
    assert f"error: {file}{message}" in ran.err
    assert fake_tahdah.requests == []


async def test_every_bad_line_is_named_at_once(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    file = write_csv(
        tmp_path / "learners.csv",
        "email,first_name,last_name,behavior",
        "ada@example.com,Ada,Lovelace,1",
        "grace@example.com,,Hopper,1",
        "alan@example.com,Alan,Turing,1",
        "katherine@@example.com,Katherine,Johnson,x",
    )

    ran = await cli(*command(fake_tahdah, experience, file, "--json"))

    assert ran.code == EXIT_USAGE
    assert ran.out == ""  # no JSON: nothing was imported
    assert own_lines(ran.err) == [
        f"error: {file}:3: the learner needs a first_name",
        f"{file}:5: email 'katherine@@example.com' is not an email address (one @ between a "
        "name and a domain, no spaces); behavior must be an integer, got 'x'",
    ]
    assert fake_tahdah.requests == []


async def test_no_behavior_anywhere_is_a_usage_error(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    file = write_csv(
        tmp_path / "learners.csv", "email,first_name,last_name", "ada@example.com,Ada,Lovelace"
    )

    ran = await cli(*command(fake_tahdah, experience, file))

    assert ran.code == EXIT_USAGE
    assert "learner 'ada@example.com' has no behavior column value" in ran.err
    assert "--behavior" in ran.err
    assert fake_tahdah.requests == []


async def test_behavior_option_fills_in_a_missing_column(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    file = write_csv(
        tmp_path / "learners.csv",
        "email,first_name,last_name",
        "ada@example.com,Ada,Lovelace",
        "alan@example.com,Alan,Turing",
    )

    ran = await cli(*command(fake_tahdah, experience, file, "--behavior", "3"))

    assert ran.code == EXIT_OK, ran.err
    assert outcomes(ran.out) == {"ok": 2}
    assert sorted(registrations(fake_tahdah, experience).values()) == [3, 3]


async def test_a_file_that_is_not_a_report_is_a_usage_error(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, tmp_path: Path
) -> None:
    report = write_csv(tmp_path / "report.csv", "name,value", "a,1")

    ran = await cli(*command(fake_tahdah, experience, LEARNERS, "--report", str(report)))

    assert ran.code == EXIT_USAGE
    assert "not a batch report" in ran.err
    assert fake_tahdah.requests == []
    assert report.read_text(encoding="utf-8") == "name,value\na,1\n"  # left as it was


@pytest.mark.parametrize(
    ("option", "value"),
    [("--concurrency", "0"), ("--concurrency", "257"), ("--chunk-size", "0")],
)
async def test_out_of_range_options_are_usage_errors(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int, option: str, value: str
) -> None:
    ran = await cli(*command(fake_tahdah, experience, LEARNERS, option, value))

    assert ran.code == EXIT_USAGE
    assert f"Invalid value for '{option}'" in ran.err
    assert fake_tahdah.requests == []


async def test_a_refused_token_exits_3(cli: Cli, fake_tahdah: FakeTahdah, experience: int) -> None:
    args = list(command(fake_tahdah, experience, LEARNERS))
    args[args.index("--token") + 1] = "fake_not-a-key"

    ran = await cli(*args)

    assert ran.code == EXIT_AUTH
    assert "401 Unauthorized" in ran.err
    assert fake_tahdah.state.candidates == {}


async def test_concurrency_bounds_the_calls_in_flight(
    cli: Cli, fake_tahdah: FakeTahdah, experience: int
) -> None:
    hold = fake_tahdah.faults.hold(times=len(KEYS), operation=CREATE)
    running = asyncio.create_task(
        cli(*command(fake_tahdah, experience, LEARNERS, "--concurrency", "3"))
    )

    await held(hold, 3, running)
    # Three creates are at the server at once, none answered yet: the calls do overlap.
    assert (hold.count, fake_tahdah.in_flight) == (3, 3)
    hold.release()
    ran = await running

    assert ran.code == EXIT_OK, ran.err
    # Never more than 3 at once, over the whole run (the three held ones were at once).
    assert fake_tahdah.max_in_flight == 3
    assert len(candidates_by_external_id(fake_tahdah)) == 12


@pytest.mark.parametrize("stage", ["creating", "registering"])
async def test_an_interrupted_import_exits_130_with_a_usable_report(
    fake_tahdah: FakeTahdah, experience: int, tmp_path: Path, stage: str
) -> None:
    report = tmp_path / "report.csv"
    args = command(fake_tahdah, experience, LEARNERS, "--report", str(report), "--concurrency", "2")
    if stage == "creating":
        # The first two creates are answered, the next two stay at the server.
        answered = fake_tahdah.faults.hold(times=2, operation=CREATE)
        in_flight = fake_tahdah.faults.hold(times=len(KEYS) - 2, operation=CREATE)
    else:
        # Every learner is created; the register call stays at the server.
        in_flight = fake_tahdah.faults.hold(operation=REGISTER)
    async with spawn(*args) as child:
        if stage == "creating":
            await held(answered, 2, child)
            answered.release()
            # Two more creates arrive only once two finished, their rows written.
            await held(in_flight, 2, child)
        else:
            await held(in_flight, 1, child)
        code, _, err = await child.stop()

    assert code == EXIT_INTERRUPTED
    assert [line for line in own_lines(err) if line.strip()] == ["interrupted"]
    rows = report_rows(report)
    assert {row["outcome"] for row in rows} == {"created", "cancelled"}
    # Created learners keep their candidate id, whether or not a register call was in flight.
    assert all(row["id"] for row in rows if row["outcome"] == "created")
    created = candidates_by_external_id(fake_tahdah)
    final = {key: (row["outcome"], row["id"]) for key, row in last_rows(report).items()}
    if stage == "creating":
        assert sorted(created) == KEYS[:2]
        assert final == {
            **{key: ("created", str(created[key])) for key in KEYS[:2]},
            # In flight (NF-0003 and NF-0004) or not started: cancelled, with no id.
            **{key: ("cancelled", "") for key in KEYS[2:]},
        }
    else:
        assert sorted(created) == KEYS
        assert final == {key: ("cancelled", str(created[key])) for key in KEYS}
    assert registrations(fake_tahdah, experience) == {}
