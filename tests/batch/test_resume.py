"""Resuming the batch jobs: ``resume=True``, a path, the rows, or nothing (a first run)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tahdah_async import TahdahClient
from tahdah_async.batch import (
    CreditChange,
    Learner,
    ReportRow,
    add_credits,
    done_keys,
    import_learners,
    read_report,
    resume_rows,
)
from tahdah_async.models import Candidate, EventTemplateCredit
from tahdah_async.testing import FakeTahdah

CREATE = "candidates.create"
REGISTER = "learning_experiences.register_learners"
ADD = "event_credits.add"
TEMPLATE = 77

Job = Callable[..., Awaitable[Any]]


def learners(count: int) -> list[Learner]:
    return [
        Learner(
            candidate=Candidate(first_name="Ada", last_name=f"L{n}", external_id=f"NF-{n}"),
            behavior=1,
        )
        for n in range(count)
    ]


def change(legal_entity_id: int, credits: int) -> CreditChange:
    return CreditChange(
        legal_entity_id=legal_entity_id,
        credits=[EventTemplateCredit(event_template_id=TEMPLATE, number_of_credits=credits)],
    )


def operations(fake: FakeTahdah, since: int = 0) -> list[str]:
    return [record.operation for record in fake.requests[since:]]


def external_ids(fake: FakeTahdah) -> list[str]:
    return sorted(record.data.get("externalId", "") for record in fake.state.candidates.values())


@pytest.fixture
def experience(fake: FakeTahdah) -> int:
    (made,) = fake.seed(experiences=[{"name": "Fire Safety", "code": "FSA-101"}]).experiences
    return made


@pytest.fixture
def entities(fake: FakeTahdah) -> Sequence[int]:
    return fake.seed(legal_entities=[{"name": "A"}, {"name": "B"}]).legal_entities


@pytest.fixture(params=["import_learners", "add_credits"])
def job(request: pytest.FixtureRequest, fake: FakeTahdah, client: TahdahClient) -> Job:
    """One of the jobs, bound to the fake's client and items: ``job(report=..., resume=...)``."""
    if request.param == "import_learners":
        (experience,) = fake.seed(experiences=[{"name": "First Aid"}]).experiences

        async def run_import(**options: Any) -> Any:
            return await import_learners(client, fake.owner_id, experience, learners(2), **options)

        return run_import
    (entity,) = fake.seed(legal_entities=[{"name": "A"}]).legal_entities

    async def run_credits(**options: Any) -> Any:
        return await add_credits(client, [change(entity, 5)], **options)

    return run_credits


# -- resume_rows ---------------------------------------------------------------------------


ROWS = {"a": ReportRow("a", "ok", "7"), "b": ReportRow("b", "failed", "", "TimeoutError")}


def write_report(path: Path) -> Path:
    if path.suffix == ".jsonl":
        path.write_text(
            '{"item": "a", "outcome": "ok", "id": "7", "error": ""}\n'
            '{"item": "b", "outcome": "failed", "id": "", "error": "TimeoutError"}\n',
            encoding="utf-8",
        )
    else:
        path.write_text("item,outcome,id,error\na,ok,7,\nb,failed,,TimeoutError\n")
    return path


@pytest.mark.parametrize("name", ["report.csv", "report.jsonl"])
def test_resume_true_reads_the_report_when_it_exists(tmp_path: Path, name: str) -> None:
    report = write_report(tmp_path / name)

    assert resume_rows(True, report=report) == ROWS
    assert resume_rows(True, report=str(report)) == ROWS
    assert resume_rows(report) == ROWS
    assert resume_rows(str(report), report=tmp_path / "other.csv") == ROWS


def test_a_missing_report_is_a_first_run(tmp_path: Path) -> None:
    missing = tmp_path / "report.csv"

    assert resume_rows(True, report=missing) == {}
    assert resume_rows(missing) == {}
    assert resume_rows(str(tmp_path / "no-such-dir" / "report.jsonl")) == {}
    assert not missing.exists()


