"""The batch jobs: read_learners, import_learners and add_credits, against the fake server."""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import anyio
import pytest

from tahdah_async import (
    AuthenticationError,
    BadRequestError,
    RequestEvent,
    ResponseEvent,
    TahdahClient,
    UnprocessableEntityError,
)
from tahdah_async.batch import (
    CreditChange,
    ImportedLearner,
    Learner,
    LearnerFileError,
    Progress,
    ReportRow,
    add_credits,
    done_keys,
    import_learners,
    read_learners,
    read_report,
)
from tahdah_async.models import Candidate, EventTemplateCredit
from tahdah_async.testing import FakeTahdah

CREATE = "candidates.create"
REGISTER = "learning_experiences.register_learners"
ADD = "event_credits.add"
TEMPLATE = 77


def write(tmp_path: Path, text: str, *, name: str = "learners.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def raw_rows(path: Path) -> list[tuple[str, str, str]]:
    """Every row of a CSV report, in the order written: (item, outcome, id)."""
    with path.open(encoding="utf-8", newline="") as file:
        return [(row["item"], row["outcome"], row["id"]) for row in csv.DictReader(file)]


def operations(fake: FakeTahdah, since: int = 0) -> list[str]:
    return [record.operation for record in fake.requests[since:]]


def learners(count: int, *, behavior: int | None = None) -> list[Learner]:
    return [
        Learner(
            candidate=Candidate(first_name="Ada", last_name=f"L{n}", external_id=f"NF-{n}"),
            behavior=behavior,
        )
        for n in range(count)
    ]


def registered(fake: FakeTahdah, experience: int) -> dict[str, int]:
    """How many times each external id is registered on the experience."""
    counts: dict[str, int] = {}
    for registration in fake.state.experiences[experience].registrations:
        external = fake.state.candidates[registration.candidate_id].data["externalId"]
        counts[external] = counts.get(external, 0) + 1
    return counts


def external_ids(fake: FakeTahdah) -> list[str]:
    return sorted(record.data.get("externalId", "") for record in fake.state.candidates.values())


def with_a_bad_third(items: list[Learner]) -> list[Learner]:
    """The learners with the third one missing its last name, which the fake refuses."""
    bad = Learner(candidate=Candidate(first_name="X", external_id="NF-2"), behavior=1)
    return [*items[:2], bad, *items[3:]]


@pytest.fixture
def experience(fake: FakeTahdah) -> int:
    (made,) = fake.seed(experiences=[{"name": "Fire Safety", "code": "FSA-101"}]).experiences
    return made


# -- read_learners -------------------------------------------------------------------------


def test_a_good_file_with_a_bom_and_snake_case_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "first_name,last_name,email,external_id,date_of_birth,behavior,registration_date\n"
        "Ada,Lovelace,ada@example.com,NF-1,1815-12-10,1,2026-12-01\n"
        "\n"
        " Grace , Hopper ,grace@example.com,,,,\n",
        bom=True,
    )

    first, second = read_learners(path)

    assert first == Learner(
        candidate=Candidate(
            first_name="Ada",
            last_name="Lovelace",
            email="ada@example.com",
            external_id="NF-1",
            date_of_birth=dt.date(1815, 12, 10),
        ),
        behavior=1,
        registration_date=dt.date(2026, 12, 1),
        line=2,
    )
    assert first.key == "NF-1"
    assert second == Learner(
        candidate=Candidate(first_name="Grace", last_name="Hopper", email="grace@example.com"),
        line=4,
    )
    assert second.key == "grace@example.com"


def test_camel_case_columns_are_read_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "firstName,lastName,externalId,dateOfBirth,Behavior,registrationDate\n"
        "Alan,Turing,NF-7,1912-06-23,-2,2026-01-31\n",
    )

    (learner,) = read_learners(path)

    assert learner.candidate == Candidate(
        first_name="Alan",
        last_name="Turing",
        external_id="NF-7",
        date_of_birth=dt.date(1912, 6, 23),
    )
    assert (learner.behavior, learner.registration_date) == (-2, dt.date(2026, 1, 31))