def test_none_and_false_start_afresh_even_when_the_report_exists(tmp_path: Path) -> None:
    report = write_report(tmp_path / "report.csv")

    assert resume_rows(None, report=report) == {}
    assert resume_rows(False, report=report) == {}
    assert resume_rows(None) == {}


def test_rows_are_resumed_from_as_given(tmp_path: Path) -> None:
    assert resume_rows(ROWS, report=tmp_path / "report.csv") is ROWS
    assert resume_rows({}) == {}


def test_resume_true_without_a_report_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"resume=True .* report="):
        resume_rows(True)


@pytest.mark.parametrize(
    "resume",
    [1, 0, 1.5, b"report.csv", ["report.csv"], ("a", "b"), object()],
    ids=["one", "zero", "float", "bytes", "list", "tuple", "object"],
)
def test_a_resume_of_another_type_is_a_type_error(tmp_path: Path, resume: object) -> None:
    with pytest.raises(TypeError, match=f"not {type(resume).__name__}$"):
        resume_rows(resume, report=tmp_path / "report.csv")  # type: ignore[arg-type]


def test_a_mapping_of_other_values_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="ReportRow values, not str"):
        resume_rows({"a": "ok"})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,value\na,1\n", "not a batch report"),
        ("item,outcome,id,error\na,ok,7,,extra\n", ":2: not a report row"),
    ],
    ids=["other-header", "extra-field"],
)
def test_a_malformed_report_still_raises(tmp_path: Path, text: str, message: str) -> None:
    report = tmp_path / "report.csv"
    report.write_text(text)

    with pytest.raises(ValueError, match=message):
        resume_rows(True, report=report)
    with pytest.raises(ValueError, match=message):
        resume_rows(report)


def test_a_directory_is_not_a_report(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        resume_rows(tmp_path)
    with pytest.raises(IsADirectoryError):
        resume_rows(True, report=tmp_path)


def test_an_empty_path_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="the report path is empty"):
        resume_rows("")


# -- import_learners -----------------------------------------------------------------------


async def test_a_first_import_with_resume_true_writes_the_report_and_a_rerun_resumes(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    report = tmp_path / "import.csv"

    first = await import_learners(
        client, fake.owner_id, experience, learners(3), report=report, resume=True
    )

    assert first.counts == {"ok": 3, "failed": 0, "skipped": 0, "cancelled": 0}
    assert done_keys(read_report(report)) == {"NF-0", "NF-1", "NF-2"}
    assert operations(fake) == [CREATE] * 3 + [REGISTER]
    before = len(fake.requests)

    # The same job again, with one learner more: only that one is created and registered.
    again = await import_learners(
        client, fake.owner_id, experience, learners(4), report=report, resume=True
    )

    assert [(r.key, r.outcome) for r in again.results] == [
        ("NF-0", "skipped"),
        ("NF-1", "skipped"),
        ("NF-2", "skipped"),
        ("NF-3", "ok"),
    ]
    assert operations(fake, before) == [CREATE, REGISTER]
    assert external_ids(fake) == ["NF-0", "NF-1", "NF-2", "NF-3"]  # none created twice
    assert done_keys(read_report(report)) == {"NF-0", "NF-1", "NF-2", "NF-3"}


async def test_a_resume_path_that_does_not_exist_is_a_fresh_import(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    report = tmp_path / "import.jsonl"
    earlier = tmp_path / "earlier.jsonl"

    result = await import_learners(
        client, fake.owner_id, experience, learners(2), report=report, resume=earlier
    )

    assert result.counts == {"ok": 2, "failed": 0, "skipped": 0, "cancelled": 0}
    assert operations(fake) == [CREATE, CREATE, REGISTER]
    assert done_keys(read_report(report)) == {"NF-0", "NF-1"}
    assert not earlier.exists()


async def test_an_import_resumes_from_another_run_s_report_by_its_path(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, experience: int
) -> None:
    earlier = tmp_path / "earlier.csv"
    await import_learners(client, fake.owner_id, experience, learners(1), report=earlier)
    before = len(fake.requests)

    result = await import_learners(
        client,
        fake.owner_id,
        experience,
        learners(2),
        report=tmp_path / "now.csv",
        resume=str(earlier),
    )

    assert [(r.key, r.outcome) for r in result.results] == [("NF-0", "skipped"), ("NF-1", "ok")]
    assert operations(fake, before) == [CREATE, REGISTER]
    assert external_ids(fake) == ["NF-0", "NF-1"]


# -- add_credits ---------------------------------------------------------------------------


async def test_first_credits_with_resume_true_write_the_report_and_a_rerun_sends_nothing(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, entities: Sequence[int]
) -> None:
    report = tmp_path / "credits.csv"
    a, b = entities
    changes = [change(a, 10), change(b, 20)]

    first = await add_credits(client, changes, report=report, resume=True)

    assert first.counts == {"ok": 2, "failed": 0, "skipped": 0, "cancelled": 0}
    assert done_keys(read_report(report)) == {str(a), str(b)}
    before = len(fake.requests)

    again = await add_credits(client, changes, report=report, resume=True)

    assert again.counts == {"ok": 0, "failed": 0, "skipped": 2, "cancelled": 0}
    assert operations(fake, before) == []
    assert [fake.state.balance(le, TEMPLATE) for le in entities] == [10, 20]


async def test_credits_resumed_from_a_missing_path_are_a_fresh_run(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, entities: Sequence[int]
) -> None:
    report = tmp_path / "credits.csv"

    result = await add_credits(
        client, [change(le, 3) for le in entities], report=report, resume=tmp_path / "none.csv"
    )

    assert result.counts["ok"] == 2
    assert operations(fake) == [ADD, ADD]
    assert done_keys(read_report(report)) == {str(le) for le in entities}


async def test_credits_resume_from_rows_as_given(
    tmp_path: Path, fake: FakeTahdah, client: TahdahClient, entities: Sequence[int]
) -> None:
    a, b = entities

    result = await add_credits(
        client, [change(a, 3), change(b, 4)], resume={str(a): ReportRow(str(a), "ok", "k-1")}
    )

    assert [r.outcome for r in result.results] == ["skipped", "ok"]
    assert operations(fake) == [ADD]
    assert [fake.state.balance(le, TEMPLATE) for le in entities] == [0, 4]


# -- both jobs: bad resume arguments, refused before any request ---------------------------


async def test_resume_true_without_a_report_is_refused(fake: FakeTahdah, job: Job) -> None:
    with pytest.raises(ValueError, match=r"resume=True .* report="):
        await job(resume=True)

    assert fake.requests == []


@pytest.mark.parametrize("resume", [1, b"report.csv", ["report.csv"]], ids=["int", "bytes", "list"])
async def test_a_resume_of_another_type_is_refused(
    tmp_path: Path, fake: FakeTahdah, job: Job, resume: object
) -> None:
    report = tmp_path / "report.csv"

    with pytest.raises(TypeError, match="resume must be True, a report path"):
        await job(report=report, resume=resume)

    assert fake.requests == []
    assert not report.exists()


@pytest.mark.parametrize("resume", ["true", "path"])
async def test_a_malformed_report_is_refused_and_left_as_it_was(
    tmp_path: Path, fake: FakeTahdah, job: Job, resume: str
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("name,value\na,1\n")

    with pytest.raises(ValueError, match="not a batch report"):
        await job(report=report, resume=True if resume == "true" else report)

    assert fake.requests == []
    assert report.read_text() == "name,value\na,1\n"


async def test_a_directory_to_resume_from_is_refused(
    tmp_path: Path, fake: FakeTahdah, job: Job
) -> None:
    with pytest.raises(IsADirectoryError):
        await job(report=tmp_path / "report.csv", resume=tmp_path)

    assert fake.requests == []
    assert not (tmp_path / "report.csv").exists()