def test_a_header_without_rows_is_no_learners(tmp_path: Path) -> None:
    assert read_learners(write(tmp_path, "first_name,last_name,email\n")) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("first_name,last_name,nickname\nAda,L,Ace\n", ":1: unknown column 'nickname'"),
        (
            "first_name,firstName,last_name,email\nA,B,C,a@x\n",
            ":1: the column first_name appears twice \\(as 'first_name', 'firstName'\\)",
        ),
        (
            "first_name,last_name,external_id,email\nAda,L,NF-1,a@x\nBob,M,NF-2\n",
            ":3: 3 fields, but the header has 4",
        ),
        (
            "first_name,last_name,external_id,date_of_birth\nAda,L,NF-1,10/12/1815\n",
            ":2: date_of_birth: expected an ISO date, got a string that is not one "
            "\\('10/12/1815'\\)",
        ),
        (
            "first_name,last_name,external_id,registration_date\nA,L,NF-1,2026-13-01\n",
            ":2: registration_date must be a date \\(YYYY-MM-DD\\), got '2026-13-01'",
        ),
        (
            "first_name,last_name,external_id,behavior\nA,L,NF-1,1.5\n",
            ":2: behavior must be an integer, got '1.5'",
        ),
        (
            "first_name,last_name,external_id,behavior\nA,L,NF-1,high\n",
            ":2: behavior must be an integer, got 'high'",
        ),
        (
            "external_id,first_name,last_name\nNF-1,Ada,L\nNF-2,Bob,M\nNF-1,Cy,N\n",
            ":4: learner 'NF-1' is already on line 2",
        ),
        (
            "email,first_name,last_name\nada@x,Ada,L\n\nada@x,Ada again,L\n",
            ":4: learner 'ada@x' is already on line 2",
        ),
        (
            "first_name,last_name,email,external_id\nAda,L,a@x,NF-1\nBob,M,,\n",
            ":3: the learner needs an external_id or an email",
        ),
        ("", ": the file is empty"),
    ],
)
def test_a_bad_file_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(LearnerFileError, match=message) as caught:
        read_learners(path)

    assert str(caught.value).startswith(f"{path}:")
    assert isinstance(caught.value, ValueError)


def test_a_file_with_only_a_bom_is_empty(tmp_path: Path) -> None:
    with pytest.raises(LearnerFileError, match="the file is empty"):
        read_learners(write(tmp_path, "", bom=True))


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_learners(tmp_path / "nobody.csv")


# -- import_learners -----------------------------------------------------------------------


async def test_an_import_creates_every_candidate_then_registers_them_in_chunks(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    report = tmp_path / "import.csv"
    seen: list[Progress] = []

    result = await import_learners(
        client,
        fake.owner_id,
        experience,
        learners(5),
        behavior=3,
        chunk_size=2,
        concurrency=2,
        report=report,
        progress=seen.append,
    )

    assert result.counts == {"ok": 5, "failed": 0, "skipped": 0, "cancelled": 0}
    assert [r.key for r in result.results] == [f"NF-{n}" for n in range(5)]
    ids = {record.data["externalId"]: record.id for record in fake.state.candidates.values()}
    assert [r.value.candidate_id for r in result.results if r.value] == [
        ids[f"NF-{n}"] for n in range(5)
    ]
    assert all(
        isinstance(r.value, ImportedLearner) and r.value.candidate_experience_id.isdigit()
        for r in result.results
    )
    assert operations(fake) == [CREATE] * 5 + [REGISTER] * 3
    regs = fake.state.experiences[experience].registrations
    assert sorted((r.candidate_id, r.behavior, r.registration_date) for r in regs) == sorted(
        (ident, 3, dt.date.today().isoformat()) for ident in ids.values()
    )
    rows = raw_rows(report)
    assert sorted(rows[:5]) == sorted((key, "created", str(ident)) for key, ident in ids.items())
    assert sorted(rows[5:]) == sorted((key, "ok", str(ident)) for key, ident in ids.items())
    assert seen[-1] == Progress(total=5, ok=5)
    assert [p.finished for p in seen] == [1, 2, 3, 4, 5]


async def test_a_learners_own_behavior_and_date_win_over_the_defaults(
    fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    own = Learner(
        candidate=Candidate(first_name="Ada", last_name="L", external_id="NF-1"),
        behavior=7,
        registration_date=dt.date(2026, 1, 2),
    )
    default = Candidate(first_name="Bob", last_name="M", email="bob@example.com")

    result = await import_learners(
        client,
        fake.owner_id,
        experience,
        [own, default],
        behavior=1,
        registration_date=dt.date(2026, 3, 4),
    )

    assert [r.key for r in result.ok] == ["NF-1", "bob@example.com"]
    regs = fake.state.experiences[experience].registrations
    assert sorted((r.behavior, r.registration_date) for r in regs) == [
        (1, "2026-03-04"),
        (7, "2026-01-02"),
    ]


@pytest.mark.parametrize(
    ("items", "behavior", "message"),
    [
        (learners(3), None, "learner 'NF-0' has no behavior and no default was given"),
        (
            [*learners(2, behavior=1), Learner(candidate=Candidate(external_id="NF-9"))],
            None,
            "learner 'NF-9' has no behavior",
        ),
        (learners(2) + learners(1), 1, "two learners have the key 'NF-0'"),
        ([Candidate(first_name="Ada", last_name="L")], 1, "needs an external_id or an email"),
    ],
)
async def test_a_bad_import_is_refused_before_any_request(
    tmp_path: Path,
    fake: FakeTahdah,
    client: TahdahClient,
    experience: int,
    items: list[Learner | Candidate],
    behavior: int | None,
    message: str,
) -> None:
    report = tmp_path / "import.csv"

    with pytest.raises(ValueError, match=message):
        await import_learners(
            client, fake.owner_id, experience, items, behavior=behavior, report=report
        )

    assert fake.requests == []
    assert fake.state.candidates == {}
    assert not report.exists()


async def test_failures_are_reported_and_a_resumed_import_only_does_what_is_left(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    report = tmp_path / "import.csv"
    fake.faults.fail(400, operation=CREATE)  # NF-0 is not created
    fake.faults.fail(422, operation=REGISTER)  # the first chunk, NF-1 and NF-2, not registered

    first = await import_learners(
        client,
        fake.owner_id,
        experience,
        learners(6),
        behavior=1,
        chunk_size=2,
        concurrency=1,
        report=report,
    )

    assert [(r.key, r.outcome) for r in first.results] == [
        ("NF-0", "failed"),
        ("NF-1", "failed"),
        ("NF-2", "failed"),
        ("NF-3", "ok"),
        ("NF-4", "ok"),
        ("NF-5", "ok"),
    ]
    assert isinstance(first.results[0].error, BadRequestError)
    assert isinstance(first.results[1].error, UnprocessableEntityError)
    assert first.stopped_by is None
    made = {record.data["externalId"]: record.id for record in fake.state.candidates.values()}
    rows = read_report(report)
    assert rows["NF-0"].outcome == "failed"
    assert rows["NF-0"].id == ""
    assert rows["NF-0"].error.startswith("BadRequestError: 400")
    assert rows["NF-1"] == ReportRow("NF-1", "failed", str(made["NF-1"]), rows["NF-1"].error)
    assert rows["NF-1"].error.startswith("UnprocessableEntityError: 422")
    before = len(fake.requests)

    second = await import_learners(
        client,
        fake.owner_id,
        experience,
        learners(6),
        behavior=1,
        chunk_size=2,
        concurrency=1,
        report=report,
        resume=report,
    )

    assert [(r.key, r.outcome) for r in second.results] == [
        ("NF-0", "ok"),
        ("NF-1", "ok"),
        ("NF-2", "ok"),
        ("NF-3", "skipped"),
        ("NF-4", "skipped"),
        ("NF-5", "skipped"),
    ]
    # NF-1 and NF-2 were created earlier: each is registered on its own (a 409 would mean an
    # interrupted run did it already); NF-0 is created, then registered.
    assert operations(fake, before) == [CREATE, REGISTER, REGISTER, REGISTER]
    assert external_ids(fake) == [f"NF-{n}" for n in range(6)]  # no duplicate candidate
    assert registered(fake, experience) == {f"NF-{n}": 1 for n in range(6)}
    assert [r.value.candidate_id for r in second.results[1:3] if r.value] == [
        made["NF-1"],
        made["NF-2"],
    ]
    assert done_keys(read_report(report)) == {f"NF-{n}" for n in range(6)}


async def test_learners_created_before_an_interruption_are_only_registered(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    report = tmp_path / "import.jsonl"
    scope = anyio.CancelScope()

    async def interrupt(event: RequestEvent) -> None:
        # The process stops just as registering starts: nothing registered, nothing sent.
        if event.operation == REGISTER:
            scope.cancel()
            await anyio.sleep_forever()

    with scope:
        await import_learners(
            client.with_options(on_request=interrupt),
            fake.owner_id,
            experience,
            learners(4),
            behavior=1,
            report=report,
        )

    assert scope.cancelled_caught
    assert operations(fake) == [CREATE] * 4
    # The register call in flight was cancelled: each learner's row keeps its candidate id.
    assert {row.outcome for row in read_report(report).values()} == {"cancelled"}
    assert all(row.id for row in read_report(report).values())
    made = {record.data["externalId"]: record.id for record in fake.state.candidates.values()}

    result = await import_learners(
        client, fake.owner_id, experience, learners(4), behavior=1, report=report, resume=report
    )

    assert result.counts == {"ok": 4, "failed": 0, "skipped": 0, "cancelled": 0}
    assert operations(fake, 4) == [REGISTER] * 4  # one by one: any may be registered already
    assert external_ids(fake) == ["NF-0", "NF-1", "NF-2", "NF-3"]
    assert registered(fake, experience) == {f"NF-{n}": 1 for n in range(4)}
    assert {r.key: r.value.candidate_id for r in result.results if r.value} == made


async def test_fail_fast_stops_creating_and_a_resume_finishes_the_import(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    report = tmp_path / "import.csv"
    items = learners(5, behavior=1)
    broken = with_a_bad_third(items)

    first = await import_learners(
        client,
        fake.owner_id,
        experience,
        broken,
        concurrency=1,
        fail_fast=True,
        report=report,
    )

    assert isinstance(first.stopped_by, BadRequestError)
    outcomes = {r.key: r.outcome for r in first.results}
    assert outcomes["NF-0"] == outcomes["NF-1"] == "cancelled"  # created, not registered
    assert outcomes["NF-2"] == "failed"
    assert operations(fake) == [CREATE] * 3
    made = {record.data["externalId"]: record.id for record in fake.state.candidates.values()}
    rows = read_report(report)
    assert rows["NF-0"] == ReportRow("NF-0", "cancelled", str(made["NF-0"]))
    assert rows["NF-1"] == ReportRow("NF-1", "cancelled", str(made["NF-1"]))

    second = await import_learners(
        client, fake.owner_id, experience, items, concurrency=1, report=report, resume=report
    )

    assert second.counts == {"ok": 5, "failed": 0, "skipped": 0, "cancelled": 0}
    # NF-0 and NF-1 were created before: registered one by one; the rest in one chunk.
    assert operations(fake, 3) == [CREATE] * 3 + [REGISTER] * 3
    assert external_ids(fake) == [f"NF-{n}" for n in range(5)]
    assert registered(fake, experience) == {f"NF-{n}": 1 for n in range(5)}


async def test_fail_fast_gives_every_learner_an_outcome(
    fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    broken = with_a_bad_third(learners(5, behavior=1))

    result = await import_learners(
        client, fake.owner_id, experience, broken, concurrency=1, fail_fast=True
    )

    assert [(r.key, r.outcome) for r in result.results] == [
        ("NF-0", "cancelled"),
        ("NF-1", "cancelled"),
        ("NF-2", "failed"),
        ("NF-3", "cancelled"),
        ("NF-4", "cancelled"),
    ]


async def test_a_refused_api_key_stops_the_import_at_once(
    fake: FakeTahdah, experience: int
) -> None:
    async with TahdahClient("not-a-known-key", base_url=fake.url) as stranger:
        result = await import_learners(
            stranger, fake.owner_id, experience, learners(6), behavior=1, concurrency=1
        )

    assert isinstance(result.stopped_by, AuthenticationError)
    assert operations(fake) == [CREATE]
    assert (result.results[0].key, result.results[0].outcome) == ("NF-0", "failed")
    assert result.counts["ok"] == 0
    assert fake.state.candidates == {}


# -- add_credits ---------------------------------------------------------------------------


@pytest.fixture
def entities(fake: FakeTahdah) -> Sequence[int]:
    return fake.seed(legal_entities=[{"name": "A"}, {"name": "B"}, {"name": "C"}]).legal_entities


def change(legal_entity_id: int, credits: int, **options: str) -> CreditChange:
    return CreditChange(
        legal_entity_id=legal_entity_id,
        credits=[EventTemplateCredit(event_template_id=TEMPLATE, number_of_credits=credits)],
        **options,
    )


async def test_credits_are_added_with_a_started_row_before_each_call(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, entities: Sequence[int]
) -> None:
    report = tmp_path / "credits.jsonl"
    seen: list[Progress] = []

    result = await add_credits(
        client,
        [change(le, 10 * (n + 1)) for n, le in enumerate(entities)],
        concurrency=2,
        report=report,
        progress=seen.append,
    )

    assert result.counts == {"ok": 3, "failed": 0, "skipped": 0, "cancelled": 0}
    assert [fake.state.balance(le, TEMPLATE) for le in entities] == [10, 20, 30]
    keys = [r.value for r in result.results]
    assert all(isinstance(key, str) and uuid.UUID(key) for key in keys)
    assert fake.state.idempotency_keys == set(keys)
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    for le, key in zip(entities, keys, strict=True):
        mine = [(line["outcome"], line["id"]) for line in lines if line["item"] == str(le)]
        assert mine == [("started", key), ("ok", key)]
    assert seen[-1] == Progress(total=3, ok=3)


async def test_a_change_keeps_its_own_idempotency_key_and_report_key(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, entities: Sequence[int]
) -> None:
    report = tmp_path / "credits.csv"

    result = await add_credits(
        client,
        [change(entities[0], 5, idempotency_key="order-77-A", key="A")],
        report=report,
    )

    assert result.results[0].value == "order-77-A"
    assert raw_rows(report) == [("A", "started", "order-77-A"), ("A", "ok", "order-77-A")]
    assert fake.state.idempotency_keys == {"order-77-A"}


async def test_two_changes_with_one_report_key_are_refused_before_any_request(
    fake: FakeTahdah, client: TahdahClient, entities: Sequence[int]
) -> None:
    with pytest.raises(ValueError, match=f"two credit changes have the key '{entities[0]}'"):
        await add_credits(client, [change(entities[0], 1), change(entities[0], 2)])

    assert fake.requests == []


async def test_a_resumed_change_reuses_its_key_so_it_is_never_applied_twice(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, entities: Sequence[int]
) -> None:
    report = tmp_path / "credits.csv"
    a, b, c = entities
    changes = [change(a, 10), change(b, 20), change(c, 30)]
    scope = anyio.CancelScope()

    async def interrupt(event: ResponseEvent) -> None:
        # The process stops once B's change is applied, before the answer is recorded.
        if event.request.url.path.endswith(f"/{b}"):
            scope.cancel()
            await anyio.sleep_forever()

    with scope:
        await add_credits(
            client.with_options(on_response=interrupt), changes, concurrency=1, report=report
        )

    assert scope.cancelled_caught
    assert fake.state.balance(b, TEMPLATE) == 20
    rows = read_report(report)
    started = rows[str(b)].id
    # Cancelled in flight: its last row keeps the key it was sent with.
    assert rows[str(b)] == ReportRow(str(b), "cancelled", started)
    assert started in fake.state.idempotency_keys
    assert rows[str(c)].outcome == "cancelled"
    before = len(fake.requests)

    result = await add_credits(client, changes, concurrency=1, report=report, resume=report)

    # B's reported key was refused as used: the interrupted run applied it, so it is done.
    assert [(r.key, r.outcome) for r in result.results] == [
        (str(a), "skipped"),
        (str(b), "skipped"),
        (str(c), "ok"),
    ]
    assert result.results[1].value == started
    assert result.results[1].error is None
    assert operations(fake, before) == [ADD, ADD]
    assert [fake.state.balance(le, TEMPLATE) for le in entities] == [10, 20, 30]
    assert len(fake.state.idempotency_keys) == 3
    assert raw_rows(report)[-5:] == [
        (str(a), "skipped", ""),
        (str(b), "started", started),
        (str(b), "skipped", started),
        (str(c), "started", result.results[2].value),
        (str(c), "ok", result.results[2].value),
    ]


async def test_a_change_that_failed_is_resent_with_the_same_key(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, entities: Sequence[int]
) -> None:
    report = tmp_path / "credits.csv"
    a, b, _ = entities
    fake.faults.fail(400, operation=ADD)  # A's first call never reaches the handler

    first = await add_credits(client, [change(a, 10), change(b, 20)], concurrency=1, report=report)

    assert [r.outcome for r in first.results] == ["failed", "ok"]
    failed_key = read_report(report)[str(a)].id
    assert failed_key
    assert fake.state.balance(a, TEMPLATE) == 0

    second = await add_credits(
        client, [change(a, 10), change(b, 20)], concurrency=1, report=report, resume=report
    )

    assert [(r.outcome, r.value) for r in second.results] == [("ok", failed_key), ("skipped", None)]
    assert fake.state.balance(a, TEMPLATE) == 10
    assert fake.state.balance(b, TEMPLATE) == 20
    assert raw_rows(report)[-3:] == [
        (str(a), "started", failed_key),
        (str(a), "ok", failed_key),
        (str(b), "skipped", ""),
    ]


async def test_a_resumed_learner_already_registered_is_skipped_not_failed(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    report = tmp_path / "import.csv"
    first = await import_learners(
        client, fake.owner_id, experience, learners(2), behavior=1, report=report
    )
    assert first.counts["ok"] == 2
    # The report lost its last rows (say the process died before writing them).
    lines = report.read_text().splitlines()
    report.write_text("\n".join(line for line in lines if ",ok," not in line) + "\n")

    again = await import_learners(
        client, fake.owner_id, experience, learners(2), behavior=1, report=report, resume=report
    )

    assert [(r.key, r.outcome) for r in again.results] == [("NF-0", "skipped"), ("NF-1", "skipped")]
    assert registered(fake, experience) == {"NF-0": 1, "NF-1": 1}
    assert all(read_report(report)[key].done for key in ("NF-0", "NF-1"))
